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

#include "../include/koff_packet.h"

#define BENCH_MAX_REQUEST 2048
#define BENCH_HDRS KOFF_FRAME_HDRS

struct bench_request {
	uint8_t *bytes;
	size_t len;
};

struct bench_requests {
	struct bench_request *items;
	int n;
};



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
		long n = koff_parse_hex_line(line, buf, BENCH_MAX_REQUEST);
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

/* The frame a request travels in: include/koff_packet.h, shared with
 * koff-link's --trace measurement and xdp_bench --frame. */
#define BENCH_HDRS_MAX KOFF_FRAME_HDRS_MAX
#define bench_frame_kinds koff_frame_kinds
#define bench_frame_kind koff_frame_kind
#define bench_build_frame_kind koff_build_frame_kind

static inline size_t bench_build_frame(uint8_t *frame, const uint8_t *req, size_t len, uint16_t port)
{
	return koff_build_frame(frame, req, len, port);
}

#endif
