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
 * When some loop can be walked by the verifier (docs/internals.md,
 * "Walked loops"), it also writes OUT.walked.bpf.o
 * (KOFF_WALKED_VARIANT_SUFFIX): the portable program with those loops
 * walked: plain loops inside the bpf_loop callback, whose heads do not
 * yield, or no callback at all when every loop is walked (kv: 2.4x the
 * clang reference's time -> 1.2x).  A walk's acceptance is up to each
 * verifier, so this one is not OUT.bpf.o: koff-load tries it before
 * OUT.bpf.o, which stays the program every supported kernel takes.
 *
 * A variant is a further offload run in a context of its own, sharing the
 * executable and the options; the fast one is verified on the host when the
 * host has its features, else in its series' VM when there is an image for
 * it, else it is written as "not verified" (and the manifest says so); the
 * walked one on the host.  A variant that cannot be made costs nothing: the
 * portable program stands alone.  Nor is one written that the verifier
 * rejects (the first rejection ends it: no fallbacks are made for it) or
 * that falls back anywhere the portable program does not: koff-load would
 * prefer it, and serve less. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codegen.h"
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

/* Variants are for a default link of a handler with loops. */
static bool wants_variants(const struct koff_ctx *ctx)
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

const char *variant_suffix(enum variant_kind k)
{
	return k == VARIANT_FAST ? KOFF_FAST_VARIANT_SUFFIX : KOFF_WALKED_VARIANT_SUFFIX;
}

const char *variant_path(const struct koff_ctx *ctx, enum variant_kind k, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s", ctx->opt.output, variant_suffix(k));
	return buf;
}

void variants_drop(struct koff_ctx *ctx)
{
	for (int k = 0; k < VARIANT__COUNT; k++) {
		if (!ctx->variant[k])
			continue;
		unlink(ctx->variant[k]->tmp_bpf);
		variant_free(ctx->variant[k]);
		ctx->variant[k] = NULL;
	}
}

/* A context for variant k of ctx's handler: the same options and
 * executable, its own output; NULL on ENOMEM. */
static struct koff_ctx *variant_new(struct koff_ctx *ctx, enum variant_kind k)
{
	struct koff_ctx *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	v->opt = ctx->opt;
	v->opt.explain = v->opt.dump_ir = v->opt.dump_bpf = false;
	v->refuse_on_rejection = true;
	variant_path(ctx, k, v->out_bpf, sizeof(v->out_bpf));
	snprintf(v->tmp_bpf, sizeof(v->tmp_bpf), "%s%s.koff-tmp-%d", ctx->opt.output, variant_suffix(k),
		 (int)getpid());
	/* The variant belongs to the same executable as OUT.bpf.o. */
	memcpy(v->exe_sha256, ctx->exe_sha256, sizeof(v->exe_sha256));
	memcpy(v->identity, ctx->identity, sizeof(v->identity));
	tempfiles_protect_path(v->tmp_bpf);
	ctx->variant[k] = v;
	/* The same shared region: the variant shares OUT's globals too. */
	if (shared_plan_copy(&v->shared, &ctx->shared))
		return NULL;
	return v;
}

/* Why variant v (built, rc its result) is not written, or NULL: koff-load
 * takes a variant first where the kernel accepts it, so one that falls
 * back where the portable program does not would serve fewer requests in
 * the kernel, however fast its loops. */
static const char *why_not_written(const struct koff_ctx *ctx, const struct koff_ctx *v, int rc,
				   char *buf, size_t len)
{
	const struct fallback_site *extra = rc || !v->offloaded ? NULL : extra_fallback(ctx, v);

	if (rc)
		return v->err.msg;
	if (!v->offloaded)
		return v->not_offloaded_why;
	if (extra) {
		snprintf(buf, len, "the %s shape falls back where the portable program does not: %s at %s",
			 v->target.name, extra->why, extra->where);
		return buf;
	}
	if (v->walked_variant && ctx_loops_walked(v) == 0)
		return "no loop is walked";
	/* Its other loops yield once a pass where OUT.bpf.o's yield once in
	 * four: slower than OUT.bpf.o (tok: 1.25x the reference against 1.06x).
	 * Four copies against OUT.bpf.o's eight: its walks win (tlv: 1.09x
	 * against 1.49x, tok 0.92x against 1.00x). */
	if (v->walked_variant && ctx_loop_shape(v) == LOOP_SHAPE_BPF_LOOP &&
	    ctx_body_copies(v) < ctx_body_copies(ctx) && ctx_body_copies(v) < KOFF_BODY_COPIES)
		return "its bpf_loop callback has fewer body copies than the portable program's";
	return NULL;
}

/* Build variant k with `setup` applied; drop it (the reason in
 * ctx->variant_why[k]) when why_not_written says so. */
static int build_variant(struct koff_ctx *ctx, enum variant_kind k, void (*setup)(struct koff_ctx *ctx,
										 struct koff_ctx *v))
{
	struct koff_ctx *v = variant_new(ctx, k);
	char buf[600];
	const char *why;
	int rc;

	if (!v)
		return koff_fail(&ctx->err, -ENOMEM, "out of memory");
	setup(ctx, v);
	rc = offload_build(v);
	ctx->walk_ran_out |= v->walk_ran_out;
	why = why_not_written(ctx, v, rc, buf, sizeof(buf));
	if (!why)
		return 0;
	/* Not an error for the link: the portable program stands alone. */
	snprintf(ctx->variant_why[k], sizeof(ctx->variant_why[k]), "%s", why);
	unlink(v->tmp_bpf);
	ctx->variant[k] = NULL;
	variant_free(v);
	return rc == -ENOMEM ? koff_fail(&ctx->err, rc, "out of memory") : 0;
}

/* The newest shape: verified on the host when the host runs it. */
static void setup_fast(struct koff_ctx *ctx, struct koff_ctx *v)
{
	const struct kernel_target *fast = target_find(KOFF_FAST_VARIANT_TARGET);

	v->opt.kernel = fast->name;
	v->host_is_target = host_runs(fast);
	v->opt.verify_on = v->host_is_target ? "host" : fast->name;
	/* The same handler in the shape the portable program needed: its
	 * verifier would walk the same paths. */
	v->launder_joins = ctx->launder_joins;
}

/* Whether no loop of ctx's handler walks unless its builtins' rounds do
 * (lifter/builtins.c, phase_begin): the walked variant then lifts them
 * walkable, and is built only when that walks every loop. */
static bool only_builtins_could_walk(const struct koff_ctx *ctx)
{
	return codegen_loops_walked(ctx->ir, true) == 0;
}

/* The portable target with its walkable loops walked, verified on the host.
 * The builtins' rounds walk too where nothing else would (lifter/builtins.c,
 * phase_begin): walked_variant_refused made sure they make it plain.
 * Not beside other walks: geoip at clang -O1, walked so, ran the verifier
 * out of instructions (5.9 s of link, no variant) where it had one. */
static void setup_walked(struct koff_ctx *ctx, struct koff_ctx *v)
{
	v->opt.verify_on = "host";
	v->walked_variant = true;
	v->walkable_builtins = only_builtins_could_walk(ctx);
}

/* Why the portable program's loops cannot be walked, or NULL: the walked
 * variant takes its options and shape (offload.c's walk_loops_first). */
static const char *walked_variant_refused(struct koff_ctx *ctx)
{
	const char *why = offload_why_not_walked(ctx);

	if (why)
		return why;
	/* Where only the builtins' rounds can walk (lifter/builtins.c,
	 * phase_begin), the variant pays only when it walks every loop: its
	 * other loops would keep yielding (dns: 2 of 12 loops walked, 259k
	 * instructions to verify, dropped for its body copies). */
	if (only_builtins_could_walk(ctx) && !offload_walks_every_loop(ctx))
		return "no loop of the handler can be walked";
	return NULL;
}

int variants_build(struct koff_ctx *ctx)
{
	const char *refused;
	int rc;

	if (!wants_variants(ctx))
		return 0;
	if (target_find(KOFF_FAST_VARIANT_TARGET) && (rc = build_variant(ctx, VARIANT_FAST, setup_fast)))
		return rc;
	refused = walked_variant_refused(ctx);
	/* The same loops walked in the bpf_loop shape would run it out too,
	 * seconds later. */
	if (!refused && ctx->walk_ran_out)
		refused = "walking its loops ran the 6.18 variant's verifier out of instructions";
	if (refused) {
		snprintf(ctx->variant_why[VARIANT_WALKED], sizeof(ctx->variant_why[VARIANT_WALKED]), "%s", refused);
		return 0;
	}
	return build_variant(ctx, VARIANT_WALKED, setup_walked);
}
