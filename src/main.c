/* main.c - koff-link: link a UDP server and offload its request handler
 * to XDP.  The pipeline, in order:
 *
 *   options -> find the object defining the entry, check its signature
 *           -> link the executable (system cc)
 *           -> read the object and its DWARF (src/)
 *           -> lift x86-64 to IR, bound loops (lifter/)
 *           -> IR to eBPF, write the BPF object (bpfgen/)
 *           -> verify in the running kernel, retry with fallbacks (src/offload.c)
 *           -> manifest (src/report.c) -> move every output into place
 *
 * Outputs are written to temporary files beside OUT and renamed only when
 * everything succeeded: a failed run leaves no half-written output, and
 * the outputs of an earlier link untouched. */
#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "driver.h"
#include "koff_abi.h"

static bool is_object_arg(const char *arg)
{
	size_t n = strlen(arg);

	return arg[0] != '-' && n > 2 && !strcmp(arg + n - 2, ".o");
}

static bool defines_function(const struct obj_file *obj, const char *name)
{
	const struct obj_symbol *sym = obj_find_symbol(obj, name);

	return sym && sym->type == STT_FUNC && sym->shndx != SHN_UNDEF;
}

/* Which object holds the entry: the first one on the command line that
 * defines it (main may well be in another).  Checked before linking, so a
 * bad input is named as such and not as a linker failure.  When no object
 * defines it, an object that did not open (not x86-64, no DWARF, ...) is
 * the likelier culprit than a missing function. */
static int find_entry_object(struct koff_ctx *ctx)
{
	const struct koff_options *o = &ctx->opt;
	struct koff_error open_err = { 0 };
	int nobjects = 0, rc;

	for (int i = 0; i < o->nlink_args; i++) {
		const char *arg = o->link_args[i];
		struct obj_file *obj = NULL;
		struct koff_error err = { 0 };

		if (!is_object_arg(arg))
			continue;
		nobjects++;
		if (obj_open(arg, &obj, &err)) {
			koff_fail(&open_err, err.code, "%s", err.msg);
			continue;
		}
		if (!defines_function(obj, o->entry)) {
			obj_close(obj);
			continue;
		}
		rc = obj_check_entry(obj, o->entry, &ctx->entry_role, &ctx->err);
		obj_close(obj);
		if (rc)
			return rc;
		ctx->opt.object = arg;
		return 0;
	}
	if (open_err.code)
		return koff_fail(&ctx->err, open_err.code, "%s", open_err.msg);
	if (nobjects == 1)
		return koff_fail(&ctx->err, -ENOENT, "%s: no such function in %s", o->entry, o->object);
	return koff_fail(&ctx->err, -ENOENT, "%s: no such function in any of the %d objects", o->entry,
			 nobjects);
}

static bool is_directory(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int prepare_outputs(struct koff_ctx *ctx)
{
	const char *out = ctx->opt.output;
	const char *finals[] = { out, ctx->out_bpf, ctx->out_json };
	int fd;

	snprintf(ctx->out_bpf, sizeof(ctx->out_bpf), "%s.bpf.o", out);
	snprintf(ctx->out_json, sizeof(ctx->out_json), "%s.koff.json", out);
	snprintf(ctx->tmp_exe, sizeof(ctx->tmp_exe), "%s.koff-tmp-%d", out, (int)getpid());
	snprintf(ctx->tmp_bpf, sizeof(ctx->tmp_bpf), "%s.bpf.o.koff-tmp-%d", out, (int)getpid());
	snprintf(ctx->tmp_json, sizeof(ctx->tmp_json), "%s.koff.json.koff-tmp-%d", out, (int)getpid());
	/* A directory in the way would fail the last rename, after the others
	 * were done: refuse before writing anything. */
	for (size_t i = 0; i < KOFF_ARRAY_SIZE(finals); i++)
		if (is_directory(finals[i]))
			return koff_fail(&ctx->err, -EISDIR, "%s: is a directory, cannot write the output there",
					 finals[i]);
	tempfiles_remove_stale(out);
	if (tempfiles_protect(ctx))
		return ctx->err.code;
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
	for (int k = 0; k < VARIANT__COUNT; k++)
		if (ctx->variant[k])
			unlink(ctx->variant[k]->tmp_bpf);
}

/* Once the first output was renamed into place, a failure would leave new
 * and old outputs side by side, which koff-load could pair up: remove all
 * three instead.  (A failure before that leaves an earlier set untouched.) */
static int outputs_commit_failed(struct koff_ctx *ctx, const char *path)
{
	int rc = koff_fail(&ctx->err, -errno, "%s: cannot write: %s", path, strerror(errno));
	char variant_out[4096];

	for (int k = 0; k < VARIANT__COUNT; k++)
		unlink(variant_path(ctx, (enum variant_kind)k, variant_out, sizeof(variant_out)));
	unlink(ctx->out_bpf);
	unlink(ctx->out_json);
	unlink(ctx->opt.output);
	return rc;
}

static int outputs_rename(struct koff_ctx *ctx)
{
	char variant_out[4096];

	/* An earlier link's variant must not be loaded beside this executable. */
	for (int k = 0; k < VARIANT__COUNT; k++) {
		variant_path(ctx, (enum variant_kind)k, variant_out, sizeof(variant_out));
		if (!ctx->variant[k])
			unlink(variant_out);
		else if (rename(ctx->variant[k]->tmp_bpf, variant_out))
			return outputs_commit_failed(ctx, variant_out);
	}
	if (ctx->offloaded) {
		if (rename(ctx->tmp_bpf, ctx->out_bpf))
			return outputs_commit_failed(ctx, ctx->out_bpf);
	} else {
		/* A program from an earlier link must not be loaded beside this executable. */
		unlink(ctx->tmp_bpf);
		unlink(ctx->out_bpf);
	}
	if (rename(ctx->tmp_json, ctx->out_json))
		return outputs_commit_failed(ctx, ctx->out_json);
	if (rename(ctx->tmp_exe, ctx->opt.output))
		return outputs_commit_failed(ctx, ctx->opt.output);
	return 0;
}

/* A signal between two renames would leave new and old outputs side by
 * side: it waits until all three are in place. */
int outputs_commit(struct koff_ctx *ctx)
{
	sigset_t saved;
	int rc;

	tempfiles_hold_signals(&saved);
	rc = outputs_rename(ctx);
	tempfiles_release_signals(&saved);
	return rc;
}

static int run(struct koff_ctx *ctx, int argc, char **argv)
{
	int rc;

	if ((rc = options_parse(ctx, argc, argv)))
		return rc;
	if (ctx->opt.offload && (rc = candidates_find(ctx)))
		return rc;
	if (ctx->opt.offload && (rc = find_entry_object(ctx)))
		return rc;
	/* A handler that calls into another object or an archive: lift (and
	 * link OUT) from one object holding them all. */
	if (ctx->opt.offload && (rc = combine_inputs(ctx)))
		return rc;
	/* Shared state: which globals the XDP program and OUT share (before
	 * the link: OUT's layout), and the userspace functions that enter a
	 * section around them. */
	if (ctx->opt.offload && (rc = shared_plan_build(ctx)))
		return rc;
	if (ctx->opt.offload && ctx->shared.used && (rc = shared_find_roots(ctx)))
		return rc;
	if ((rc = prepare_outputs(ctx)))
		return rc;
	if ((rc = link_executable(ctx)))
		return rc;
	if ((rc = shared_patch_executable(ctx)))	/* before the hash: it covers the patch */
		return rc;
	if ((rc = identity_of_executable(ctx)))
		return rc;
	if (ctx->opt.offload && (rc = candidates_measure(ctx)))
		return rc;
	if (ctx->opt.offload) {
		if ((rc = offload_build(ctx)))
			return rc;
		if ((rc = variants_build(ctx)))	/* a faster program for newer kernels */
			return rc;
		if ((rc = decide_offload(ctx)))	/* --trace: does it pay? */
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
	tempfiles_unprotect();
	ctx_free(&ctx);
	return rc ? 1 : 0;
}
