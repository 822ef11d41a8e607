/* report.c - OUT.koff.json, the manifest koff-load and people read, and
 * the --explain table. */
#include <elf.h>
#include <stdio.h>
#include <string.h>

#include "driver.h"
#include "koff_abi.h"

static void json_string(FILE *f, const char *s)
{
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

static void json_body(struct koff_ctx *ctx, FILE *f)
{
	const struct koff_options *o = &ctx->opt;

	fputs("{\n  \"koff\": 1,\n  \"executable\": ", f);
	json_string(f, o->output);
	fputs(",\n  \"executable_sha256\": ", f);
	json_string(f, ctx->exe_sha256);
	fputs(",\n  \"object\": ", f);
	json_string(f, o->object);
	fputs(",\n  \"entry\": ", f);
	json_string(f, o->entry);
	fprintf(f, ",\n  \"udp_port\": %d,\n  \"resp_cap\": %u,\n  \"offloaded\": %s", o->udp_port,
		o->resp_cap, ctx->offloaded ? "true" : "false");
	if (!ctx->offloaded) {
		fputs(",\n  \"not_offloaded_because\": ", f);
		json_string(f, ctx->not_offloaded_why);
		if (ctx->nsites) {
			fputs(",\n", f);
			json_sites(ctx, f);
		}
		fputs("\n}\n", f);
		return;
	}
	fputs(",\n  \"bpf_object\": ", f);
	json_string(f, ctx->out_bpf);
	fprintf(f, ",\n  \"program\": {\"name\": \"%s\", \"insns\": %d, \"ir_blocks\": %d, "
		   "\"loop_guards\": %d, \"loop_cap\": %u},\n",
		KOFF_PROG_NAME, ctx->prog.n, ctx->ir_blocks_before_guards, ctx->ir->nloops,
		ctx->loop_cap_used);
	fprintf(f, "  \"verifier\": {\"verified\": %s, \"processed_insns\": %u, \"note\": ",
		ctx->verified ? "true" : "false", ctx->verdict.processed_insns);
	json_string(f, ctx->verify_note);
	fputs(", \"attempts\": ", f);
	json_string(f, ctx->attempts);
	fputs("},\n", f);
	json_inlined(ctx, f);
	json_sites(ctx, f);
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

static const char *role_name(enum obj_role r)
{
	return r == OBJ_ROLE_HANDLER ? "handler" : r == OBJ_ROLE_PARSER ? "parser" : NULL;
}

/* Every function whose DWARF signature fits a role, and what became of it. */
static void explain_candidates(struct koff_ctx *ctx, FILE *f)
{
	const char **names;
	enum obj_role *roles;
	int n;

	if (!ctx->obj || obj_list_functions(ctx->obj, &names, &roles, &n))
		return;
	fprintf(f, "candidates in %s (by DWARF signature):\n", ctx->opt.object);
	for (int i = 0; i < n; i++) {
		const char *role = role_name(roles[i]);

		if (!role)
			continue;
		if (!strcmp(names[i], ctx->opt.entry))
			fprintf(f, "  %-24s %-8s the entry: %s\n", names[i], role,
				ctx->offloaded ? "offloaded (below)" : "not offloaded (below)");
		else if (roles[i] == OBJ_ROLE_PARSER)
			fprintf(f, "  %-24s %-8s not offloaded: early-drop parsers are not offloaded yet\n",
				names[i], role);
		else
			fprintf(f, "  %-24s %-8s not offloaded: not the entry (choose it with --entry)\n",
				names[i], role);
	}
	free(names);
	free(roles);
}

static void explain_sites(const struct koff_ctx *ctx, FILE *f)
{
	for (int i = 0; i < ctx->nsites; i++)
		fprintf(f, "  falls back at %-40s %-11s %s\n", ctx->sites[i].where,
			koff_stat_name((unsigned)ctx->sites[i].reason), ctx->sites[i].why);
}

void report_explain(struct koff_ctx *ctx, void *stream)
{
	FILE *f = stream;

	explain_candidates(ctx, f);
	fprintf(f, "%s: ", ctx->opt.entry);
	if (!ctx->offloaded) {
		fprintf(f, "not offloaded: %s\n", ctx->not_offloaded_why);
		explain_sites(ctx, f);
		return;
	}
	fprintf(f, "offloaded to %s (%d BPF insns, loop cap %u)\n", ctx->out_bpf, ctx->prog.n,
		ctx->loop_cap_used);
	if (ctx->verified)
		fprintf(f, "  verifier: accepted, %u insns processed\n", ctx->verdict.processed_insns);
	else
		fprintf(f, "  verifier: %s\n", ctx->verify_note);
	for (int i = 0; i < ctx->obj->nsyms; i++) {
		int copies = inlined_copies(ctx, &ctx->obj->syms[i]);

		if (copies)
			fprintf(f, "  inlined: %s (%d %s)\n", ctx->obj->syms[i].name, copies,
				copies == 1 ? "copy" : "copies");
	}
	if (!ctx->nsites)
		fprintf(f, "  every path runs in XDP (loops past the cap fall back)\n");
	explain_sites(ctx, f);
}
