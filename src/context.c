/* context.c - what a koff_ctx holds, released in one place: the driver,
 * the variant contexts (variants.c, candidates.c) and the object fuzzer
 * (tests/fuzz/fuzz_objects.c) all free a context this way; and the shape
 * of its program's loops, which offload.c, variants.c and report.c ask. */
#include <stdlib.h>

#include "codegen.h"
#include "driver.h"

enum loop_shape ctx_loop_shape(const struct koff_ctx *ctx)
{
	return codegen_loop_shape(&ctx->target, ctx->ir, ctx->walk_loops);
}

int ctx_loops_walked(const struct koff_ctx *ctx)
{
	return ctx->ir ? codegen_loops_walked(ctx->ir, ctx->walk_loops) : 0;
}

unsigned ctx_body_copies(const struct koff_ctx *ctx)
{
	return ctx_loop_shape(ctx) == LOOP_SHAPE_BPF_LOOP && ctx->loop_copies > 1 ? ctx->loop_copies : 1;
}

void ctx_free(struct koff_ctx *ctx)
{
	candidates_free(&ctx->cands);
	ir_func_free(ctx->ir);
	emit_free(&ctx->prog);
	bpf_verdict_free(&ctx->verdict);
	decoder_free(&ctx->dec);
	layout_free(&ctx->lay);
	obj_close(ctx->obj);
	free(ctx->opt.link_args);
	free(ctx->forced_fallbacks);
	free(ctx->checked_again);
	free(ctx->sites);
	for (int k = 0; k < VARIANT__COUNT; k++)
		variant_free(ctx->variant[k]);
	shared_plan_free(&ctx->shared);
	combine_cleanup(ctx);
}
