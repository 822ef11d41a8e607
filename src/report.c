/* report.c - OUT.koff.json, the manifest koff-load and people read, and
 * the --explain table. */
#include <elf.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#include "codegen.h"
#include "driver.h"
#include "koff_abi.h"
#include "vm.h"

void json_string(void *stream, const char *s)
{
	FILE *f = stream;

	fputc('"', f);
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

/* Requests of the --trace that left from the site at va (-1: no trace). */
static int site_trace_requests(const struct koff_ctx *ctx, uint64_t va)
{
	const struct offload_measure *m = &ctx->decision.m;

	if (!ctx->decision.measured)
		return -1;
	for (int i = 0; i < m->nsites; i++)
		if (m->sites[i].va == va)
			return m->sites[i].requests;
	return 0;
}

static void json_sites(struct koff_ctx *ctx, FILE *f)
{
	fputs("  \"fallbacks\": [", f);
	for (int i = 0; i < ctx->nsites; i++) {
		const struct fallback_site *s = &ctx->sites[i];

		fprintf(f, "%s\n    {\"address\": \"%#llx\", \"where\": ", i ? "," : "",
			(unsigned long long)s->va);
		json_string(f, s->where);
		fputs(", \"counter\": ", f);
		json_string(f, koff_stat_name((unsigned)s->reason));
		fputs(", \"why\": ", f);
		json_string(f, s->why);
		if (site_trace_requests(ctx, s->va) >= 0)
			fprintf(f, ", \"trace_requests\": %d", site_trace_requests(ctx, s->va));
		fputc('}', f);
	}
	fputs(ctx->nsites ? "\n  ]" : "]", f);
}

/* How many inlined copies of the function `sym` the lifted program holds:
 * every copy starts with a block at the function's first instruction. */
static int inlined_copies(const struct koff_ctx *ctx, const struct obj_symbol *sym)
{
	const struct obj_section *sec;
	uint64_t start;
	int copies = 0;

	if (!ctx->ir || sym->type != STT_FUNC || sym->shndx <= 0 || sym->shndx >= ctx->obj->nsecs ||
	    !strcmp(sym->name, ctx->opt.entry))
		return 0;
	sec = &ctx->obj->secs[sym->shndx];
	if (!sec->va || !(sec->flags & SHF_EXECINSTR))
		return 0;
	start = sec->va + sym->value;
	for (int b = 0; b < ctx->ir->nblocks; b++)
		copies += ctx->ir->blocks[b].x86_addr == start;
	return copies;
}

/* "inlined": [{"name": "parse_name", "copies": 2}, ...]: the local
 * functions whose code runs in the program, inlined at each call site. */
static void json_inlined(const struct koff_ctx *ctx, FILE *f)
{
	int listed = 0;

	fputs("  \"inlined\": [", f);
	for (int i = 0; i < ctx->obj->nsyms; i++) {
		int copies = inlined_copies(ctx, &ctx->obj->syms[i]);

		if (!copies)
			continue;
		fprintf(f, "%s{\"name\": ", listed++ ? ", " : "");
		json_string(f, ctx->obj->syms[i].name);
		fprintf(f, ", \"copies\": %d}", copies);
	}
	fputs("],\n", f);
}

static const char *place_release(const struct verify_place *p, char *buf, size_t len)
{
	struct utsname u;

	if (!strcmp(p->name, "host"))
		return uname(&u) ? "" : (snprintf(buf, len, "%s", u.release), buf);
	if (p->image[0] && vm_image_release(p->image, buf, len))
		return buf;
	return "";
}

/* {"target", "features", "loop_shape", "loops_walked", "body_copies",
 * "accesses_by_verifier", "accesses_not_proved", "verified_on"}: the
 * kernel a program is for, and each place it was (or could not be)
 * verified. */
static void json_kernel(const struct koff_ctx *ctx, FILE *f)
{
	const struct kernel_target *t = &ctx->target;
	char release[128];

	fputs("{\"target\": ", f);
	json_string(f, t->name);
	fputs(", \"features\": [", f);
	for (int k = 0, n = 0; k < KFEAT__COUNT; k++)
		if (target_has(t, (enum koff_kfeature)k))
			fprintf(f, "%s\"%s\"", n++ ? ", " : "", kfeature_name((enum koff_kfeature)k));
	fputs("], \"loop_shape\": ", f);
	json_string(f, loop_shape_name(ctx_loop_shape(ctx)));
	fprintf(f, ", \"loops_walked\": %d, \"body_copies\": %u", ctx_loops_walked(ctx), ctx_body_copies(ctx));
	fprintf(f, ", \"accesses_by_verifier\": %d, \"accesses_not_proved\": %d", ctx->accesses_by_verifier,
		ctx->nchecked_again);
	fputs(", \"verified_on\": [", f);
	for (int i = 0; i < ctx->nplaces; i++) {
		const struct verify_place *p = &ctx->places[i];

		fprintf(f, "%s{\"kernel\": ", i ? ", " : "");
		json_string(f, p->name);
		fputs(", \"release\": ", f);
		json_string(f, place_release(p, release, sizeof(release)));
		fprintf(f, ", \"verified\": %s, \"processed_insns\": %u, \"note\": ",
			p->done && p->accepted ? "true" : "false", p->processed);
		json_string(f, p->note);
		fputc('}', f);
	}
	fputs("]}", f);
}

/* One entry of "variants": a program koff-load may load. */
static void json_variant(const struct koff_ctx *v, const char *object, FILE *f)
{
	fputs("{\"object\": ", f);
	json_string(f, object);
	fprintf(f, ", \"insns\": %d, \"kernel\": ", v->prog.n);
	json_kernel(v, f);
	fputs(", \"attempts\": ", f);
	json_string(f, v->attempts);
	fputc('}', f);
}

/* "variants": every program beside OUT, in the order koff-load tries them. */
static void json_variants(const struct koff_ctx *ctx, FILE *f)
{
	static const char *const why_keys[VARIANT__COUNT] = { [VARIANT_FAST] = "no_fast_variant_because",
							      [VARIANT_WALKED] = "no_walked_variant_because" };
	char path[4096];

	fputs("  \"variants\": [", f);
	for (int k = 0; k < VARIANT__COUNT; k++) {
		if (!ctx->variant[k])
			continue;
		json_variant(ctx->variant[k], variant_path(ctx, (enum variant_kind)k, path, sizeof(path)), f);
		fputs(",\n    ", f);
	}
	json_variant(ctx, ctx->out_bpf, f);
	fputs("],\n", f);
	for (int k = 0; k < VARIANT__COUNT; k++) {
		if (!ctx->variant_why[k][0])
			continue;
		fprintf(f, "  \"%s\": ", why_keys[k]);
		json_string(f, ctx->variant_why[k]);
		fputs(",\n", f);
	}
}

/* "shared": the plan of src/shared.c and the mode the offload picked. */
static void json_shared(const struct koff_ctx *ctx, FILE *f)
{
	const struct shared_plan *p = &ctx->shared;

	fprintf(f, ",\n  \"shared\": {\"used\": %s, \"mode\": \"%s\", \"sections\": [",
		p->used ? "true" : "false", shared_mode_name(p->mode));
	for (int i = 0; i < p->nsecs; i++) {
		fprintf(f, "%s{\"name\": ", i ? ", " : "");
		json_string(f, p->secs[i].name);
		fprintf(f, ", \"off\": %llu, \"size\": %llu}", (unsigned long long)p->secs[i].off,
			(unsigned long long)p->secs[i].size);
	}
	fprintf(f, "], \"data_size\": %llu, \"value_size\": %llu, \"why_not\": ",
		(unsigned long long)p->data_size, (unsigned long long)p->value_size);
	json_string(f, p->why_not);
	fputs(", \"roots\": [", f);
	for (int i = 0; i < p->nroots; i++) {
		fputs(i ? ", " : "", f);
		json_string(f, p->roots[i]);
	}
	fputs("], \"writer_roots\": [", f);	/* the roots whose sections move seq */
	for (int i = 0, n = 0; i < p->nroots; i++) {
		if (!p->root_writes[i])
			continue;
		fputs(n++ ? ", " : "", f);
		json_string(f, p->roots[i]);
	}
	fputs("]}", f);
}

static void explain_shared(const struct koff_ctx *ctx, FILE *f)
{
	const struct shared_plan *p = &ctx->shared;

	if (p->used) {
		fprintf(f, "  shared state: %s mode, %llu bytes of globals in map %s (%llu bytes):",
			shared_mode_name(p->mode), (unsigned long long)p->data_size, KOFF_MAP_SHARED,
			(unsigned long long)p->value_size);
		for (int i = 0; i < p->nsecs; i++)
			fprintf(f, " %s@%llu", p->secs[i].name, (unsigned long long)p->secs[i].off);
		fputc('\n', f);
		for (int i = 0; i < p->nroots; i++)
			fprintf(f, "  shared state: userspace root %s (%s)\n", p->roots[i],
				p->root_writes[i] ? "may write" : "reads");
	}
	if (p->why_not[0])
		fprintf(f, "  shared state: %s\n", p->why_not);
}

static void json_body(struct koff_ctx *ctx, FILE *f)
{
	const struct koff_options *o = &ctx->opt;

	fputs("{\n  \"koff\": 1,\n  \"executable\": ", f);
	json_string(f, o->output);
	fputs(",\n  \"executable_sha256\": ", f);
	json_string(f, ctx->exe_sha256);
	fputs(",\n  \"object\": ", f);
	json_string(f, ctx->combined.path[0] ? ctx->combined.entry_object : o->object);
	if (ctx->combined.path[0]) {	/* src/combine.c */
		fprintf(f, ",\n  \"combined\": {\"inputs\": %d, \"because\": ", ctx->combined.ninputs);
		json_string(f, ctx->combined.because);
		fputs("}", f);
	}
	fputs(",\n  \"entry\": ", f);
	json_string(f, o->entry);
	candidates_report_json(ctx, f);
	json_shared(ctx, f);
	fprintf(f, ",\n  \"udp_port\": %d,\n  \"resp_cap\": %u,\n  \"offloaded\": %s", o->udp_port,
		o->resp_cap, ctx->offloaded ? "true" : "false");
	if (!ctx->offloaded) {
		fputs(",\n  \"not_offloaded_because\": ", f);
		json_string(f, ctx->not_offloaded_why);
		if (ctx->nsites) {
			fputs(",\n", f);
			json_sites(ctx, f);
		}
		decide_report_json(ctx, f);
		fputs("\n}\n", f);
		return;
	}
	fputs(",\n  \"bpf_object\": ", f);
	json_string(f, ctx->out_bpf);
	fputs(",\n  \"kernel\": ", f);
	json_kernel(ctx, f);
	fputs(",\n", f);
	json_variants(ctx, f);
	fprintf(f, "  \"program\": {\"name\": \"%s\", \"insns\": %d, \"ir_blocks\": %d, "
		   "\"loop_guards\": %d, \"loop_cap\": %u, \"early_fallback_blocks\": %d},\n",
		KOFF_PROG_NAME, ctx->prog.n, ctx->ir_blocks_before_guards, ctx->ir->nloops,
		ctx->loop_cap_used, ctx->early_fallbacks);
	fprintf(f, "  \"verifier\": {\"verified\": %s, \"processed_insns\": %u, \"note\": ",
		ctx->verified ? "true" : "false", ctx->verdict.processed_insns);
	json_string(f, ctx->verify_note);
	fputs(", \"attempts\": ", f);
	json_string(f, ctx->attempts);
	fputs("},\n", f);
	json_inlined(ctx, f);
	json_sites(ctx, f);
	decide_report_json(ctx, f);
	fputs("\n}\n", f);
}

int report_write_json(struct koff_ctx *ctx)
{
	FILE *f = fopen(ctx->tmp_json, "w");

	if (!f)
		return koff_fail(&ctx->err, -errno, "%s: cannot write: %s", ctx->out_json, strerror(errno));
	json_body(ctx, f);
	if (fflush(f) || ferror(f)) {
		fclose(f);
		return koff_fail(&ctx->err, -EIO, "%s: cannot write: %s", ctx->out_json, strerror(errno));
	}
	if (fclose(f))
		return koff_fail(&ctx->err, -EIO, "%s: cannot write: %s", ctx->out_json, strerror(errno));
	return 0;
}

static void explain_sites(const struct koff_ctx *ctx, FILE *f)
{
	for (int i = 0; i < ctx->nsites; i++) {
		int n = site_trace_requests(ctx, ctx->sites[i].va);

		fprintf(f, "  %s at %-40s %-11s %s", ctx->sites[i].reason == KOFF_STAT_PASS_ACCEPTED ? "passes up  " : "falls back",
			ctx->sites[i].where, koff_stat_name((unsigned)ctx->sites[i].reason), ctx->sites[i].why);
		if (n >= 0)
			fprintf(f, " (%d trace request%s)", n, n == 1 ? "" : "s");
		fputc('\n', f);
	}
}

static void explain_kernel(const struct koff_ctx *ctx, FILE *f);

/* The variants beside OUT.bpf.o, each with its kernel, or why there is none. */
static void explain_variants(const struct koff_ctx *ctx, FILE *f)
{
	static const char *const what[VARIANT__COUNT] = { [VARIANT_FAST] = "for newer kernels",
							  [VARIANT_WALKED] = "with walked loops, tried first" };
	char path[4096];

	for (int k = 0; k < VARIANT__COUNT; k++) {
		if (ctx->variant[k]) {
			fprintf(f, "  and %s: %s (%d BPF insns)\n", what[k],
				variant_path(ctx, (enum variant_kind)k, path, sizeof(path)), ctx->variant[k]->prog.n);
			explain_kernel(ctx->variant[k], f);
		} else if (ctx->variant_why[k][0]) {
			fprintf(f, "  no variant %s: %s\n", what[k], ctx->variant_why[k]);
		}
	}
}

/* The target, the loop shape, and what each verification place said. */
static void explain_kernel(const struct koff_ctx *ctx, FILE *f)
{
	fprintf(f, "  kernel: %s (%s), loops: %s", ctx->target.name, ctx->target.seen_in,
		loop_shape_name(ctx_loop_shape(ctx)));
	if (ctx_loop_shape(ctx) != LOOP_SHAPE_WALKED && ctx_loops_walked(ctx))
		fprintf(f, " (%d of %d loops walked)", ctx_loops_walked(ctx), ctx->ir->nloops);
	if (ctx_body_copies(ctx) > 1)
		fprintf(f, " (%u body copies)", ctx_body_copies(ctx));
	fputc('\n', f);
	if (ctx->verify_note[0])
		fprintf(f, "  verifier: %s\n", ctx->verify_note);
	for (int i = 0; i < ctx->nplaces; i++) {
		const struct verify_place *p = &ctx->places[i];
		char release[128];

		if (p->done && p->accepted)
			fprintf(f, "  verifier on %s %s: accepted, %u insns processed\n", p->name,
				place_release(p, release, sizeof(release)), p->processed);
		else if (p->note[0] && strcmp(p->note, ctx->verify_note))
			fprintf(f, "  verifier: %s\n", p->note);
	}
}

void report_explain(struct koff_ctx *ctx, void *stream)
{
	FILE *f = stream;

	candidates_explain(ctx, f);
	fprintf(f, "%s: ", ctx->opt.entry);
	if (!ctx->offloaded) {
		fprintf(f, "not offloaded: %s\n", ctx->not_offloaded_why);
		explain_shared(ctx, f);
		explain_sites(ctx, f);
		decide_explain(ctx, f);
		return;
	}
	fprintf(f, "offloaded to %s (%d BPF insns, loop cap %u)\n", ctx->out_bpf, ctx->prog.n,
		ctx->loop_cap_used);
	explain_kernel(ctx, f);
	explain_variants(ctx, f);
	explain_shared(ctx, f);
	if (ctx->early_fallbacks)
		fprintf(f, "  early fallback: %d blocks from which every path falls back now fall back at "
			   "their start\n", ctx->early_fallbacks);
	for (int i = 0; i < ctx->obj->nsyms; i++) {
		int copies = inlined_copies(ctx, &ctx->obj->syms[i]);

		if (copies)
			fprintf(f, "  inlined: %s (%d %s)\n", ctx->obj->syms[i].name, copies,
				copies == 1 ? "copy" : "copies");
	}
	if (!ctx->nsites)
		fprintf(f, "  every path runs in XDP (loops past the cap fall back)\n");
	explain_sites(ctx, f);
	decide_explain(ctx, f);
}
