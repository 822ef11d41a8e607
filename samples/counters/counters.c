/* counters - a statsd-like counter server: the handler itself writes the
 * state it serves.
 *
 *   counters [-p PORT] [-a ADDR]      default 127.0.0.1:8125
 *
 * A datagram holds one or more lines (separated by '\n'):
 *   NAME:VALUE|c     adds VALUE (a signed decimal) to NAME's sum; no reply
 *   NAME?            asks for NAME's sum: the reply is "NAME=SUM\n"
 *                    ("NAME=0\n" for a name never counted)
 * NAME is 1 to 64 bytes of [A-Za-z0-9._-].  A datagram with a malformed
 * line is dropped whole (nothing of it is counted: every line is checked
 * before anything is added).  A new name that finds no room in the table
 * stops the datagram there (the lines before it count) and drops the
 * reply.  A datagram with several questions gets one reply with an answer
 * per question, in order.
 *
 * The sums live in one global table of fixed-size entries.  With koff the
 * handler runs in XDP under the lock of docs/shared-state.md (LOCK mode:
 * the kernel side writes), and the userspace server counts exactly the
 * same way when a request falls back.
 */
#include "../udp_server.h"

#define NAME_MAX_LEN 64
#define NCOUNTERS 256		/* a power of two */
#define PROBE_MAX 8
#define VALUE_DIGITS_MAX 15	/* |VALUE| < 10^15: a sum of many stays far from overflow */

struct counter {
	unsigned char used;
	unsigned char name_len;
	unsigned char name[NAME_MAX_LEN];
	long long sum;
	unsigned long long updates;
};

static struct counter counters[NCOUNTERS];

/* One parsed line: a question (ask) or an increment. */
struct line {
	const unsigned char *name;
	unsigned long name_len;
	int ask;
	long long value;
};

static int name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

static unsigned int hash_name(const unsigned char *name, unsigned long len)
{
	unsigned int h = 2166136261u;

	for (unsigned long i = 0; i < len; i++)
		h = (h ^ name[i]) * 16777619u;
	return h;
}

/* Parses p[0..len) (one line, no '\n'); 0 on success. */
static int parse_line(const unsigned char *p, unsigned long len, struct line *l)
{
	unsigned long i = 0, digits = 0;
	int negative = 0;

	while (i < len && name_char(p[i]))
		i++;
	if (i == 0 || i > NAME_MAX_LEN || i == len)
		return -1;
	l->name = p;
	l->name_len = i;
	l->value = 0;
	l->ask = p[i] == '?';
	if (l->ask)
		return i + 1 == len ? 0 : -1;
	if (p[i++] != ':')
		return -1;
	if (i < len && (p[i] == '-' || p[i] == '+'))
		negative = p[i++] == '-';
	for (; i < len && p[i] >= '0' && p[i] <= '9'; i++, digits++) {
		if (digits == VALUE_DIGITS_MAX)
			return -1;
		l->value = l->value * 10 + (p[i] - '0');
	}
	if (digits == 0 || len - i != 2 || p[i] != '|' || p[i + 1] != 'c')
		return -1;
	if (negative)
		l->value = -l->value;
	return 0;
}

/* The entry of name, or -1; *free_slot is where it would go (-1: full). */
static int find_counter(const unsigned char *name, unsigned long len, int *free_slot)
{
	unsigned int h = hash_name(name, len);

	*free_slot = -1;
	for (unsigned int i = 0; i < PROBE_MAX; i++) {
		unsigned int idx = (h + i) & (NCOUNTERS - 1);
		const struct counter *c = &counters[idx];

		if (!c->used) {
			*free_slot = (int)idx;
			return -1;
		}
		if (c->name_len == len && memcmp(c->name, name, len) == 0)
			return (int)idx;
	}
	return -1;
}

/* Adds l's value to its counter; -1 when the table has no room for it. */
static int count(const struct line *l)
{
	int free_slot, idx = find_counter(l->name, l->name_len, &free_slot);
	struct counter *c;

	if (idx < 0) {
		if (free_slot < 0)
			return -1;
		idx = free_slot;
		c = &counters[idx];
		c->used = 1;
		c->name_len = (unsigned char)l->name_len;
		memcpy(c->name, l->name, l->name_len);
		c->sum = 0;
		c->updates = 0;
	}
	c = &counters[idx];
	c->sum += l->value;
	c->updates++;
	return 0;
}

/* Appends "NAME=SUM\n"; -1 when it does not fit. */
static int answer(const struct line *l, unsigned char *resp, unsigned long cap, unsigned long *used)
{
	int free_slot, idx = find_counter(l->name, l->name_len, &free_slot);
	long long sum = idx < 0 ? 0 : counters[idx].sum;
	unsigned long long mag = sum < 0 ? 0ull - (unsigned long long)sum : (unsigned long long)sum;
	unsigned char digits[20];
	int n = 0;

	do {
		digits[19 - n++] = (unsigned char)('0' + mag % 10);
		mag /= 10;
	} while (mag);
	if (l->name_len + 3 + (unsigned long)n > cap - *used)
		return -1;
	memcpy(resp + *used, l->name, l->name_len);
	*used += l->name_len;
	resp[(*used)++] = '=';
	if (sum < 0)
		resp[(*used)++] = '-';
	memcpy(resp + *used, digits + 20 - n, (unsigned long)n);
	*used += (unsigned long)n;
	resp[(*used)++] = '\n';
	return 0;
}

/* Runs every line of req in order, or drops the datagram (-1) when one
 * does not parse.  A new name that finds no room stops it there (-1). */
long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp,
		    unsigned long cap)
{
	unsigned long pos, used = 0;
	struct line l;

	/* Check every line first, so that a bad datagram changes nothing. */
	for (pos = 0; pos < len;) {
		const unsigned char *nl = memchr(req + pos, '\n', len - pos);
		unsigned long end = nl ? (unsigned long)(nl - req) : len;

		if (end > pos && parse_line(req + pos, end - pos, &l) < 0)
			return -1;
		pos = end + 1;
	}
	for (pos = 0; pos < len;) {
		const unsigned char *nl = memchr(req + pos, '\n', len - pos);
		unsigned long end = nl ? (unsigned long)(nl - req) : len;

		if (end > pos) {
			parse_line(req + pos, end - pos, &l);
			if (l.ask ? answer(&l, resp, cap, &used) < 0 : count(&l) < 0)
				return -1;
		}
		pos = end + 1;
	}
	return (long)used;
}

int main(int argc, char **argv)
{
	return udp_server_main(argc, argv, "counters", 8125);
}
