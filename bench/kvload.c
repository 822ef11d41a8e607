/* kvload - clients for samples/kvcache and samples/counters (tests and
 * bench/kvcache.sh).  Every mode talks to 127.0.0.1 (or -a ADDR) port -p.
 *
 *   kvload fill  -p PORT -k KEYS [-s SIZE]
 *       sets key:0 .. key:KEYS-1 over TCP (memcached ASCII), value_of() below
 *   kvload get   -p PORT -k KEYS [-m MISS%] [-c INFLIGHT] [-d SECONDS] [-s SIZE]
 *       closed-loop UDP gets (memcached frame header), INFLIGHT outstanding;
 *       a hit asks key:i (i < KEYS), a miss asks miss:i; every reply is
 *       checked (a hit must carry exactly value_of(i), a miss "END")
 *   kvload set   -p PORT -k KEYS [-d SECONDS] [-s SIZE]
 *       closed-loop TCP sets, one outstanding: the userspace write path
 *   kvload statsd -p PORT -n REQUESTS [-r SEED] [-k NAMES]
 *       statsd increments "NAME:VALUE|c" (one to three lines a datagram, one
 *       in 16 malformed and dropped whole), a question every 32 datagrams
 *       as a barrier; prints "expect NAME SUM" for every name it counted
 *   kvload ask   -p PORT NAME...
 *       asks each NAME's sum: prints "NAME=SUM" lines as the server says
 *   kvload udp   -p PORT COMMAND
 *       one memcached UDP request (COMMAND, then "\r\n"); prints the reply
 *       after its frame header, exit 3 when none comes within a second
 *
 * get/set print one line:
 *   kvload: MODE sent N replies N hits N misses N bad N lost N seconds S rps R p50_us P p99_us Q
 * and exit 1 when any reply was wrong (bad). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "kvclient.h"

#define MAX_INFLIGHT 256
#define TIMEOUT_NS 500000000ll

struct options {
	const char *mode, *addr;
	int port, keys, miss_percent, inflight, size, requests;
	double seconds;
	unsigned long long seed;
	char **names;
	int nnames;
};

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

/* The value of key:i: SIZE bytes that name the key, the rest a pattern. */
static int value_of(int i, int size, char *buf)
{
	int n = snprintf(buf, (size_t)size + 1, "v%d:", i);

	for (; n < size; n++)
		buf[n] = (char)('a' + (i + n) % 26);
	buf[size] = 0;
	return size;
}

/* ---- TCP: send a command, read one reply line ---------------------------- */

static int read_line(int fd, char *buf, size_t cap)
{
	size_t n = 0;

	while (n + 1 < cap) {
		ssize_t r = recv(fd, buf + n, 1, 0);

		if (r <= 0)
			return -1;
		if (buf[n++] == '\n')
			break;
	}
	buf[n] = 0;
	return (int)n;
}

static int tcp_set(int fd, const char *key, const char *value, int len)
{
	char cmd[2048], line[256];
	int n = snprintf(cmd, sizeof cmd, "set %s 0 0 %d\r\n%.*s\r\n", key, len, len, value);

	if (kv_send_all(fd, cmd, (size_t)n) < 0 || read_line(fd, line, sizeof line) < 0)
		return -1;
	return strcmp(line, "STORED\r\n") == 0 ? 0 : -1;
}

static int mode_fill(const struct options *o)
{
	int fd = kv_connect("kvload", o->addr, o->port, SOCK_STREAM);
	char key[32], value[2048];

	for (int i = 0; i < o->keys; i++) {
		snprintf(key, sizeof key, "key:%d", i);
		if (tcp_set(fd, key, value, value_of(i, o->size, value)) < 0) {
			fprintf(stderr, "kvload: set %s failed\n", key);
			return 1;
		}
	}
	close(fd);
	printf("kvload: fill %d keys of %d bytes\n", o->keys, o->size);
	return 0;
}

/* ---- Latencies --------------------------------------------------------- */

struct stats {
	long long sent, replies, hits, misses, bad, lost;
	long long *lat;
	size_t nlat, caplat;
};

static void record(struct stats *s, long long ns)
{
	if (s->nlat == s->caplat) {
		s->caplat = s->caplat ? 2 * s->caplat : 1 << 16;
		s->lat = realloc(s->lat, s->caplat * sizeof *s->lat);
		if (!s->lat)
			exit(2);
	}
	s->lat[s->nlat++] = ns;
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return (x > y) - (x < y);
}

static double percentile_us(struct stats *s, double p)
{
	if (!s->nlat)
		return 0;
	return (double)s->lat[(size_t)(p * (double)(s->nlat - 1))] / 1000.0;
}

static int report(const char *mode, struct stats *s, double secs)
{
	qsort(s->lat, s->nlat, sizeof *s->lat, cmp_ll);
	printf("kvload: %s sent %lld replies %lld hits %lld misses %lld bad %lld lost %lld seconds %.2f "
	       "rps %.0f p50_us %.1f p99_us %.1f\n", mode, s->sent, s->replies, s->hits, s->misses,
	       s->bad, s->lost, secs, (double)s->replies / secs, percentile_us(s, 0.50),
	       percentile_us(s, 0.99));
	free(s->lat);
	return s->bad ? 1 : 0;
}

/* ---- UDP gets ------------------------------------------------------------ */

struct pending {
	long long sent_at;	/* 0: slot free */
	int key;		/* >= 0 hit key, < 0 miss */
	unsigned short id;
};

static int build_get(unsigned short id, int key, char *buf)
{
	buf[0] = (char)(id >> 8);
	buf[1] = (char)id;
	buf[2] = buf[3] = buf[4] = buf[6] = buf[7] = 0;
	buf[5] = 1;
	if (key >= 0)
		return KV_UDP_HEADER + sprintf(buf + KV_UDP_HEADER, "get key:%d\r\n", key);
	return KV_UDP_HEADER + sprintf(buf + KV_UDP_HEADER, "get miss:%d\r\n", -key - 1);
}

/* Checks one reply against what its request asked. */
static int reply_ok(const struct pending *p, const char *r, ssize_t n, int size)
{
	char want[2200], value[2048];
	int len;

	if (p->key < 0)
		return n == KV_UDP_HEADER + 5 && memcmp(r + KV_UDP_HEADER, "END\r\n", 5) == 0;
	value_of(p->key, size, value);
	len = snprintf(want, sizeof want, "VALUE key:%d 0 %d\r\n%s\r\nEND\r\n", p->key, size, value);
	return n == KV_UDP_HEADER + len && memcmp(r + KV_UDP_HEADER, want, (size_t)len) == 0 &&
	       r[4] == 0 && r[5] == 1;
}

static void send_get(int fd, const struct options *o, struct pending *p, unsigned short id,
		     unsigned long long *rnd, struct stats *s)
{
	char buf[64];
	int n, i = (int)(kv_next_random(rnd) % (unsigned long long)o->keys);

	p->key = (int)(kv_next_random(rnd) % 100) < o->miss_percent ? -i - 1 : i;
	p->id = id;
	n = build_get(id, p->key, buf);
	p->sent_at = now_ns();
	send(fd, buf, (size_t)n, 0);
	s->sent++;
}

static int mode_get(const struct options *o)
{
	int fd = kv_connect("kvload", o->addr, o->port, SOCK_DGRAM);
	struct pending slots[MAX_INFLIGHT] = { 0 };
	struct stats s = { 0 };
	unsigned long long rnd = 0x9e3779b97f4a7c15ull;
	unsigned short next_id = 1;
	long long start = now_ns(), end = start + (long long)(o->seconds * 1e9);
	char buf[4096];

	for (int i = 0; i < o->inflight; i++)
		send_get(fd, o, &slots[i], next_id++, &rnd, &s);
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		long long t = now_ns();

		if (t >= end)
			break;
		for (int i = 0; i < o->inflight; i++)
			if (t - slots[i].sent_at > TIMEOUT_NS) {
				s.lost++;
				send_get(fd, o, &slots[i], next_id++, &rnd, &s);
			}
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);

		if (n < KV_UDP_HEADER)
			continue;
		unsigned short id = (unsigned short)(((unsigned char)buf[0] << 8) | (unsigned char)buf[1]);
		int i;

		for (i = 0; i < o->inflight && slots[i].id != id; i++)
			;
		if (i == o->inflight)
			continue;	/* a late reply to a request counted lost */
		t = now_ns();
		record(&s, t - slots[i].sent_at);
		s.replies++;
		if (!reply_ok(&slots[i], buf, n, o->size))
			s.bad++;
		else if (slots[i].key >= 0)
			s.hits++;
		else
			s.misses++;
		send_get(fd, o, &slots[i], next_id++, &rnd, &s);
	}
	close(fd);
	return report("get", &s, (double)(now_ns() - start) / 1e9);
}

/* ---- TCP sets: the userspace write path ----------------------------------- */

static int mode_set(const struct options *o)
{
	int fd = kv_connect("kvload", o->addr, o->port, SOCK_STREAM);
	struct stats s = { 0 };
	long long start = now_ns(), end = start + (long long)(o->seconds * 1e9);
	char key[32], value[2048];
	int i = 0;

	while (now_ns() < end) {
		long long t = now_ns();

		snprintf(key, sizeof key, "key:%d", i);
		s.sent++;
		if (tcp_set(fd, key, value, value_of(i, o->size, value)) < 0) {
			s.bad++;
			break;
		}
		record(&s, now_ns() - t);
		s.replies++;
		i = (i + 1) % o->keys;
	}
	close(fd);
	return report("set", &s, (double)(now_ns() - start) / 1e9);
}

/* ---- statsd ---------------------------------------------------------------- */

static int ask(int fd, const char *question, char *answer, size_t cap)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ssize_t n;

	send(fd, question, strlen(question), 0);
	if (poll(&pfd, 1, 2000) <= 0 || (n = recv(fd, answer, cap - 1, 0)) < 0)
		return -1;
	answer[n] = 0;
	return 0;
}

static int mode_statsd(const struct options *o)
{
	int fd = kv_connect("kvload", o->addr, o->port, SOCK_DGRAM), names = o->keys;
	long long *sums = calloc((size_t)names, sizeof *sums);
	char *used = calloc((size_t)names, 1);
	unsigned long long rnd = o->seed * 2654435761ull + 1;
	char dgram[512], answer[512];

	if (!sums || !used)
		return 2;
	for (int r = 0; r < o->requests; r++) {
		int lines = 1 + (int)(kv_next_random(&rnd) % 3), len = 0;
		int malformed = kv_next_random(&rnd) % 16 == 0;
		long long add[3];
		int name[3];

		for (int l = 0; l < lines; l++) {
			name[l] = (int)(kv_next_random(&rnd) % (unsigned long long)names);
			add[l] = (long long)(kv_next_random(&rnd) % 2000001) - 1000000;
			len += snprintf(dgram + len, sizeof dgram - (size_t)len, "%sn%d.hits:%lld|c",
					l ? "\n" : "", name[l], add[l]);
		}
		if (malformed)
			len += snprintf(dgram + len, sizeof dgram - (size_t)len, "\nbad line|x");
		send(fd, dgram, (size_t)len, 0);
		if (!malformed)
			for (int l = 0; l < lines; l++) {
				sums[name[l]] += add[l];
				used[name[l]] = 1;
			}
		/* A question now and then: the server has handled everything before it. */
		if (r % 32 == 31 && ask(fd, "n0.hits?", answer, sizeof answer) < 0) {
			fprintf(stderr, "kvload: no answer to a barrier question\n");
			return 1;
		}
	}
	if (ask(fd, "n0.hits?", answer, sizeof answer) < 0)
		return 1;
	for (int i = 0; i < names; i++)
		if (used[i])
			printf("expect n%d.hits %lld\n", i, sums[i]);
	free(sums);
	free(used);
	return 0;
}

static int mode_ask(const struct options *o)
{
	int fd = kv_connect("kvload", o->addr, o->port, SOCK_DGRAM);
	char q[128], answer[512];

	for (int i = 0; i < o->nnames; i++) {
		snprintf(q, sizeof q, "%s?", o->names[i]);
		if (ask(fd, q, answer, sizeof answer) < 0) {
			fprintf(stderr, "kvload: no answer for %s\n", o->names[i]);
			return 1;
		}
		fputs(answer, stdout);
	}
	return 0;
}

static int mode_udp(const struct options *o)
{
	int fd = kv_connect("kvload", o->addr, o->port, SOCK_DGRAM), n;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char req[2048], resp[4096];
	ssize_t r;

	if (o->nnames != 1)
		return 2;
	memcpy(req, "\x12\x34\0\0\0\1\0\0", KV_UDP_HEADER);
	n = KV_UDP_HEADER + snprintf(req + KV_UDP_HEADER, sizeof req - KV_UDP_HEADER, "%s\r\n", o->names[0]);
	send(fd, req, (size_t)n, 0);
	if (poll(&pfd, 1, 1000) <= 0 || (r = recv(fd, resp, sizeof resp, 0)) < KV_UDP_HEADER)
		return 3;
	if (memcmp(resp, "\x12\x34\0\0\0\1\0\0", KV_UDP_HEADER)) {
		fprintf(stderr, "kvload: bad frame header in the reply\n");
		return 1;
	}
	fwrite(resp + KV_UDP_HEADER, 1, (size_t)(r - KV_UDP_HEADER), stdout);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: kvload fill|get|set|statsd|ask|udp -p PORT [-a ADDR] [-k KEYS] [-m MISS%%] "
			"[-c INFLIGHT] [-d SECONDS] [-s SIZE] [-n REQUESTS] [-r SEED] [NAME...]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct options o = { .addr = "127.0.0.1", .keys = 100, .inflight = 1, .size = 100,
			     .seconds = 1, .requests = 1000, .seed = 1 };
	int c;

	if (argc < 2)
		usage();
	o.mode = argv[1];
	optind = 2;
	while ((c = getopt(argc, argv, "a:p:k:m:c:d:s:n:r:")) != -1) {
		switch (c) {
		case 'a': o.addr = optarg; break;
		case 'p': o.port = atoi(optarg); break;
		case 'k': o.keys = atoi(optarg); break;
		case 'm': o.miss_percent = atoi(optarg); break;
		case 'c': o.inflight = atoi(optarg); break;
		case 'd': o.seconds = atof(optarg); break;
		case 's': o.size = atoi(optarg); break;
		case 'n': o.requests = atoi(optarg); break;
		case 'r': o.seed = strtoull(optarg, NULL, 0); break;
		default: usage();
		}
	}
	o.names = argv + optind;
	o.nnames = argc - optind;
	if (o.port <= 0 || o.keys <= 0 || o.inflight < 1 || o.inflight > MAX_INFLIGHT || o.size < 8 ||
	    o.size > 1024 || o.seconds <= 0)
		usage();
	if (!strcmp(o.mode, "fill"))
		return mode_fill(&o);
	if (!strcmp(o.mode, "get"))
		return mode_get(&o);
	if (!strcmp(o.mode, "set"))
		return mode_set(&o);
	if (!strcmp(o.mode, "statsd"))
		return mode_statsd(&o);
	if (!strcmp(o.mode, "ask"))
		return mode_ask(&o);
	if (!strcmp(o.mode, "udp"))
		return mode_udp(&o);
	usage();
	return 2;
}
