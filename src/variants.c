/* variants.c - the default output runs on every supported kernel, and is
 * fast on the newest too.
 *
 * OUT.bpf.o is the portable program (6.1 to the newest): stock bpftool and
 * any loader take it.  Its loops are bpf_loop callbacks, which cost a call
 * per iteration (dns: about twice the may_goto shape's time per request,
 * BENCHMARKS.md "Kernel shapes").  So when the handler has loops, koff-link
 * also writes OUT.6.18.bpf.o (KOFF_FAST_VARIANT_SUFFIX), the same handler
 * for kernels whose verifier prunes may_goto loops soundly, with cpu v4
 * (6.17+: include/target.h, LOOP_MARKS), and koff-load loads the first
 * variant the running kernel has the features of and accepts, fastest
 * first.  --kernel asks for one target and gets one program.
 *
 * The variant is a second offload run in a context of its own, sharing the
 * executable and the options; it is verified on the host when the host has
 * its features, else in its series' VM when there is an image for it, else
 * it is written as "not verified" (and the manifest says so).  A variant that
 * cannot be made costs nothing: the portable program stands alone.  Nor
 * is one written that the verifier rejects (the first rejection ends it:
 * no fallbacks are made for it) or that falls back anywhere the portable
 * program does not: koff-load would prefer it, and serve less. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver.h"
#include "koff_abi.h"

static bool host_runs(const struct kernel_target *t)
{
	enum koff_kfeature missing;
	struct koff_error err = { 0 };

	return kernel_runs_target(t, &missing, &err) == 1;
}

bool variant_runs_here(void)
{
	const struct kernel_target *fast = target_find(KOFF_FAST_VARIANT_TARGET);

	return fast && host_runs(fast);
}

static bool wants_fast_variant(const struct koff_ctx *ctx)
{
	return ctx->offloaded && !ctx->opt.kernel && !ctx->opt.record_path && ctx->ir &&
	       ctx->ir->nloops > 0;
}

/* The first fallback site of the variant that the portable program does
 * not have (a verifier rejection of the faster shape that koff-link
 * answered with a fallback), or NULL. */
static const struct fallback_site *extra_fallback(const struct koff_ctx *ctx, const struct koff_ctx *v)
{
	for (int i = 0; i < v->nsites; i++) {
		bool found = false;

		for (int j = 0; j < ctx->nsites && !found; j++)
			found = ctx->sites[j].va == v->sites[i].va && ctx->sites[j].reason == v->sites[i].reason;
		if (!found)
			return &v->sites[i];
	}
	return NULL;
}

void variant_free(struct koff_ctx *v)
{
	if (!v)
		return;
	v->opt.link_args = NULL;	/* the primary context's */
	ctx_free(v);
	free(v);
}

int variants_build(struct koff_ctx *ctx)
{
	const struct kernel_target *fast = target_find(KOFF_FAST_VARIANT_TARGET);
	const struct fallback_site *extra;
	struct koff_ctx *v;
	int rc;

	if (!wants_fast_variant(ctx) || !fast)
		return 0;
	v = calloc(1, sizeof(*v));
	if (!v)
		return koff_fail(&ctx->err, -ENOMEM, "out of memory");
	v->opt = ctx->opt;
	v->opt.kernel = fast->name;
	v->opt.explain = v->opt.dump_ir = v->opt.dump_bpf = false;
	v->host_is_target = host_runs(fast);
	v->opt.verify_on = v->host_is_target ? "host" : fast->name;
	v->refuse_on_rejection = true;
	/* The same handler in the shape the portable program needed: its
	 * verifier would walk the same paths. */
	v->launder_joins = ctx->launder_joins;
	snprintf(v->out_bpf, sizeof(v->out_bpf), "%s%s", ctx->opt.output, KOFF_FAST_VARIANT_SUFFIX);
	snprintf(v->tmp_bpf, sizeof(v->tmp_bpf), "%s%s.koff-tmp-%d", ctx->opt.output, KOFF_FAST_VARIANT_SUFFIX,
		 (int)getpid());
	/* The variant belongs to the same executable as OUT.bpf.o. */
	memcpy(v->exe_sha256, ctx->exe_sha256, sizeof(v->exe_sha256));
	memcpy(v->identity, ctx->identity, sizeof(v->identity));
	tempfiles_protect_path(v->tmp_bpf);
	ctx->fast = v;
	/* The same shared region: the variant shares OUT's globals too. */
	if (shared_plan_copy(&v->shared, &ctx->shared))
		return koff_fail(&ctx->err, -ENOMEM, "out of memory");
	rc = offload_build(v);
	/* koff-load takes the variant first where the kernel accepts it: one
	 * that falls back where the portable program does not would serve
	 * fewer requests in the kernel, however fast its loops. */
	extra = rc || !v->offloaded ? NULL : extra_fallback(ctx, v);
	if (rc || !v->offloaded || extra) {
		/* Not an error for the link: the portable program stands alone. */
		if (extra)
			snprintf(ctx->fast_why, sizeof(ctx->fast_why),
				 "the %s shape falls back where the portable program does not: %s at %s",
				 fast->name, extra->why, extra->where);
		else
			snprintf(ctx->fast_why, sizeof(ctx->fast_why), "%s",
				 rc ? v->err.msg : v->not_offloaded_why);
		unlink(v->tmp_bpf);
		ctx->fast = NULL;
		variant_free(v);
		return rc == -ENOMEM ? koff_fail(&ctx->err, rc, "out of memory") : 0;
	}
	return 0;
}
