/* kvcache - a small memcached-compatible cache: the ASCII protocol over TCP
 * and UDP (with memcached's 8-byte UDP frame header), one flat table of
 * fixed-size slots in a global array, no pointers in any global.
 *
 *   kvcache [-p PORT] [-a ADDR]     default 127.0.0.1:11211, TCP and UDP
 *
 * Commands: get/gets with one or several keys, set, add, replace, append,
 * prepend, cas, delete, incr, decr, touch, flush_all, version, verbosity,
 * stats (a few lines), quit.  Keys up to 250 bytes, values up to
 * VALUE_MAX bytes ("SERVER_ERROR object too large for cache" beyond).
 * When a key's probe window is full, a store evicts the window's least
 * recently written item, as a cache does.
 *
 * handle_request() is a UDP datagram in, a reply datagram out (koff's
 * handler convention).  A get whose keys are all present is answered by
 * serve_cached_gets(), which only reads the table and the server clock;
 * everything else (a miss, a write, an unknown command) goes through
 * execute_command(), which the TCP side uses too and which starts by
 * reading the wall clock (time()).  With koff, the first runs in XDP and
 * the second, at its time() call, falls back to this userspace server.
 *
 * The server clock (current_time, unix seconds) ticks once a second, as
 * memcached's does; reads compare expiry times against it, writes take the
 * exact time because a relative exptime counts from now.
 */
#define _GNU_SOURCE	/* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define KEY_MAX 250
#define VALUE_MAX 1024
#define NSLOTS 3072		/* 3.9 MB in all, under the 4 MB a BPF map value may hold */
#define PROBE_MAX 64		/* open addressing: a key lives within 64 slots of its hash */
#define RELATIVE_EXPTIME_MAX (60 * 60 * 24 * 30)	/* memcached: larger is a unix time */
#define VERSION "1.6.18-kvcache"

/* The functions that touch the table from the event loop (handle_request,
 * process_input, clock_tick) stay functions of their own: the loop waits
 * for input, they never do, and koff wraps each call of them in a section
 * (docs/shared-state.md), which it cannot do inside a function that waits. */
#define ROOT __attribute__((noinline))

#define UDP_HEADER 8
#define UDP_CAP 1472		/* a reply datagram: the UDP payload of a 1500-byte MTU */
#define MAX_CONNS 128
#define IN_CAP 4096		/* a command line or a set's data block fits */
#define OUT_CAP (1u << 20)	/* a multi-get reply beyond that is an error, as in memcached */

enum slot_state { SLOT_EMPTY, SLOT_LIVE, SLOT_DELETED };

/* One item.  Plain bytes only: the table can live in any memory. */
struct slot {
	unsigned char state;	/* enum slot_state */
	unsigned char key_len;
	unsigned short value_len;
	unsigned int flags;
	unsigned int exptime;	/* unix seconds, 0 = never */
	unsigned int pad;
	unsigned long long cas;
	unsigned char key[KEY_MAX];
	unsigned char value[VALUE_MAX];
};

/* The whole shared state of the server. */
static struct slot table[NSLOTS];
static unsigned long long last_cas;	/* cas uniques are 1, 2, ... */
static unsigned int current_time;	/* the server clock: unix seconds, ticks once a second */

/* ---- Small helpers ------------------------------------------------------ */

/* A reply being written into a fixed buffer; overflow sticks. */
struct reply {
	unsigned char *buf;
	unsigned long len, cap;
	int overflow;
};

static void put_bytes(struct reply *r, const void *p, unsigned long n)
{
	if (r->overflow || n > r->cap - r->len) {
		r->overflow = 1;
		return;
	}
	memcpy(r->buf + r->len, p, n);
	r->len += n;
}

static void put_str(struct reply *r, const char *s)
{
	put_bytes(r, s, strlen(s));
}

static void put_u64(struct reply *r, unsigned long long v)
{
	unsigned char digits[20];
	int n = 0;

	do {
		digits[19 - n++] = (unsigned char)('0' + v % 10);
		v /= 10;
	} while (v);
	put_bytes(r, digits + 20 - n, (unsigned long)n);
}

static unsigned int hash_key(const unsigned char *key, unsigned long len)
{
	unsigned int h = 2166136261u;	/* FNV-1a */

	for (unsigned long i = 0; i < len; i++)
		h = (h ^ key[i]) * 16777619u;
	return h;
}

static int is_expired(const struct slot *s, unsigned int now)
{
	return s->exptime != 0 && s->exptime <= now;
}

/* The live, unexpired item with this key, or -1. */
static int find_slot(const unsigned char *key, unsigned long len, unsigned int now)
{
	unsigned int h = hash_key(key, len);

	for (unsigned int i = 0; i < PROBE_MAX; i++) {
		unsigned int idx = (h + i) % NSLOTS;
		const struct slot *s = &table[idx];

		if (s->state == SLOT_EMPTY)
			return -1;
		if (s->state == SLOT_LIVE && s->key_len == len && memcmp(s->key, key, len) == 0)
			return is_expired(s, now) ? -1 : (int)idx;
	}
	return -1;
}

/* Appends "VALUE key flags bytes [cas]\r\ndata\r\n". */
static void put_value(struct reply *r, const struct slot *s, int with_cas)
{
	put_str(r, "VALUE ");
	put_bytes(r, s->key, s->key_len);
	put_str(r, " ");
	put_u64(r, s->flags);
	put_str(r, " ");
	put_u64(r, s->value_len);
	if (with_cas) {
		put_str(r, " ");
		put_u64(r, s->cas);
	}
	put_str(r, "\r\n");
	put_bytes(r, s->value, s->value_len);
	put_str(r, "\r\n");
}

/* Length of the command line at p (up to and without "\r\n" or "\n"), or -1
 * when there is no end of line within len bytes. */
static long line_length(const unsigned char *p, unsigned long len)
{
	const unsigned char *nl = memchr(p, '\n', len);

	if (!nl)
		return -1;
	return nl > p && nl[-1] == '\r' ? nl - p - 1 : nl - p;
}

/* ---- The read-only fast path ------------------------------------------ */

/* "get k1 k2 ...\r\n" or "gets ...", every key present: the reply, its
 * length; 0 when this path cannot answer (a miss, anything else). */
static long serve_cached_gets(const unsigned char *cmd, unsigned long len, struct reply *r)
{
	long line = line_length(cmd, len);
	unsigned long pos, nkeys = 0;
	int with_cas;

	if (line < 0 || (unsigned long)line + 1 + (cmd[line] == '\r') != len)
		return 0;	/* exactly one line in the datagram */
	if (line > 4 && memcmp(cmd, "get ", 4) == 0)
		with_cas = 0, pos = 4;
	else if (line > 5 && memcmp(cmd, "gets ", 5) == 0)
		with_cas = 1, pos = 5;
	else
		return 0;
	while (pos < (unsigned long)line) {
		unsigned long start;
		int idx;

		if (cmd[pos] == ' ') {
			pos++;
			continue;
		}
		start = pos;
		while (pos < (unsigned long)line && cmd[pos] != ' ')
			pos++;
		if (pos - start > KEY_MAX)
			return 0;
		idx = find_slot(cmd + start, pos - start, current_time);
		if (idx < 0)
			return 0;
		put_value(r, &table[idx], with_cas);
		nkeys++;
	}
	put_str(r, "END\r\n");
	if (r->overflow || nkeys == 0)
		return 0;
	return (long)r->len;
}

/* ---- Commands ------------------------------------------------------------ */

/* A command line split into words (offsets into the line). */
#define MAX_WORDS 24
struct words {
	int n;
	const unsigned char *w[MAX_WORDS];
	unsigned long len[MAX_WORDS];
};

static void split_words(const unsigned char *line, unsigned long len, struct words *ws)
{
	unsigned long pos = 0;

	ws->n = 0;
	while (pos < len && ws->n < MAX_WORDS) {
		if (line[pos] == ' ') {
			pos++;
			continue;
		}
		ws->w[ws->n] = line + pos;
		while (pos < len && line[pos] != ' ')
			pos++;
		ws->len[ws->n] = (unsigned long)(line + pos - ws->w[ws->n]);
		ws->n++;
	}
}

static int word_is(const struct words *ws, int i, const char *s)
{
	return i < ws->n && ws->len[i] == strlen(s) && memcmp(ws->w[i], s, ws->len[i]) == 0;
}

/* A decimal number word; 0 on success. */
static int word_u64(const struct words *ws, int i, unsigned long long *v)
{
	char buf[24], *end;

	if (i >= ws->n || ws->len[i] == 0 || ws->len[i] >= sizeof buf || ws->w[i][0] == '-')
		return -1;
	memcpy(buf, ws->w[i], ws->len[i]);
	buf[ws->len[i]] = 0;
	errno = 0;
	*v = strtoull(buf, &end, 10);
	return errno || *end ? -1 : 0;
}

static int word_i64(const struct words *ws, int i, long long *v)
{
	char buf[24], *end;

	if (i >= ws->n || ws->len[i] == 0 || ws->len[i] >= sizeof buf)
		return -1;
	memcpy(buf, ws->w[i], ws->len[i]);
	buf[ws->len[i]] = 0;
	errno = 0;
	*v = strtoll(buf, &end, 10);
	return errno || *end ? -1 : 0;
}

/* memcached's exptime: 0 never, up to 30 days relative, else a unix time,
 * negative already expired. */
static unsigned int absolute_exptime(long long exptime, unsigned int now)
{
	if (exptime == 0)
		return 0;
	if (exptime < 0)
		return 1;
	if (exptime <= RELATIVE_EXPTIME_MAX)
		return now + (unsigned int)exptime;
	return (unsigned int)exptime;
}

/* The slot to store key in: its live slot, else the first free one in its
 * probe window (expired items are free), else the window's least recently
 * written item, evicted: a cache makes room rather than refuse a store. */
static int slot_for_store(const unsigned char *key, unsigned long len, unsigned int now)
{
	unsigned int h = hash_key(key, len);
	int free_idx = -1, oldest = -1;

	for (unsigned int i = 0; i < PROBE_MAX; i++) {
		unsigned int idx = (h + i) % NSLOTS;
		struct slot *s = &table[idx];

		if (s->state == SLOT_LIVE && s->key_len == len && memcmp(s->key, key, len) == 0)
			return (int)idx;
		if (free_idx < 0 && (s->state != SLOT_LIVE || is_expired(s, now)))
			free_idx = (int)idx;
		if (s->state == SLOT_LIVE && (oldest < 0 || s->cas < table[oldest].cas))
			oldest = (int)idx;
		if (s->state == SLOT_EMPTY)
			break;
	}
	return free_idx >= 0 ? free_idx : oldest;
}

static void remove_slot(struct slot *s)
{
	/* A tombstone keeps later keys of the same probe chain reachable. */
	s->state = SLOT_DELETED;
	s->key_len = 0;
	s->value_len = 0;
}

enum store_kind { STORE_SET, STORE_ADD, STORE_REPLACE, STORE_APPEND, STORE_PREPEND, STORE_CAS };

static int store_kind_of(const struct words *ws, enum store_kind *kind)
{
	if (word_is(ws, 0, "set"))
		*kind = STORE_SET;
	else if (word_is(ws, 0, "add"))
		*kind = STORE_ADD;
	else if (word_is(ws, 0, "replace"))
		*kind = STORE_REPLACE;
	else if (word_is(ws, 0, "append"))
		*kind = STORE_APPEND;
	else if (word_is(ws, 0, "prepend"))
		*kind = STORE_PREPEND;
	else if (word_is(ws, 0, "cas"))
		*kind = STORE_CAS;
	else
		return -1;
	return 0;
}

/* The outcome of a store command, as the protocol names it. */
static const char *store_item(enum store_kind kind, const struct words *ws, const unsigned char *data,
			      unsigned long bytes, unsigned int flags, unsigned int exptime,
			      unsigned long long cas_in, unsigned int now)
{
	const unsigned char *key = ws->w[1];
	unsigned long key_len = ws->len[1];
	int live = find_slot(key, key_len, now);
	int idx;
	struct slot *s;

	if ((kind == STORE_ADD && live >= 0) ||
	    ((kind == STORE_REPLACE || kind == STORE_APPEND || kind == STORE_PREPEND) && live < 0))
		return "NOT_STORED";
	if (kind == STORE_CAS) {
		if (live < 0)
			return "NOT_FOUND";
		if (table[live].cas != cas_in)
			return "EXISTS";
	}
	if (kind == STORE_APPEND || kind == STORE_PREPEND) {
		s = &table[live];
		if (s->value_len + bytes > VALUE_MAX)
			return "SERVER_ERROR object too large for cache";
		if (kind == STORE_PREPEND)
			memmove(s->value + bytes, s->value, s->value_len);
		memcpy(kind == STORE_PREPEND ? s->value : s->value + s->value_len, data, bytes);
		s->value_len = (unsigned short)(s->value_len + bytes);
		s->cas = ++last_cas;
		return "STORED";
	}
	idx = live >= 0 ? live : slot_for_store(key, key_len, now);
	s = &table[idx];
	s->state = SLOT_LIVE;
	s->key_len = (unsigned char)key_len;
	memcpy(s->key, key, key_len);
	memcpy(s->value, data, bytes);
	s->value_len = (unsigned short)bytes;
	s->flags = flags;
	s->exptime = exptime;
	s->cas = ++last_cas;
	return "STORED";
}

/* set/add/replace/append/prepend/cas KEY FLAGS EXPTIME BYTES [CAS] [noreply]
 * followed by BYTES of data and "\r\n".  Returns the bytes consumed, 0
 * when the data has not all arrived yet. */
static long command_store(enum store_kind kind, const struct words *ws, unsigned long line_end,
			  const unsigned char *in, unsigned long len, struct reply *r, unsigned int now)
{
	unsigned long long flags, bytes, cas_in = 0;
	long long exptime;
	int nargs = kind == STORE_CAS ? 6 : 5;
	int noreply = ws->n == nargs + 1 && word_is(ws, nargs, "noreply");
	unsigned long total;
	const char *outcome;

	if ((ws->n != nargs && !noreply) || ws->len[1] > KEY_MAX || word_u64(ws, 2, &flags) ||
	    flags > 0xffffffffull || word_i64(ws, 3, &exptime) || word_u64(ws, 4, &bytes) ||
	    (kind == STORE_CAS && word_u64(ws, 5, &cas_in))) {
		put_str(r, "CLIENT_ERROR bad command line format\r\n");
		return (long)line_end;
	}
	if (bytes > len || len - bytes < line_end + 2) {
		if (bytes > IN_CAP || line_end + bytes + 2 > IN_CAP) {
			/* Too big to ever buffer: refuse now (the data follows as
			 * garbage lines, as memcached's clients expect). */
			put_str(r, "SERVER_ERROR object too large for cache\r\n");
			return (long)line_end;
		}
		return 0;
	}
	total = line_end + bytes + 2;
	if (in[line_end + bytes] != '\r' || in[line_end + bytes + 1] != '\n') {
		put_str(r, "CLIENT_ERROR bad data chunk\r\n");
		return (long)total;
	}
	if (bytes > VALUE_MAX)
		outcome = "SERVER_ERROR object too large for cache";
	else
		outcome = store_item(kind, ws, in + line_end, bytes, (unsigned int)flags,
				     absolute_exptime(exptime, now), cas_in, now);
	if (!noreply) {
		put_str(r, outcome);
		put_str(r, "\r\n");
	}
	return (long)total;
}

static void command_get(const struct words *ws, struct reply *r, unsigned int now)
{
	int with_cas = word_is(ws, 0, "gets");
	unsigned long start = r->len;

	for (int i = 1; i < ws->n; i++) {
		int idx = ws->len[i] <= KEY_MAX ? find_slot(ws->w[i], ws->len[i], now) : -1;

		if (idx >= 0)
			put_value(r, &table[idx], with_cas);
	}
	put_str(r, "END\r\n");
	if (r->overflow) {
		r->overflow = 0;
		r->len = start;
		put_str(r, "SERVER_ERROR out of memory writing get response\r\n");
	}
}

static void command_delete(const struct words *ws, struct reply *r, unsigned int now)
{
	int noreply = word_is(ws, ws->n - 1, "noreply");
	int idx;

	if (ws->n < 2 || ws->n > 3 + noreply || ws->len[1] > KEY_MAX) {
		put_str(r, "CLIENT_ERROR bad command line format\r\n");
		return;
	}
	idx = find_slot(ws->w[1], ws->len[1], now);
	if (idx >= 0)
		remove_slot(&table[idx]);
	if (!noreply)
		put_str(r, idx >= 0 ? "DELETED\r\n" : "NOT_FOUND\r\n");
}

/* incr/decr KEY DELTA [noreply]: the value must be a decimal number. */
static void command_arith(const struct words *ws, struct reply *r, unsigned int now)
{
	int incr = word_is(ws, 0, "incr");
	int noreply = ws->n == 4 && word_is(ws, 3, "noreply");
	unsigned long long delta, value;
	struct words number;
	int idx;
	struct slot *s;
	struct reply digits;
	unsigned char buf[20];

	if ((ws->n != 3 && !noreply) || ws->len[1] > KEY_MAX || word_u64(ws, 2, &delta)) {
		put_str(r, "CLIENT_ERROR invalid numeric delta argument\r\n");
		return;
	}
	idx = find_slot(ws->w[1], ws->len[1], now);
	if (idx < 0) {
		if (!noreply)
			put_str(r, "NOT_FOUND\r\n");
		return;
	}
	s = &table[idx];
	number.n = 1;
	number.w[0] = s->value;
	number.len[0] = s->value_len;
	if (word_u64(&number, 0, &value)) {
		put_str(r, "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
		return;
	}
	value = incr ? value + delta : (delta > value ? 0 : value - delta);
	digits = (struct reply){ .buf = buf, .cap = sizeof buf };
	put_u64(&digits, value);
	memcpy(s->value, buf, digits.len);
	s->value_len = (unsigned short)digits.len;
	s->cas = ++last_cas;
	if (!noreply) {
		put_bytes(r, buf, digits.len);
		put_str(r, "\r\n");
	}
}

static void command_touch(const struct words *ws, struct reply *r, unsigned int now)
{
	int noreply = ws->n == 4 && word_is(ws, 3, "noreply");
	long long exptime;
	int idx;

	if ((ws->n != 3 && !noreply) || ws->len[1] > KEY_MAX || word_i64(ws, 2, &exptime)) {
		put_str(r, "CLIENT_ERROR bad command line format\r\n");
		return;
	}
	idx = find_slot(ws->w[1], ws->len[1], now);
	if (idx >= 0)
		table[idx].exptime = absolute_exptime(exptime, now);
	if (!noreply)
		put_str(r, idx >= 0 ? "TOUCHED\r\n" : "NOT_FOUND\r\n");
}

static void command_flush_all(const struct words *ws, struct reply *r)
{
	for (unsigned int i = 0; i < NSLOTS; i++)
		table[i].state = SLOT_EMPTY;
	if (!word_is(ws, ws->n - 1, "noreply"))
		put_str(r, "OK\r\n");
}

static void command_stats(struct reply *r, unsigned int now)
{
	unsigned long items = 0;

	for (unsigned int i = 0; i < NSLOTS; i++)
		items += table[i].state == SLOT_LIVE && !is_expired(&table[i], now);
	put_str(r, "STAT version " VERSION "\r\nSTAT time ");
	put_u64(r, now);
	put_str(r, "\r\nSTAT curr_items ");
	put_u64(r, items);
	put_str(r, "\r\nSTAT limit_maxbytes ");
	put_u64(r, (unsigned long long)NSLOTS * VALUE_MAX);
	put_str(r, "\r\nEND\r\n");
}

/* Executes the first command in in[0..len) and appends its reply to r.
 * Returns the bytes it consumed; 0 when the command is not complete yet;
 * -1 when the connection should close (quit, or a line too long). */
static long execute_command(const unsigned char *in, unsigned long len, struct reply *r)
{
	/* A relative exptime counts from the exact present, not the ticking clock. */
	unsigned int now = (unsigned int)time(NULL);
	long line = line_length(in, len);
	unsigned long line_end;
	struct words ws;
	enum store_kind kind;

	current_time = now;
	if (line < 0)
		return len >= IN_CAP ? -1 : 0;
	line_end = (unsigned long)line + 1 + (in[line] == '\r');
	split_words(in, (unsigned long)line, &ws);
	if (ws.n == 0)
		put_str(r, "ERROR\r\n");
	else if ((word_is(&ws, 0, "get") || word_is(&ws, 0, "gets")) && ws.n > 1)
		command_get(&ws, r, now);
	else if (store_kind_of(&ws, &kind) == 0)
		return command_store(kind, &ws, line_end, in, len, r, now);
	else if (word_is(&ws, 0, "delete"))
		command_delete(&ws, r, now);
	else if (word_is(&ws, 0, "incr") || word_is(&ws, 0, "decr"))
		command_arith(&ws, r, now);
	else if (word_is(&ws, 0, "touch"))
		command_touch(&ws, r, now);
	else if (word_is(&ws, 0, "flush_all"))
		command_flush_all(&ws, r);
	else if (word_is(&ws, 0, "version"))
		put_str(r, "VERSION " VERSION "\r\n");
	else if (word_is(&ws, 0, "verbosity"))
		put_str(r, word_is(&ws, ws.n - 1, "noreply") ? "" : "OK\r\n");
	else if (word_is(&ws, 0, "stats"))
		command_stats(r, now);
	else if (word_is(&ws, 0, "quit"))
		return -1;
	else
		put_str(r, "ERROR\r\n");
	return (long)line_end;
}

/* ---- UDP: one datagram, one reply ----------------------------------------- */

/* memcached's UDP frame: request id, sequence number, datagram count,
 * reserved, 16 bits each in network order.  Requests must be one datagram;
 * the reply is one datagram too (seq 0 of 1). */
ROOT long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp,
			 unsigned long cap)
{
	struct reply r;
	long used;

	if (len < UDP_HEADER || cap < UDP_HEADER || req[2] || req[3] || req[4] || req[5] != 1)
		return -1;
	memcpy(resp, req, 2);
	memset(resp + 2, 0, UDP_HEADER - 2);
	resp[5] = 1;
	r = (struct reply){ .buf = resp + UDP_HEADER, .cap = cap - UDP_HEADER };
	if (serve_cached_gets(req + UDP_HEADER, len - UDP_HEADER, &r) > 0)
		return (long)(UDP_HEADER + r.len);
	r = (struct reply){ .buf = resp + UDP_HEADER, .cap = cap - UDP_HEADER };
	used = execute_command(req + UDP_HEADER, len - UDP_HEADER, &r);
	if (used <= 0) {
		if (used < 0)
			return -1;	/* quit: there is no connection to close */
		r.len = 0;
		r.overflow = 0;
		put_str(&r, "CLIENT_ERROR incomplete command\r\n");
	}
	if (r.overflow) {
		r.len = 0;
		r.overflow = 0;
		put_str(&r, "SERVER_ERROR reply does not fit a datagram\r\n");
	}
	return r.len ? (long)(UDP_HEADER + r.len) : 0;
}

/* ---- TCP connections -------------------------------------------------- */

struct conn {
	int fd;
	int closing;		/* close once the output is written */
	unsigned long in_len;
	unsigned char in[IN_CAP];
	struct reply out;	/* out.buf: OUT_CAP bytes */
	unsigned long out_sent;
};

/* Runs every complete command in the connection's input; returns -1 when
 * the connection must close after its output.  It never waits: the event
 * loop reads and writes. */
ROOT long process_input(struct conn *c)
{
	unsigned long pos = 0;
	long used = 0;

	while (pos < c->in_len && c->out.len < OUT_CAP / 2) {
		used = execute_command(c->in + pos, c->in_len - pos, &c->out);
		if (used <= 0)
			break;
		pos += (unsigned long)used;
	}
	memmove(c->in, c->in + pos, c->in_len - pos);
	c->in_len -= pos;
	return used < 0 ? -1 : 0;
}

/* The server clock ticks: called by the event loop once a second. */
ROOT void clock_tick(unsigned int now)
{
	current_time = now;
}

/* ---- The event loop --------------------------------------------------------- */

struct server {
	const char *name;
	unsigned short port;
	const char *addr;
	int udp_fd, listen_fd, sig_fd;
	struct conn *conns[MAX_CONNS];
	struct pollfd pfd[3 + MAX_CONNS];
	int pfd_conn[3 + MAX_CONNS];	/* conns index of pfd[i], -1 for the others */
};

static int open_socket(struct server *sv, int type)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(sv->port) };
	int fd, one = 1;

	if (inet_pton(AF_INET, sv->addr, &sa.sin_addr) != 1) {
		fprintf(stderr, "%s: bad address '%s'\n", sv->name, sv->addr);
		return -1;
	}
	fd = socket(AF_INET, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 128) < 0)) {
		fprintf(stderr, "%s: %s socket on %s:%u: %s\n", sv->name,
			type == SOCK_STREAM ? "TCP" : "UDP", sv->addr, sv->port, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static void serve_datagrams(struct server *sv)
{
	unsigned char req[65536], resp[UDP_CAP];
	struct sockaddr_storage peer;

	for (int i = 0; i < 64; i++) {
		socklen_t peerlen = sizeof peer;
		ssize_t n = recvfrom(sv->udp_fd, req, sizeof req, MSG_DONTWAIT,
				     (struct sockaddr *)&peer, &peerlen);
		long r;

		if (n < 0)
			return;
		r = handle_request(req, (unsigned long)n, resp, sizeof resp);
		if (r > 0)
			sendto(sv->udp_fd, resp, (size_t)r, 0, (struct sockaddr *)&peer, peerlen);
	}
}

static void close_conn(struct server *sv, int i)
{
	close(sv->conns[i]->fd);
	free(sv->conns[i]->out.buf);
	free(sv->conns[i]);
	sv->conns[i] = NULL;
}

static void accept_conns(struct server *sv)
{
	for (;;) {
		int fd = accept4(sv->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK), one = 1, i;
		struct conn *c;

		if (fd < 0)
			return;
		for (i = 0; i < MAX_CONNS && sv->conns[i]; i++)
			;
		c = i < MAX_CONNS ? calloc(1, sizeof *c) : NULL;
		if (c)
			c->out.buf = malloc(OUT_CAP);
		if (!c || !c->out.buf) {
			free(c);
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		c->fd = fd;
		c->out.cap = OUT_CAP;
		sv->conns[i] = c;
	}
}

/* Writes what it can of the output; -1 when the peer is gone. */
static int flush_output(struct conn *c)
{
	while (c->out_sent < c->out.len) {
		ssize_t n = send(c->fd, c->out.buf + c->out_sent, c->out.len - c->out_sent, MSG_NOSIGNAL);

		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
		c->out_sent += (unsigned long)n;
	}
	c->out.len = c->out_sent = 0;
	return 0;
}

/* Reads, executes, writes; -1 when the connection is done. */
static int serve_conn(struct conn *c, short revents)
{
	if (revents & (POLLIN | POLLHUP | POLLERR)) {
		ssize_t n = read(c->fd, c->in + c->in_len, IN_CAP - c->in_len);

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return -1;
		if (n > 0)
			c->in_len += (unsigned long)n;
	}
	if (!c->closing && process_input(c) < 0)
		c->closing = 1;
	if (flush_output(c) < 0)
		return -1;
	return c->closing && c->out.len == 0 ? -1 : 0;
}

static int build_pollset(struct server *sv)
{
	int n = 0;

	sv->pfd[n] = (struct pollfd){ .fd = sv->sig_fd, .events = POLLIN };
	sv->pfd_conn[n++] = -1;
	sv->pfd[n] = (struct pollfd){ .fd = sv->udp_fd, .events = POLLIN };
	sv->pfd_conn[n++] = -1;
	sv->pfd[n] = (struct pollfd){ .fd = sv->listen_fd, .events = POLLIN };
	sv->pfd_conn[n++] = -1;
	for (int i = 0; i < MAX_CONNS; i++) {
		struct conn *c = sv->conns[i];

		if (!c)
			continue;
		/* Stop reading while the input is full or the output is not out yet. */
		sv->pfd[n].fd = c->fd;
		sv->pfd[n].events = (short)((c->in_len < IN_CAP && c->out.len == 0 ? POLLIN : 0) |
					    (c->out.len ? POLLOUT : 0));
		sv->pfd_conn[n++] = i;
	}
	return n;
}

static int serve(struct server *sv)
{
	unsigned int last_tick = 0;

	for (;;) {
		int n = build_pollset(sv);
		unsigned int now;

		if (poll(sv->pfd, (nfds_t)n, 1000) < 0 && errno != EINTR) {
			fprintf(stderr, "%s: poll: %s\n", sv->name, strerror(errno));
			return 1;
		}
		now = (unsigned int)time(NULL);
		if (now != last_tick) {
			clock_tick(now);
			last_tick = now;
		}
		if (sv->pfd[0].revents)
			return 0;	/* SIGINT or SIGTERM */
		if (sv->pfd[1].revents)
			serve_datagrams(sv);
		if (sv->pfd[2].revents)
			accept_conns(sv);
		for (int i = 3; i < n; i++)
			if (sv->pfd[i].revents && serve_conn(sv->conns[sv->pfd_conn[i]], sv->pfd[i].revents) < 0)
				close_conn(sv, sv->pfd_conn[i]);
	}
}

static int parse_options(int argc, char **argv, struct server *sv)
{
	int c;

	while ((c = getopt(argc, argv, "p:a:")) != -1) {
		char *end;
		long port;

		switch (c) {
		case 'p':
			port = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || port <= 0 || port > 65535) {
				fprintf(stderr, "%s: bad port '%s'\n", sv->name, optarg);
				return -1;
			}
			sv->port = (unsigned short)port;
			break;
		case 'a':
			sv->addr = optarg;
			break;
		default:
			fprintf(stderr, "usage: %s [-p PORT] [-a ADDR]\n", sv->name);
			return -1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct server *sv = calloc(1, sizeof *sv);
	sigset_t mask;
	int rc;

	if (!sv)
		return 1;
	*sv = (struct server){ .name = "kvcache", .port = 11211, .addr = "127.0.0.1" };
	if (parse_options(argc, argv, sv) < 0)
		return 2;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 || (sv->sig_fd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0) {
		fprintf(stderr, "%s: signalfd: %s\n", sv->name, strerror(errno));
		return 1;
	}
	sv->udp_fd = open_socket(sv, SOCK_DGRAM);
	sv->listen_fd = sv->udp_fd < 0 ? -1 : open_socket(sv, SOCK_STREAM);
	if (sv->listen_fd < 0)
		return 1;
	clock_tick((unsigned int)time(NULL));
	fprintf(stderr, "listening on %u\n", sv->port);
	rc = serve(sv);
	for (int i = 0; i < MAX_CONNS; i++)
		if (sv->conns[i])
			close_conn(sv, i);
	close(sv->listen_fd);
	close(sv->udp_fd);
	close(sv->sig_fd);
	free(sv);
	return rc;
}
