/* workload.h - what koff-link learns from the traffic a server will see
 * (--trace, --profile) and how it turns that into the offload decision.
 *
 *   trace.c      the requests: a pcap of UDP datagrams or one hex request a line
 *   measure.c    each request through the generated program (bpf_prog_test_run)
 *   decide.c     the cost model and the verdict, in OUT.koff.json and --explain
 *   candidates.c the functions that fit an offload role, ranked by --profile
 *
 * The userspace side of the model is measured on the machine
 * (include/koff_calibrate.h, shared with koff-load's adaptive mode). */
#ifndef KOFF_WORKLOAD_H
#define KOFF_WORKLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "elfobj.h"
#include "koff.h"
#include "koff_abi.h"
#include "koff_calibrate.h"

/* ---- trace.c ------------------------------------------------------------- */

struct trace_request {
	uint8_t *bytes;
	size_t len;
};

struct trace {
	struct trace_request *reqs;
	int n, cap;
	const char *format;	/* "pcap" or "hex" */
	int skipped;		/* pcap packets that are not IPv4 UDP for the port */
};

/* Reads `path`: a pcap/pcapng file (libpcap; IPv4 UDP datagrams, only those
 * to udp_port when it is not 0) or text with one hex request per line ('#'
 * starts a comment).  An empty trace is an error. */
int trace_read(const char *path, int udp_port, struct trace *t, struct koff_error *err);
void trace_free(struct trace *t);

/* ---- measure.c ----------------------------------------------------------- */

/* What the kernel part does with the trace, measured. */
struct offload_measure {
	int requests;		/* requests of the trace run */
	int answered, dropped;	/* completed in the kernel: XDP_TX, XDP_DROP */
	int fallback;		/* passed to userspace (any reason) */
	int by_reason[KOFF_STAT__COUNT];	/* per counter of include/koff_abi.h */
	double ns_by_reason[KOFF_STAT__COUNT];	/* mean kernel ns of those requests */
	int rounds;		/* timed runs per request */
	double empty_ns;	/* a run of an empty XDP program: subtracted */
	double completed_ns;	/* mean kernel ns per completed request */
	double fallback_ns;	/* mean kernel ns spent on a request that falls back */
	/* Requests per static fallback site (the IR_FALLBACK they left from,
	 * by x86 address); requests that fell back elsewhere (a run-time
	 * check, a site past the first MEASURE_SITES) are not in it. */
#define MEASURE_SITES 64
	struct { uint64_t va; int requests; } sites[MEASURE_SITES];
	int nsites;
};

/* Runs every request of `t` through the XDP program in `bpf_path` in the
 * running kernel (bpf_prog_test_run on an Ethernet/IPv4/UDP frame to
 * `port`), classifying it by the program's verdict and counters, and
 * timing it (median of rounds, the empty program's time subtracted). */
/* shared_image (NULL: none): the koff_shared map's value to start from
 * (the globals' initial values, ctl.magic set), as OUT would have it. */
int measure_on_trace(const char *bpf_path, const struct trace *t, uint16_t port,
		     const void *shared_image, struct offload_measure *m, struct koff_error *err);

/* ---- decide.c ------------------------------------------------------------ */

/* Offload only when the predicted gain per request exceeds this fraction
 * of the userspace cost of a request: measurement noise must not flip a
 * decision that is a wash anyway. */
#define DECIDE_MARGIN 0.05

struct decision {
	bool measured;			/* a --trace was given and run */
	struct offload_measure m;
	struct userspace_cost user;	/* the userspace path of a datagram */
	double fast_fraction;		/* completed in the kernel / requests */
	double ebpf_fraction;		/* kernel ns per request / userspace ns per request */
	double gain_ns;			/* predicted saving per request (negative: a loss) */
	double margin_ns;		/* DECIDE_MARGIN * userspace ns */
	bool predicted_gain;		/* gain_ns > margin_ns */
	const char *override;		/* "--force", or NULL */
	char program[80];		/* which output was measured: "OUT.6.18.bpf.o" */
	char why[400];			/* one line: the verdict and its numbers */
};

/* The cost model on measured numbers (pure: tests call it directly).
 * Per request, with f = completed fraction, K_c and K_f the kernel ns of a
 * completed and of a falling-back request, U the userspace ns of a request:
 *   gain = f * (U - K_c) - (1 - f) * K_f
 * which is positive exactly when the eBPF cost fraction
 *   (f * K_c + (1 - f) * K_f) / U   stays below the fast-path fraction f. */
void decide_from_numbers(struct decision *d);

/* ---- candidates.c -------------------------------------------------------- */

/* A function whose DWARF signature fits an offload role. */
struct candidate {
	const char *name;		/* owned */
	const char *object;		/* the input object defining it (an argv string) */
	enum obj_role role;
	int order;			/* as the objects define them: ties keep it */
	double samples;			/* --profile: samples with it on the stack */
	bool built;			/* a program was generated for it */
	char note[640];			/* why not, or what the measurement said */
	struct decision d;		/* --trace: measured for it */
};

struct candidates {
	struct candidate *v;
	int n, cap;
	double total_samples;		/* --profile: every sample */
	const char *profile_format;	/* "perf script" or "folded stacks" */
	char why[400];			/* why the entry is the entry */
};

/* --profile FILE: samples per function name (inclusive), for ranking. */
int profile_read(const char *path, struct candidates *c, struct koff_error *err);

struct koff_ctx;
/* Lists every candidate in the input objects, ranks them by --profile,
 * and, without --entry, proposes the entry (handle_request when it
 * exists, else the hottest handler, else the hottest parser). */
int candidates_find(struct koff_ctx *ctx);
/* --trace without --entry: build and measure every candidate, and make
 * the one with the best predicted gain the entry. */
int candidates_measure(struct koff_ctx *ctx);
void candidates_free(struct candidates *c);
void candidates_report_json(const struct koff_ctx *ctx, void *FILE_stream);
void candidates_explain(const struct koff_ctx *ctx, void *FILE_stream);

/* After offload_build: measure ctx's program on --trace, calibrate the
 * userspace path, decide, and un-offload when the model predicts no gain
 * (unless --force). */
int decide_offload(struct koff_ctx *ctx);
void decide_report_json(const struct koff_ctx *ctx, void *FILE_stream);
void decide_explain(const struct koff_ctx *ctx, void *FILE_stream);

#endif
