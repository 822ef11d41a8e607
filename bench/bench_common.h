/* bench_common.h - what the benchmark drivers share: the request file
 * (one hex request per line, '#' comments, as tests/koffdiff.c reads it),
 * a monotonic clock, medians, and the Ethernet+IPv4+UDP frame a request
 * travels in.  Header-only: each driver is one .c file built by run.sh. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_MAX_REQUEST 2048
#define BENCH_HDRS 42	/* Ethernet 14 + IPv4 20 + UDP 8 */

struct bench_request {
	uint8_t *bytes;
	size_t len;
};

struct bench_requests {
	struct bench_request *items;
	int n;
};

static inline int bench_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes one line; returns the byte count, -1 for a blank or comment line,
 * -EINVAL for anything else. */
static inline long bench_parse_line(const char *line, uint8_t *buf)
{
	size_t n = 0;
	int high = -1, any = 0;
	for (const char *p = line; *p && *p != '#'; p++) {
		if (isspace((unsigned char)*p))
			continue;
		int d = bench_hex_digit((unsigned char)*p);
		if (d < 0 || n >= BENCH_MAX_REQUEST)
			return -EINVAL;
		any = 1;
		if (high < 0) {
			high = d;
		} else {
			buf[n++] = (uint8_t)(high << 4 | d);
			high = -1;
		}
	}
	return high >= 0 ? -EINVAL : any ? (long)n : -1;
}

static inline int bench_load_requests(const char *path, struct bench_requests *reqs)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -errno;
	}
	static char line[2 * BENCH_MAX_REQUEST + 1024];
	uint8_t buf[BENCH_MAX_REQUEST];
	int err = 0;
	while (!err && fgets(line, sizeof(line), f)) {
		long n = bench_parse_line(line, buf);
		if (n == -EINVAL) {
			fprintf(stderr, "%s: bad request line\n", path);
			err = -EINVAL;
		} else if (n >= 0) {
			struct bench_request *items =
				realloc(reqs->items, (size_t)(reqs->n + 1) * sizeof(*items));
			uint8_t *copy = malloc((size_t)n + 1);
			if (!items || !copy) {
				free(copy);
				err = -ENOMEM;
				break;
			}
			memcpy(copy, buf, (size_t)n);
			reqs->items = items;
			reqs->items[reqs->n++] = (struct bench_request){ copy, (size_t)n };
		}
	}
	fclose(f);
	if (!err && reqs->n == 0) {
		fprintf(stderr, "%s: no requests\n", path);
		err = -EINVAL;
	}
	return err;
}

static inline double bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Sorts v and returns its median. */
static inline double bench_median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), bench_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static inline void bench_put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

/* One's complement sum of p[0..n) added to sum, folded to 16 bits. */
static inline uint32_t bench_sum(const uint8_t *p, size_t n, uint32_t sum)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

#define BENCH_HDRS_MAX (14 + 8 + 40 + 8)	/* two VLAN tags, IPv6 */

/* The frames xdp_bench --frame can build: tags 0 (plain), 1 (802.1Q),
 * 2 (802.1ad + 802.1Q); IPv4 or IPv6. */
struct bench_frame_kind {
	const char *name;
	int tags, ipv6;
};

static const struct bench_frame_kind bench_frame_kinds[] = {
	{ "v4", 0, 0 }, { "v6", 0, 1 }, { "vlan4", 1, 0 },
	{ "vlan6", 1, 1 }, { "qinq4", 2, 0 }, { "qinq6", 2, 1 },
};

static inline const struct bench_frame_kind *bench_frame_kind(const char *name)
{
	for (size_t i = 0; i < sizeof(bench_frame_kinds) / sizeof(bench_frame_kinds[0]); i++)
		if (!strcmp(name, bench_frame_kinds[i].name))
			return &bench_frame_kinds[i];
	return NULL;
}

/* A request from 10.0.0.1 (fd00::1):40000 to 10.0.0.2 (fd00::2):port with
 * valid checksums, in a frame of kind k; frame must hold BENCH_HDRS_MAX +
 * len bytes.  Returns the frame length. */
static inline size_t bench_build_frame_kind(uint8_t *frame, const uint8_t *req, size_t len,
					    uint16_t port, const struct bench_frame_kind *k)
{
	static const uint8_t macs[12] = { 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1 };
	static const uint8_t ip6s[32] = { 0xfd, [15] = 1, [16] = 0xfd, [31] = 2 };
	uint8_t *p = frame + 12;
	memcpy(frame, macs, 12);
	for (int t = k->tags; t > 0; t--, p += 4) {
		bench_put16(p, t == 2 ? 0x88a8 : 0x8100);
		bench_put16(p + 2, 7);
	}
	bench_put16(p, k->ipv6 ? 0x86dd : 0x0800);
	uint8_t *ip = p + 2, *udp = ip + (k->ipv6 ? 40 : 20);
	uint32_t pseudo;
	if (k->ipv6) {
		memset(ip, 0, 8);
		ip[0] = 0x60;
		bench_put16(ip + 4, (uint16_t)(8 + len));
		ip[6] = 17;
		ip[7] = 64;
		memcpy(ip + 8, ip6s, 32);
		pseudo = bench_sum(ip + 8, 32, 17 + 8 + (uint32_t)len);
	} else {
		memset(ip, 0, 20);
		ip[0] = 0x45;
		bench_put16(ip + 2, (uint16_t)(28 + len));
		bench_put16(ip + 6, 0x4000);
		ip[8] = 64;
		ip[9] = 17;
		memcpy(ip + 12, (const uint8_t[]){ 10, 0, 0, 1, 10, 0, 0, 2 }, 8);
		bench_put16(ip + 10, (uint16_t)~bench_sum(ip, 20, 0));
		pseudo = bench_sum(ip + 12, 8, 17 + 8 + (uint32_t)len);
	}
	bench_put16(udp, 40000);
	bench_put16(udp + 2, port);
	bench_put16(udp + 4, (uint16_t)(8 + len));
	bench_put16(udp + 6, 0);
	memcpy(udp + 8, req, len);
	uint16_t c = (uint16_t)~bench_sum(udp, 8 + len, pseudo);
	bench_put16(udp + 6, c ? c : 0xffff);
	return (size_t)(udp + 8 - frame) + len;
}

/* A request in an untagged IPv4 frame (BENCH_HDRS + len bytes). */
static inline size_t bench_build_frame(uint8_t *frame, const uint8_t *req, size_t len, uint16_t port)
{
	return bench_build_frame_kind(frame, req, len, port, &bench_frame_kinds[0]);
}

#endif
