/* adapt.c - koff-load --adapt: detach the offload when it has become a
 * loss, re-attach it when the workload turns back (see adapt.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>

#include "adapt.h"

void adapt_defaults(struct adapt_options *opt)
{
	*opt = (struct adapt_options){ .interval_ms = 1000, .detach_after = 3, .probe_every = 5,
				       .margin = 0.05, .min_requests = 20 };
}

static int parse_positive(const char *name, const char *value, double max, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = value ? strtod(value, &end) : 0;
	if (!value || errno || end == value || *end || !(v > 0) || v > max) {
		fprintf(stderr, "koff-load: %s: '%s' is not a number above 0 and at most %g\n", name,
			value ? value : "", max);
		return -1;
	}
	*out = v;
	return 0;
}

int adapt_option(struct adapt_options *opt, const char *name, const char *value)
{
	double v;

	if (!strcmp(name, "adapt")) {
		opt->enabled = true;
		return 1;
	}
	if (!strcmp(name, "adapt-interval")) {
		if (parse_positive("--adapt-interval", value, 3600000, &v))
			return -1;
		opt->interval_ms = (unsigned)v;
		opt->enabled = true;
		return 1;
	}
	if (!strcmp(name, "adapt-userspace-ns")) {
		if (parse_positive("--adapt-userspace-ns", value, 1e9, &v))
			return -1;
		opt->userspace_ns = v;
		opt->enabled = true;
		return 1;
	}
	return 0;
}

/* ---- Measuring ----------------------------------------------------------------- */

static int read_sample(const struct adapt *a, struct adapt_sample *s)
{
	__u64 percpu[a->ncpus];
	struct bpf_prog_info info = { 0 };
	__u32 len = sizeof(info);

	memset(s, 0, sizeof(*s));
	for (__u32 key = 0; key < KOFF_STAT__COUNT; key++) {
		if (bpf_map_lookup_elem(a->stats_fd, &key, percpu))
			return -errno;
		for (int cpu = 0; cpu < a->ncpus; cpu++)
			s->counters[key] += percpu[cpu];
	}
	if (bpf_obj_get_info_by_fd(a->at.prog_fd, &info, &len))
		return -errno;
	s->run_time_ns = info.run_time_ns;
	s->run_cnt = info.run_cnt;
	return 0;
}

/* One interval's traffic and cost, and the verdict on it. */
struct interval {
	uint64_t requests, completed, runs;	/* handler requests; tx + drop; program runs */
	double kernel_ns;			/* the program's run time over the interval */
	double rate;				/* handler requests per second */
	double gain_ns;				/* per request: completed share x U - kernel time */
};

static void weigh(const struct adapt *a, const struct adapt_sample *now, struct interval *iv)
{
	const uint64_t *c = now->counters, *p = a->last.counters;

	memset(iv, 0, sizeof(*iv));
	iv->completed = (c[KOFF_STAT_TX] - p[KOFF_STAT_TX]) + (c[KOFF_STAT_DROP] - p[KOFF_STAT_DROP]);
	iv->requests = iv->completed + (c[KOFF_STAT_PASS_TOO_BIG] - p[KOFF_STAT_PASS_TOO_BIG]);
	for (int i = KOFF_STAT_FIRST_FALLBACK; i < KOFF_STAT__COUNT; i++)
		iv->requests += c[i] - p[i];
	iv->runs = now->run_cnt - a->last.run_cnt;
	iv->kernel_ns = (double)(now->run_time_ns - a->last.run_time_ns);
	iv->rate = (double)iv->requests * 1000.0 / a->opt.interval_ms;
	if (iv->requests)
		iv->gain_ns = ((double)iv->completed * a->user.ns - iv->kernel_ns) / (double)iv->requests;
}

static void log_switch(const struct adapt *a, const char *what, const struct interval *iv)
{
	fprintf(stderr,
		"koff-load: adapt: %s: %.0f requests/s, %.1f%% completed in XDP, kernel %.0f ns per "
		"request, userspace %.0f ns per request, predicted %s %.0f ns per request (margin %.0f)\n",
		what, iv->rate, iv->requests ? 100.0 * (double)iv->completed / (double)iv->requests : 0.0,
		iv->requests ? iv->kernel_ns / (double)iv->requests : 0.0, a->user.ns,
		iv->gain_ns >= 0 ? "gain" : "loss", iv->gain_ns >= 0 ? iv->gain_ns : -iv->gain_ns,
		a->opt.margin * a->user.ns);
}

/* ---- Switching ------------------------------------------------------------------ */

static void detach(struct adapt *a)
{
	if (*a->at.link_fd >= 0)
		close(*a->at.link_fd);	/* from now on packets go up to the socket */
	*a->at.link_fd = -1;
	a->attached = false;
	a->probing = false;
	a->detached_intervals = 0;
	a->losing = 0;
}

static int attach(struct adapt *a)
{
	LIBBPF_OPTS(bpf_link_create_opts, lopts, .flags = a->at.xdp_flags);
	int fd = bpf_link_create(a->at.prog_fd, a->at.ifindex, BPF_XDP, &lopts);

	if (fd < 0) {
		fprintf(stderr, "koff-load: adapt: cannot re-attach to %s: %s\n", a->at.dev, strerror(errno));
		return -1;
	}
	*a->at.link_fd = fd;
	a->attached = true;
	return 0;
}

static void tick_detached(struct adapt *a)
{
	if (++a->detached_intervals < a->opt.probe_every)
		return;
	if (attach(a) == 0) {
		a->probing = true;
		fprintf(stderr, "koff-load: adapt: probe: %s re-attached to %s for one interval\n",
			KOFF_PROG_NAME, a->at.dev);
	}
	a->detached_intervals = 0;
}

static void tick_attached(struct adapt *a, const struct interval *iv)
{
	double margin = a->opt.margin * a->user.ns;

	if (iv->requests < a->opt.min_requests)
		return;		/* too little traffic to judge: keep the state */
	if (a->probing) {
		a->probing = false;
		if (iv->gain_ns > margin) {
			a->attaches++;
			log_switch(a, "re-attach: the offload pays again", iv);
		} else {
			detach(a);
			log_switch(a, "probe: still a loss, detached again", iv);
		}
		return;
	}
	a->losing = iv->gain_ns < -margin ? a->losing + 1 : 0;
	if (a->losing >= a->opt.detach_after) {
		char what[96];

		snprintf(what, sizeof(what), "detach: %d intervals lost in a row", a->losing);
		detach(a);
		a->detaches++;
		log_switch(a, what, iv);
	}
}

void adapt_tick(struct adapt *a)
{
	struct adapt_sample now;
	struct interval iv;

	if (!a->opt.enabled)
		return;
	if (read_sample(a, &now)) {
		fprintf(stderr, "koff-load: adapt: cannot read the counters: %s\n", strerror(errno));
		return;
	}
	weigh(a, &now, &iv);
	a->last = now;
	if (a->attached)
		tick_attached(a, &iv);
	else
		tick_detached(a);
}

static int arm_timer(unsigned ms)
{
	struct itimerval it = { .it_interval = { ms / 1000, (ms % 1000) * 1000 } };

	it.it_value = it.it_interval;
	return setitimer(ITIMER_REAL, &it, NULL);
}

int adapt_start(struct adapt *a, const struct adapt_options *opt, const struct adapt_attach *at,
		int stats_fd, int ncpus)
{
	int rc;

	memset(a, 0, sizeof(*a));
	a->opt = *opt;
	a->at = *at;
	a->stats_fd = stats_fd;
	a->ncpus = ncpus;
	a->attached = true;
	a->enable_stats_fd = -1;
	if (!opt->enabled)
		return 0;
	/* The kernel times BPF programs only while someone holds this fd. */
	a->enable_stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (a->enable_stats_fd < 0) {
		fprintf(stderr, "koff-load: --adapt: cannot enable BPF run-time statistics: %s\n",
			strerror(errno));
		return -1;
	}
	if (opt->userspace_ns > 0) {
		a->user.ns = opt->userspace_ns;
		snprintf(a->user.how, sizeof(a->user.how), "given by --adapt-userspace-ns");
	} else if ((rc = userspace_calibrate(&a->user))) {
		fprintf(stderr, "koff-load: --adapt: cannot measure the userspace cost of a request: %s\n",
			strerror(-rc));
		return -1;
	}
	if (read_sample(a, &a->last) || arm_timer(opt->interval_ms)) {
		fprintf(stderr, "koff-load: --adapt: cannot start measuring: %s\n", strerror(errno));
		return -1;
	}
	fprintf(stderr, "koff-load: adapt: every %u ms; userspace cost %.0f ns per request (%s); detach "
			"after %d losing intervals, probe every %d\n",
		opt->interval_ms, a->user.ns, a->user.how, opt->detach_after, opt->probe_every);
	return 0;
}

void adapt_stop(struct adapt *a)
{
	struct itimerval off = { 0 };

	if (!a->opt.enabled)
		return;
	setitimer(ITIMER_REAL, &off, NULL);
	if (a->enable_stats_fd >= 0)
		close(a->enable_stats_fd);
	a->enable_stats_fd = -1;
	fprintf(stderr, "koff-load: adapt: %d detaches, %d re-attaches; %s at exit\n", a->detaches,
		a->attaches, a->attached ? "attached" : "detached");
}
