/* native_bench - ns per request of a sample's native handle_request().
 *
 * Linked with the sample's object, main() localized (see bench/run.sh).
 * One repetition calls the handler on every request of the file, --inner
 * times over; the figure is the median over --reps repetitions.
 *   native_bench [--reps N] [--inner N] [--cap N] [--answered OUT] REQUESTS.txt
 * --answered writes the requests the handler answers (> 0) to OUT, for a
 * closed-loop load client that must get a reply to every request.
 * Prints: native_ns_per_request MEDIAN MIN MAX */
#include <getopt.h>

#include "bench_common.h"

long handle_request(const unsigned char *req, unsigned long len,
		    unsigned char *resp, unsigned long cap);

struct native_opts {
	int reps, inner;
	unsigned long cap;
	const char *answered_path, *requests_path;
};

static int parse_native_opts(int argc, char **argv, struct native_opts *o)
{
	static const struct option longopts[] = {
		{ "reps", required_argument, NULL, 'r' },
		{ "inner", required_argument, NULL, 'i' },
		{ "cap", required_argument, NULL, 'c' },
		{ "answered", required_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 },
	};
	*o = (struct native_opts){ .reps = 15, .inner = 200, .cap = 1472 };
	int ch;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'r': o->reps = atoi(optarg); break;
		case 'i': o->inner = atoi(optarg); break;
		case 'c': o->cap = strtoul(optarg, NULL, 0); break;
		case 'a': o->answered_path = optarg; break;
		default: return -EINVAL;
		}
	}
	if (argc - optind != 1 || o->reps < 1 || o->inner < 1 || o->cap < 1)
		return -EINVAL;
	o->requests_path = argv[optind];
	return 0;
}

static int write_answered(const char *path, const struct bench_requests *reqs,
			  uint8_t *resp, unsigned long cap)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -errno;
	}
	fprintf(f, "# requests the native handler answers\n");
	for (int i = 0; i < reqs->n; i++) {
		if (handle_request(reqs->items[i].bytes, reqs->items[i].len, resp, cap) <= 0)
			continue;
		for (size_t k = 0; k < reqs->items[i].len; k++)
			fprintf(f, "%02x", reqs->items[i].bytes[k]);
		fprintf(f, "\n");
	}
	return fclose(f) ? -errno : 0;
}

/* ns per request of one repetition. */
static double time_one_rep(const struct bench_requests *reqs, int inner, uint8_t *resp,
			   unsigned long cap)
{
	long sink = 0;
	double t0 = bench_now_ns();
	for (int k = 0; k < inner; k++)
		for (int i = 0; i < reqs->n; i++)
			sink += handle_request(reqs->items[i].bytes, reqs->items[i].len, resp, cap);
	double t1 = bench_now_ns();
	/* The handler is an external call: it cannot be optimized away; sink
	 * only keeps the results observable. */
	__asm__ volatile("" : : "r"(sink));
	return (t1 - t0) / ((double)inner * reqs->n);
}

int main(int argc, char **argv)
{
	struct native_opts o;
	struct bench_requests reqs = { 0 };
	if (parse_native_opts(argc, argv, &o)) {
		fprintf(stderr, "usage: native_bench [--reps N] [--inner N] [--cap N] "
				"[--answered OUT] REQUESTS.txt\n");
		return 2;
	}
	uint8_t *resp = malloc(o.cap);
	double *ns = calloc((size_t)o.reps, sizeof(double));
	if (!resp || !ns || bench_load_requests(o.requests_path, &reqs))
		return 1;
	if (o.answered_path && write_answered(o.answered_path, &reqs, resp, o.cap))
		return 1;
	time_one_rep(&reqs, o.inner, resp, o.cap);	/* warm caches */
	for (int r = 0; r < o.reps; r++)
		ns[r] = time_one_rep(&reqs, o.inner, resp, o.cap);
	double median = bench_median(ns, o.reps);
	printf("native_ns_per_request %.1f %.1f %.1f\n", median, ns[0], ns[o.reps - 1]);
	return 0;
}
