/* kvtext - a read-only memcached-style text protocol ("get k1 k2", "gets",
 * "incr k n", "version", "stats"), the way small caching daemons write it.
 * Hard: a hand-written tokenizer and decimal parser with overflow checks,
 * strncmp/memcmp results kept in locals (spilled at -O0), itoa loops. */
#include <string.h>

#define MAX_TOKENS 8
#define KEY_MAX 32

struct token {
	const char *s;
	unsigned long n;
};

struct item {
	const char *key;
	const char *value;
	unsigned flags;
	unsigned long long cas;
};

static const struct item items[] = {
	{ "user:1", "alice", 0, 1001 },
	{ "user:2", "bob", 0, 1002 },
	{ "user:3", "carol", 4, 1003 },
	{ "counter", "41", 0, 77 },
	{ "motd", "hello from kvtext", 16, 5 },
	{ "cfg:timeout", "30", 1, 9 },
	{ "cfg:retries", "5", 1, 10 },
	{ "session:abc", "{\"uid\":1}", 2, 31337 },
};
#define NITEMS (sizeof(items) / sizeof(items[0]))

static int tokenize(const char *buf, unsigned long len, struct token *tok)
{
	unsigned long i = 0;
	int n = 0;

	while (i < len && n < MAX_TOKENS) {
		while (i < len && (buf[i] == ' ' || buf[i] == '\t'))
			i++;
		if (i >= len || buf[i] == '\r' || buf[i] == '\n')
			break;
		tok[n].s = buf + i;
		while (i < len && buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\r' && buf[i] != '\n')
			i++;
		tok[n].n = (unsigned long)(buf + i - tok[n].s);
		n++;
	}
	return n;
}

/* strtoull without locale or errno: -1 on junk or overflow. */
static int parse_u64(const struct token *t, unsigned long long *out)
{
	unsigned long long v = 0;

	if (t->n == 0 || t->n > 20)
		return -1;
	for (unsigned long i = 0; i < t->n; i++) {
		unsigned d = (unsigned char)t->s[i] - '0';

		if (d > 9)
			return -1;
		if (v > (~0ULL - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

static unsigned long put_str(unsigned char *resp, unsigned long at, unsigned long cap, const char *s)
{
	unsigned long n = strlen(s);

	if (at + n > cap)
		return cap + 1;
	memcpy(resp + at, s, n);
	return at + n;
}

static unsigned long put_mem(unsigned char *resp, unsigned long at, unsigned long cap,
			     const char *s, unsigned long n)
{
	if (at > cap || n > cap - at)
		return cap + 1;
	memcpy(resp + at, s, n);
	return at + n;
}

static unsigned long put_u64(unsigned char *resp, unsigned long at, unsigned long cap,
			     unsigned long long v)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	if (at + (unsigned long)n > cap)
		return cap + 1;
	while (n > 0)
		resp[at++] = (unsigned char)tmp[--n];
	return at;
}

static const struct item *find(const struct token *key)
{
	for (unsigned long i = 0; i < NITEMS; i++) {
		int r;

		if (strlen(items[i].key) != key->n)
			continue;
		r = memcmp(items[i].key, key->s, key->n);
		if (r == 0)
			return &items[i];
	}
	return 0;
}

static int is_cmd(const struct token *t, const char *name)
{
	unsigned long n = strlen(name);
	int r;

	if (t->n != n)
		return 0;
	r = strncmp(t->s, name, n);
	return r == 0;
}

static unsigned long do_get(const struct token *tok, int ntok, int with_cas,
			    unsigned char *resp, unsigned long cap)
{
	unsigned long at = 0;

	for (int k = 1; k < ntok && at <= cap; k++) {
		const struct item *it;

		if (tok[k].n > KEY_MAX)
			return put_str(resp, 0, cap, "CLIENT_ERROR key too long\r\n");
		it = find(&tok[k]);
		if (!it)
			continue;
		at = put_str(resp, at, cap, "VALUE ");
		at = put_mem(resp, at, cap, tok[k].s, tok[k].n);
		at = put_str(resp, at, cap, " ");
		at = put_u64(resp, at, cap, it->flags);
		at = put_str(resp, at, cap, " ");
		at = put_u64(resp, at, cap, strlen(it->value));
		if (with_cas) {
			at = put_str(resp, at, cap, " ");
			at = put_u64(resp, at, cap, it->cas);
		}
		at = put_str(resp, at, cap, "\r\n");
		at = put_str(resp, at, cap, it->value);
		at = put_str(resp, at, cap, "\r\n");
	}
	return put_str(resp, at, cap, "END\r\n");
}

long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp,
		    unsigned long cap)
{
	struct token tok[MAX_TOKENS];
	unsigned long at;
	int ntok;

	ntok = tokenize((const char *)req, len, tok);
	if (ntok == 0)
		return -1;
	if (is_cmd(&tok[0], "get") && ntok >= 2)
		at = do_get(tok, ntok, 0, resp, cap);
	else if (is_cmd(&tok[0], "gets") && ntok >= 2)
		at = do_get(tok, ntok, 1, resp, cap);
	else if (is_cmd(&tok[0], "incr") || is_cmd(&tok[0], "decr")) {
		unsigned long long v, d;
		const struct item *it;
		struct token vt;

		if (ntok != 3 || parse_u64(&tok[2], &d))
			return (long)put_str(resp, 0, cap, "CLIENT_ERROR invalid numeric delta argument\r\n");
		it = find(&tok[1]);
		if (!it)
			return (long)put_str(resp, 0, cap, "NOT_FOUND\r\n");
		vt.s = it->value;
		vt.n = strlen(it->value);
		if (parse_u64(&vt, &v))
			return (long)put_str(resp, 0, cap, "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
		if (tok[0].s[0] == 'i')
			v += d;
		else
			v = d > v ? 0 : v - d;
		at = put_u64(resp, 0, cap, v);
		at = put_str(resp, at, cap, "\r\n");
	} else if (is_cmd(&tok[0], "version"))
		at = put_str(resp, 0, cap, "VERSION 1.6.21-kvtext\r\n");
	else if (is_cmd(&tok[0], "quit"))
		return 0;
	else
		at = put_str(resp, 0, cap, "ERROR\r\n");
	return at > cap ? -1 : (long)at;
}
