/* offload.c - from the handler's machine code to a verified XDP program:
 * lift, bound the loops, generate eBPF, write the object, let the kernel's
 * verifier judge it, and answer its complaints by falling back earlier or
 * capping loops lower until it accepts (or refuse, with the reason). */
#include <elf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpfobj.h"
#include "codegen.h"
#include "driver.h"
#include "koff_abi.h"
#include "lift.h"

#define MAX_ATTEMPTS 12

/* Loop-head passes per request before falling back.  In both loop shapes
 * (may_goto, bpf_loop) the verifier's work does not depend on the cap, so
 * it only bounds the time a request may take in the kernel, and a
 * rejection is never answered with a lower one. */
#define DEFAULT_LOOP_CAP 65536u

/* The bpf_loop shape's body copies (codegen_opts.loop_copies): a yield
 * per four loop-head passes instead of one (dns and echo: 0.6x the time),
 * for 4-15 times the verifier's work (dns 26k -> 185k processed insns,
 * kvcache 35k -> 273k, kvtext at gcc -O1 25k -> 251k, at gcc -O3 67k ->
 * past the million).  Every link pays that time (kvcache: 1.1 s of its
 * 1.6 s) for a program that runs only where the kernel lacks sound
 * may_goto loops (6.17+ takes OUT.6.18.bpf.o), so they are tried once the one-copy
 * program verified, and only when its verification was small: a second or
 * less for the copies, never a try that runs out of the budget (seconds,
 * then back to one copy). */
#define BODY_COPIES_MAX_PROCESSED 30000u
/* Twice as many for a portable program whose one-copy verification is
 * small: a yield per eight passes (xdp_bench, the reference's time: kv
 * 1.81x -> 1.52x, tlv 1.70x -> 1.49x) for about three times the
 * verification (kv 15k -> 44k, tlv 20k -> 55k).  Not dns (25k with one
 * copy: 180k with four, 475k with eight, for 1.44x -> 1.39x), nor the
 * walked variant (tlv's: 171k -> 383k, no faster). */
#define BODY_COPIES_SMALL 8u
#define BODY_COPIES_SMALL_MAX_PROCESSED 10000u
/* Nor for a big program: kvtext at gcc -O1 (18.5k instructions) spent 45 s
 * relaxing the jumps of its 74k, then did not fit them. */
#define BODY_COPIES_MAX_INSNS 40000u

/* Open the object and check the entry: errors here are the user's input. */
static int open_input(struct koff_ctx *ctx)
{
	const struct obj_symbol *sym;
	int rc;

	rc = obj_open(ctx->opt.object, &ctx->obj, &ctx->err);
	if (rc)
		return rc;
	sym = obj_find_symbol(ctx->obj, ctx->opt.entry);
	if (!sym || sym->type != STT_FUNC)
		return koff_fail(&ctx->err, -ENOENT, "%s: no such function in %s", ctx->opt.entry,
				 ctx->opt.object);
	rc = obj_check_entry(ctx->obj, ctx->opt.entry, &ctx->entry_role, &ctx->err);
	if (rc)
		return rc;
	/* The shared sections first in the writable region, at the offsets
	 * shared_plan_build gave OUT. */
	rc = shared_mark_sections(ctx->obj);
	if (rc)
		return koff_fail(&ctx->err, rc, "out of memory");
	rc = layout_build(ctx->obj, &ctx->lay, &ctx->err);
	if (rc)
		return rc;
	rc = decoder_init(&ctx->dec, &ctx->lay, &ctx->err);
	if (rc)
		return rc;
	ctx->entry_va = layout_symbol_va(&ctx->lay, (int)(sym - ctx->obj->syms));
	return 0;
}

/* --dump-bpf: every instruction with the x86 address it was made for and
 * what it is for (emit.h, enum emit_kind). */
static void dump_bpf(const struct bpf_emit *e, FILE *f)
{
	for (int i = 0; i < e->n; i++) {
		const struct bpf_insn *in = &e->insns[i];

		fprintf(f, "%5d  %#8llx  code %02x dst r%d src r%d off %6d imm %d  ; %s\n", i,
			(unsigned long long)e->origin[i], in->code, in->dst_reg, in->src_reg, in->off,
			in->imm, emit_kind_names[e->kind[i] < EK__COUNT ? e->kind[i] : EK_OTHER]);
	}
}

/* KOFF_SHARED_SECTION's text (include/koff_abi.h), malloc'd; NULL and 0
 * without shared state, -ENOMEM. */
static int shared_section_text(const struct koff_ctx *ctx, char **text)
{
	const struct shared_plan *p = &ctx->shared;
	size_t size = 0;
	FILE *f;

	*text = NULL;
	if (!p->used)
		return 0;
	f = open_memstream(text, &size);
	if (!f)
		return -ENOMEM;
	fprintf(f, "mode %s\nsize %llu\ndata %llu\n", shared_mode_name(p->mode),
		(unsigned long long)p->value_size, (unsigned long long)p->data_size);
	for (int i = 0; i < p->nsecs; i++)
		fprintf(f, "section %s %llu %llu\n", p->secs[i].name, (unsigned long long)p->secs[i].off,
			(unsigned long long)p->secs[i].size);
	return fclose(f) ? -ENOMEM : 0;
}

static int write_object(struct koff_ctx *ctx)
{
	struct bpfobj_extras x = { .identity = ctx->identity[0] ? ctx->identity : NULL,
				   .shared_value_size = ctx->shared.value_size };
	char *table = NULL, *shared = NULL;
	size_t size = 0;
	int rc;

	sigset_t saved;

	if (ctx->opt.record_path && (rc = trace_table_build(ctx, &table, &size)))
		return rc;
	if (shared_section_text(ctx, &shared)) {
		free(table);
		return koff_fail(&ctx->err, -ENOMEM, "out of memory");
	}
	x.trace_table = table;
	x.trace_table_size = size;
	x.shared_text = shared;
	/* bpfobj.c's own temporary has a name the signal handler cannot know:
	 * a signal waits until it was renamed to ctx->tmp_bpf. */
	tempfiles_hold_signals(&saved);
	rc = bpfobj_write_extras(ctx->tmp_bpf, &ctx->prog, ctx->ir->rodata, ctx->ir->rodata_size, &x,
				 &ctx->err);
	tempfiles_release_signals(&saved);
	free(table);
	free(shared);
	return rc;
}

static struct lift_opts lift_options(const struct koff_ctx *ctx, bool walkable_builtins)
{
	struct lift_opts lo = { .max_depth = 8, .max_blocks = 20000, .forced = ctx->forced_fallbacks,
				.nforced = ctx->nforced, .trace = ctx->opt.record_path,
				.shared_data_size = ctx->shared.used ? ctx->shared.data_size : 0,
				.walkable_builtins = walkable_builtins };

	return lo;
}

/* ctx's handler lifted into *fn, simplified, its loops guarded;
 * *blocks_before_guards: its blocks before constprop and the guards. */
static int lift_guarded(struct koff_ctx *ctx, const struct lift_opts *lo, struct ir_func **fn,
			int *blocks_before_guards)
{
	int rc = lift_handler(&ctx->lay, &ctx->dec, ctx->entry_va, ctx->opt.entry, lo, fn, &ctx->err);

	if (rc)
		return rc;
	if (ctx->entry_role == OBJ_ROLE_PARSER && (rc = roles_parser_exits(*fn, &ctx->err)))
		return rc;
	*blocks_before_guards = (*fn)->nblocks;
	rc = constprop_run(*fn, &ctx->err);
	if (!rc)
		rc = simplify_run(*fn, &ctx->err);
	if (!rc)
		rc = loops_guard(*fn, &ctx->err);
	return rc;
}

bool offload_walks_every_loop(struct koff_ctx *ctx)
{
	struct lift_opts lo = lift_options(ctx, true);
	struct ir_func *fn = NULL;
	struct koff_error saved = ctx->err;
	int blocks;
	bool every = false;

	if (lift_guarded(ctx, &lo, &fn, &blocks) == 0)
		every = codegen_loop_shape(&ctx->target, fn, true) == LOOP_SHAPE_WALKED;
	ctx->err = saved;	/* a failure here only means: no walked variant */
	ir_func_free(fn);
	return every;
}

/* Lift and generate once, with the current loop cap and forced fallbacks.
 * Returns 1 when there is nothing to offload. */
static struct codegen_opts codegen_options(const struct koff_ctx *ctx, unsigned loop_cap)
{
	struct codegen_opts co = { .udp_port = (uint16_t)ctx->opt.udp_port, .resp_cap = ctx->opt.resp_cap,
				   .loop_cap = loop_cap, .target = &ctx->target,
				   .launder_joins = ctx->launder_joins, .loop_copies = ctx->loop_copies,
				   .walk_loops = ctx->walk_loops,
				   .bounds_by_verifier = ctx->bounds_by_verifier,
				   .checked_again = ctx->checked_again,
				   .nchecked_again = ctx->nchecked_again };

	return co;
}

static int generate(struct koff_ctx *ctx, unsigned loop_cap)
{
	struct lift_opts lo = lift_options(ctx, ctx->walkable_builtins && ctx->walk_loops);
	struct codegen_opts co = codegen_options(ctx, loop_cap);
	int rc;

	ir_func_free(ctx->ir);
	ctx->ir = NULL;
	emit_free(&ctx->prog);
	emit_init(&ctx->prog);
	rc = lift_guarded(ctx, &lo, &ctx->ir, &ctx->ir_blocks_before_guards);
	if (rc)
		return rc;
	ctx->early_fallbacks = ctx->opt.early_fallback ? earlyfb_run(ctx->ir, &ctx->err) : 0;
	if (ctx->early_fallbacks < 0)
		return ctx->early_fallbacks;
	if ((rc = reqlen_prove(ctx->ir)) < 0)
		return koff_fail(&ctx->err, rc, "out of memory");
	ctx->ir->loop_cap = loop_cap;
	ctx->ir->rodata_size = ctx->lay.rodata_size;
	ctx->ir->rodata = malloc(ctx->lay.rodata_size ? ctx->lay.rodata_size : 1);
	if (!ctx->ir->rodata)
		return koff_fail(&ctx->err, -ENOMEM, "out of memory");
	memcpy(ctx->ir->rodata, ctx->lay.rodata, ctx->lay.rodata_size);
	if (ctx->opt.dump_ir)
		ir_dump(ctx->ir, stderr);
	if (!ir_has_op(ctx->ir, IR_RET))
		return 1;	/* nothing to offload: every path falls back */
	if (ctx->shared.used) {
		ctx->shared.mode = codegen_shared_mode(ctx->ir, ctx->shared.data_size);
		co.shared_mode = ctx->shared.mode;
		co.shared_data_size = ctx->shared.data_size;
		co.shared_value_size = ctx->shared.value_size;
	}
	rc = codegen_program(ctx->ir, &co, &ctx->prog, &ctx->err);
	if (rc)
		return rc;
	ctx->accesses_by_verifier = ctx->prog.left_to_verifier;
	if (ctx->opt.dump_bpf)
		dump_bpf(&ctx->prog, stderr);
	return write_object(ctx);
}

static int force_fallback_at(struct koff_ctx *ctx, uint64_t va)
{
	for (int i = 0; i < ctx->nforced; i++)
		if (ctx->forced_fallbacks[i] == va)
			return -EEXIST;	/* already tried: the complaint is elsewhere */
	if (koff_grow(&ctx->forced_fallbacks, &ctx->capforced, ctx->nforced, sizeof(uint64_t)))
		return -ENOMEM;
	ctx->forced_fallbacks[ctx->nforced++] = va;
	return 0;
}

static void note_attempt(struct koff_ctx *ctx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void note_attempt(struct koff_ctx *ctx, const char *fmt, ...)
{
	size_t n = strlen(ctx->attempts);
	va_list ap;

	if (n + 2 >= sizeof(ctx->attempts))
		return;
	if (n)
		ctx->attempts[n++] = ';', ctx->attempts[n++] = ' ', ctx->attempts[n] = 0;
	va_start(ap, fmt);
	vsnprintf(ctx->attempts + n, sizeof(ctx->attempts) - n, fmt, ap);
	va_end(ap);
}

/* Walked loops first (codegen_opts.walk_loops): where the verifier can
 * walk a handler's loops, they run without a count, laundering or
 * may_goto, and lose the checks the walk proves.  Whether it can is the
 * verifier's to say, so the shape is tried only where the program is
 * verified on its target's own kernel (a series' image, the host for
 * --kernel host, the newest shape's variant here); the portable program,
 * verified on this host and run on older kernels, keeps a shape every
 * verifier takes, and the walked variant (variants.c) is the one koff-load
 * tries before it.  Not with --loop-cap: walked loops are not counted. */
static bool walk_loops_first(const struct koff_ctx *ctx)
{
	return !offload_why_not_walked(ctx) && (ctx->walked_variant || kernels_target_verified(ctx, false));
}

const char *offload_why_not_walked(const struct koff_ctx *ctx)
{
	if (!ctx->opt.verify)
		return "--no-verify: a walked program must be verified";
	if (ctx->opt.loop_cap)
		return "--loop-cap: walked loops are not counted";
	if (ctx->launder_joins)
		return "the program needed every join laundered";
	return NULL;
}

/* Accesses proved in bounds by the verifier (codegen_opts.bounds_by_verifier)
 * where the program is verified on its target's own kernel, as walked
 * loops are: what 6.18's verifier proves an older one might not (the
 * portable program and the walked variant keep their checks).  The ones
 * it proves are mostly a walked scan's, whose addresses it knows exactly. */
static bool bounds_by_verifier_first(const struct koff_ctx *ctx)
{
	return ctx->opt.verify && !ctx->walked_variant && kernels_target_verified(ctx, false);
}

/* Every access checked again: the program was accepted only where the
 * target's kernel does not run, or too many were not proved. */
static bool check_all_again(struct koff_ctx *ctx, const char *why)
{
	if (!ctx->bounds_by_verifier)
		return false;
	ctx->bounds_by_verifier = false;
	note_attempt(ctx, "%s: every access checked", why);
	return true;
}

/* The verifier could not prove the access at fail_insn in bounds: that
 * access gets its check back.  Past CHECKED_AGAIN_MAX such answers (a
 * table indexed by request bytes in many places), or where the rejection
 * has no place, every access does. */
#define CHECKED_AGAIN_MAX 4
static bool check_again_at_rejection(struct koff_ctx *ctx)
{
	struct codegen_opts co = codegen_options(ctx, ctx->loop_cap_used);
	int at = ctx->verdict.fail_insn;
	uint64_t va;

	if (!ctx->bounds_by_verifier || bpf_verdict_too_complex(&ctx->verdict) || ctx->loop_copies > 1)
		return false;	/* a check only adds states; copies go back to one */
	if (at < 0 || at >= ctx->prog.n || !ctx->prog.origin[at])
		return check_all_again(ctx, "rejected where koff cannot tell");
	va = ctx->prog.origin[at];
	if (!codegen_left_to_verifier_at(ctx->ir, &co, va))
		return false;
	for (int i = 0; i < ctx->nchecked_again; i++)
		if (ctx->checked_again[i] == va)
			return false;	/* checked already: the complaint is another */
	if (ctx->nchecked_again >= CHECKED_AGAIN_MAX)
		return check_all_again(ctx, "another access not proved in bounds");
	if (koff_grow(&ctx->checked_again, &ctx->capchecked_again, ctx->nchecked_again, sizeof(uint64_t)))
		return check_all_again(ctx, "out of memory");
	ctx->checked_again[ctx->nchecked_again++] = va;
	note_attempt(ctx, "the access at %#llx not proved in bounds: checked", (unsigned long long)va);
	return true;
}

/* Walked loops rejected, or accepted nowhere that runs the target's
 * kernel: every loop in the target's own shape. */
static bool stop_walking(struct koff_ctx *ctx, const char *why)
{
	if (!ctx_loops_walked(ctx) || ctx->walked_variant)
		return false;	/* the walked variant is walked or is not written */
	ctx->walk_loops = false;
	note_attempt(ctx, "%s: trying the %s shape", why, loop_shape_name(ctx_loop_shape(ctx)));
	return true;
}

/* Another code shape before a fallback: a program whose loops are may_goto
 * loops, rejected, is tried again with its loops as bpf_loop callbacks
 * (verified once, not per path through the loop) when the target has
 * bpf_loop.  A fallback would cut requests out of the kernel; this shape
 * only costs time per iteration. */
static bool try_other_loop_form(struct koff_ctx *ctx)
{
	if (ctx_loop_shape(ctx) != LOOP_SHAPE_MAY_GOTO || !target_has(&ctx->target, KFEAT_BPF_LOOP))
		return false;
	ctx->target.features &= ~KFEAT_BIT(KFEAT_MAY_GOTO);
	note_attempt(ctx, "trying the bpf_loop shape before any fallback");
	return true;
}

/* After the one-copy program verified: the same with body copies. */
static bool try_body_copies(struct koff_ctx *ctx)
{
	/* The walked variant is written only with four copies or as many as
	 * OUT.bpf.o (variants.c): its walks make its one-copy verification
	 * bigger. */
	unsigned most = ctx->walked_variant ? 4 * BODY_COPIES_MAX_PROCESSED : BODY_COPIES_MAX_PROCESSED;
	unsigned copies = !ctx->walked_variant && ctx->verdict.processed_insns <= BODY_COPIES_SMALL_MAX_PROCESSED
				  ? BODY_COPIES_SMALL : KOFF_BODY_COPIES;

	if (ctx->copies_tried || !ctx->ir || !ctx->verified || ctx_loop_shape(ctx) != LOOP_SHAPE_BPF_LOOP ||
	    ctx->verdict.processed_insns > most || (size_t)ctx->prog.n * copies > BODY_COPIES_MAX_INSNS)
		return false;
	ctx->copies_tried = true;
	ctx->loop_copies = copies;
	note_attempt(ctx, "trying %u body copies", copies);
	return true;
}

/* Body copies rejected, for whatever reason: back to the program that
 * verified with one. */
static bool back_to_one_copy(struct koff_ctx *ctx)
{
	if (ctx->loop_copies <= 1)
		return false;
	ctx->loop_copies = 1;
	note_attempt(ctx, "back to one body copy");
	return true;
}

/* Another code shape for a program too complex to verify: values live
 * into a join laundered, so that paths which differ only in what they
 * computed meet in one verifier state (the verifier otherwise walks every
 * combination of a run of independent branches whose results a later
 * branch reads).  Costs two memory operations per value per join, on
 * this program only; cheaper than a fallback, which serves nothing. */
static bool try_laundering_joins(struct koff_ctx *ctx)
{
	if (ctx->launder_joins)
		return false;
	ctx->launder_joins = true;
	note_attempt(ctx, "trying values laundered at every join before any fallback");
	return true;
}

/* How much a rejection must tell.  Locating it costs a second, full-log
 * verification, paid only when a fallback will answer it: judge's answers
 * before a fallback need no place (a context that refuses makes none,
 * rejected body copies go back to one copy, a program too complex to
 * verify gets laundered joins first). */
static enum verify_detail detail_needed(const struct koff_ctx *ctx)
{
	if (ctx->bounds_by_verifier && ctx->loop_copies <= 1)	/* which access it could not prove */
		return VERIFY_LOCATE_UNLESS_TOO_COMPLEX;
	if (ctx->refuse_on_rejection || ctx->loop_copies > 1 || ctx_loops_walked(ctx) > 0)
		return VERIFY_VERDICT_ONLY;
	return ctx->launder_joins ? VERIFY_LOCATE_REJECTION : VERIFY_LOCATE_UNLESS_TOO_COMPLEX;
}

/* One verifier round: 1 = accepted or not checkable, 0 = try again, <0 = refuse. */
static int judge(struct koff_ctx *ctx)
{
	struct koff_error verr = { 0 };
	const char *where = "host", *msg;
	int rc;

	rc = kernels_verify(ctx, detail_needed(ctx), &verr, &where);
	if (rc == 0 && !kernels_target_verified(ctx, true)) {
		bool walked = stop_walking(ctx, "walked loops not verified on the target's kernel");

		if (check_all_again(ctx, "not verified on the target's kernel") || walked)
			return 0;
	}
	if (rc == 0) {
		ctx->verified = kernels_any_verified(ctx);
		if (ctx->verified)
			note_attempt(ctx, "accepted, %u insns processed", ctx->verdict.processed_insns);
		else
			kernels_why_unverified(ctx, ctx->verify_note, sizeof(ctx->verify_note));
		return try_body_copies(ctx) ? 0 : 1;
	}
	msg = verr.msg;	/* without the temporary file's name */
	if (!strncmp(msg, ctx->tmp_bpf, strlen(ctx->tmp_bpf)) && msg[strlen(ctx->tmp_bpf)] == ':')
		msg += strlen(ctx->tmp_bpf) + 2;
	note_attempt(ctx, "rejected on %s (%.120s)", where, msg);
	if (check_again_at_rejection(ctx))
		return 0;
	/* A variant whose walk ran the verifier out tries its last shape at
	 * once: every join laundered, no loop walked.  Each try that runs out
	 * costs seconds (the million instructions), and on the servers corpus
	 * not walking alone never saved one (waf at six configurations: three
	 * ran out twice, 3.8 -> 10.4 s of link); a variant only costs speed. */
	if (ctx->refuse_on_rejection && bpf_verdict_too_complex(&ctx->verdict) && !ctx->launder_joins &&
	    stop_walking(ctx, "loops not walked")) {
		ctx->walk_ran_out = true;
		try_laundering_joins(ctx);
		return 0;
	}
	if (stop_walking(ctx, "loops not walked"))
		return 0;
	/* A variant takes no fallback, but another shape costs it nothing:
	 * joins laundered where the budget ran out. */
	if (ctx->refuse_on_rejection && bpf_verdict_too_complex(&ctx->verdict) && !ctx->walked_variant &&
	    try_laundering_joins(ctx))
		return 0;
	if (ctx->refuse_on_rejection)
		return koff_fail(&ctx->err, rc, "the verifier rejects it on %s: %s", where, msg);
	if (back_to_one_copy(ctx))
		return 0;
	if (ctx->opt.verbose && ctx->verdict.log)
		fprintf(stderr, "koff-link: verifier log tail (insn %d, x86 %#llx):\n%s\n", ctx->verdict.fail_insn,
			ctx->verdict.fail_insn >= 0 && ctx->verdict.fail_insn < ctx->prog.n
				? (unsigned long long)ctx->prog.origin[ctx->verdict.fail_insn] : 0ull,
			ctx->verdict.log);
	if (try_other_loop_form(ctx))
		return 0;
	if (bpf_verdict_too_complex(&ctx->verdict)) {
		if (try_laundering_joins(ctx))
			return 0;
		/* The budget went into one place (a loop, a run of branches):
		 * that code falls back from now on. */
		for (int i = 0; i < ctx->verdict.nhot; i++) {
			int insn = ctx->verdict.hot_insns[i];

			if (insn < ctx->prog.n && ctx->prog.origin[insn] &&
			    force_fallback_at(ctx, ctx->prog.origin[insn]) == 0)
				return 0;
		}
	}
	if (ctx->verdict.fail_insn >= 0 && ctx->verdict.fail_insn < ctx->prog.n &&
	    ctx->prog.origin[ctx->verdict.fail_insn]) {
		uint64_t va = ctx->prog.origin[ctx->verdict.fail_insn];

		if (force_fallback_at(ctx, va) == 0)
			return 0;
	}
	return koff_fail(&ctx->err, rc, "the verifier rejects the offload: %s", verr.msg);
}

static void collect_sites(struct koff_ctx *ctx)
{
	const struct ir_func *fn = ctx->ir;

	for (int b = 0; b < fn->nblocks; b++) {
		const struct ir_insn *t = &fn->blocks[b].insns[fn->blocks[b].ninsns - 1];
		struct fallback_site *s;

		if (t->op != IR_FALLBACK)
			continue;
		/* One line per (address, reason): inlined copies repeat them. */
		for (int i = 0; i < ctx->nsites; i++)
			if (ctx->sites[i].va == t->x86_addr && ctx->sites[i].reason == t->imm)
				goto next;
		if (koff_grow(&ctx->sites, &ctx->capsites, ctx->nsites, sizeof(*ctx->sites)))
			return;
		s = &ctx->sites[ctx->nsites++];
		s->va = t->x86_addr;
		s->reason = (int)t->imm;
		s->why = t->why;
		describe_address(ctx, t->x86_addr, s->where, sizeof(s->where));
next:;
	}
}

/* "every path of handle_request falls back to userspace: pcmpgtq (not
 * translated) at handle_request+0x3a (f.c:12)": the first site names the
 * reason; the manifest lists them all. */
static void explain_all_paths_fall_back(struct koff_ctx *ctx)
{
	char *buf = ctx->not_offloaded_why;
	size_t size = sizeof(ctx->not_offloaded_why);
	int n = snprintf(buf, size, "every path of %s falls back to userspace", ctx->opt.entry);

	if (ctx->nsites && n > 0 && (size_t)n < size)
		n += snprintf(buf + n, size - (size_t)n, ": %s at %s", ctx->sites[0].why,
			      ctx->sites[0].where);
	if (ctx->nsites > 1 && n > 0 && (size_t)n < size)
		snprintf(buf + n, size - (size_t)n, " (and %d more fallback sites)", ctx->nsites - 1);
}

/* The verifier cannot be satisfied: link without an offload, and say why
 * (a build must not break because a handler cannot run in the kernel). */
static int refuse(struct koff_ctx *ctx)
{
	if (ctx->err.code == -ENOMEM)
		return ctx->err.code;
	snprintf(ctx->not_offloaded_why, sizeof(ctx->not_offloaded_why), "%s", ctx->err.msg);
	memset(&ctx->err, 0, sizeof(ctx->err));
	ctx->offloaded = false;
	return 0;
}

int offload_build(struct koff_ctx *ctx)
{
	int rc;

	rc = open_input(ctx);
	if (rc == -E2BIG)	/* an object koff cannot lay out: refuse, don't fail */
		return refuse(ctx);
	if (rc)
		return rc;
	rc = kernels_choose(ctx);
	if (rc)
		return rc;
	ctx->loop_cap_used = ctx->opt.loop_cap ? ctx->opt.loop_cap : DEFAULT_LOOP_CAP;
	ctx->walk_loops = walk_loops_first(ctx);
	ctx->bounds_by_verifier = bounds_by_verifier_first(ctx);
	for (int attempt = 0;; attempt++) {
		rc = generate(ctx, ctx->loop_cap_used);
		if ((rc == -E2BIG || rc == -EOPNOTSUPP) && stop_walking(ctx, ctx->err.msg)) {
			memset(&ctx->err, 0, sizeof(ctx->err));
			continue;
		}
		/* More than a BPF program can hold, or than the target kernel can
		 * run: refuse, don't fail. */
		if (rc == -E2BIG || rc == -EOPNOTSUPP)
			return refuse(ctx);
		if (rc < 0)
			return rc;
		if (rc == 1)
			break;
		if (!ctx->opt.verify) {
			snprintf(ctx->verify_note, sizeof(ctx->verify_note), "not verified: --no-verify");
			break;
		}
		if (attempt >= MAX_ATTEMPTS) {
			koff_fail(&ctx->err, -E2BIG, "the verifier still rejects it after %d attempts",
				  MAX_ATTEMPTS);
			return refuse(ctx);
		}
		rc = judge(ctx);
		if (rc < 0)
			return refuse(ctx);
		if (rc == 1)
			break;
	}
	collect_sites(ctx);
	if (!ir_has_op(ctx->ir, IR_RET)) {
		explain_all_paths_fall_back(ctx);
		return 0;
	}
	ctx->offloaded = true;
	return 0;
}
