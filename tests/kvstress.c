/* kvstress - writers over TCP and readers over UDP against samples/kvcache
 * at the same time, every reply checked against the history of writes
 * (tests/t-shared-stress.sh).
 *
 *   kvstress -p PORT [-k KEYS] [-w WRITERS] [-r READERS] [-d SECONDS] [-C CPUS] [-V MAXLEN]
 *
 * Key s:K is written only by writer K % WRITERS, with versions 1, 2, ...
 * Each value is "s:K VERSION PAD... CHECKSUM": its length (48 to MAXLEN,
 * default 1024) and its pad follow from (K, VERSION), and CHECKSUM (16 hex digits, FNV-1a 64) covers
 * everything before it, so a value torn between two writes is seen.
 * A writer records a version as acknowledged once STORED came back.
 * Readers (pinned round robin to CPUs 0 .. CPUS-1) send UDP gets, one at a
 * time each; for each reply:
 *   torn      the checksum, key or layout does not hold
 *   stale     its version is below the one acknowledged before the request left
 *   phantom   its version was never written
 *   missing   no value (every key is written before the readers start)
 * At the end every key is read once more over TCP and over UDP: it must be
 * exactly the last acknowledged write (else lost).  Prints
 *   kvstress: reads N torn N stale N phantom N missing N timeouts N writes N lost N
 * and exits 0 only when torn, stale, phantom, missing and lost are all 0. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../bench/kvclient.h"

#define MAX_KEYS 256
#define MAX_THREADS 32
#define VALUE_CAP 1024

struct run {
	int port, keys, writers, readers, cpus, maxlen;
	double seconds;
	atomic_llong acked[MAX_KEYS];	/* last version STORED */
	atomic_llong issued[MAX_KEYS];	/* last version sent */
	atomic_int stop;
	atomic_llong reads, torn, stale, phantom, missing, timeouts, writes, write_errors;
};

struct worker {
	struct run *run;
	int index;
	pthread_t thread;
};

static unsigned long long fnv64(const char *p, size_t n)
{
	unsigned long long h = 14695981039346656037ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
	return h;
}

static int maxlen = VALUE_CAP;	/* -V: set once, before any thread starts */

/* The value of key k at version v; returns its length. */
static int value_of(int k, long long v, char *buf)
{
	unsigned long long seed = (unsigned long long)k * 1000003ull + (unsigned long long)v;
	unsigned long long h = fnv64((const char *)&seed, sizeof seed);
	int len = 48 + (int)(h % (unsigned long long)(maxlen - 48 + 1)), n;

	n = sprintf(buf, "s:%d %lld ", k, v);
	for (; n < len - 16; n++) {
		h = h * 6364136223846793005ull + 1442695040888963407ull;
		buf[n] = (char)('a' + (h >> 33) % 26);
	}
	snprintf(buf + n, 17, "%016llx", fnv64(buf, (size_t)n));
	return len;
}

enum verdict { GOOD, TORN, STALE, PHANTOM };

/* Judges a value read for key k: floor is the version acknowledged before
 * the request left. */
static enum verdict judge(struct run *run, int k, const char *data, int len, long long floor,
			  long long *version)
{
	char want[VALUE_CAP + 1], name[32];
	int n;

	if (len < 48 || len > VALUE_CAP || sscanf(data, "%31s %lld %n", name, version, &n) != 2)
		return TORN;
	snprintf(want, sizeof want, "s:%d", k);
	if (strcmp(name, want) || *version < 1 || value_of(k, *version, want) != len ||
	    memcmp(want, data, (size_t)len))
		return TORN;
	if (*version < floor)
		return STALE;
	if (*version > atomic_load(&run->issued[k]))
		return PHANTOM;
	return GOOD;
}

/* Reads until buf holds a line ending in want (a full reply); -1 on EOF. */
/* kvcache under test listens on 127.0.0.1 in the test's netns. */
static int connect_local(int port, int type)
{
	return kv_connect("kvstress", "127.0.0.1", port, type);
}

static int read_reply(int fd, char *buf, size_t cap, const char *want)
{
	size_t n = 0, wl = strlen(want);

	while (n + 1 < cap) {
		ssize_t r = recv(fd, buf + n, cap - 1 - n, 0);

		if (r <= 0)
			return -1;
		n += (size_t)r;
		buf[n] = 0;
		if (n >= wl && strcmp(buf + n - wl, want) == 0)
			return (int)n;
		if (n >= 2 && strcmp(buf + n - 2, "\r\n") == 0 && (strstr(buf, "ERROR") == buf ||
								   strstr(buf, "SERVER_ERROR") == buf))
			return -1;
	}
	return -1;
}

static int tcp_set(int fd, int k, long long v)
{
	char value[VALUE_CAP + 1], cmd[VALUE_CAP + 100], reply[256];
	int len = value_of(k, v, value);
	int n = snprintf(cmd, sizeof cmd, "set s:%d 0 0 %d\r\n%.*s\r\n", k, len, len, value);

	if (kv_send_all(fd, cmd, (size_t)n) < 0 || read_reply(fd, reply, sizeof reply, "\r\n") < 0)
		return -1;
	return strcmp(reply, "STORED\r\n") == 0 ? 0 : -1;
}

static void *writer(void *arg)
{
	struct worker *w = arg;
	struct run *run = w->run;
	int fd = connect_local(run->port, SOCK_STREAM), own = 0;
	unsigned long long rnd = 0x1234567ull + (unsigned long long)w->index * 7919;
	int mine[MAX_KEYS];

	for (int k = w->index; k < run->keys; k += run->writers)
		mine[own++] = k;
	while (own && !atomic_load(&run->stop)) {
		int k = mine[kv_next_random(&rnd) % (unsigned long long)own];
		long long v = atomic_load(&run->issued[k]) + 1;

		atomic_store(&run->issued[k], v);
		if (tcp_set(fd, k, v) < 0) {
			atomic_fetch_add(&run->write_errors, 1);
			break;
		}
		atomic_store(&run->acked[k], v);
		atomic_fetch_add(&run->writes, 1);
	}
	close(fd);
	return NULL;
}

/* One UDP get of key k; the value's bytes into data.  1 value, 0 miss, -1 timeout. */
static int udp_get(int fd, unsigned short id, int k, char *data, int *len)
{
	char req[64], resp[2048], head[64];
	int n = sprintf(req + KV_UDP_HEADER, "get s:%d\r\n", k) + KV_UDP_HEADER, hl, bytes;
	long long deadline;
	struct timespec ts;

	memset(req, 0, KV_UDP_HEADER);
	req[0] = (char)(id >> 8);
	req[1] = (char)id;
	req[5] = 1;
	send(fd, req, (size_t)n, 0);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	deadline = ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 500;
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t r;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		if (ts.tv_sec * 1000 + ts.tv_nsec / 1000000 >= deadline ||
		    poll(&pfd, 1, (int)(deadline - ts.tv_sec * 1000 - ts.tv_nsec / 1000000)) <= 0)
			return -1;
		r = recv(fd, resp, sizeof resp - 1, MSG_DONTWAIT);
		if (r < KV_UDP_HEADER || (unsigned char)resp[0] != (id >> 8) || (unsigned char)resp[1] != (id & 0xff))
			continue;	/* a late reply to an earlier request */
		resp[r] = 0;
		if (r == KV_UDP_HEADER + 5 && memcmp(resp + KV_UDP_HEADER, "END\r\n", 5) == 0)
			return 0;
		hl = snprintf(head, sizeof head, "VALUE s:%d 0 ", k);
		if (r < KV_UDP_HEADER + hl || memcmp(resp + KV_UDP_HEADER, head, (size_t)hl) ||
		    sscanf(resp + KV_UDP_HEADER + hl, "%d\r\n%n", &bytes, &n) != 1 || bytes < 0 ||
		    bytes > VALUE_CAP || KV_UDP_HEADER + hl + n + bytes + 7 != r ||
		    memcmp(resp + r - 7, "\r\nEND\r\n", 7)) {
			*len = -1;	/* not a memcached reply for this key: torn */
			return 1;
		}
		memcpy(data, resp + KV_UDP_HEADER + hl + n, (size_t)bytes);
		*len = bytes;
		return 1;
	}
}

static void *reader(void *arg)
{
	struct worker *w = arg;
	struct run *run = w->run;
	int fd = connect_local(run->port, SOCK_DGRAM);
	unsigned long long rnd = 0xabcdef1ull + (unsigned long long)w->index * 104729;
	unsigned short id = (unsigned short)(w->index << 12);
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(w->index % run->cpus, &set);
	pthread_setaffinity_np(pthread_self(), sizeof set, &set);
	while (!atomic_load(&run->stop)) {
		int k = (int)(kv_next_random(&rnd) % (unsigned long long)run->keys), len, got;
		long long floor = atomic_load(&run->acked[k]), version;
		char data[VALUE_CAP + 1];

		got = udp_get(fd, ++id, k, data, &len);
		if (got < 0) {
			atomic_fetch_add(&run->timeouts, 1);
			continue;
		}
		atomic_fetch_add(&run->reads, 1);
		if (got == 0) {
			atomic_fetch_add(&run->missing, 1);
			continue;
		}
		switch (len < 0 ? TORN : judge(run, k, data, len, floor, &version)) {
		case TORN:
			if (atomic_fetch_add(&run->torn, 1) < 3)
				fprintf(stderr, "kvstress: torn value for s:%d: %.60s...\n", k, len < 0 ? "(bad reply)" : data);
			break;
		case STALE:
			if (atomic_fetch_add(&run->stale, 1) < 3)
				fprintf(stderr, "kvstress: stale s:%d: version %lld < %lld\n", k, version, floor);
			break;
		case PHANTOM:
			atomic_fetch_add(&run->phantom, 1);
			break;
		case GOOD:
			break;
		}
	}
	close(fd);
	return NULL;
}

/* The final state: every key exactly its last acknowledged write, over TCP
 * and over UDP.  Returns the number of keys that are not. */
static int count_lost(struct run *run)
{
	int tcp = connect_local(run->port, SOCK_STREAM), udp = connect_local(run->port, SOCK_DGRAM), lost = 0;

	for (int k = 0; k < run->keys; k++) {
		char cmd[64], reply[VALUE_CAP + 200], want[VALUE_CAP + 200], value[VALUE_CAP + 1], data[VALUE_CAP + 1];
		long long v = atomic_load(&run->acked[k]);
		int len = value_of(k, v, value), ulen, n;

		n = snprintf(cmd, sizeof cmd, "get s:%d\r\n", k);
		snprintf(want, sizeof want, "VALUE s:%d 0 %d\r\n%.*s\r\nEND\r\n", k, len, len, value);
		if (kv_send_all(tcp, cmd, (size_t)n) < 0 || read_reply(tcp, reply, sizeof reply, "END\r\n") < 0 ||
		    strcmp(reply, want) || udp_get(udp, (unsigned short)(0xf000 + k), k, data, &ulen) != 1 ||
		    ulen != len || memcmp(data, value, (size_t)len)) {
			if (lost++ < 3)
				fprintf(stderr, "kvstress: s:%d is not its last acknowledged write (version %lld)\n", k, v);
		}
	}
	close(tcp);
	close(udp);
	return lost;
}

int main(int argc, char **argv)
{
	static struct run run = { .keys = 32, .writers = 2, .readers = 4, .cpus = 2, .seconds = 5,
				  .maxlen = VALUE_CAP };
	struct worker workers[2 * MAX_THREADS];
	int c, fd, nw = 0, lost;

	while ((c = getopt(argc, argv, "p:k:w:r:d:C:V:")) != -1) {
		switch (c) {
		case 'p': run.port = atoi(optarg); break;
		case 'k': run.keys = atoi(optarg); break;
		case 'w': run.writers = atoi(optarg); break;
		case 'r': run.readers = atoi(optarg); break;
		case 'd': run.seconds = atof(optarg); break;
		case 'C': run.cpus = atoi(optarg); break;
		case 'V': run.maxlen = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: kvstress -p PORT [-k KEYS] [-w WRITERS] [-r READERS] [-d SECONDS] [-C CPUS] [-V MAXLEN]\n");
			return 2;
		}
	}
	if (run.port <= 0 || run.keys < 1 || run.keys > MAX_KEYS || run.writers < 1 ||
	    run.writers > MAX_THREADS || run.readers < 1 || run.readers > MAX_THREADS || run.cpus < 1 ||
	    run.maxlen < 48 || run.maxlen > VALUE_CAP)
		return 2;
	maxlen = run.maxlen;
	/* Version 1 of every key before any reader starts. */
	fd = connect_local(run.port, SOCK_STREAM);
	for (int k = 0; k < run.keys; k++) {
		atomic_store(&run.issued[k], 1);
		if (tcp_set(fd, k, 1) < 0) {
			fprintf(stderr, "kvstress: cannot write s:%d\n", k);
			return 2;
		}
		atomic_store(&run.acked[k], 1);
	}
	close(fd);
	for (int i = 0; i < run.writers; i++, nw++) {
		workers[nw] = (struct worker){ .run = &run, .index = i };
		pthread_create(&workers[nw].thread, NULL, writer, &workers[nw]);
	}
	for (int i = 0; i < run.readers; i++, nw++) {
		workers[nw] = (struct worker){ .run = &run, .index = i };
		pthread_create(&workers[nw].thread, NULL, reader, &workers[nw]);
	}
	usleep((useconds_t)(run.seconds * 1e6));
	atomic_store(&run.stop, 1);
	for (int i = 0; i < nw; i++)
		pthread_join(workers[i].thread, NULL);
	lost = count_lost(&run);
	printf("kvstress: reads %lld torn %lld stale %lld phantom %lld missing %lld timeouts %lld "
	       "writes %lld write_errors %lld lost %d\n", (long long)run.reads, (long long)run.torn,
	       (long long)run.stale, (long long)run.phantom, (long long)run.missing,
	       (long long)run.timeouts, (long long)run.writes, (long long)run.write_errors, lost);
	return run.torn || run.stale || run.phantom || run.missing || run.write_errors || lost ? 1 : 0;
}
