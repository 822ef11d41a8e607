/* context.c - what a koff_ctx holds, released in one place: the driver,
 * the variant contexts (variants.c, candidates.c) and the object fuzzer
 * (tests/fuzz/fuzz_objects.c) all free a context this way. */
#include <stdlib.h>

#include "driver.h"

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
	free(ctx->sites);
	for (int k = 0; k < VARIANT__COUNT; k++)
		variant_free(ctx->variant[k]);
	shared_plan_free(&ctx->shared);
	combine_cleanup(ctx);
}
