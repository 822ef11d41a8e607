/* decide.c - offload or not, from the workload: the program's measured
 * behaviour on --trace against the measured userspace cost of a request.
 *
 * A request the kernel completes saves the server its userspace path and
 * costs the program's kernel time; a request that falls back costs the
 * kernel time it ran for and then the whole userspace path anyway.  The
 * offload pays when the first outweighs the second (see workload.h for the
 * formula).  This is the fast-path rule of the CoNEXT'25 study of eBPF
 * offloads: the eBPF cost, as a fraction of the userspace cost, must stay
 * below the fraction of requests the fast path completes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver.h"
#include "workload.h"

void decide_from_numbers(struct decision *d)
{
	const struct offload_measure *m = &d->m;
	double f = m->requests ? (double)(m->answered + m->dropped) / m->requests : 0;
	double u = d->user.ns;
	double kernel_per_request = f * m->completed_ns + (1 - f) * m->fallback_ns;

	d->fast_fraction = f;
	d->ebpf_fraction = u > 0 ? kernel_per_request / u : 0;
	d->gain_ns = f * (u - m->completed_ns) - (1 - f) * m->fallback_ns;
	d->margin_ns = DECIDE_MARGIN * u;
	d->predicted_gain = d->gain_ns > d->margin_ns;
	snprintf(d->why, sizeof(d->why),
		 "%s: the kernel completes %.1f%% of the trace; eBPF cost fraction %.3f %s "
		 "fast-path fraction %.3f; predicted %s of %.0f ns per request (margin %.0f ns)",
		 d->predicted_gain ? "offload pays" : "offload does not pay", 100 * f, d->ebpf_fraction,
		 d->ebpf_fraction < f ? "<" : ">=", f, d->gain_ns >= 0 ? "gain" : "loss",
		 d->gain_ns >= 0 ? d->gain_ns : -d->gain_ns, d->margin_ns);
}

/* The program koff-load will run here: the faster variant when there is
 * one, this kernel has its features and takes it (koff-load's order), else
 * the default output. */
static int measure_program(struct koff_ctx *ctx, const struct trace *t, struct decision *d)
{
	uint16_t port = (uint16_t)ctx->opt.udp_port;
	struct koff_error ignored = { 0 };
	const char *base = strrchr(ctx->opt.output, '/');
	uint8_t *image = NULL;
	int rc;

	if (ctx->shared.used && shared_initial_image(ctx, &image))
		return koff_fail(&ctx->err, -ENOMEM, "out of memory");
	base = base ? base + 1 : ctx->opt.output;
	for (int k = 0; k < VARIANT__COUNT; k++) {
		const struct koff_ctx *v = ctx->variant[k];

		if (!v || (k == VARIANT_FAST && !variant_runs_here()) ||
		    measure_on_trace(v->tmp_bpf, t, port, image, &d->m, &ignored))
			continue;
		snprintf(d->program, sizeof(d->program), "%.60s%s", base, variant_suffix((enum variant_kind)k));
		free(image);
		return 0;
	}
	snprintf(d->program, sizeof(d->program), "%.60s.bpf.o", base);
	rc = measure_on_trace(ctx->tmp_bpf, t, port, image, &d->m, &ctx->err);
	free(image);
	return rc;
}

static int measure_and_calibrate(struct koff_ctx *ctx, struct decision *d)
{
	struct trace t;
	int rc;

	if ((rc = trace_read(ctx->opt.trace, ctx->opt.udp_port, &t, &ctx->err)))
		return rc;
	ctx->trace_format = t.format;
	ctx->trace_skipped = t.skipped;
	rc = measure_program(ctx, &t, d);
	trace_free(&t);
	if (rc)
		return rc;
	rc = d->user.ns > 0 ? 0 : userspace_calibrate(&d->user);	/* once per run */
	if (rc)
		return koff_fail(&ctx->err, rc, "cannot measure the userspace cost of a request: %s",
				 strerror(-rc));
	d->measured = true;
	return 0;
}

int decide_offload(struct koff_ctx *ctx)
{
	struct decision *d = &ctx->decision;
	int rc;

	if (!ctx->opt.trace || !ctx->offloaded)
		return 0;
	if ((rc = measure_and_calibrate(ctx, d)))
		return rc;
	decide_from_numbers(d);
	if (d->predicted_gain)
		return 0;
	if (ctx->opt.force) {
		d->override = "--force";
		return 0;
	}
	ctx->offloaded = false;
	variants_drop(ctx);	/* no program at all: no variant either */
	snprintf(ctx->not_offloaded_why, sizeof(ctx->not_offloaded_why), "%s (--force offloads anyway)",
		 d->why);
	return 0;
}

/* ---- Reports ------------------------------------------------------------------ */

static const char *verdict_of(const struct koff_ctx *ctx)
{
	if (!ctx->opt.offload)
		return "no offload (--no-offload)";
	if (ctx->decision.override)
		return "offload (--force, against the prediction)";
	return ctx->offloaded ? "offload" : "no offload";
}

/* "outcomes": {"tx": 181, "pass_call": 19}, "kernel_ns_by_outcome": {...}:
 * which fallbacks are common, and how late (costly) each kind is. */
static void json_reasons(const struct offload_measure *m, FILE *f)
{
	int listed = 0;

	fputs("\"outcomes\": {", f);
	for (int i = 0; i < KOFF_STAT__COUNT; i++)
		if (m->by_reason[i])
			fprintf(f, "%s\"%s\": %d", listed++ ? ", " : "", koff_stat_name((unsigned)i),
				m->by_reason[i]);
	fputs("},\n    \"kernel_ns_by_outcome\": {", f);
	listed = 0;
	for (int i = 0; i < KOFF_STAT__COUNT; i++)
		if (m->by_reason[i])
			fprintf(f, "%s\"%s\": %.1f", listed++ ? ", " : "", koff_stat_name((unsigned)i),
				m->ns_by_reason[i]);
	fputs("}", f);
}

void decide_report_json(const struct koff_ctx *ctx, void *stream)
{
	const struct decision *d = &ctx->decision;
	const struct offload_measure *m = &d->m;
	FILE *f = stream;

	fprintf(f, ",\n  \"decision\": {\"verdict\": \"%s\"", verdict_of(ctx));
	if (!d->measured) {
		fprintf(f, ", \"measured\": false, \"why\": \"%s\"}",
			!ctx->opt.trace ? "no --trace: offloaded whenever it can be"
			: "nothing to measure: no program");
		return;
	}
	fputs(", \"measured\": true, \"program\": ", f);
	json_string(f, d->program);
	fputs(",\n    \"trace\": {\"file\": ", f);
	json_string(f, ctx->opt.trace);
	fprintf(f, ", \"format\": \"%s\", \"requests\": %d, \"skipped_packets\": %d, "
		   "\"rounds_per_request\": %d},\n    ",
		ctx->trace_format, m->requests, ctx->trace_skipped, m->rounds);
	json_reasons(m, f);
	fprintf(f, ",\n    \"answered\": %d, \"dropped\": %d, \"fallback\": %d, "
		   "\"completed_fraction\": %.4f,\n"
		   "    \"kernel_ns_per_completed\": %.1f, \"kernel_ns_per_fallback\": %.1f, "
		   "\"kernel_ns_wasted_per_request\": %.1f, \"test_run_overhead_ns\": %.1f,\n"
		   "    \"userspace_ns_per_request\": %.1f, \"userspace_how\": ",
		m->answered, m->dropped, m->fallback, d->fast_fraction, m->completed_ns, m->fallback_ns,
		(1 - d->fast_fraction) * m->fallback_ns, m->empty_ns, d->user.ns);
	json_string(f, d->user.how);
	fprintf(f, ",\n    \"ebpf_cost_fraction\": %.4f, \"predicted_gain_ns_per_request\": %.1f, "
		   "\"margin_ns\": %.1f, \"predicted_gain\": %s, \"override\": ",
		d->ebpf_fraction, d->gain_ns, d->margin_ns, d->predicted_gain ? "true" : "false");
	if (d->override)
		json_string(f, d->override);
	else
		fputs("null", f);
	fputs(",\n    \"why\": ", f);
	json_string(f, d->why);
	fputs("}", f);
}

void decide_explain(const struct koff_ctx *ctx, void *stream)
{
	const struct decision *d = &ctx->decision;
	const struct offload_measure *m = &d->m;
	FILE *f = stream;

	if (!d->measured) {
		fprintf(f, "decision: %s (%s)\n", verdict_of(ctx),
			ctx->opt.trace ? "no program to measure" : "no --trace: offloaded whenever it can be");
		return;
	}
	fprintf(f, "workload: %s (%s), %d requests, each run %d times in the kernel (bpf_prog_test_run of %s)\n",
		ctx->opt.trace, ctx->trace_format, m->requests, m->rounds, d->program);
	fprintf(f, "  completed in the kernel   %5.1f%%  (%d answered, %d dropped)\n",
		100 * d->fast_fraction, m->answered, m->dropped);
	fprintf(f, "  fall back to userspace    %5.1f%%  (%d)\n", 100 * (1 - d->fast_fraction), m->fallback);
	for (int i = KOFF_STAT_PASS_OTHER; i < KOFF_STAT__COUNT; i++)
		if (m->by_reason[i])
			fprintf(f, "    %-14s %5d requests, %8.1f kernel ns each before leaving\n",
				koff_stat_name((unsigned)i), m->by_reason[i], m->ns_by_reason[i]);
	fprintf(f, "  kernel ns per completed request   %8.1f\n", m->completed_ns);
	fprintf(f, "  kernel ns per fallback (wasted)   %8.1f\n", m->fallback_ns);
	fprintf(f, "  userspace ns per request (saved)  %8.1f  %s\n", d->user.ns, d->user.how);
	fprintf(f, "  eBPF cost fraction %.3f vs fast-path fraction %.3f\n", d->ebpf_fraction,
		d->fast_fraction);
	fprintf(f, "  predicted gain per request %.1f ns (margin %.1f ns)\n", d->gain_ns, d->margin_ns);
	fprintf(f, "decision: %s: %s\n", verdict_of(ctx), d->why);
}
