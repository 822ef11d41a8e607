/* kv - a memcached-style `get` over a small fixed table: the benchmark's
 * third handler (bench/quick.sh, BENCHMARKS.md).  One source, two builds:
 * gcc -O2 -g -c for koff-link (with the userspace server below), and
 * clang -O2 -target bpf through bench/ref/kv_ref.bpf.c, which defines
 * KV_BPF_REF and includes this file, so that the reference is the same C.
 *
 *   request  "get KEY\r\n" (KEY 1..15 bytes, no spaces or control bytes)
 *   reply    "VALUE KEY 0 LEN\r\nDATA\r\nEND\r\n" on a hit, "END\r\n" on a
 *            miss, "CLIENT_ERROR bad command\r\n" for anything else;
 *            a request starting with '#' is dropped.
 * The table lives in .rodata (fixed-size arrays, no pointers: a PIE's
 * table of pointers would be writable data). */
#ifndef KV_HANDLER
#define KV_HANDLER
#endif

#define KV_KEY_MAX 15
#define KV_VAL_MAX 40

struct kv_entry {
	unsigned char key[KV_KEY_MAX + 1];
	unsigned char klen;
	unsigned char vlen;
	unsigned char vlen_text[2];	/* LEN in decimal, the digits the reply carries */
	unsigned char val[KV_VAL_MAX];
};

#define KV(k, v) { .key = k, .klen = sizeof(k) - 1, .vlen = sizeof(v) - 1, \
		   .vlen_text = { '0' + (sizeof(v) - 1) / 10, '0' + (sizeof(v) - 1) % 10 }, .val = v }

static const struct kv_entry kv_table[] = {
	KV("user:1", "alice"), KV("user:2", "bob"), KV("user:3", "carol"),
	KV("user:4", "dave"), KV("session:9f", "token=8a7b6c5d4e3f2a1b"),
	KV("config", "max_conn=512;timeout=30"), KV("motd", "hello from the cache"),
	KV("counter", "41"), KV("flag:beta", "on"), KV("flag:gamma", "off"),
	KV("city:par", "Paris"), KV("city:ber", "Berlin"), KV("city:tok", "Tokyo"),
	KV("empty", ""), KV("long:value", "0123456789012345678901234567890123456789"),
	KV("last", "z"),
};
#define KV_ENTRIES ((int)(sizeof(kv_table) / sizeof(kv_table[0])))

static const unsigned char kv_error[] = "CLIENT_ERROR bad command\r\n";

/* Copies n (< 64) bytes; a loop of its own rather than memcpy so that both
 * builds run the same code. */
static inline unsigned long kv_put(unsigned char *dst, unsigned long at, const unsigned char *src,
				   unsigned long n)
{
	for (unsigned long i = 0; i < n && i < 64; i++)
		dst[at + i] = src[i];
	return at + n;
}

/* Index of the entry whose key is req[4..4+klen), or -1. */
static inline int kv_find(const unsigned char *req, unsigned long klen)
{
	for (int e = 0; e < KV_ENTRIES; e++) {
		unsigned long i = 0;

		if (kv_table[e].klen != klen)
			continue;
		while (i < klen && i < KV_KEY_MAX && kv_table[e].key[i] == req[4 + i])
			i++;
		if (i == klen)
			return e;
	}
	return -1;
}

KV_HANDLER long handle_request(const unsigned char *req, unsigned long len,
			       unsigned char *resp, unsigned long cap)
{
	unsigned long klen = 0, at = 0;
	int e;

	if (len == 0 || req[0] == '#')
		return -1;
	if (cap < 128)
		return -1;
	if (len < 6 || req[0] != 'g' || req[1] != 'e' || req[2] != 't' || req[3] != ' ')
		return (long)kv_put(resp, 0, kv_error, sizeof(kv_error) - 1);
	while (4 + klen < len && klen <= KV_KEY_MAX && req[4 + klen] > ' ')
		klen++;
	if (klen == 0 || klen > KV_KEY_MAX || 4 + klen + 2 != len ||
	    req[4 + klen] != '\r' || req[5 + klen] != '\n')
		return (long)kv_put(resp, 0, kv_error, sizeof(kv_error) - 1);
	e = kv_find(req, klen);
	if (e >= 0) {
		const struct kv_entry *t = &kv_table[e];

		at = kv_put(resp, at, (const unsigned char *)"VALUE ", 6);
		at = kv_put(resp, at, t->key, t->klen);
		at = kv_put(resp, at, (const unsigned char *)" 0 ", 3);
		if (t->vlen >= 10)
			resp[at++] = t->vlen_text[0];
		resp[at++] = t->vlen_text[1];
		at = kv_put(resp, at, (const unsigned char *)"\r\n", 2);
		at = kv_put(resp, at, t->val, t->vlen);
		at = kv_put(resp, at, (const unsigned char *)"\r\n", 2);
	}
	at = kv_put(resp, at, (const unsigned char *)"END\r\n", 5);
	return (long)at;
}

#ifndef KV_BPF_REF
#include "../../samples/udp_server.h"

int main(int argc, char **argv)
{
	return udp_server_main(argc, argv, "kv", 11211);
}
#endif
