/* candidates.c - which function to offload: every function whose DWARF
 * signature fits an offload role (src/dwarf.c classifies them), ranked by
 * the time a profile shows spent in it, and, with a trace, by the gain
 * the cost model predicts for each (src/decide.c).
 *
 * Roles: a request handler (the README's convention) answers or drops in
 * the kernel; a request parser (int f(const char *, size_t, ...), negative
 * = malformed) drops malformed requests in the kernel and passes the rest
 * (lifter/roles.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver.h"
#include "workload.h"

static const char *role_name(enum obj_role r)
{
	return r == OBJ_ROLE_HANDLER ? "handler" : r == OBJ_ROLE_PARSER ? "parser" : "none";
}

void candidates_free(struct candidates *c)
{
	for (int i = 0; i < c->n; i++)
		free((char *)c->v[i].name);
	free(c->v);
	memset(c, 0, sizeof(*c));
}

static struct candidate *find(struct candidates *c, const char *name)
{
	for (int i = 0; i < c->n; i++)
		if (!strcmp(c->v[i].name, name))
			return &c->v[i];
	return NULL;
}

static int add(struct candidates *c, const char *name, const char *object, enum obj_role role)
{
	char *copy;

	if (find(c, name))
		return 0;	/* the first object defining it is the one linked */
	copy = strdup(name);
	if (!copy || koff_grow(&c->v, &c->cap, c->n, sizeof(*c->v))) {
		free(copy);
		return -ENOMEM;
	}
	c->v[c->n] = (struct candidate){ .name = copy, .object = object, .role = role, .order = c->n };
	c->n++;
	return 0;
}

static bool is_object_arg(const char *arg)
{
	size_t n = strlen(arg);

	return arg[0] != '-' && n > 2 && !strcmp(arg + n - 2, ".o");
}

/* Objects that do not open are left to main.c, which names the problem. */
static int list_object(struct candidates *c, const char *path)
{
	struct koff_error err = { 0 };
	struct obj_file *obj = NULL;
	const char **names;
	enum obj_role *roles;
	int n, rc = 0;

	if (obj_open(path, &obj, &err))
		return 0;
	if (obj_list_functions(obj, &names, &roles, &n) == 0) {
		for (int i = 0; !rc && i < n; i++)
			if (roles[i] != OBJ_ROLE_NONE)
				rc = add(c, names[i], path, roles[i]);
		free(names);
		free(roles);
	}
	obj_close(obj);
	return rc;
}

/* Hottest first; without samples, handlers before parsers, then in the
 * order the objects define them. */
static int by_rank(const void *pa, const void *pb)
{
	const struct candidate *a = pa, *b = pb;

	if (a->samples != b->samples)
		return a->samples > b->samples ? -1 : 1;
	if (a->role != b->role)
		return a->role == OBJ_ROLE_HANDLER ? -1 : 1;
	return a->order - b->order;
}

static const struct candidate *best_of_role(const struct candidates *c, enum obj_role role)
{
	for (int i = 0; i < c->n; i++)
		if (c->v[i].role == role)
			return &c->v[i];
	return NULL;
}

/* Without --entry: the hottest handler of the profile, else
 * handle_request (koff's convention), else the first handler, else the
 * hottest parser. */
static void propose(struct koff_ctx *ctx)
{
	struct candidates *c = &ctx->cands;
	const struct candidate *handler = best_of_role(c, OBJ_ROLE_HANDLER);
	const struct candidate *parser = best_of_role(c, OBJ_ROLE_PARSER);
	const struct candidate *conventional = find(c, "handle_request");

	if (handler && handler->samples > 0) {
		ctx->opt.entry = handler->name;
		snprintf(c->why, sizeof(c->why), "the handler with the most profile samples (%.0f, %.1f%%)",
			 handler->samples, 100 * handler->samples / c->total_samples);
	} else if (conventional && conventional->role == OBJ_ROLE_HANDLER) {
		snprintf(c->why, sizeof(c->why), "handle_request: the conventional name of the handler");
	} else if (handler) {
		ctx->opt.entry = handler->name;
		snprintf(c->why, sizeof(c->why), "the only%s function with the handler's signature",
			 c->n > 1 ? " or first" : "");
	} else if (parser) {
		ctx->opt.entry = parser->name;
		snprintf(c->why, sizeof(c->why), "no handler; %s (early-drop filter)",
			 parser->samples > 0 ? "the parser with the most profile samples"
					     : "the first function with a parser's signature");
	}
}

int candidates_find(struct koff_ctx *ctx)
{
	struct candidates *c = &ctx->cands;
	int rc;

	for (int i = 0; i < ctx->opt.nlink_args; i++)
		if (is_object_arg(ctx->opt.link_args[i]) && (rc = list_object(c, ctx->opt.link_args[i])))
			return koff_fail(&ctx->err, rc, "out of memory");
	if (ctx->opt.profile && (rc = profile_read(ctx->opt.profile, c, &ctx->err)))
		return rc;
	if (c->n)
		qsort(c->v, (size_t)c->n, sizeof(*c->v), by_rank);
	if (ctx->opt.entry_given)
		snprintf(c->why, sizeof(c->why), "chosen with --entry");
	else
		propose(ctx);
	return 0;
}

/* ---- Measuring every candidate ------------------------------------------------- */

/* Builds and measures one candidate in a context of its own; its program
 * goes to a temporary file removed afterwards. */
static void measure_candidate(struct koff_ctx *ctx, struct candidate *cand, int index)
{
	struct koff_ctx *sub = calloc(1, sizeof(*sub));
	int rc;

	if (!sub) {
		snprintf(cand->note, sizeof(cand->note), "out of memory");
		return;
	}
	sub->opt = ctx->opt;
	sub->opt.entry = cand->name;
	sub->opt.object = cand->object;
	sub->opt.link_args = NULL;
	sub->opt.explain = sub->opt.dump_ir = sub->opt.dump_bpf = false;
	sub->decision.user = ctx->decision.user;	/* calibrated once */
	snprintf(sub->tmp_bpf, sizeof(sub->tmp_bpf), "%s.bpf.o.koff-cand%d-%d", ctx->opt.output, index,
		 (int)getpid());
	rc = shared_plan_build(sub);	/* this candidate's use of shared state */
	if (!rc)
		rc = offload_build(sub);
	if (!rc && sub->offloaded)
		rc = decide_offload(sub);
	if (rc)
		snprintf(cand->note, sizeof(cand->note), "%s", sub->err.msg);
	else if (!sub->decision.measured)
		snprintf(cand->note, sizeof(cand->note), "not offloadable: %s", sub->not_offloaded_why);
	else
		snprintf(cand->note, sizeof(cand->note), "%s", sub->decision.why);
	cand->built = !rc && sub->decision.measured;
	cand->d = sub->decision;
	if (!ctx->decision.user.ns)
		ctx->decision.user = sub->decision.user;
	unlink(sub->tmp_bpf);
	ctx_free(sub);
	free(sub);
}

int candidates_measure(struct koff_ctx *ctx)
{
	struct candidates *c = &ctx->cands;
	const struct candidate *best = NULL;

	if (!ctx->opt.trace || ctx->opt.entry_given || c->n < 2)
		return 0;
	for (int i = 0; i < c->n; i++) {
		measure_candidate(ctx, &c->v[i], i);
		if (c->v[i].built && (!best || c->v[i].d.gain_ns > best->d.gain_ns))
			best = &c->v[i];
	}
	if (!best)
		return 0;
	ctx->opt.entry = best->name;
	ctx->opt.object = best->object;
	snprintf(c->why, sizeof(c->why), "the best predicted gain on the trace of the %d candidates "
		 "(%.0f ns per request)", c->n, best->d.gain_ns);
	return 0;
}

/* ---- Reports ------------------------------------------------------------------------ */

void candidates_report_json(const struct koff_ctx *ctx, void *stream)
{
	const struct candidates *c = &ctx->cands;
	FILE *f = stream;

	fputs(",\n  \"entry_chosen_because\": ", f);
	json_string(f, c->why);
	fputs(",\n  \"candidates\": [", f);
	for (int i = 0; i < c->n; i++) {
		const struct candidate *k = &c->v[i];

		fprintf(f, "%s\n    {\"name\": ", i ? "," : "");
		json_string(f, k->name);
		fputs(", \"object\": ", f);
		json_string(f, k->object);
		fprintf(f, ", \"role\": \"%s\"", role_name(k->role));
		if (ctx->opt.profile)
			fprintf(f, ", \"profile_samples\": %.0f, \"profile_share\": %.4f", k->samples,
				c->total_samples ? k->samples / c->total_samples : 0);
		if (k->built)
			fprintf(f, ", \"completed_fraction\": %.4f, \"predicted_gain_ns_per_request\": %.1f",
				k->d.fast_fraction, k->d.gain_ns);
		if (k->note[0]) {
			fputs(", \"note\": ", f);
			json_string(f, k->note);
		}
		fputc('}', f);
	}
	fputs(c->n ? "\n  ]" : "]", f);
}

void candidates_explain(const struct koff_ctx *ctx, void *stream)
{
	const struct candidates *c = &ctx->cands;
	FILE *f = stream;

	fprintf(f, "candidates (by DWARF signature%s):\n",
		ctx->opt.profile ? ", ranked by the profile" : "");
	for (int i = 0; i < c->n; i++) {
		const struct candidate *k = &c->v[i];

		fprintf(f, "  %-24s %-8s", k->name, role_name(k->role));
		if (ctx->opt.profile)
			fprintf(f, " %5.1f%% of samples", c->total_samples ? 100 * k->samples / c->total_samples : 0);
		if (!strcmp(k->name, ctx->opt.entry))
			fprintf(f, "  the entry: %s", ctx->offloaded ? "offloaded (below)" : "not offloaded (below)");
		else if (k->note[0])
			fprintf(f, "  %s", k->note);
		else
			fprintf(f, "  not the entry (choose it with --entry)");
		fputc('\n', f);
	}
	fprintf(f, "entry: %s: %s\n", ctx->opt.entry, c->why);
}
