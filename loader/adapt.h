/* adapt.h - koff-load --adapt: keep deciding at run time whether the XDP
 * offload pays, and detach or re-attach it accordingly.
 *
 * Every interval the loader reads what the offload did (the program's
 * koff_stats counters) and what it cost (the kernel's run time of the
 * program, BPF_ENABLE_STATS + bpf_prog_info.run_time_ns) and weighs them
 * as koff-link's --trace decision does (src/workload.h): requests the
 * kernel completed save the userspace cost of a request (measured at
 * start, include/koff_calibrate.h), and every run costs its kernel time.
 *
 * Hysteresis: the program is detached only after `detach_after`
 * consecutive intervals lost by more than the margin; while detached, the
 * loader re-attaches it for one probe interval every `probe_every`
 * intervals (nothing else can see what the program would do with today's
 * traffic) and keeps it only when that interval gains by more than the
 * margin.  Detaching XDP loses no request: packets simply go up to the
 * server's socket from then on.  Every switch is logged with its numbers. */
#ifndef KOFF_ADAPT_H
#define KOFF_ADAPT_H

#include <stdbool.h>
#include <stdint.h>

#include "koff_abi.h"
#include "koff_calibrate.h"

struct adapt_options {
	bool enabled;			/* --adapt */
	unsigned interval_ms;		/* --adapt-interval MS (default 1000) */
	double userspace_ns;		/* --adapt-userspace-ns N; 0 = measure */
	int detach_after;		/* losing intervals in a row before detaching (3) */
	int probe_every;		/* intervals detached between probes (5) */
	double margin;			/* of the userspace cost per request (0.05) */
	unsigned min_requests;		/* fewer in an interval: no verdict (20) */
};

/* What the attachment needs to be recreated: the loader's link fd is
 * closed to detach and replaced on re-attach. */
struct adapt_attach {
	int prog_fd, ifindex;
	unsigned xdp_flags;
	int *link_fd;
	const char *dev;
};

struct adapt_sample {
	uint64_t counters[KOFF_STAT__COUNT];
	uint64_t run_time_ns, run_cnt;
};

struct adapt {
	struct adapt_options opt;
	struct adapt_attach at;
	struct userspace_cost user;
	int stats_fd, ncpus, enable_stats_fd;
	bool attached, probing;
	int losing, detached_intervals;
	int detaches, attaches;
	struct adapt_sample last;
};

/* Defaults for `opt`; adapt_option() takes --adapt* options: returns 1
 * when `name` was one of them, 0 when not, -1 on a bad value. */
void adapt_defaults(struct adapt_options *opt);
int adapt_option(struct adapt_options *opt, const char *name, const char *value);

/* Starts measuring (turns on the kernel's run-time statistics, measures
 * the userspace cost) and arms the SIGALRM interval timer.  Returns 0 or
 * -1 with a message printed. */
int adapt_start(struct adapt *a, const struct adapt_options *opt, const struct adapt_attach *at,
		int stats_fd, int ncpus);
/* One interval (SIGALRM): measure, decide, maybe switch. */
void adapt_tick(struct adapt *a);
void adapt_stop(struct adapt *a);

#endif
