/* xdp_bench - ns per request of an XDP program under bpf_prog_test_run,
 * and what the verifier and the JIT made of it.
 *
 *   xdp_bench [--port N] [--reps N] [--inner N] [--frame KIND] PROG.bpf.o REQUESTS.txt
 *   xdp_bench --empty [--reps N] [--inner N] REQUESTS.txt
 *   xdp_bench [--empty] [--port N] ... PROG.bpf.o PROG2.bpf.o ... REQUESTS.txt
 * --empty measures a program that only returns XDP_PASS: the cost of
 * test_run itself, to subtract.  With more than one program (the empty one
 * counts) the runs are interleaved: every repetition times each program in
 * turn, starting with a different one each time, so that a load change on
 * this shared machine hits all of them alike; see "Interleaved" below.  --frame: the requests travel in v4 (the
 * default), v6, vlan4, vlan6, qinq4 or qinq6 frames (bench_common.h).
 *
 * Each run is a single test_run call (repeat = 1) on a fresh copy of the
 * frame: with repeat > 1 the kernel would rerun the program on the frame
 * the previous run already turned into a reply, and measure something else.
 * The kernel reports the run's duration; one repetition averages it over
 * every request of the file, --inner times over; the figure is the median
 * over --reps repetitions.
 * Prints: xdp_ns_per_request MEDIAN MIN MAX
 *         xdp_prog verifier_insns N xlated_bytes N jited_bytes N
 * Interleaved, one line per program (I from 0, the empty one first):
 *         prog I NAME ns MEDIAN MIN net NET verifier_insns N xlated_bytes N jited_bytes N
 *         ratio I 1 MEDIAN
 * NET is the median over repetitions of the program's time minus the
 * empty program's in the same repetition (with --empty; else "-"), and
 * ratio the median over repetitions of NET(I) / NET(1) for every I > 1
 * (program 1 is the first PROG given: the reference). */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <getopt.h>
#include <linux/bpf.h>

#include "bench_bpf.h"
#include "bench_common.h"

#define LOG_SIZE (1u << 20)

struct xdp_opts {
	int reps, inner, empty;
	unsigned port;
	const struct bench_frame_kind *frame;
	const char *prog_path, *requests_path;
	char **progs;		/* every PROG given */
	int nprogs;
};

struct xdp_target {
	struct bpf_object *obj;	/* NULL for --empty */
	int prog_fd;
	long verifier_insns;
	char *log;
};

static int parse_xdp_opts(int argc, char **argv, struct xdp_opts *o)
{
	static const struct option longopts[] = {
		{ "reps", required_argument, NULL, 'r' },
		{ "inner", required_argument, NULL, 'i' },
		{ "port", required_argument, NULL, 'p' },
		{ "empty", no_argument, NULL, 'e' },
		{ "frame", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	*o = (struct xdp_opts){ .reps = 15, .inner = 20, .port = 5353,
				.frame = &bench_frame_kinds[0] };
	int ch;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'r': o->reps = atoi(optarg); break;
		case 'i': o->inner = atoi(optarg); break;
		case 'p': o->port = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'e': o->empty = 1; break;
		case 'f':
			o->frame = bench_frame_kind(optarg);
			if (!o->frame)
				return -EINVAL;
			break;
		default: return -EINVAL;
		}
	}
	int want = o->empty ? 1 : 2;
	if (argc - optind < want || o->reps < 1 || o->inner < 1 || !o->port || o->port > 65535)
		return -EINVAL;
	o->progs = argv + optind;
	o->nprogs = argc - optind - 1;
	o->prog_path = o->nprogs ? argv[optind] : NULL;
	o->requests_path = argv[argc - 1];
	return 0;
}

static long processed_insns(const char *log)
{
	const char *p = log ? strstr(log, "processed ") : NULL;
	return p ? strtol(p + 10, NULL, 10) : -1;
}

static int load_empty(struct xdp_target *t)
{
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_PASS },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .log_buf = t->log, .log_size = LOG_SIZE,
		    .log_level = 4);
	t->prog_fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "xdp_empty", "GPL", insns, 2, &opts);
	if (t->prog_fd < 0) {
		fprintf(stderr, "xdp_bench: cannot load the empty program: %s\n", strerror(errno));
		return -errno;
	}
	return 0;
}

static int load_object(struct xdp_target *t, const char *path, unsigned port)
{
	struct bpf_program *xdp = NULL;
	int err = bench_open_xdp("xdp_bench", path, port, &t->obj, &xdp);
	if (err)
		return err;
	/* Stats level: the log ends with "processed N insns". */
	bpf_program__set_log_level(xdp, 4);
	bpf_program__set_log_buf(xdp, t->log, LOG_SIZE);
	err = bpf_object__load(t->obj);
	if (err) {
		/* Stats level: short, and it says why (e.g. too complex). */
		fprintf(stderr, "xdp_bench: %s: load failed: %s\n%s", path, strerror(-err), t->log);
		return err;
	}
	t->prog_fd = bpf_program__fd(xdp);
	return 0;
}

static void print_prog_info(const struct xdp_target *t)
{
	struct bpf_prog_info info = { 0 };
	__u32 len = sizeof(info);
	if (bpf_obj_get_info_by_fd(t->prog_fd, &info, &len))
		memset(&info, 0, sizeof(info));
	printf("xdp_prog verifier_insns %ld xlated_bytes %u jited_bytes %u\n",
	       processed_insns(t->log), info.xlated_prog_len, info.jited_prog_len);
}

/* ns per request of one repetition, from the kernel's run durations. */
static int time_one_rep(const struct xdp_target *t, const struct bench_requests *reqs,
			int inner, unsigned port, const struct bench_frame_kind *kind, double *ns)
{
	static uint8_t frame[BENCH_HDRS_MAX + BENCH_MAX_REQUEST], out[8192];
	double total = 0;
	for (int i = 0; i < reqs->n; i++) {
		size_t len = bench_build_frame_kind(frame, reqs->items[i].bytes, reqs->items[i].len,
						    (uint16_t)port, kind);
		for (int k = 0; k < inner; k++) {
			LIBBPF_OPTS(bpf_test_run_opts, run, .data_in = frame,
				    .data_size_in = (__u32)len, .data_out = out,
				    .data_size_out = sizeof(out), .repeat = 1);
			if (bpf_prog_test_run_opts(t->prog_fd, &run)) {
				fprintf(stderr, "xdp_bench: test_run: %s\n", strerror(errno));
				return -errno;
			}
			total += run.duration;
		}
	}
	*ns = total / ((double)inner * reqs->n);
	return 0;
}

/* ---- Interleaved: several programs, side by side ---------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double min_of(const double *v, int n)
{
	double m = v[0];
	for (int i = 1; i < n; i++)
		if (v[i] < m)
			m = v[i];
	return m;
}

static double median_copy(const double *v, int n, double *tmp)
{
	memcpy(tmp, v, sizeof(double) * (size_t)n);
	qsort(tmp, (size_t)n, sizeof(double), cmp_double);
	return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

/* ns[t * reps + r]: program t's figure in repetition r. */
static int time_interleaved(struct xdp_target *t, int nt, const struct xdp_opts *o,
			    const struct bench_requests *reqs, double *ns)
{
	double warm;
	for (int k = 0; k < nt; k++)
		if (time_one_rep(&t[k], reqs, o->inner, o->port, o->frame, &warm))
			return -1;
	for (int r = 0; r < o->reps; r++)
		for (int i = 0; i < nt; i++) {
			int k = (r + i) % nt;	/* a different program goes first each time */
			if (time_one_rep(&t[k], reqs, o->inner, o->port, o->frame, &ns[k * o->reps + r]))
				return -1;
		}
	return 0;
}

static void print_interleaved(const struct xdp_target *t, int nt, const struct xdp_opts *o,
			      const double *ns)
{
	int reps = o->reps, first = o->empty ? 1 : 0;
	double *tmp = calloc((size_t)reps, sizeof(double)), *net = calloc((size_t)nt * reps, sizeof(double));
	if (!tmp || !net)
		exit(1);
	for (int k = 0; k < nt; k++) {
		const char *name = o->empty && k == 0 ? "empty" : o->progs[k - first];
		struct bpf_prog_info info = { 0 };
		__u32 len = sizeof(info);
		if (bpf_obj_get_info_by_fd(t[k].prog_fd, &info, &len))
			memset(&info, 0, sizeof(info));
		printf("prog %d %s ns %.1f %.1f net ", k, name, median_copy(ns + k * reps, reps, tmp),
		       min_of(ns + k * reps, reps));
		if (o->empty) {
			for (int r = 0; r < reps; r++)
				net[k * reps + r] = ns[k * reps + r] - ns[r];
			printf("%.1f", median_copy(net + k * reps, reps, tmp));
		} else {
			memcpy(net + k * reps, ns + k * reps, sizeof(double) * (size_t)reps);
			printf("-");
		}
		printf(" verifier_insns %ld xlated_bytes %u jited_bytes %u\n", processed_insns(t[k].log),
		       info.xlated_prog_len, info.jited_prog_len);
	}
	/* Ratios against the first PROG, repetition by repetition. */
	for (int k = first + 1; k < nt; k++) {
		for (int r = 0; r < reps; r++)
			tmp[r] = net[first * reps + r] > 0 ? net[k * reps + r] / net[first * reps + r] : 0;
		qsort(tmp, (size_t)reps, sizeof(double), cmp_double);
		printf("ratio %d %d %.3f\n", k, first,
		       reps % 2 ? tmp[reps / 2] : (tmp[reps / 2 - 1] + tmp[reps / 2]) / 2);
	}
	free(tmp);
	free(net);
}

static int main_interleaved(const struct xdp_opts *o, const struct bench_requests *reqs)
{
	int nt = o->nprogs + (o->empty ? 1 : 0);
	struct xdp_target *t = calloc((size_t)nt, sizeof(*t));
	double *ns = calloc((size_t)nt * o->reps, sizeof(double));
	if (!t || !ns)
		return 1;
	for (int k = 0; k < nt; k++) {
		t[k].prog_fd = -1;
		t[k].log = calloc(1, LOG_SIZE);
		if (!t[k].log)
			return 1;
		int err = o->empty && k == 0 ? load_empty(&t[k])
					     : load_object(&t[k], o->progs[k - (o->empty ? 1 : 0)], o->port);
		if (err)
			return 1;
	}
	if (time_interleaved(t, nt, o, reqs, ns))
		return 1;
	print_interleaved(t, nt, o, ns);
	for (int k = 0; k < nt; k++)
		bpf_object__close(t[k].obj);
	return 0;
}

int main(int argc, char **argv)
{
	struct xdp_opts o;
	struct xdp_target t = { .prog_fd = -1 };
	struct bench_requests reqs = { 0 };
	if (parse_xdp_opts(argc, argv, &o)) {
		fprintf(stderr, "usage: xdp_bench [--port N] [--reps N] [--inner N] [--frame KIND] PROG.bpf.o "
				"REQUESTS.txt\n       xdp_bench --empty [--reps N] [--inner N] "
				"REQUESTS.txt\n       xdp_bench [--empty] [options] PROG.bpf.o PROG.bpf.o... "
				"REQUESTS.txt   (interleaved)\n");
		return 2;
	}
	if (o.nprogs + (o.empty ? 1 : 0) > 1) {
		if (bench_load_requests(o.requests_path, &reqs))
			return 1;
		return main_interleaved(&o, &reqs);
	}
	t.log = calloc(1, LOG_SIZE);
	double *ns = calloc((size_t)o.reps, sizeof(double));
	if (!t.log || !ns || bench_load_requests(o.requests_path, &reqs))
		return 1;
	int err = o.empty ? load_empty(&t) : load_object(&t, o.prog_path, o.port);
	double warm;
	if (!err)
		err = time_one_rep(&t, &reqs, o.inner, o.port, o.frame, &warm);
	for (int r = 0; !err && r < o.reps; r++)
		err = time_one_rep(&t, &reqs, o.inner, o.port, o.frame, &ns[r]);
	if (err)
		return 1;
	double median = bench_median(ns, o.reps);
	printf("xdp_ns_per_request %.1f %.1f %.1f\n", median, ns[0], ns[o.reps - 1]);
	print_prog_info(&t);
	bpf_object__close(t.obj);
	return 0;
}
