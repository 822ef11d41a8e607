/* statsd.h - what the two objects of the statsd server share. */
#ifndef STATSD_H
#define STATSD_H

#include <stdint.h>

enum metric_type { MT_COUNTER, MT_GAUGE, MT_TIMER, MT_SET, MT_HISTOGRAM };

struct metric {
	const char *name;
	unsigned name_len;
	int64_t value;		/* milli-units */
	enum metric_type type;
	unsigned sample_per_mille;	/* @0.1 -> 100; 1000 when absent */
	int gauge_delta;		/* "+3" / "-3" on a gauge */
};

/* statsd_parse.c */
int statsd_parse_line(const char *s, unsigned long n, struct metric *m);
uint32_t statsd_hash(const char *s, unsigned n);

#endif
