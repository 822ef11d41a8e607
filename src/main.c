/* main.c - koff-link: link a UDP server and offload its request handler
 * to XDP.  The pipeline, in order:
 *
 *   options -> link the executable (system cc)
 *           -> read the object and its DWARF, check the handler (src/)
 *           -> lift x86-64 to IR, bound loops (lifter/)
 *           -> IR to eBPF, write the BPF object (bpfgen/)
 *           -> verify in the running kernel, retry with fallbacks (src/offload.c)
 *           -> manifest (src/report.c) -> move every output into place
 *
 * Outputs are written to temporary files beside OUT and renamed only when
 * everything succeeded: a failed run leaves no half-written output. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver.h"

static int prepare_outputs(struct koff_ctx *ctx)
{
	const char *out = ctx->opt.output;
	int fd;

	snprintf(ctx->out_bpf, sizeof(ctx->out_bpf), "%s.bpf.o", out);
	snprintf(ctx->out_json, sizeof(ctx->out_json), "%s.koff.json", out);
	snprintf(ctx->tmp_exe, sizeof(ctx->tmp_exe), "%s.koff-tmp-%d", out, (int)getpid());
	snprintf(ctx->tmp_bpf, sizeof(ctx->tmp_bpf), "%s.bpf.o.koff-tmp-%d", out, (int)getpid());
	snprintf(ctx->tmp_json, sizeof(ctx->tmp_json), "%s.koff.json.koff-tmp-%d", out, (int)getpid());
	/* Find out now, with a clear message, if OUT's directory is writable. */
	fd = open(ctx->tmp_exe, O_WRONLY | O_CREAT | O_EXCL, 0755);
	if (fd < 0)
		return koff_fail(&ctx->err, -errno, "%s: cannot write: %s", out, strerror(errno));
	close(fd);
	return 0;
}

void outputs_discard(struct koff_ctx *ctx)
{
	if (ctx->tmp_exe[0])
		unlink(ctx->tmp_exe);
	if (ctx->tmp_bpf[0])
		unlink(ctx->tmp_bpf);
	if (ctx->tmp_json[0])
		unlink(ctx->tmp_json);
}

int outputs_commit(struct koff_ctx *ctx)
{
	if (ctx->offloaded) {
		if (rename(ctx->tmp_bpf, ctx->out_bpf))
			return koff_fail(&ctx->err, -errno, "%s: cannot write: %s", ctx->out_bpf, strerror(errno));
	} else {
		/* A program from an earlier link must not be loaded beside this executable. */
		unlink(ctx->tmp_bpf);
		unlink(ctx->out_bpf);
	}
	if (rename(ctx->tmp_json, ctx->out_json))
		return koff_fail(&ctx->err, -errno, "%s: cannot write: %s", ctx->out_json, strerror(errno));
	if (rename(ctx->tmp_exe, ctx->opt.output))
		return koff_fail(&ctx->err, -errno, "%s: cannot write: %s", ctx->opt.output, strerror(errno));
	return 0;
}

static void ctx_free(struct koff_ctx *ctx)
{
	ir_func_free(ctx->ir);
	emit_free(&ctx->prog);
	bpf_verdict_free(&ctx->verdict);
	decoder_free(&ctx->dec);
	layout_free(&ctx->lay);
	obj_close(ctx->obj);
	free(ctx->opt.link_args);
	free(ctx->forced_fallbacks);
	free(ctx->sites);
}

static int run(struct koff_ctx *ctx, int argc, char **argv)
{
	int rc;

	if ((rc = options_parse(ctx, argc, argv)))
		return rc;
	if ((rc = prepare_outputs(ctx)))
		return rc;
	if ((rc = link_executable(ctx)))
		return rc;
	if (ctx->opt.offload) {
		if ((rc = offload_build(ctx)))
			return rc;
	} else {
		snprintf(ctx->not_offloaded_why, sizeof(ctx->not_offloaded_why), "--no-offload");
	}
	if ((rc = report_write_json(ctx)))
		return rc;
	if ((rc = outputs_commit(ctx)))
		return rc;
	if (ctx->opt.explain)
		report_explain(ctx, stdout);
	if (!ctx->offloaded && ctx->opt.offload)
		fprintf(stderr, "koff-link: warning: %s not offloaded: %s\n", ctx->opt.entry,
			ctx->not_offloaded_why);
	return 0;
}

int main(int argc, char **argv)
{
	struct koff_ctx ctx = { 0 };
	int rc = run(&ctx, argc, argv);

	if (rc) {
		outputs_discard(&ctx);
		fprintf(stderr, "koff-link: %s\n", ctx.err.msg[0] ? ctx.err.msg : strerror(-rc));
	}
	ctx_free(&ctx);
	return rc ? 1 : 0;
}
