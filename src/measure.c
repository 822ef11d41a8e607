/* measure.c - the generated program on the trace, in the running kernel.
 *
 * Each request is wrapped in an Ethernet/IPv4/UDP frame and run with
 * bpf_prog_test_run: once to learn what the program does with it (its
 * verdict, and which counter of koff_stats it bumped: the fallback
 * reason), then `rounds` more times for its cost.  A test run with
 * repeat = 1 is timed by the kernel around the program alone; a program
 * that only returns XDP_PASS, timed the same way, is subtracted so that
 * what remains is the program's own work.  (repeat > 1 would rerun the
 * program on the frame the first run turned into a reply.) */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "koff_packet.h"
#include "workload.h"

#define TEST_RUNS_BUDGET 20000	/* timed runs over the whole trace */
#define MIN_ROUNDS 3
#define MAX_ROUNDS 31
#define FRAME_MAX 3500		/* test_run's linear XDP buffer holds a bit more */

struct runner {
	int prog_fd, stats_fd, ncpus;
	uint16_t port;
	uint8_t frame[FRAME_MAX], out[FRAME_MAX + 512];
	__u64 *percpu;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int run_once(const struct runner *r, int fd, size_t frame_len, __u32 *verdict, __u32 *ns)
{
	LIBBPF_OPTS(bpf_test_run_opts, run, .data_in = r->frame, .data_size_in = (__u32)frame_len,
		    .data_out = (void *)r->out, .data_size_out = sizeof(r->out), .repeat = 1);

	if (bpf_prog_test_run_opts(fd, &run))
		return -errno;
	*verdict = run.retval;
	*ns = run.duration;
	return 0;
}

static int sum_counters(struct runner *r, __u64 sums[KOFF_STAT__COUNT])
{
	for (__u32 key = 0; key < KOFF_STAT__COUNT; key++) {
		sums[key] = 0;
		if (bpf_map_lookup_elem(r->stats_fd, &key, r->percpu))
			return -errno;
		for (int cpu = 0; cpu < r->ncpus; cpu++)
			sums[key] += r->percpu[cpu];
	}
	return 0;
}

/* The counter one run bumped: the outcome, and for a pass the reason. */
static int classify(struct runner *r, size_t frame_len, int *stat)
{
	__u64 before[KOFF_STAT__COUNT], after[KOFF_STAT__COUNT];
	__u32 verdict, ns;
	int rc;

	if ((rc = sum_counters(r, before)) || (rc = run_once(r, r->prog_fd, frame_len, &verdict, &ns)) ||
	    (rc = sum_counters(r, after)))
		return rc;
	*stat = verdict == XDP_TX ? KOFF_STAT_TX : verdict == XDP_DROP ? KOFF_STAT_DROP : KOFF_STAT_PASS_OTHER;
	for (int i = 0; i < KOFF_STAT__COUNT; i++)
		if (after[i] != before[i])
			*stat = i;
	return 0;
}

static int time_median(struct runner *r, int fd, size_t frame_len, int rounds, double *ns)
{
	double v[MAX_ROUNDS];
	__u32 verdict, d;
	int rc;

	for (int i = 0; i < rounds; i++) {
		if ((rc = run_once(r, fd, frame_len, &verdict, &d)))
			return rc;
		v[i] = d;
	}
	*ns = median(v, rounds);
	return 0;
}

static int load_empty(void)
{
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_PASS },
		{ .code = BPF_JMP | BPF_EXIT },
	};

	return bpf_prog_load(BPF_PROG_TYPE_XDP, "koff_empty", "GPL", insns, 2, NULL);
}

/* The koff_shared map, if the program has one, starts as OUT would have
 * it: the globals' initial values and ctl.magic (else every request falls
 * back with pass_shared). */
static int start_shared(struct bpf_object *obj, const void *image, const char *path, struct koff_error *err)
{
	struct bpf_map *map = bpf_object__find_map_by_name(obj, KOFF_MAP_SHARED);
	__u32 key = 0;

	if (!map || !image)
		return 0;
	if (bpf_map_update_elem(bpf_map__fd(map), &key, image, BPF_ANY))
		return koff_fail(err, -errno, "%s: cannot initialise %s: %s", path, KOFF_MAP_SHARED,
				 strerror(errno));
	return 0;
}

static int open_program(const char *path, const void *shared_image, struct bpf_object **obj,
			struct runner *r, struct koff_error *err)
{
	struct bpf_program *prog;
	struct bpf_map *stats;
	int rc;

	*obj = bpf_object__open_file(path, NULL);
	if (!*obj)
		return koff_fail(err, -errno, "%s: cannot open for measurement: %s", path, strerror(errno));
	if ((rc = bpf_object__load(*obj)))
		return koff_fail(err, rc, "%s: cannot load it to measure --trace (that runs the program in "
				 "the running kernel: needs CAP_BPF): %s", path, strerror(-rc));
	prog = bpf_object__find_program_by_name(*obj, KOFF_PROG_NAME);
	stats = bpf_object__find_map_by_name(*obj, KOFF_MAP_STATS);
	if (!prog || !stats)
		return koff_fail(err, -ENOENT, "%s: no %s program or %s map", path, KOFF_PROG_NAME,
				 KOFF_MAP_STATS);
	if ((rc = start_shared(*obj, shared_image, path, err)))
		return rc;
	r->prog_fd = bpf_program__fd(prog);
	r->stats_fd = bpf_map__fd(stats);
	r->ncpus = libbpf_num_possible_cpus();
	r->percpu = calloc(r->ncpus > 0 ? (size_t)r->ncpus : 1, sizeof(__u64));
	if (r->ncpus <= 0 || !r->percpu)
		return koff_fail(err, -ENOMEM, "cannot size the per-CPU counters");
	return 0;
}

/* One request: classified, then timed; its cost added to the right side. */
static int measure_request(struct runner *r, int empty_fd, const struct trace_request *q,
			   struct offload_measure *m, double *sum_completed, double *sum_fallback)
{
	size_t frame_len;
	double ns, empty;
	int stat, rc;

	m->requests++;
	if (q->len + KOFF_FRAME_HDRS > FRAME_MAX) {	/* the program would pass it untouched */
		m->fallback++;
		m->by_reason[KOFF_STAT_PASS_TOO_BIG]++;
		return 0;
	}
	frame_len = koff_build_frame(r->frame, q->bytes, q->len, r->port);
	if ((rc = classify(r, frame_len, &stat)) ||
	    (rc = time_median(r, r->prog_fd, frame_len, m->rounds, &ns)) ||
	    (rc = time_median(r, empty_fd, frame_len, m->rounds, &empty)))
		return rc;
	m->by_reason[stat]++;
	ns = ns > empty ? ns - empty : 0;
	m->ns_by_reason[stat] += ns;	/* a sum until measure_on_trace divides */
	m->empty_ns += empty;
	if (stat == KOFF_STAT_TX || stat == KOFF_STAT_DROP) {
		stat == KOFF_STAT_TX ? m->answered++ : m->dropped++;
		*sum_completed += ns;
	} else {
		m->fallback++;
		*sum_fallback += ns;
	}
	return 0;
}

int measure_on_trace(const char *bpf_path, const struct trace *t, uint16_t port,
		     const void *shared_image, struct offload_measure *m, struct koff_error *err)
{
	struct runner *r = calloc(1, sizeof(*r));
	struct bpf_object *obj = NULL;
	double sum_completed = 0, sum_fallback = 0;
	int empty_fd = -1, rc, completed;

	memset(m, 0, sizeof(*m));
	if (!r)
		return koff_fail(err, -ENOMEM, "out of memory");
	r->port = port ? port : 5353;
	m->rounds = TEST_RUNS_BUDGET / t->n;
	m->rounds = m->rounds < MIN_ROUNDS ? MIN_ROUNDS : m->rounds > MAX_ROUNDS ? MAX_ROUNDS : m->rounds;
	rc = open_program(bpf_path, shared_image, &obj, r, err);
	if (!rc && (empty_fd = load_empty()) < 0)
		rc = koff_fail(err, -errno, "cannot load an empty XDP program to measure against: %s",
			       strerror(errno));
	for (int i = 0; !rc && i < t->n; i++) {
		rc = measure_request(r, empty_fd, &t->reqs[i], m, &sum_completed, &sum_fallback);
		if (rc)
			koff_fail(err, rc, "measuring request %d of the trace: test run: %s", i + 1,
				  strerror(-rc));
	}
	for (int i = 0; i < KOFF_STAT__COUNT; i++)
		m->ns_by_reason[i] = m->by_reason[i] ? m->ns_by_reason[i] / m->by_reason[i] : 0;
	completed = m->answered + m->dropped;
	m->completed_ns = completed ? sum_completed / completed : 0;
	m->fallback_ns = m->fallback ? sum_fallback / m->fallback : 0;
	m->empty_ns = m->requests ? m->empty_ns / m->requests : 0;
	if (empty_fd >= 0)
		close(empty_fd);
	bpf_object__close(obj);
	free(r->percpu);
	free(r);
	return rc;
}
