/* codegen.c - IR -> eBPF instructions.
 *
 * Register use inside the handler: R9 = scratch map value (from the XDP
 * entry), R0-R1 = this file's temporaries, R2-R8 = vregs (regalloc.c),
 * the BPF stack below the wrapper's slots = codegen temporaries, loop
 * counters and spilled vregs.
 *
 * The kernel target (include/target.h) decides two shapes:
 *
 * Loops.  A verifier walks a plain loop once per iteration and gives up on
 * real parsing loops.  With codegen_opts.walk_loops the loops it can walk
 * (lifter/walkable.c) stay plain; every other loop head launders the live
 * values (XORs them with a scratch-map word that holds 0: same values,
 * unknown to the verifier) and then either
 *   - the may_goto shape (6.17+: may_goto is 6.9, but see
 *     codegen_loops_in_callback): executes may_goto, which lets the verifier see
 *     that the next iteration starts from a state it has seen, or
 *   - the bpf_loop shape (5.17+): the handler becomes the callback of one
 *     bpf_loop(loop_cap, ...) call and every loop head *yields*: it stores
 *     the live values and its resume number in the scratch map and returns
 *     0 ("call me again"); the next call dispatches on the resume number,
 *     reloads the values and goes on.  Inside the callback no path runs
 *     through a loop head twice, so the verifier walks a DAG; bpf_loop
 *     bounds the whole run.  Each yield costs a callback call (~9 ns here
 *     against ~1 ns for may_goto), which is why newer targets keep may_goto;
 *     with body copies a call passes up to four (eight for a small program)
 *     loop heads before it yields
 *     (docs/internals.md, "Body copies").
 *   A handler without loops has the plain shape on every target.
 *
 * ISA.  Without cpu v4 (6.6), signed division and modulo are done on
 * magnitudes, and long jumps have no gotol: a program whose jumps need more
 * than 16 bits is refused for that target. */
#include <stdlib.h>
#include <string.h>

#include "codegen.h"
#include "koff_abi.h"
#include "regalloc.h"
#include "target.h"
#include "xdp.h"
#include "xdpshared.h"

#define R0 0
#define R1 1
#define R9 9
#define R10 10

/* Five 8-byte temporaries for multi-step operations (mulhu), then in
 * --record-path builds the koff_trace value pointer. */
#define TMP_SLOTS 5
#define TMP_SLOT(i) ((int16_t)(-(XDP_WRAP_STACK + 8 * ((i) + 1))))
#define TRACE_SLOT TMP_SLOT(TMP_SLOTS)
#define FRAME_TOP (XDP_WRAP_STACK + 8 * TMP_SLOTS)
#define FRAME_TOP_TRACED (FRAME_TOP + 8)

/* The private part of the scratch map value: the request's loop count,
 * then the launder slot (a word that holds 0: launder()). */
#define LOOP_COUNT_OFF ((int16_t)IR_PRIV_OFF)
#define LAUNDER_OFF ((int16_t)(IR_PRIV_OFF + 8))

#ifndef BPF_JCOND
#define BPF_JCOND 0xe0	/* may_goto; kernel headers before 6.9 lack it */
#endif

/* The bpf_loop shape: the first slots of the private area are the callback's
 * state between calls, then the yield slots.  bpf_loop counts the calls
 * (gen_call_loop_body). */
#define CB_RESUME_OFF ((int16_t)IR_PRIV_OFF)	/* where the next call goes on: 0 = entry */
#define CB_STATUS_OFF ((int16_t)(IR_PRIV_OFF + 8)) /* CB_RUNNING, CB_RETURNED or a koff_stat */
#define CB_LEN_OFF ((int16_t)(IR_PRIV_OFF + 16))	/* the request length */
#define CB_RAX_OFF ((int16_t)(IR_PRIV_OFF + 24))	/* the handler's return value */
#define CB_LAUNDER_OFF ((int16_t)(IR_PRIV_OFF + 32))	/* the launder slot */
#define CB_YIELD_OFF ((int16_t)(IR_PRIV_OFF + 40))
enum { CB_RUNNING = 0, CB_RETURNED = 1 };
_Static_assert((int)KOFF_STAT_FIRST_FALLBACK > (int)CB_RETURNED, "callback status values overlap koff_stat");

/* Stack: the verifier allows 512 bytes for all frames together; may_goto
 * takes 8 of them; the bpf_loop caller's frame (the wrapper's 32 bytes,
 * rounded to 32) and what the kernel adds when it inlines bpf_loop (three
 * slots, rounded) leave the callback the rest. */
#define BPF_STACK_BYTES 512
#define FRAME_MAY_GOTO (BPF_STACK_BYTES - 8)
#define FRAME_CALLBACK (BPF_STACK_BYTES - 64 - 32)
/* The bpf_loop caller's slot holding the scratch value pointer, which the
 * callback reads through its ctx argument instead of looking the map up. */
#define CB_SCRATCH_SLOT ((int16_t)(-(XDP_WRAP_STACK + 8)))
/* ... and just above it the koff_shared value pointer, which the callback
 * copies into its own frame's slot. */
_Static_assert(CB_SCRATCH_SLOT + 8 == XDP_WRAP_SLOT_SHARED, "callback ctx: scratch, then shared");


/* One range check for the accesses of a block through the same base vreg
 * (gen_mem_grouped): the base's register is checked to lie where every one
 * of them falls in its hinted region, so the verifier knows its bounds and
 * each access only adds it to the scratch value.  Consecutive accesses to
 * one region share R1 while nothing writes it and no label is bound. */
struct checked_base {
	bool valid;
	int vreg;		/* the base */
	int block, last;	/* the group's block and its last access's index */
	int64_t lo[IR_REG_STACK + 1];	/* per region: the lowest displacement */
	bool r1;		/* R1 = scratch value + base + r1_disp */
	int64_t r1_disp;
	int from;		/* insn index from which R1 must be kept */
	/* Adds of a constant to the base that only the group's accesses
	 * read (`t = i + 8` before a load and a store of t): not emitted. */
	int dead_adds[8];
	int ndead_adds;
};

struct gen {
	const struct ir_func *fn;
	const struct codegen_opts *o;
	struct bpf_emit *e;
	struct regalloc ra;
	struct xdp_wrap wrap;
	int *block_label;		/* the labels of the copy being emitted */
	bool *reachable;		/* per block, with constant branches folded */
	int *npreds;			/* per block: reachable predecessors */
	bool dead;			/* the rest of this block cannot run */
	int rc;				/* sticky failure */
	int cur_block;
	int island_at;			/* insn index of the last stub island */
	bool far;			/* block-to-block branches through 32-bit jumps */
	int stub[KOFF_STAT__COUNT];	/* label: mov r0, reason; ja fallback */
	bool traced;			/* the IR has IR_TRACE: set up koff_trace */
	const struct kernel_target *target;
	bool in_callback;		/* codegen_loops_in_callback: the bpf_loop shape */
	bool walk;			/* the loops marked walkable are walked (walks_walkable) */
	bool walk_exits;		/* walk, and some walk exit launders values */
	int laundered_loops;		/* loop heads that are not */
	int cb_return;			/* callback: label of "store rax, stop" */
	int cb_entry;			/* callback: the handler's entry (resume number 0) */
	int *resume_label;		/* callback: per loop-head block, where a call resumes */
	/* The callback's body copies (docs/internals.md, "Body copies"): an
	 * edge into a loop head in copy c goes on in copy c + 1, from the last
	 * copy to the head's yield trampoline; a call resumes in copy 0. */
	int copies;			/* 1 unless in_callback */
	int copy;			/* the copy being emitted */
	int *copy_labels;		/* copies x nblocks */
	bool *in_copy;			/* copies x nblocks: the blocks each copy emits */
	bool *in_this_copy;		/* the row of the copy being emitted */
	int *tramp_label;		/* per loop head: its yield trampoline */
	bool *tramp_used;		/* ... which some edge jumps to */
	struct xdp_wrap_opts wo;	/* the wrapper's options, shared state included */
	int *uses;			/* per vreg: instructions that read it */
	struct ir_val fold_base;	/* fold_address: the next access's base ... */
	int64_t fold_disp;		/* ... and what to add to its displacement */
	bool folded;			/* the add before this access was not emitted */
	bool addr_folded;		/* the access being emitted is such a one */
	struct cold_path *cold;		/* hinted accesses' other regions, not yet emitted */
	int ncold, cold_cap;
	int cur_insn;			/* index in cur_block of the instruction emitted */
	struct checked_base grp;	/* R1 after a grouped range check */
};

/* The path of a hinted access whose address is not in the hinted region:
 * emitted out of line with the stubs, so that the hinted path runs on
 * without a jump over it. */
struct cold_path {
	struct ir_insn in;	/* the access, its fold applied */
	int label;		/* where the hinted path branches to */
	int done;		/* where it returns to */
	uint64_t origin;
	bool folded;		/* g->addr_folded for it */
};

/* Sets what the next instructions are for (emit.h); returns the previous. */
static uint8_t set_kind(struct gen *g, enum emit_kind k)
{
	uint8_t was = g->e->kind_now;

	g->e->kind_now = (uint8_t)k;
	return was;
}

/* The launder slot, a word that holds 0 (launder()); in the callback,
 * past the state kept between calls. */
static int16_t launder_slot(const struct gen *g)
{
	return g->in_callback ? CB_LAUNDER_OFF : LAUNDER_OFF;
}

static bool fits_imm32(int64_t v)
{
	return v == (int32_t)v;
}

static int stub(struct gen *g, enum koff_stat reason)
{
	if (g->stub[reason] < 0)
		g->stub[reason] = emit_label(g->e);
	return g->stub[reason];
}

static struct loc loc_of(const struct gen *g, int vreg)
{
	return g->ra.locs[vreg];
}

static bool in_memory(struct loc l)
{
	return l.kind == LOC_SLOT || l.kind == LOC_MAPSLOT;
}

/* The base register of a slot: the frame, or the scratch value. */
static int slot_base(struct loc l)
{
	return l.kind == LOC_MAPSLOT ? R9 : R10;
}

/* The register holding v: its own, or `scratch` after loading it there. */
static int val_reg(struct gen *g, struct ir_val v, int scratch)
{
	struct loc l;

	if (v.reg == IR_NONE) {
		emit_const64(g->e, scratch, (uint64_t)v.imm);
		return scratch;
	}
	l = loc_of(g, v.reg);
	if (l.kind == LOC_REG)
		return l.where;
	if (in_memory(l)) {
		uint8_t was = set_kind(g, EK_SPILL);

		emit_ldx(g->e, BPF_DW, scratch, slot_base(l), l.where);
		g->e->kind_now = was;
	} else
		emit_mov_imm(g->e, scratch, 0);	/* never written: x86 undefined, 0 here */
	return scratch;
}

/* Put v into exactly register r. */
static void val_into(struct gen *g, struct ir_val v, int r)
{
	int have = val_reg(g, v, r);

	if (have != r) {
		uint8_t was = set_kind(g, EK_MOVE);

		emit_mov_reg(g->e, r, have);
		g->e->kind_now = was;
	}
}

static int dst_reg(const struct gen *g, int vreg)
{
	struct loc l = loc_of(g, vreg);

	return l.kind == LOC_REG ? l.where : R0;
}

static void dst_done(struct gen *g, int vreg, int r)
{
	struct loc l = loc_of(g, vreg);

	if (in_memory(l)) {
		uint8_t was = set_kind(g, EK_SPILL);

		emit_stx(g->e, BPF_DW, slot_base(l), l.where, r);
		g->e->kind_now = was;
	}
}

static bool val_in_reg(const struct gen *g, struct ir_val v, int r)
{
	return v.reg != IR_NONE && loc_of(g, v.reg).kind == LOC_REG && loc_of(g, v.reg).where == r;
}

/* ---- ALU ------------------------------------------------------------------ */

static int bpf_alu_op(enum ir_op op)
{
	switch (op) {
	case IR_ADD: return BPF_ADD;
	case IR_SUB: return BPF_SUB;
	case IR_MUL: return BPF_MUL;
	case IR_AND: return BPF_AND;
	case IR_OR: return BPF_OR;
	case IR_XOR: return BPF_XOR;
	case IR_SHL: return BPF_LSH;
	case IR_LSHR: return BPF_RSH;
	case IR_ASHR: return BPF_ARSH;
	case IR_UDIV: case IR_SDIV: return BPF_DIV;
	case IR_UMOD: case IR_SMOD: return BPF_MOD;
	default: return -1;
	}
}

static void emit_neg(struct bpf_emit *e, int alu64, int dst)
{
	emit_insn(e, (struct bpf_insn){ .code = (uint8_t)((alu64 ? BPF_ALU64 : BPF_ALU) | BPF_NEG),
					.dst_reg = (uint8_t)dst });
}

/* dst = -dst when dst is negative at width w. */
static void emit_abs(struct bpf_emit *e, int alu64, int dst)
{
	int done = emit_label(e);

	emit_jmp_imm(e, !alu64, BPF_JSGE, dst, 0, done);
	emit_neg(e, alu64, dst);
	emit_bind(e, done);
}

/* Signed division without cpu v4: divide the magnitudes, then give the
 * quotient the sign of a ^ b and the remainder the sign of a (C and x86
 * truncate toward zero).  The lifter guarantees b != 0 and no overflow;
 * |INT_MIN| is 2^(w-1), exact as an unsigned magnitude. */
static void gen_signed_div_v3(struct gen *g, const struct ir_insn *in)
{
	struct bpf_emit *e = g->e;
	int D = dst_reg(g, in->dst), alu64 = in->w == 64, done = emit_label(e);

	val_into(g, in->b, R1);
	val_into(g, in->a, R0);
	emit_stx(e, BPF_DW, R10, TMP_SLOT(0), R0);
	if (in->op == IR_SDIV)
		emit_alu_reg(e, 1, BPF_XOR, R0, R1);
	emit_stx(e, BPF_DW, R10, TMP_SLOT(1), R0);	/* the result's sign */
	emit_ldx(e, BPF_DW, D, R10, TMP_SLOT(0));
	emit_abs(e, alu64, D);
	emit_abs(e, alu64, R1);
	emit_alu_reg(e, alu64, in->op == IR_SDIV ? BPF_DIV : BPF_MOD, D, R1);
	emit_ldx(e, BPF_DW, R1, R10, TMP_SLOT(1));
	emit_jmp_imm(e, !alu64, BPF_JSGE, R1, 0, done);
	emit_neg(e, alu64, D);
	emit_bind(e, done);
	dst_done(g, in->dst, D);
}

static void gen_binary(struct gen *g, const struct ir_insn *in)
{
	int D = dst_reg(g, in->dst), op = bpf_alu_op(in->op), alu64 = in->w == 64;
	bool is_div = op == BPF_DIV || op == BPF_MOD;
	bool is_signed = in->op == IR_SDIV || in->op == IR_SMOD;
	struct ir_val b = in->b;
	int B = -1;

	if (is_signed && !target_has(g->target, KFEAT_CPUV4)) {
		gen_signed_div_v3(g, in);
		return;
	}
	/* A register b must survive a being moved into D. */
	if (b.reg != IR_NONE || !fits_imm32(b.imm) || is_div) {
		if (val_in_reg(g, b, D) && !(in->a.reg == b.reg)) {
			emit_mov_reg(g->e, R1, D);
			B = R1;
		} else {
			B = val_reg(g, b, R1);
		}
	}
	val_into(g, in->a, D);
	if (B < 0) {
		emit_alu_imm(g->e, alu64, op, D, (int32_t)b.imm);
	} else {
		struct bpf_insn i = { .code = (uint8_t)((alu64 ? BPF_ALU64 : BPF_ALU) | op | BPF_X),
				      .dst_reg = (uint8_t)D, .src_reg = (uint8_t)B,
				      .off = (int16_t)(is_signed ? 1 : 0) };

		emit_insn(g->e, i);
	}
	dst_done(g, in->dst, D);
}

static void gen_unary(struct gen *g, const struct ir_insn *in)
{
	int D = dst_reg(g, in->dst);

	val_into(g, in->b, D);
	switch (in->op) {
	case IR_MOV:
		if (in->w == 32)
			emit_alu_reg(g->e, 0, BPF_MOV, D, D);	/* mov32 zeroes the upper half */
		break;
	case IR_NEG:
		emit_neg(g->e, in->w == 64, D);
		break;
	case IR_ZEXT:
		if (in->w == 32)
			emit_alu_reg(g->e, 0, BPF_MOV, D, D);
		else
			emit_alu_imm(g->e, 1, BPF_AND, D, in->w == 8 ? 0xff : 0xffff);
		break;
	case IR_SEXT:
		emit_alu_imm(g->e, 1, BPF_LSH, D, 64 - in->w);
		emit_alu_imm(g->e, 1, BPF_ARSH, D, 64 - in->w);
		break;
	case IR_BSWAP:
		emit_insn(g->e, (struct bpf_insn){ .code = BPF_ALU | BPF_END | BPF_TO_BE,
						   .dst_reg = (uint8_t)D, .imm = in->w });
		break;
	default:
		break;
	}
	dst_done(g, in->dst, D);
}

/* High 64 bits of the 128-bit product, from four 32x32 products, with
 * only R0 and R1 and the temporary slots. */
static void gen_mulh(struct gen *g, const struct ir_insn *in)
{
	struct bpf_emit *e = g->e;
	int D;

	/* T0 = a_lo, T1 = a_hi, T2 = b_lo, T3 = b_hi */
	for (int k = 0; k < 2; k++) {
		val_into(g, k ? in->b : in->a, R1);
		emit_alu_reg(e, 0, BPF_MOV, R0, R1);
		emit_stx(e, BPF_DW, R10, TMP_SLOT(2 * k), R0);
		emit_alu_imm(e, 1, BPF_RSH, R1, 32);
		emit_stx(e, BPF_DW, R10, TMP_SLOT(2 * k + 1), R1);
	}
	/* T4 = (a_lo * b_lo) >> 32 */
	emit_ldx(e, BPF_DW, R0, R10, TMP_SLOT(0));
	emit_ldx(e, BPF_DW, R1, R10, TMP_SLOT(2));
	emit_alu_reg(e, 1, BPF_MUL, R0, R1);
	emit_alu_imm(e, 1, BPF_RSH, R0, 32);
	emit_stx(e, BPF_DW, R10, TMP_SLOT(4), R0);
	/* p1 = a_lo * b_hi: T4 += lo(p1), T0 = hi(p1) */
	emit_ldx(e, BPF_DW, R0, R10, TMP_SLOT(0));
	emit_ldx(e, BPF_DW, R1, R10, TMP_SLOT(3));
	emit_alu_reg(e, 1, BPF_MUL, R0, R1);
	emit_alu_reg(e, 0, BPF_MOV, R1, R0);
	emit_alu_imm(e, 1, BPF_RSH, R0, 32);
	emit_stx(e, BPF_DW, R10, TMP_SLOT(0), R0);
	emit_ldx(e, BPF_DW, R0, R10, TMP_SLOT(4));
	emit_alu_reg(e, 1, BPF_ADD, R0, R1);
	emit_stx(e, BPF_DW, R10, TMP_SLOT(4), R0);
	/* p2 = a_hi * b_lo: R0 = (T4 + lo(p2)) >> 32 + hi(p2) + hi(p1) */
	emit_ldx(e, BPF_DW, R0, R10, TMP_SLOT(1));
	emit_ldx(e, BPF_DW, R1, R10, TMP_SLOT(2));
	emit_alu_reg(e, 1, BPF_MUL, R0, R1);
	emit_alu_reg(e, 0, BPF_MOV, R1, R0);
	emit_alu_imm(e, 1, BPF_RSH, R0, 32);
	emit_stx(e, BPF_DW, R10, TMP_SLOT(2), R0);
	emit_ldx(e, BPF_DW, R0, R10, TMP_SLOT(4));
	emit_alu_reg(e, 1, BPF_ADD, R0, R1);
	emit_alu_imm(e, 1, BPF_RSH, R0, 32);
	emit_ldx(e, BPF_DW, R1, R10, TMP_SLOT(2));
	emit_alu_reg(e, 1, BPF_ADD, R0, R1);
	emit_ldx(e, BPF_DW, R1, R10, TMP_SLOT(0));
	emit_alu_reg(e, 1, BPF_ADD, R0, R1);
	emit_stx(e, BPF_DW, R10, TMP_SLOT(4), R0);
	/* + a_hi * b_hi */
	emit_ldx(e, BPF_DW, R0, R10, TMP_SLOT(1));
	emit_ldx(e, BPF_DW, R1, R10, TMP_SLOT(3));
	emit_alu_reg(e, 1, BPF_MUL, R0, R1);
	emit_ldx(e, BPF_DW, R1, R10, TMP_SLOT(4));
	emit_alu_reg(e, 1, BPF_ADD, R0, R1);
	if (in->op == IR_MULHS) {
		/* signed = unsigned - (a < 0 ? b : 0) - (b < 0 ? a : 0) */
		for (int k = 0; k < 2; k++) {
			emit_stx(e, BPF_DW, R10, TMP_SLOT(4), R0);
			val_into(g, k ? in->b : in->a, R1);
			emit_alu_imm(e, 1, BPF_ARSH, R1, 63);
			val_into(g, k ? in->a : in->b, R0);
			emit_alu_reg(e, 1, BPF_AND, R1, R0);
			emit_ldx(e, BPF_DW, R0, R10, TMP_SLOT(4));
			emit_alu_reg(e, 1, BPF_SUB, R0, R1);
		}
	}
	D = dst_reg(g, in->dst);
	if (D != R0)
		emit_mov_reg(e, D, R0);
	dst_done(g, in->dst, D);
}

/* ---- Conditions ----------------------------------------------------------- */

static int bpf_jmp_op(enum ir_cond c)
{
	static const int ops[] = {
		[IR_EQ] = BPF_JEQ, [IR_NE] = BPF_JNE, [IR_ULT] = BPF_JLT, [IR_ULE] = BPF_JLE,
		[IR_UGT] = BPF_JGT, [IR_UGE] = BPF_JGE, [IR_SLT] = BPF_JSLT, [IR_SLE] = BPF_JSLE,
		[IR_SGT] = BPF_JSGT, [IR_SGE] = BPF_JSGE, [IR_TSTNZ] = BPF_JSET,
	};
	return ops[c];
}

static bool eval_const(enum ir_cond c, int64_t a, int64_t b, int w)
{
	uint64_t ua = (uint64_t)a, ub = (uint64_t)b;
	int64_t sa = a, sb = b;

	if (w == 32) {
		ua = (uint32_t)ua;
		ub = (uint32_t)ub;
		sa = (int32_t)a;
		sb = (int32_t)b;
	}
	switch (c) {
	case IR_EQ: return ua == ub;
	case IR_NE: return ua != ub;
	case IR_ULT: return ua < ub;
	case IR_ULE: return ua <= ub;
	case IR_UGT: return ua > ub;
	case IR_UGE: return ua >= ub;
	case IR_SLT: return sa < sb;
	case IR_SLE: return sa <= sb;
	case IR_SGT: return sa > sb;
	case IR_SGE: return sa >= sb;
	case IR_TSTZ: return (ua & ub) == 0;
	case IR_TSTNZ: return (ua & ub) != 0;
	}
	return false;
}

/* Jump to `label` when cond(a, b) holds at width w (TSTZ is not allowed
 * here: callers turn it into TSTNZ with swapped targets). */
/* An operand in `scratch`, as a scalar the verifier does not link to the
 * vreg it came from: refining it on one side of a branch then does not
 * refine the vreg, so both sides reach the join in the same state. */
static int unlinked(struct gen *g, struct ir_val v, int scratch)
{
	int r = val_reg(g, v, scratch);
	uint8_t was = set_kind(g, EK_UNLINK);

	if (r != scratch)
		emit_mov_reg(g->e, scratch, r);
	emit_alu_imm(g->e, 1, BPF_XOR, scratch, 0);	/* any ALU op but add clears the link */
	g->e->kind_now = was;
	return scratch;
}

static void jump_if_opts(struct gen *g, enum ir_cond cond, struct ir_val a, struct ir_val b, int w,
			 int label, bool unlink)
{
	int jmp32 = w == 32, A;

	if (a.reg == IR_NONE && b.reg == IR_NONE) {
		if (eval_const(cond, a.imm, b.imm, w))
			emit_ja(g->e, label);
		return;
	}
	if (a.reg == IR_NONE) {
		struct ir_val t = a;

		a = b;
		b = t;
		cond = ir_cond_mirror(cond);
	}
	A = unlink ? unlinked(g, a, R1) : val_reg(g, a, R1);
	if (b.reg == IR_NONE && (jmp32 || fits_imm32(b.imm)))
		emit_jmp_imm(g->e, jmp32, bpf_jmp_op(cond), A, (int32_t)b.imm, label);
	else
		emit_jmp_reg(g->e, jmp32, bpf_jmp_op(cond), A,
			     unlink ? unlinked(g, b, R0) : val_reg(g, b, R0), label);
}

static void jump_if(struct gen *g, enum ir_cond cond, struct ir_val a, struct ir_val b, int w, int label)
{
	jump_if_opts(g, cond, a, b, w, label, false);
}

/* Branch to t when the condition holds, else to f (f = -1: fall through). */
static void branch(struct gen *g, enum ir_cond cond, struct ir_val a, struct ir_val b, int w, int t, int f)
{
	if (a.reg == IR_NONE && b.reg == IR_NONE) {
		/* The verifier refuses code it cannot reach: emit only the taken jump. */
		if (eval_const(cond, a.imm, b.imm, w))
			emit_ja(g->e, t);
		else if (f >= 0)
			emit_ja(g->e, f);
		return;
	}
	if (cond == IR_TSTZ) {
		int skip = f >= 0 ? f : emit_label(g->e);

		jump_if(g, IR_TSTNZ, a, b, w, skip);
		emit_ja(g->e, t);
		if (f < 0)
			emit_bind(g->e, skip);
		return;
	}
	jump_if(g, cond, a, b, w, t);
	if (f >= 0)
		emit_ja(g->e, f);
}

static void load_launder_zero(struct gen *g);
static void launder(struct gen *g, int vreg);

static void gen_select(struct gen *g, const struct ir_insn *in)
{
	int D = dst_reg(g, in->dst), yes = emit_label(g->e), end = emit_label(g->e);
	enum ir_cond cond = in->cond;
	struct ir_val c = in->c, d = in->d;

	if (in->a.reg == IR_NONE && in->b.reg == IR_NONE) {
		val_into(g, eval_const(cond, in->a.imm, in->b.imm, in->w) ? c : d, D);
		dst_done(g, in->dst, D);
		return;
	}
	if (cond == IR_TSTZ) {
		cond = IR_TSTNZ;
		c = in->d;
		d = in->c;
	}
	/* Selects come in runs (setcc, cmov, SWAR lanes): with linked operands
	 * each would double the states the verifier walks. */
	jump_if_opts(g, cond, in->a, in->b, in->w, yes, true);
	val_into(g, d, D);
	emit_ja(g->e, end);
	emit_bind(g->e, yes);
	val_into(g, c, D);
	emit_bind(g->e, end);
	dst_done(g, in->dst, D);
	/* A select is a join of its own: its two results would keep the
	 * paths apart (gcc's branch-free setcc runs). */
	if (g->o->launder_joins) {
		load_launder_zero(g);
		launder(g, in->dst);
	}
}

/* ---- Memory ----------------------------------------------------------------- */

/* Fall back unless off + size <= the request's length.  off is known to be
 * below IR_REQ_MAX, so len - size (>= -8) compares signed. */
static void req_len_check(struct gen *g, int off_reg, int size)
{
	emit_ldx(g->e, BPF_DW, R0, R10, XDP_WRAP_SLOT_REQLEN);
	emit_alu_imm(g->e, 1, BPF_ADD, R0, -size);
	emit_jmp_reg(g->e, 0, BPF_JSGT, off_reg, R0, stub(g, KOFF_STAT_PASS_MEM));
}

/* Fall back unless the request's length is at least `end` (a constant
 * offset + size): one compare, where a run-time offset needs three.
 * (Skipping the compares that every path to a block has made already
 * saved 0.1% of dns's and tlv's instructions: not done.) */
static void req_len_at_least(struct gen *g, int64_t end)
{
	emit_ldx(g->e, BPF_DW, R0, R10, XDP_WRAP_SLOT_REQLEN);
	emit_jmp_imm(g->e, 0, BPF_JSLT, R0, (int32_t)end, stub(g, KOFF_STAT_PASS_MEM));
}

/* A request byte at or past the datagram's length: fall back rather than
 * read what the previous packet left in the scratch buffer. */
static void check_req_len(struct gen *g, int off_reg, int size, int skip_label)
{
	emit_jmp_imm(g->e, 0, BPF_JGE, off_reg, IR_REQ_MAX, skip_label);
	req_len_check(g, off_reg, size);
}

/* The access itself, with R1 pointing at the memory. */
static void access(struct gen *g, const struct ir_insn *in, int base, int16_t off)
{
	int size = emit_size_code(in->size);
	uint8_t was = set_kind(g, EK_BODY);

	if (in->op == IR_STORE) {
		if (in->b.reg == IR_NONE && fits_imm32(in->b.imm))
			emit_st_imm(g->e, size, base, off, (int32_t)in->b.imm);
		else
			emit_stx(g->e, size, base, off, val_reg(g, in->b, R0));
	} else {
		int D = dst_reg(g, in->dst);

		emit_ldx(g->e, size, D, base, off);
		dst_done(g, in->dst, D);
	}
	g->e->kind_now = was;
}

/* The shared region at offset R1 (bounded to [0, data_size - size]): SEQ
 * loads; a SEQ store falls back (pass_shared); a LOCK store logs the bytes
 * it overwrites first (a full log falls back before storing).  False when
 * the code after it cannot run. */
static bool gen_mem_shared_at_r1(struct gen *g, const struct ir_insn *in)
{
	static const int16_t slots[3] = { TMP_SLOT(0), TMP_SLOT(1), TMP_SLOT(2) };

	if (in->op == IR_STORE && g->o->shared_mode != KOFF_SHARED_LOCK) {
		emit_ja(g->e, stub(g, KOFF_STAT_PASS_SHARED));
		return false;	/* what follows here is unreachable */
	}
	if (in->op == IR_STORE)
		xdp_shared_log_store(g->e, &g->wo, slots, stub(g, KOFF_STAT_PASS_SHARED));
	emit_ldx(g->e, BPF_DW, R0, R10, XDP_WRAP_SLOT_SHARED);
	emit_alu_reg(g->e, 1, BPF_ADD, R1, R0);
	access(g, in, R1, 0);
	return true;
}

/* A constant address in the shared region: no range check, like .rodata. */
static void gen_mem_shared_const(struct gen *g, const struct ir_insn *in, uint64_t off)
{
	if (in->op == IR_STORE && g->o->shared_mode != KOFF_SHARED_LOCK) {
		emit_ja(g->e, stub(g, KOFF_STAT_PASS_SHARED));
		g->dead = true;
		return;
	}
	if (in->op == IR_LOAD && off <= INT16_MAX) {
		emit_ldx(g->e, BPF_DW, R1, R10, XDP_WRAP_SLOT_SHARED);
		access(g, in, R1, (int16_t)off);
		return;
	}
	emit_mov_imm(g->e, R1, (int32_t)off);
	gen_mem_shared_at_r1(g, in);
}

static void gen_mem_absolute(struct gen *g, const struct ir_insn *in, uint64_t addr)
{
	uint64_t s = in->size;

	if (addr >= IR_SCRATCH_VA && addr + s <= IR_SCRATCH_VA + IR_PRIV_OFF) {
		uint64_t off = addr - IR_SCRATCH_VA;

		/* The request region's bytes are the datagram's only below its
		 * length (a read reaching past it falls back). */
		if (off < IR_REQ_MAX && !in->within_len)
			req_len_at_least(g, (int64_t)(off + s));
		access(g, in, R9, (int16_t)off);
		return;
	}
	if (in->op == IR_LOAD && addr >= IR_RODATA_VA && addr + s <= IR_RODATA_VA + g->fn->rodata_size) {
		emit_ld_map(g->e, R1, KOFF_MAPID_RODATA, (uint32_t)(addr - IR_RODATA_VA));
		access(g, in, R1, 0);
		return;
	}
	if (g->o->shared_mode != KOFF_SHARED_NONE && addr >= IR_DATA_VA &&
	    addr + s <= IR_DATA_VA + g->o->shared_data_size) {
		gen_mem_shared_const(g, in, addr - IR_DATA_VA);
		return;
	}
	emit_ja(g->e, stub(g, KOFF_STAT_PASS_MEM));
	g->dead = true;
}

/* Past the scratch regions (R1 = address - IR_SCRATCH_VA): .rodata for
 * loads, then the shared region, else fall back. */
static void gen_mem_dynamic_data(struct gen *g, const struct ir_insn *in, int done)
{
	int s = in->size, not_rodata = emit_label(g->e);
	bool shared = g->o->shared_mode != KOFF_SHARED_NONE && g->o->shared_data_size >= (uint64_t)s;
	int64_t rebase = (int64_t)IR_SCRATCH_VA;	/* what R1 is relative to */

	if (in->op == IR_LOAD && g->fn->rodata_size >= (size_t)s) {
		emit_mov_imm(g->e, R0, (int32_t)(IR_SCRATCH_VA - IR_RODATA_VA));
		emit_alu_reg(g->e, 1, BPF_ADD, R1, R0);
		emit_jmp_imm(g->e, 0, BPF_JGT, R1, (int32_t)(g->fn->rodata_size - s),
			     shared ? not_rodata : stub(g, KOFF_STAT_PASS_MEM));
		emit_ld_map(g->e, R0, KOFF_MAPID_RODATA, 0);
		emit_alu_reg(g->e, 1, BPF_ADD, R1, R0);
		access(g, in, R1, 0);
		emit_ja(g->e, done);
		rebase = (int64_t)IR_RODATA_VA;
	}
	emit_bind(g->e, not_rodata);
	if (!shared) {
		if (rebase == (int64_t)IR_SCRATCH_VA)
			emit_ja(g->e, stub(g, KOFF_STAT_PASS_MEM));
		return;
	}
	emit_mov_imm(g->e, R0, (int32_t)(rebase - (int64_t)IR_DATA_VA));
	emit_alu_reg(g->e, 1, BPF_ADD, R1, R0);
	emit_jmp_imm(g->e, 0, BPF_JGT, R1, (int32_t)(g->o->shared_data_size - (uint64_t)s),
		     stub(g, KOFF_STAT_PASS_MEM));
	if (gen_mem_shared_at_r1(g, in))
		emit_ja(g->e, done);
}

/* R1 = disp + a, added register to register: `r1 = a; r1 += imm` would
 * make R1 a scalar linked to a with a delta, and the verifier refuses to
 * add a delta of 2^29 or more to a pointer later.
 *
 * A folded address (fold_address: a = x, disp small) also forgets what the
 * verifier knows of x beyond its known bits (`^= 0` keeps only the tnum):
 * otherwise, on a path where the verifier's bounds of x already put the
 * address outside the region but its branch logic cannot tell, 6.12 walks
 * the region check's impossible side with empty bounds ("REG INVARIANTS
 * VIOLATION"), drops them, and refuses R1 += R9.  A range derived from the
 * tnum alone always holds the tnum's smallest member, so the side the
 * verifier walks is never empty.  (Unfolded, disp is about -2^29: the add
 * wraps the bounds, which loses the same knowledge.)
 *
 * Targets with loop_marks (6.17+) go without the `^= 0`, which is up to
 * 8% of what a handler runs (echo): 6.18 takes both corpora's programs
 * without it (with --kernel host: no rejection but the budget's, which
 * other shapes answer; 0 mismatches).  It changes no value, only what the
 * verifier knows, so a 6.17 kernel that refused such a program would cost
 * speed, not correctness: koff-load would load the portable one. */
static bool unlink_folded(const struct gen *g)
{
	return g->addr_folded && !target_has(g->target, KFEAT_LOOP_MARKS);
}

static void address_from(struct gen *g, const struct ir_insn *in, int64_t disp)
{
	if (disp == 0 && g->addr_folded) {
		/* a copy of a, linked to it unless unlinked below */
		val_into(g, in->a, R1);
	} else {
		emit_const64(g->e, R1, (uint64_t)disp);
		emit_alu_reg(g->e, 1, BPF_ADD, R1, val_reg(g, in->a, R0));
	}
	if (unlink_folded(g)) {
		uint8_t was = set_kind(g, EK_UNLINK);

		emit_alu_imm(g->e, 1, BPF_XOR, R1, 0);
		g->e->kind_now = was;
	}
}

/* An address known only at run time: find its region, check the bounds,
 * access.  The region hint decides which region is tried first. */
static void gen_mem_dynamic(struct gen *g, const struct ir_insn *in)
{
	int s = in->size, done = emit_label(g->e), not_scratch = emit_label(g->e);
	int req_ok = emit_label(g->e);
	int64_t disp = in->imm - (int64_t)IR_SCRATCH_VA;

	address_from(g, in, disp);
	/* R1 = address - IR_SCRATCH_VA */
	emit_jmp_imm(g->e, 0, BPF_JGT, R1, IR_PRIV_OFF - s, not_scratch);
	check_req_len(g, R1, s, req_ok);
	emit_bind(g->e, req_ok);
	emit_alu_reg(g->e, 1, BPF_ADD, R1, R9);
	access(g, in, R1, 0);
	emit_ja(g->e, done);
	emit_bind(g->e, not_scratch);
	gen_mem_dynamic_data(g, in, done);
	emit_bind(g->e, done);
}

/* The full search of gen_mem_dynamic for `in` at `label`, later (at the
 * next island or the end), then back to `done`. */
static void defer_cold_path(struct gen *g, const struct ir_insn *in, int label, int done)
{
	if (g->ncold == g->cold_cap) {
		int cap = g->cold_cap ? 2 * g->cold_cap : 64;
		struct cold_path *c = realloc(g->cold, (size_t)cap * sizeof(*c));

		if (!c) {
			g->rc = -ENOMEM;
			return;
		}
		g->cold = c;
		g->cold_cap = cap;
	}
	g->cold[g->ncold++] = (struct cold_path){ .in = *in, .label = label, .done = done,
						  .origin = g->e->origin_now, .folded = g->addr_folded };
}

static void gen_cold_paths(struct gen *g)
{
	uint64_t origin = g->e->origin_now;

	for (int i = 0; i < g->ncold; i++) {
		const struct cold_path *c = &g->cold[i];

		g->e->origin_now = c->origin;
		emit_bind(g->e, c->label);
		set_kind(g, EK_CHECK);
		g->addr_folded = c->folded;
		gen_mem_dynamic(g, &c->in);
		g->addr_folded = false;
		set_kind(g, EK_CHECK);
		emit_ja(g->e, c->done);
	}
	g->ncold = 0;
	g->e->origin_now = origin;
}

/* Whether the verifier is to prove this access in bounds
 * (codegen_opts.bounds_by_verifier).  Where it walks a loop it knows the
 * addresses (a table scan), and outside loops what the handler's own tests
 * taught it; elsewhere an index is mostly a value it knows nothing of (a
 * hash, a laundered loop's), and each access it then rejects would cost
 * two more verifications. */
static bool left_to_verifier(const struct codegen_opts *o, const struct ir_block *blk, const struct ir_insn *in)
{
	if (!o->bounds_by_verifier || !(blk->loop_depth == 0 || (o->walk_loops && blk->in_walkable_loop)))
		return false;
	for (int i = 0; i < o->nchecked_again; i++)
		if (o->checked_again[i] == in->x86_addr)
			return false;	/* the verifier could not: checked */
	return true;
}

/* A .rodata load: the map value's pointer plus the address, the
 * displacement in the load's offset where it fits, else added first (the
 * pointer's offset must stay within 2^29 at each step). */
static bool rodata_unchecked(const struct codegen_opts *o, const struct ir_block *blk, const struct ir_insn *in)
{
	int64_t disp = in->imm - (int64_t)IR_RODATA_VA;

	return disp > -(1 << 29) && disp < (1 << 29) && left_to_verifier(o, blk, in);
}

/* An access to the request below its length (lifter/reqlen.c): its range
 * check only tells the verifier it lies in the scratch value.  If the
 * verifier proves R1 = address - IR_REQ_VA in [0, value size - size], R1
 * cannot have wrapped, so reqlen's bound holds as is: R1 + size <= len <=
 * IR_REQ_MAX, in the request region. */
static bool req_unchecked(const struct codegen_opts *o, const struct ir_block *blk, const struct ir_insn *in)
{
	return in->region == IR_REG_REQ && in->within_len && left_to_verifier(o, blk, in);
}

static void gen_req_unchecked(struct gen *g, const struct ir_insn *in)
{
	address_from(g, in, in->imm - (int64_t)IR_REQ_VA);
	emit_alu_reg(g->e, 1, BPF_ADD, R1, R9);
	access(g, in, R1, IR_REQ_OFF);
	g->e->left_to_verifier++;
}

/* gen_mem's case for a load from a run-time address hinted to .rodata. */
static bool rodata_hinted(const struct ir_func *fn, const struct ir_insn *in)
{
	return in->a.reg != IR_NONE && in->region == IR_REG_RODATA && in->op == IR_LOAD &&
	       fn->rodata_size >= in->size;
}

bool codegen_left_to_verifier_at(const struct ir_func *fn, const struct codegen_opts *o, uint64_t va)
{
	for (int b = 0; b < fn->nblocks; b++)
		for (int i = 0; i < fn->blocks[b].ninsns; i++) {
			const struct ir_insn *in = &fn->blocks[b].insns[i];

			if (in->x86_addr == va && in->a.reg != IR_NONE &&
			    ((rodata_hinted(fn, in) && rodata_unchecked(o, &fn->blocks[b], in)) ||
			     req_unchecked(o, &fn->blocks[b], in)))
				return true;
		}
	return false;
}

static void gen_rodata_unchecked(struct gen *g, const struct ir_insn *in, int64_t disp)
{
	emit_ld_map(g->e, R1, KOFF_MAPID_RODATA, 0);
	if (disp < INT16_MIN || disp > INT16_MAX) {
		emit_alu_imm(g->e, 1, BPF_ADD, R1, (int32_t)disp);
		disp = 0;
	}
	emit_alu_reg(g->e, 1, BPF_ADD, R1, val_reg(g, in->a, R0));
	access(g, in, R1, (int16_t)disp);
	g->e->left_to_verifier++;
}

/* The scratch regions an access may be hinted to. */
static const struct {
	uint64_t va;
	int16_t off;
	int32_t size;
} regions[] = {
	[IR_REG_REQ] = { IR_REQ_VA, IR_REQ_OFF, IR_REQ_MAX },
	[IR_REG_RESP] = { IR_RESP_VA, IR_RESP_OFF, IR_RESP_MAX },
	[IR_REG_STACK] = { IR_STACK_VA, IR_STACK_OFF, IR_STACK_SIZE },
};

static bool access_at(const struct gen *g, const struct ir_block *blk, int j, struct ir_insn *m);

/* Whether R1 still holds what gen_mem_grouped left in it: no instruction
 * since writes R1 or calls, and no label was bound (a path that did not
 * set it could arrive). */
static bool r1_kept(const struct gen *g, int from)
{
	if (g->e->bound_at >= from)
		return false;
	for (int k = from; k < g->e->n; k++) {
		const struct bpf_insn *x = &g->e->insns[k];
		uint8_t cls = BPF_CLASS(x->code);

		if ((cls == BPF_ALU || cls == BPF_ALU64 || cls == BPF_LD || cls == BPF_LDX) && x->dst_reg == R1)
			return false;
		if (cls == BPF_JMP && (BPF_OP(x->code) == BPF_CALL || BPF_OP(x->code) == BPF_EXIT))
			return false;
	}
	return true;
}

/* The base of access m at index j of blk followed back through the adds of
 * a constant that made it in this block (`t = i + 8` read by a load and a
 * store: the base i, the displacement 8 more), while what they added to
 * is not written again before j. */
static void resolve_base(const struct ir_block *blk, int j, struct ir_insn *m)
{
	for (int depth = 0; depth < 4 && m->a.reg != IR_NONE; depth++) {
		const struct ir_insn *d = NULL;
		int k;

		for (k = j - 1; k >= 0; k--)
			if (ir_insn_defines(&blk->insns[k]) && blk->insns[k].dst == m->a.reg) {
				d = &blk->insns[k];
				break;
			}
		if (!d || d->op != IR_ADD || d->w != 64 || (d->a.reg == IR_NONE) == (d->b.reg == IR_NONE))
			return;
		struct ir_val x = d->a.reg == IR_NONE ? d->b : d->a;
		int64_t c = d->a.reg == IR_NONE ? d->a.imm : d->b.imm;

		for (int q = k + 1; q < j; q++)
			if (ir_insn_defines(&blk->insns[q]) && blk->insns[q].dst == x.reg)
				return;
		if (x.reg == m->a.reg || c > INT32_MAX / 4 || c < INT32_MIN / 4)
			return;
		m->a = x;
		m->imm = (int64_t)((uint64_t)m->imm + (uint64_t)c);
	}
}

static bool hinted_scratch(uint8_t region)
{
	return region == IR_REG_REQ || region == IR_REG_RESP || region == IR_REG_STACK;
}

/* What plan_group found for a group (its comment). */
struct group_plan {
	int64_t lo, hi, len_end, disp_lo[IR_REG_STACK + 1];
	int last;
	int via[8], nvia[8], nvias;	/* vregs the accesses' bases went through, and how many */
};

/* Access j's own base, an add of a constant to the group's: counted, so
 * that an add nothing else reads need not be emitted. */
static void note_via(struct group_plan *p, const struct ir_insn *direct, const struct ir_insn *resolved)
{
	int k;

	if (direct->a.reg == resolved->a.reg || direct->a.reg == IR_NONE)
		return;
	for (k = 0; k < p->nvias && p->via[k] != direct->a.reg; k++)
		;
	if (k == p->nvias) {
		if (k == 8)
			return;
		p->via[p->nvias] = direct->a.reg;
		p->nvia[p->nvias++] = 0;
	}
	p->nvia[k]++;
}

/* The last index of the block being emitted, from g->cur_insn on, where
 * vreg v still holds its value in its register: its last read before it is
 * written again (the register allocator may give the register away after
 * it), or the block's end when v is live out of it. */
static int held_until(const struct gen *g, int v)
{
	const struct ir_block *blk = &g->fn->blocks[g->cur_block];
	int last = -1, succ[64], n, reads[5];

	for (int j = g->cur_insn; j < blk->ninsns; j++) {
		int k = ir_insn_uses(&blk->insns[j], reads);

		while (k-- > 0)
			if (reads[k] == v)
				last = j;
		if (ir_insn_defines(&blk->insns[j]) && blk->insns[j].dst == v)
			return last;
	}
	n = ir_succs(blk, succ, 64);
	for (int k = 0; k < n; k++)
		if (succ[k] >= 0 && regalloc_live_in(&g->ra, succ[k], v))
			return blk->ninsns;
	return last;	/* also past 64 successors, unseen: up to the last read is safe */
}

/* The accesses from `m` (at g->cur_insn) on in its block through the same
 * base into scratch regions, before the base is written again: where the
 * base must lie for each to fall in its region ([*lo, *hi]), how far past
 * the base the request reads that need the length checked reach (*len_end,
 * INT64_MIN: none), each region's lowest displacement.  False for a lone
 * access. */
static bool plan_group(const struct gen *g, const struct ir_insn *m, struct group_plan *p)
{
	const struct ir_block *blk = &g->fn->blocks[g->cur_block];
	struct ir_insn x;
	int n = 0;

	if (ir_insn_defines(m) && m->dst == m->a.reg)
		return false;	/* the next accesses see another base */
	*p = (struct group_plan){ .lo = INT64_MIN, .hi = INT64_MAX, .len_end = INT64_MIN, .last = g->cur_insn,
				  .nvias = 0 };
	for (int r = 0; r <= IR_REG_STACK; r++)
		p->disp_lo[r] = INT64_MAX;
	int held = held_until(g, m->a.reg);

	/* The accesses that reach the base through an add read it where its
	 * register may already hold another vreg: only up to its last read. */
	for (int j = g->cur_insn; j < blk->ninsns && j <= held; j++) {
		struct ir_insn direct;

		if (j == g->cur_insn)
			x = *m;
		else if (!access_at(g, blk, j, &x) || (direct = x, resolve_base(blk, j, &x), x.a.reg != m->a.reg))
			goto next;
		else
			note_via(p, &direct, &x);
		if (!hinted_scratch(x.region) || x.imm < INT32_MIN / 2 || x.imm > INT32_MAX / 2)
			return false;	/* keep to what one check can say */
		{
			int64_t at = (int64_t)regions[x.region].va - x.imm;

			p->lo = at > p->lo ? at : p->lo;
			p->hi = at + regions[x.region].size - x.size < p->hi ? at + regions[x.region].size - x.size
									  : p->hi;
			p->disp_lo[x.region] = x.imm < p->disp_lo[x.region] ? x.imm : p->disp_lo[x.region];
			if (x.region == IR_REG_REQ && !x.within_len &&
			    x.imm + x.size - (int64_t)IR_REQ_VA > p->len_end)
				p->len_end = x.imm + x.size - (int64_t)IR_REQ_VA;
			p->last = j;
			n++;
		}
next:
		if (j > g->cur_insn && ir_insn_defines(&blk->insns[j]) && blk->insns[j].dst == m->a.reg)
			break;
	}
	return n >= 2 && p->lo >= 0 && p->lo <= p->hi && p->hi <= INT32_MAX;
}

/* An access of the group: R1 = the scratch value + base + the region's
 * lowest displacement, then the access at its distance from that. */
static void gen_group_member(struct gen *g, const struct ir_insn *in)
{
	struct checked_base *c = &g->grp;
	int64_t disp = c->lo[in->region] - (int64_t)regions[in->region].va;

	if (!c->r1 || c->r1_disp != disp || !r1_kept(g, c->from)) {
		if (disp == 0) {
			val_into(g, in->a, R1);
		} else {
			emit_const64(g->e, R1, (uint64_t)disp);
			emit_alu_reg(g->e, 1, BPF_ADD, R1, val_reg(g, in->a, R0));
		}
		emit_alu_reg(g->e, 1, BPF_ADD, R1, R9);
		c->r1 = true;
		c->r1_disp = disp;
	}
	access(g, in, R1, (int16_t)(in->imm - c->lo[in->region] + regions[in->region].off));
	c->from = g->e->n;
}

/* No definition of v in its block up to the instruction being emitted:
 * those the group's accesses went through come later, not emitted yet. */
static bool defined_later(const struct gen *g, int v)
{
	const struct ir_block *blk = &g->fn->blocks[g->cur_block];

	for (int j = 0; j <= g->cur_insn; j++)
		if (ir_insn_defines(&blk->insns[j]) && blk->insns[j].dst == v)
			return false;
	return true;
}

/* An add whose only readers are a group's accesses (checked_base). */
static bool dead_add(const struct gen *g, const struct ir_insn *in)
{
	const struct checked_base *c = &g->grp;

	if (!c->valid || c->block != g->cur_block || g->cur_insn > c->last || in->op != IR_ADD)
		return false;
	for (int k = 0; k < c->ndead_adds; k++)
		if (c->dead_adds[k] == in->dst)
			return true;
	return false;
}

static bool in_group(const struct gen *g, const struct ir_insn *in)
{
	const struct checked_base *c = &g->grp;

	return c->valid && c->block == g->cur_block && g->cur_insn <= c->last && in->a.reg == c->vreg &&
	       hinted_scratch(in->region);
}

/* The first access of several through one base (in a register, where the
 * verifier keeps what a branch teaches it) into the scratch regions: the
 * base is checked once, for all of them (and the request length once, for
 * the reads that need it), falling back when that fails, where each
 * access's own check would have taken the full search.  A fallback is
 * always allowed: it costs the kernel only a request whose accesses
 * straddle a region's end.  Every target: the checks compare the base's
 * own register with constants, which 6.1 and 6.12 follow as 6.18 does
 * (unlike a folded address's check, unlink_folded). */
static bool gen_mem_grouped(struct gen *g, const struct ir_insn *access_in)
{
	struct ir_insn r = *access_in, *in = &r;
	struct group_plan p;
	int base;

	resolve_base(&g->fn->blocks[g->cur_block], g->cur_insn, in);
	if (in_group(g, in)) {
		gen_group_member(g, in);
		return true;
	}
	if (in->a.reg < 0 || in->a.reg >= g->ra.nvregs ||
	    g->ra.locs[in->a.reg].kind != LOC_REG || !plan_group(g, in, &p))
		return false;
	base = g->ra.locs[in->a.reg].where;
	if (p.lo > 0)
		emit_jmp_imm(g->e, 0, BPF_JLT, base, (int32_t)p.lo, stub(g, KOFF_STAT_PASS_MEM));
	emit_jmp_imm(g->e, 0, BPF_JGT, base, (int32_t)p.hi, stub(g, KOFF_STAT_PASS_MEM));
	if (p.len_end != INT64_MIN) {
		emit_const64(g->e, R1, (uint64_t)p.len_end);
		emit_alu_reg(g->e, 1, BPF_ADD, R1, base);
		emit_ldx(g->e, BPF_DW, R0, R10, XDP_WRAP_SLOT_REQLEN);
		emit_jmp_reg(g->e, 0, BPF_JSGT, R1, R0, stub(g, KOFF_STAT_PASS_MEM));
	}
	g->grp = (struct checked_base){ .valid = true, .vreg = in->a.reg, .block = g->cur_block, .last = p.last };
	memcpy(g->grp.lo, p.disp_lo, sizeof(p.disp_lo));
	for (int k = 0; k < p.nvias; k++)
		if (g->uses[p.via[k]] == p.nvia[k] && defined_later(g, p.via[k]))
			g->grp.dead_adds[g->grp.ndead_adds++] = p.via[k];
	gen_group_member(g, in);
	return true;
}

/* The hinted region first: one range check (and the request length for
 * request reads); an address elsewhere takes the full path. */
static void gen_mem_hinted(struct gen *g, const struct ir_insn *in)
{
	int s = in->size, elsewhere, done;
	uint64_t va = regions[in->region].va;

	if (gen_mem_grouped(g, in))
		return;
	if (req_unchecked(g->o, &g->fn->blocks[g->cur_block], in)) {
		gen_req_unchecked(g, in);
		return;
	}
	elsewhere = emit_label(g->e);
	done = emit_label(g->e);

	address_from(g, in, in->imm - (int64_t)va);
	emit_jmp_imm(g->e, 0, BPF_JGT, R1, regions[in->region].size - s, elsewhere);
	if (in->region == IR_REG_REQ && !in->within_len)
		req_len_check(g, R1, s);
	emit_alu_reg(g->e, 1, BPF_ADD, R1, R9);
	access(g, in, R1, regions[in->region].off);
	defer_cold_path(g, in, elsewhere, done);
	emit_bind(g->e, done);
}

/* A load hinted to .rodata (a table indexed at run time): its one range
 * check first, not after the scratch map's; an address elsewhere takes the
 * full path. */
static void gen_mem_hinted_rodata(struct gen *g, const struct ir_insn *in)
{
	int s = in->size, elsewhere, done;

	if (rodata_unchecked(g->o, &g->fn->blocks[g->cur_block], in)) {
		gen_rodata_unchecked(g, in, in->imm - (int64_t)IR_RODATA_VA);
		return;
	}
	elsewhere = emit_label(g->e);
	done = emit_label(g->e);
	address_from(g, in, in->imm - (int64_t)IR_RODATA_VA);
	emit_jmp_imm(g->e, 0, BPF_JGT, R1, (int32_t)(g->fn->rodata_size - (size_t)s), elsewhere);
	emit_ld_map(g->e, R0, KOFF_MAPID_RODATA, 0);
	emit_alu_reg(g->e, 1, BPF_ADD, R1, R0);
	access(g, in, R1, 0);
	defer_cold_path(g, in, elsewhere, done);
	emit_bind(g->e, done);
}

static void gen_mem(struct gen *g, const struct ir_insn *in)
{
	set_kind(g, EK_CHECK);	/* all but the access itself (access() says body) */
	if (in->a.reg == IR_NONE)
		gen_mem_absolute(g, in, (uint64_t)(in->a.imm + in->imm));
	else if (in->region == IR_REG_REQ || in->region == IR_REG_RESP || in->region == IR_REG_STACK)
		gen_mem_hinted(g, in);
	else if (rodata_hinted(g->fn, in))
		gen_mem_hinted_rodata(g, in);
	else
		gen_mem_dynamic(g, in);
}

/* ---- Control ---------------------------------------------------------------- */

/* Make a vreg's value one the verifier knows nothing about: XOR it with
 * the launder slot, a scratch-map word that always holds 0 (the program
 * zeroes it at entry: launder_zero) but that the verifier cannot know (it
 * does not track what map values hold).  A store and a load back would do
 * the same, but put a store-to-load forward (~5 cycles) on every loop-
 * carried value's path each pass; the XOR costs one cycle, and the load of
 * the zero depends on nothing the loop computes.  R1 holds the zero from
 * load_launder_zero until the last launder of a run; R0 carries a value
 * kept in a stack slot. */
static void load_launder_zero(struct gen *g)
{
	set_kind(g, EK_LAUNDER);
	emit_ldx(g->e, BPF_DW, R1, R9, launder_slot(g));
}

static void launder(struct gen *g, int vreg)
{
	struct loc l = loc_of(g, vreg);

	if (l.kind == LOC_MAPSLOT || l.kind == LOC_NONE)
		return;	/* already a value the verifier knows nothing about */
	set_kind(g, EK_LAUNDER);
	if (l.kind == LOC_REG) {
		emit_alu_reg(g->e, 1, BPF_XOR, l.where, R1);
		return;
	}
	emit_ldx(g->e, BPF_DW, R0, R10, l.where);
	emit_alu_reg(g->e, 1, BPF_XOR, R0, R1);
	emit_stx(g->e, BPF_DW, R10, l.where, R0);
}

/* Launder v if it is live into `block`, the zero loaded first, once per
 * run of launders (*zero_loaded). */
static void launder_if_live(struct gen *g, int block, int v, bool *zero_loaded)
{
	if (loc_of(g, v).kind == LOC_NONE || !regalloc_live_in(&g->ra, block, v))
		return;
	if (!*zero_loaded)
		load_launder_zero(g);
	*zero_loaded = true;
	launder(g, v);
}

/* Zero the launder slot before any launder can run (see launder()). */
static void launder_zero(struct gen *g)
{
	emit_st_imm(g->e, BPF_DW, R9, launder_slot(g), 0);
}

/* One more loop-head pass for this request, counted in the scratch map:
 * past loop_cap, fall back. */
static void count_loop_pass(struct gen *g)
{
	set_kind(g, EK_LOOP);
	emit_ldx(g->e, BPF_DW, R1, R9, LOOP_COUNT_OFF);
	emit_alu_imm(g->e, 1, BPF_ADD, R1, 1);
	emit_stx(g->e, BPF_DW, R9, LOOP_COUNT_OFF, R1);
	emit_jmp_imm(g->e, 0, BPF_JGT, R1, (int32_t)g->o->loop_cap, stub(g, KOFF_STAT_PASS_LOOP));
}

static void launder_live_in(struct gen *g, int block);

/* Launder what the loop headed by `block` writes and is live there: only
 * that can differ between iterations.  Unless a walked loop is nested in
 * it: then everything live there (lifter/loops.c, holds_walks). */
static void launder_loop_values(struct gen *g, int block)
{
	const struct ir_insn *guard = &g->fn->blocks[block].insns[0];
	bool zero_loaded = false;

	if (g->walk && guard->holds_walks) {
		launder_live_in(g, block);
		return;
	}
	for (int k = 0; k < guard->nloop_vregs; k++)
		launder_if_live(g, block, guard->loop_vregs[k], &zero_loaded);
}

/* A loop head of the may_goto shape.  The verifier walks a plain loop once
 * per iteration, with exact values, and gives up on real parsing loops; so
 * here what the loop writes is laundered (every memory access is checked
 * at run time anyway), and may_goto lets the verifier see that the next
 * iteration starts from a state it has seen and stop. */
static void gen_loopguard_may_goto(struct gen *g, int block)
{
	launder_loop_values(g, block);
	count_loop_pass(g);
	/* may_goto: BPF_JMP | BPF_JCOND, src_reg BPF_MAY_GOTO (0). */
	emit_jmp_imm(g->e, 0, BPF_JCOND, 0, 0, stub(g, KOFF_STAT_PASS_LOOP));
}

/* Calls the value of vreg v survives in the callback only through the
 * scratch map: registers and stack slots are the frame's. */
static bool lives_in_frame(const struct gen *g, int v)
{
	uint8_t kind = loc_of(g, v).kind;

	return kind == LOC_REG || kind == LOC_SLOT;
}

/* Store (or load back) every value live into `block` that would not
 * survive the end of this callback call.  (Making loop-invariant constants
 * again instead of reloading them saved the verifier 2-5% on dns: not
 * worth an IR annotation.) */
static void move_yield_values(struct gen *g, int block, bool store)
{
	int16_t slot = CB_YIELD_OFF;

	for (int v = 0; v < g->fn->nvregs; v++) {
		struct loc l = loc_of(g, v);
		int r = l.kind == LOC_REG ? l.where : R1;

		if (!lives_in_frame(g, v) || !regalloc_live_in(&g->ra, block, v))
			continue;
		if (slot + 8 > (int16_t)IR_SPILL_OFF) {
			g->rc = -E2BIG;
			return;
		}
		if (store) {
			if (l.kind == LOC_SLOT)
				emit_ldx(g->e, BPF_DW, R1, R10, l.where);
			emit_stx(g->e, BPF_DW, R9, slot, r);
		} else {
			emit_ldx(g->e, BPF_DW, r, R9, slot);
			if (l.kind == LOC_SLOT)
				emit_stx(g->e, BPF_DW, R10, l.where, R1);
		}
		slot += 8;
	}
}

/* Yield to bpf_loop at loop head h: store what is live into h, and h as
 * where the next call resumes; return 0, and bpf_loop calls the callback
 * again, or stops at loop_cap (PASS_LOOP). */
static void emit_yield(struct gen *g, int h)
{
	move_yield_values(g, h, true);
	emit_st_imm(g->e, BPF_DW, R9, CB_RESUME_OFF, h + 1);
	emit_mov_imm(g->e, R0, 0);
	emit_exit(g->e);
}

/* A loop head of the bpf_loop shape with one copy: yield right here; the
 * call resumes here.  No trampoline: a far one would cost a jump there and
 * back, and for a big program 16-bit jumps relaxed through pads. */
static void gen_yield_in_place(struct gen *g, int block)
{
	emit_yield(g, block);
	emit_bind(g->e, g->resume_label[block]);
	move_yield_values(g, block, false);
}

/* A loop head of the bpf_loop shape.  With body copies, where a copy runs
 * into the next one: launder what the loop writes, as the may_goto shape
 * does (dns: 77k processed insns instead of 88k).  No count: a call passes
 * at most one head per copy before it yields, so bpf_loop's count of calls
 * bounds the passes (gen_call_loop_body).  Copy 0's heads are entered only
 * by a resumed call (values already unknown) or, for block 0, from the
 * prologue. */
static void gen_loopguard_callback(struct gen *g, int block)
{
	if (g->copies == 1) {
		gen_yield_in_place(g, block);
		return;
	}
	if (g->copy > 0)
		launder_loop_values(g, block);
}

/* Loop head h's trampoline, after every copy: yield;
 * the call resumes at resume_label[h]: load the values back, and on in
 * copy 0.  A trampoline no edge reaches gets only its resume stub, which
 * the dispatch still names. */
static void gen_trampoline(struct gen *g, int h)
{
	g->e->origin_now = g->fn->blocks[h].insns[0].x86_addr;
	set_kind(g, EK_LOOP);
	if (g->tramp_used[h]) {
		emit_bind(g->e, g->tramp_label[h]);
		emit_yield(g, h);
	}
	emit_bind(g->e, g->resume_label[h]);
	move_yield_values(g, h, false);
	emit_ja_far(g->e, g->copy_labels[h]);	/* copy 0 */
}

/* codegen_opts.launder_joins: every value live into `block`. */
static void launder_live_in(struct gen *g, int block)
{
	bool zero_loaded = false;

	for (int v = 0; v < g->fn->nvregs; v++)
		launder_if_live(g, block, v, &zero_loaded);
}

/* What a walked loop leaves pass-dependent at an exit into `block`
 * (lifter/loops.c, walk_exit_vregs). */
static void launder_walk_exit(struct gen *g, int block)
{
	const struct ir_block *blk = &g->fn->blocks[block];
	bool zero_loaded = false;

	for (int k = 0; k < blk->nwalk_exit_vregs; k++)
		launder_if_live(g, block, blk->walk_exit_vregs[k], &zero_loaded);
}

static bool is_loop_head(const struct ir_block *b)
{
	return b->ninsns > 0 && b->insns[0].op == IR_LOOPGUARD;
}

/* Whether block b heads a loop that is not walked: where the bpf_loop
 * shape yields (and its copies hand over), the may_goto shape launders. */
static bool yields_at(const struct gen *g, int b)
{
	const struct ir_block *blk = &g->fn->blocks[b];

	return is_loop_head(blk) && !(g->walk && blk->insns[0].walkable);
}

static void gen_loopguard(struct gen *g, int block)
{
	if (!yields_at(g, block))
		return;	/* walked: the verifier bounds it, nothing to run */
	set_kind(g, EK_LOOP);
	if (g->in_callback)
		gen_loopguard_callback(g, block);
	else
		gen_loopguard_may_goto(g, block);
}

/* Whether edges into loop heads leave the copy being emitted. */
static bool heads_redirect(const struct gen *g)
{
	return g->in_callback && g->copies > 1;
}

/* The label an edge of the copy being emitted to block t jumps to. */
static int edge_label(struct gen *g, int t)
{
	if (!heads_redirect(g) || !yields_at(g, t))
		return g->block_label[t];
	if (g->copy + 1 < g->copies)
		return g->copy_labels[(g->copy + 1) * g->fn->nblocks + t];
	g->tramp_used[t] = true;
	return g->tramp_label[t];
}

/* Whether an edge to t is a fall-through into the next block emitted. */
static bool falls_into(struct gen *g, int t, int next_block)
{
	return t == next_block && !(heads_redirect(g) && yields_at(g, t));
}

static void gen_switch(struct gen *g, const struct ir_insn *in)
{
	int A = val_reg(g, in->a, R1);

	for (int i = 0; i < in->ncases; i++) {
		int target = edge_label(g, in->cases[i].target);

		if (fits_imm32((int64_t)in->cases[i].value)) {
			emit_jmp_imm(g->e, 0, BPF_JEQ, A, (int32_t)in->cases[i].value, target);
		} else {
			emit_const64(g->e, R0, in->cases[i].value);
			emit_jmp_reg(g->e, 0, BPF_JEQ, A, R0, target);
		}
	}
	emit_ja(g->e, stub(g, (enum koff_stat)in->imm));
}

static bool block_traced(const struct ir_block *b)
{
	for (int i = 0; i < b->ninsns; i++)
		if (b->insns[i].op == IR_TRACE)
			return true;
	return false;
}

/* --record-path builds: slots[1 + (n++ % KOFF_TRACE_SLOTS)] = block index, once
 * per block entered, not per IR_TRACE: a block runs to its end or falls
 * back, so its IR_TRACEs (listed in KOFF_TRACE_SECTION) give the x86 path.
 * (A record per x86 instruction took a 450k-insn verification past the 1M
 * budget; per block it took 620k.)  No branch here: a branch per block
 * would double what the verifier walks. */
static void gen_trace(struct gen *g, int block)
{
	emit_ldx(g->e, BPF_DW, R0, R10, TRACE_SLOT);
	emit_ldx(g->e, BPF_DW, R1, R0, 0);
	emit_alu_imm(g->e, 1, BPF_ADD, R1, 1);
	emit_stx(g->e, BPF_DW, R0, 0, R1);
	emit_alu_imm(g->e, 1, BPF_ADD, R1, -1);
	emit_alu_imm(g->e, 1, BPF_AND, R1, (int32_t)(KOFF_TRACE_SLOTS - 1));
	emit_alu_imm(g->e, 1, BPF_LSH, R1, 3);
	emit_alu_reg(g->e, 1, BPF_ADD, R0, R1);
	emit_st_imm(g->e, BPF_DW, R0, 8, block);
}

static void maybe_island(struct gen *g);

/* `t = x + C` whose only reader is the access right after it, as its
 * address: the access forms its address from x and C itself (it computes
 * `address - region` in R1 anyway), so t's add, two instructions per
 * access in a byte loop, is not emitted.  x stays in its location: the
 * access is the next instruction, and t was the only vreg defined in
 * between.  Done here rather than in the IR so that register allocation
 * and the verifier see the same values as without it. */
static bool foldable(const struct gen *g, const struct ir_insn *in, const struct ir_insn *next,
		     struct ir_val *x, int64_t *disp)
{
	struct ir_val c;

	if (!next || in->op != IR_ADD || in->w != 64 || in->dst < IR_NFIXED || g->uses[in->dst] != 1)
		return false;
	if ((next->op != IR_LOAD && next->op != IR_STORE) || next->a.reg != in->dst ||
	    (next->op == IR_STORE && next->b.reg == in->dst))
		return false;
	*x = in->a.reg == IR_NONE ? in->b : in->a;
	c = in->a.reg == IR_NONE ? in->a : in->b;
	if (x->reg == IR_NONE || c.reg != IR_NONE)
		return false;
	*disp = c.imm;
	return true;
}

static bool fold_address(struct gen *g, const struct ir_insn *in, const struct ir_insn *next)
{
	if (!foldable(g, in, next, &g->fold_base, &g->fold_disp))
		return false;
	g->folded = true;
	return true;
}

/* The access at index j of blk as gen_access emits it: its base and
 * displacement with fold_address applied. */
static bool access_at(const struct gen *g, const struct ir_block *blk, int j, struct ir_insn *m)
{
	struct ir_val x;
	int64_t disp;

	if (blk->insns[j].op != IR_LOAD && blk->insns[j].op != IR_STORE)
		return false;
	*m = blk->insns[j];
	if (j > 0 && foldable(g, &blk->insns[j - 1], &blk->insns[j], &x, &disp)) {
		m->a = x;
		m->imm = (int64_t)((uint64_t)m->imm + (uint64_t)disp);
	}
	return true;
}

static void gen_access(struct gen *g, const struct ir_insn *in)
{
	struct ir_insn m = *in;

	if (g->folded) {
		m.a = g->fold_base;
		m.imm = (int64_t)((uint64_t)m.imm + (uint64_t)g->fold_disp);
		g->folded = false;
		g->addr_folded = true;
	}
	gen_mem(g, &m);
	g->addr_folded = false;
}

static void gen_insn(struct gen *g, const struct ir_insn *in, const struct ir_insn *next, int next_block)
{
	if (g->dead)
		return;
	if (fold_address(g, in, next) || dead_add(g, in))
		return;
	maybe_island(g);	/* long blocks need stubs within reach too */
	g->e->origin_now = in->x86_addr;
	set_kind(g, EK_BODY);
	switch (in->op) {
	case IR_MOV: case IR_NEG: case IR_ZEXT: case IR_SEXT: case IR_BSWAP:
		gen_unary(g, in);
		break;
	case IR_MULHU: case IR_MULHS:
		gen_mulh(g, in);
		break;
	case IR_SELECT:
		gen_select(g, in);
		break;
	case IR_LOAD: case IR_STORE:
		gen_access(g, in);
		break;
	case IR_LOOPGUARD:
		gen_loopguard(g, g->cur_block);
		break;
	case IR_BR:
		if (g->far && in->a.reg == IR_NONE && in->b.reg == IR_NONE) {
			int taken = eval_const(in->cond, in->a.imm, in->b.imm, in->w) ? in->t : in->f;

			if (!falls_into(g, taken, next_block))
				emit_ja_far(g->e, edge_label(g, taken));
		} else if (g->far) {
			/* jcc to a near gotol: no target is out of reach. */
			int near = emit_label(g->e);

			branch(g, in->cond, in->a, in->b, in->w, near, -1);
			emit_ja_far(g->e, edge_label(g, in->f));
			emit_bind(g->e, near);
			emit_ja_far(g->e, edge_label(g, in->t));
		} else {
			branch(g, in->cond, in->a, in->b, in->w, edge_label(g, in->t),
			       falls_into(g, in->f, next_block) ? -1 : edge_label(g, in->f));
		}
		break;
	case IR_JMP:
		if (!falls_into(g, in->t, next_block))
			emit_ja_far(g->e, edge_label(g, in->t));
		break;
	case IR_RET:
		val_into(g, ir_reg(IR_RAX), R0);
		emit_ja_far(g->e, g->in_callback ? g->cb_return : g->wrap.lbl_return);
		break;
	case IR_FALLBACK:
		/* which site: --trace counts the requests each one costs */
		emit_st_imm(g->e, BPF_DW, R9, (int16_t)IR_SITE_OFF, (int32_t)in->x86_addr);
		emit_ja(g->e, stub(g, (enum koff_stat)in->imm));
		break;
	case IR_SWITCH:
		gen_switch(g, in);
		break;
	case IR_TRACE:
		break;	/* recorded once per block: gen_trace */
	default:
		gen_binary(g, in);
		break;
	}
}

/* R0 = lookup(map, 0), the key in the wrapper's key slot of this frame. */
static void lookup_key0(struct bpf_emit *e, enum koff_map_id map)
{
	emit_st_imm(e, BPF_W, R10, XDP_WRAP_SLOT_KEY, 0);
	emit_ld_map(e, R1, map, 0);
	emit_mov_reg(e, 2, R10);
	emit_alu_imm(e, 1, BPF_ADD, 2, XDP_WRAP_SLOT_KEY);
	emit_call(e, BPF_FUNC_map_lookup_elem);
}

/* --record-path builds: TRACE_SLOT = the koff_trace value, its count zeroed.
 * R1 (the request length) survives the helper call in a temporary slot. */
static void gen_trace_setup(struct gen *g)
{
	struct bpf_emit *e = g->e;
	int found = emit_label(e);

	emit_stx(e, BPF_DW, R10, TMP_SLOT(0), R1);
	lookup_key0(e, KOFF_MAPID_TRACE);
	emit_jmp_imm(e, 0, BPF_JNE, R0, 0, found);
	emit_ja(e, stub(g, KOFF_STAT_PASS_OTHER));
	emit_bind(e, found);
	emit_st_imm(e, BPF_DW, R0, 0, 0);
	emit_stx(e, BPF_DW, R10, TRACE_SLOT, R0);
	emit_ldx(e, BPF_DW, R1, R10, TMP_SLOT(0));
}

/* Handler entry: the SysV arguments, the stack pointer, zeroed counters;
 * every other register 0 (ir_entry_constant, which the lifter assumes). */
static void gen_prologue(struct gen *g)
{
	struct bpf_emit *e = g->e;

	set_kind(g, EK_PROLOGUE);
	if (g->traced)
		gen_trace_setup(g);
	/* rsi = length first: R1 is about to be reused. */
	if (loc_of(g, IR_RSI).kind == LOC_REG)
		emit_mov_reg(e, loc_of(g, IR_RSI).where, R1);
	else if (in_memory(loc_of(g, IR_RSI)))
		emit_stx(e, BPF_DW, slot_base(loc_of(g, IR_RSI)), loc_of(g, IR_RSI).where, R1);
	for (int v = 0; v < g->fn->nvregs; v++) {
		uint64_t value = 0;
		struct loc l = loc_of(g, v);

		if (v == IR_RSI || l.kind == LOC_NONE || !g->ra.live_at_entry[v])
			continue;
		if (v == IR_RCX)
			value = g->o->resp_cap;
		else if (v < IR_NFIXED)
			ir_entry_constant(v, &value);
		if (l.kind == LOC_REG) {
			emit_const64(e, l.where, value);
		} else {
			emit_const64(e, R0, value);
			emit_stx(e, BPF_DW, slot_base(l), l.where, R0);
		}
	}
	if (g->laundered_loops && !g->in_callback)
		emit_st_imm(e, BPF_DW, R9, LOOP_COUNT_OFF, 0);
	if (!g->in_callback && (g->laundered_loops || g->o->launder_joins || g->walk_exits))
		launder_zero(g);
}

/* Into set: the blocks reachable from block 0 (when from_entry) and, when
 * heads_too, from every loop head set already holds, following only the
 * taken side of branches on constants (codegen folds those); with
 * stop_at_heads, not through an edge into a loop head (the bpf_loop
 * shape's copies send those on to the next copy). */
static int mark_from(struct gen *g, bool *set, bool from_entry, bool heads_too, bool stop_at_heads)
{
	const struct ir_func *fn = g->fn;
	int *stack = malloc(sizeof(int) * (fn->nblocks + 1)), sp = 0;

	if (!stack)
		return -ENOMEM;
	for (int b = 0; b < fn->nblocks; b++)
		if ((b == 0 && from_entry) || (heads_too && set[b] && yields_at(g, b))) {
			set[b] = true;
			stack[sp++] = b;
		}
	while (sp) {
		const struct ir_block *b = &fn->blocks[stack[--sp]];
		const struct ir_insn *t = &b->insns[b->ninsns - 1];
		int succ[2] = { -1, -1 };

		if (t->op == IR_JMP) {
			succ[0] = t->t;
		} else if (t->op == IR_BR && t->a.reg == IR_NONE && t->b.reg == IR_NONE) {
			succ[0] = eval_const(t->cond, t->a.imm, t->b.imm, t->w) ? t->t : t->f;
		} else if (t->op == IR_BR) {
			succ[0] = t->t;
			succ[1] = t->f;
		} else if (t->op == IR_SWITCH) {
			for (int i = 0; i < t->ncases; i++) {
				int s = t->cases[i].target;

				if (!set[s] && !(stop_at_heads && yields_at(g, s))) {
					set[s] = true;
					stack[sp++] = s;
				}
			}
		}
		for (int k = 0; k < 2; k++)
			if (succ[k] >= 0 && !set[succ[k]] &&
			    !(stop_at_heads && yields_at(g, succ[k]))) {
				set[succ[k]] = true;
				stack[sp++] = succ[k];
			}
	}
	free(stack);
	return 0;
}

static int mark_reachable(struct gen *g)
{
	return mark_from(g, g->reachable, true, false, false);
}

/* The blocks each copy emits: all reachable ones, but in the bpf_loop
 * shape only through edges that stay in the copy.  Copy 0 starts at the
 * entry and at every loop head (where a resumed call goes on), later
 * copies at the loop heads (entered from the copy before). */
static int mark_copies(struct gen *g)
{
	int nb = g->fn->nblocks, rc = 0;

	if (!heads_redirect(g)) {
		memcpy(g->in_copy, g->reachable, sizeof(bool) * nb);
		return 0;
	}
	for (int c = 0; c < g->copies && !rc; c++) {
		bool *row = &g->in_copy[c * nb];

		for (int b = 0; b < nb; b++)
			row[b] = g->reachable[b] && yields_at(g, b);
		rc = mark_from(g, row, c == 0, true, true);
	}
	return rc;
}

/* Predecessors of each block among the reachable ones (a branch on
 * constants counts both sides: at worst a join too many). */
static void count_preds(struct gen *g)
{
	int succ[256];

	for (int b = 0; b < g->fn->nblocks; b++) {
		int n;

		if (!g->reachable[b])
			continue;
		n = ir_succs(&g->fn->blocks[b], succ, (int)KOFF_ARRAY_SIZE(succ));
		for (int k = 0; k < n && k < (int)KOFF_ARRAY_SIZE(succ); k++)
			g->npreds[succ[k]]++;
	}
}

/* The block emitted after b in this copy, or -1. */
static int next_in_copy(const struct gen *g, int b)
{
	for (int n = b + 1; n < g->fn->nblocks; n++)
		if (g->in_this_copy[n])
			return n;
	return -1;
}

/* Emit the fallback stubs referenced so far; later references get new
 * ones.  Stubs are emitted every few thousand instructions ("islands") so
 * that conditional jumps, whose offsets have 16 bits, always reach one. */
static void gen_stubs(struct gen *g)
{
	uint8_t was = g->e->kind_now;

	gen_cold_paths(g);	/* first: they may need stubs */
	set_kind(g, EK_STUB);
	for (int r = 0; r < KOFF_STAT__COUNT; r++) {
		if (g->stub[r] < 0)
			continue;
		emit_bind(g->e, g->stub[r]);
		if (g->in_callback) {
			/* Stop the loop; the caller reads the reason. */
			emit_st_imm(g->e, BPF_DW, R9, CB_STATUS_OFF, r);
			emit_mov_imm(g->e, R0, 1);
			emit_exit(g->e);
		} else {
			emit_mov_imm(g->e, R0, r);
			emit_ja_far(g->e, g->wrap.lbl_handler_fallback);
		}
		g->stub[r] = -1;
	}
	g->island_at = g->e->n;
	g->e->kind_now = was;
}

#define ISLAND_EVERY 8192

static bool can_fall_through(const struct bpf_emit *e)
{
	uint8_t code;

	if (!e->n)
		return true;
	/* A label bound here is jumped to: that path runs into what follows. */
	for (int l = 0; l < e->nlabels; l++)
		if (e->labels[l] == e->n)
			return true;
	code = e->insns[e->n - 1].code;
	return code != (BPF_JMP | BPF_JA) && code != (BPF_JMP32 | BPF_JA) && code != (BPF_JMP | BPF_EXIT);
}

static void maybe_island(struct gen *g)
{
	int over;

	if (g->e->n - g->island_at < ISLAND_EVERY)
		return;
	over = emit_label(g->e);
	/* Jump over the island only if the code before it can fall into it:
	 * the verifier rejects an unreachable jump. */
	if (can_fall_through(g->e)) {
		uint8_t was = set_kind(g, EK_STUB);

		emit_ja_far(g->e, over);
		g->e->kind_now = was;
	}
	gen_stubs(g);
	emit_bind(g->e, over);
}

/* The bpf_loop shape, in the XDP program after the entry (R1 = the request
 * length): run the handler as the callback of bpf_loop(loop_cap), then
 * turn what it left in the scratch map into the wrapper's verdict. */
static void gen_call_loop_body(struct gen *g, int body)
{
	struct bpf_emit *e = g->e;
	int returned = emit_label(e), capped = emit_label(e);

	emit_stx(e, BPF_DW, R9, CB_LEN_OFF, R1);
	emit_st_imm(e, BPF_DW, R9, CB_STATUS_OFF, CB_RUNNING);
	emit_st_imm(e, BPF_DW, R9, CB_RESUME_OFF, 0);
	launder_zero(g);
	/* The first call starts the handler; a loop-head pass from the last
	 * copy ends a call: a call before the k-th yield has passed k times
	 * `copies` heads, so (loop_cap + 1) / copies calls, rounded up, let a
	 * request pass loop_cap heads (the cap is rounded up to a multiple of
	 * the copies).  Counting every pass too (a load, an add, a store and
	 * a branch) cost kv's portable program 11% of the instructions it ran
	 * per request. */
	emit_mov_imm(e, 1, (int32_t)((g->o->loop_cap + (unsigned)g->copies) / (unsigned)g->copies));
	emit_ld_func(e, 2, body);
	emit_stx(e, BPF_DW, R10, CB_SCRATCH_SLOT, R9);
	emit_mov_reg(e, 3, R10);
	emit_alu_imm(e, 1, BPF_ADD, 3, CB_SCRATCH_SLOT);
	emit_mov_imm(e, 4, 0);
	emit_call(e, BPF_FUNC_loop);
	emit_ldx(e, BPF_DW, R1, R9, CB_STATUS_OFF);
	emit_jmp_imm(e, 0, BPF_JEQ, R1, CB_RETURNED, returned);
	emit_jmp_imm(e, 0, BPF_JEQ, R1, CB_RUNNING, capped);
	emit_mov_reg(e, R0, R1);	/* a fallback: the wrapper checks the range */
	emit_ja(e, g->wrap.lbl_handler_fallback);
	emit_bind(e, returned);
	emit_ldx(e, BPF_DW, R0, R9, CB_RAX_OFF);
	emit_ja(e, g->wrap.lbl_return);
	emit_bind(e, capped);	/* bpf_loop ran loop_cap calls: the loop cap */
	emit_mov_imm(e, R0, KOFF_STAT_PASS_LOOP);
	emit_ja(e, g->wrap.lbl_handler_fallback);
}

/* Resume numbers lo..hi (sorted block numbers + 1 of the loop heads) by
 * binary search on R0: log2 compares a call rather than one per head. */
static void dispatch_range(struct gen *g, const int *heads, int lo, int hi)
{
	int mid, upper;

	if (lo > hi)
		return;
	if (hi - lo < 3) {
		for (int i = lo; i <= hi; i++)
			emit_jmp_imm(g->e, 0, BPF_JEQ, R0, heads[i] + 1, g->resume_label[heads[i]]);
		return;
	}
	mid = (lo + hi) / 2;
	upper = emit_label(g->e);
	emit_jmp_imm(g->e, 0, BPF_JGT, R0, heads[mid] + 1, upper);
	dispatch_range(g, heads, lo, mid);
	emit_ja(g->e, g->cb_entry);
	emit_bind(g->e, upper);
	dispatch_range(g, heads, mid + 1, hi);
}

/* The callback's start: R9 = the scratch value again (a callback has its
 * own frame and registers: the caller left the pointer in its stack, which
 * ctx points at), the request length in the wrapper's stack slot where
 * request reads check it, and on to where the last call yielded, or to the
 * handler's entry with R1 = the length. */
static void gen_callback_entry(struct gen *g)
{
	struct bpf_emit *e = g->e;
	int *heads = malloc(sizeof(int) * (g->fn->nblocks + 1)), n = 0;

	if (!heads) {
		g->rc = -ENOMEM;
		return;
	}
	for (int b = 0; b < g->fn->nblocks; b++)
		if (g->resume_label[b] >= 0 && g->reachable[b])
			heads[n++] = b;
	g->cb_entry = emit_label(e);
	emit_ldx(e, BPF_DW, R9, 2, 0);
	if (g->o->shared_mode != KOFF_SHARED_NONE) {
		emit_ldx(e, BPF_DW, R0, 2, 8);
		emit_stx(e, BPF_DW, R10, XDP_WRAP_SLOT_SHARED, R0);
	}
	emit_ldx(e, BPF_DW, R1, R9, CB_LEN_OFF);
	emit_stx(e, BPF_DW, R10, XDP_WRAP_SLOT_REQLEN, R1);
	emit_ldx(e, BPF_DW, R0, R9, CB_RESUME_OFF);
	dispatch_range(g, heads, 0, n - 1);
	emit_bind(e, g->cb_entry);
	free(heads);
}

/* IR_RET in the callback: R0 = rax; keep it for the caller and stop. */
static void gen_callback_return(struct gen *g)
{
	struct bpf_emit *e = g->e;

	emit_bind(e, g->cb_return);
	emit_stx(e, BPF_DW, R9, CB_RAX_OFF, R0);
	emit_st_imm(e, BPF_DW, R9, CB_STATUS_OFF, CB_RETURNED);
	emit_mov_imm(e, R0, 1);
	emit_exit(e);
}

/* The XDP program up to the handler: entry, exit, and for the bpf_loop
 * shape the call and the callback's entry. */
static int emit_frame(struct gen *g, const struct xdp_wrap_opts *wo, struct koff_error *err)
{
	struct bpf_emit *e = g->e;
	int handler = emit_label(e), rc;

	g->wo = *wo;
	set_kind(g, EK_ENTRY);
	rc = xdp_emit_entry(e, wo, &g->wrap);
	if (rc)
		return koff_fail(err, rc, "XDP entry: %s", strerror(-rc));
	/* The exit goes right after the entry, so that the entry's jumps to it
	 * stay short however long the handler is; the handler reaches it with
	 * 32-bit jumps (or, in the callback, does not jump to it at all). */
	if (g->in_callback) {
		set_kind(g, EK_LOOP);
		gen_call_loop_body(g, handler);
	} else {
		emit_ja_far(e, handler);
	}
	set_kind(g, EK_EXIT);
	rc = xdp_emit_exit(e, wo, &g->wrap);
	if (rc)
		return koff_fail(err, rc, "XDP exit: %s", strerror(-rc));
	if (g->in_callback) {
		set_kind(g, EK_LOOP);
		emit_subprog_start(e);
		emit_bind(e, handler);
		g->cb_return = emit_label(e);
		for (int b = 0; b < g->fn->nblocks; b++)
			g->resume_label[b] = yields_at(g, b) ? emit_label(e) : -1;
		gen_callback_entry(g);
	} else {
		emit_bind(e, handler);
	}
	return 0;
}

/* The blocks of copy g->copy. */
static void emit_copy(struct gen *g)
{
	const struct ir_func *fn = g->fn;

	g->block_label = &g->copy_labels[g->copy * fn->nblocks];
	g->in_this_copy = &g->in_copy[g->copy * fn->nblocks];
	for (int b = 0; b < fn->nblocks; b++) {
		if (!g->in_this_copy[b])
			continue;
		maybe_island(g);
		g->dead = false;
		g->cur_block = b;
		emit_bind(g->e, g->block_label[b]);
		if (g->traced && block_traced(&fn->blocks[b]))
			gen_trace(g, b);
		if (g->o->launder_joins && g->npreds[b] > 1 && !is_loop_head(&fn->blocks[b]))
			launder_live_in(g, b);
		else if (g->walk_exits)
			launder_walk_exit(g, b);
		g->grp.valid = false;
		for (int i = 0; i < fn->blocks[b].ninsns; i++) {
			const struct ir_block *blk = &fn->blocks[b];

			g->cur_insn = i;
			gen_insn(g, &blk->insns[i], i + 1 < blk->ninsns ? &blk->insns[i + 1] : NULL,
				 next_in_copy(g, b));
		}
	}
}

/* The whole program into g->e; returns 0, -E2BIG when a conditional jump
 * could not reach its target, or another negative errno. */
static int emit_program(struct gen *g, const struct xdp_wrap_opts *wo, struct koff_error *err)
{
	const struct ir_func *fn = g->fn;
	struct bpf_emit *e = g->e;
	int rc;

	for (int r = 0; r < KOFF_STAT__COUNT; r++)
		g->stub[r] = -1;
	g->island_at = 0;
	g->rc = 0;
	g->ncold = 0;
	/* The bpf_loop shape's resume dispatch branches conditionally to
	 * every loop head: far ones need the relaxation through ja pads that
	 * kernels without gotol get, whatever the target. */
	e->no_gotol = !target_has(g->target, KFEAT_CPUV4) || g->in_callback;
	rc = emit_frame(g, wo, err);
	if (rc)
		return rc;
	g->island_at = e->n;
	for (int i = 0; i < g->copies * fn->nblocks; i++)
		g->copy_labels[i] = emit_label(e);
	for (int b = 0; b < fn->nblocks; b++) {
		g->tramp_label[b] = heads_redirect(g) ? emit_label(e) : -1;
		g->tramp_used[b] = false;
	}
	gen_prologue(g);
	for (g->copy = 0; g->copy < g->copies; g->copy++)
		emit_copy(g);
	e->origin_now = 0;
	set_kind(g, EK_LOOP);
	if (heads_redirect(g))
		for (int b = 0; b < fn->nblocks; b++)
			if (g->reachable[b] && yields_at(g, b))
				gen_trampoline(g, b);
	e->origin_now = 0;
	if (g->rc == -ENOMEM)
		return koff_fail(err, g->rc, "out of memory");
	if (g->rc)
		return koff_fail(err, g->rc, "%s: too many values live at a loop head", fn->name);
	if (g->in_callback)
		gen_callback_return(g);
	gen_stubs(g);
	return emit_finish(e);
}

/* The may_goto shape needs a verifier whose pruning in loops is sound
 * (LOOP_MARKS, 6.17): its loop heads carry values whose ranges the
 * verifier keeps (what the loop does not write), and before 6.17 a state
 * there could be pruned by one that lacked a precision mark, leaving a
 * branch side unwalked that the verifier then removed as dead.  The
 * bpf_loop shape does not depend on it: everything a callback call passes
 * to the next goes through the scratch map, so every call starts from the
 * same state, and inside a call the code has no loop. */
bool codegen_loops_in_callback(const struct kernel_target *t, bool has_loops)
{
	return has_loops && !(target_has(t, KFEAT_MAY_GOTO) && target_has(t, KFEAT_LOOP_MARKS));
}

/* Loop heads whose guard is (walkable) or is not (!walkable) marked so. */
static int count_guards(const struct ir_func *fn, bool walkable)
{
	int n = 0;

	for (int b = 0; b < fn->nblocks; b++)
		n += is_loop_head(&fn->blocks[b]) && fn->blocks[b].insns[0].walkable == walkable;
	return n;
}

/* Whether some walk exit launders values (lifter/loops.c). */
static bool launders_walk_exits(const struct ir_func *fn)
{
	for (int b = 0; b < fn->nblocks; b++)
		if (fn->blocks[b].nwalk_exit_vregs)
			return true;
	return false;
}

/* Whether the loops marked walkable are walked: with walk_loops, beside
 * may_goto loops or inside the bpf_loop callback (where their heads do not
 * yield), or alone (a plain program). */
static bool walks_walkable(const struct ir_func *fn, bool walk)
{
	return walk && fn->nloops;
}

int codegen_loops_walked(const struct ir_func *fn, bool walk)
{
	return walks_walkable(fn, walk) ? count_guards(fn, true) : 0;
}

enum loop_shape codegen_loop_shape(const struct kernel_target *t, const struct ir_func *fn, bool walk)
{
	if (!fn || !fn->nloops)
		return LOOP_SHAPE_NONE;
	if (walks_walkable(fn, walk) && count_guards(fn, false) == 0)
		return LOOP_SHAPE_WALKED;
	return codegen_loops_in_callback(t, true) ? LOOP_SHAPE_BPF_LOOP : LOOP_SHAPE_MAY_GOTO;
}

const char *loop_shape_name(enum loop_shape s)
{
	static const char *const names[] = { [LOOP_SHAPE_NONE] = "none", [LOOP_SHAPE_WALKED] = "walked",
					     [LOOP_SHAPE_MAY_GOTO] = "may_goto", [LOOP_SHAPE_BPF_LOOP] = "bpf_loop" };

	return names[s];
}

/* What the target cannot run at all: refused with the reason (the caller
 * links without an offload), rather than a program the kernel rejects. */
static int check_target(const struct gen *g, struct koff_error *err)
{
	const char *name = g->target->name;

	if (!target_has(g->target, KFEAT_XDP_LOAD_BYTES))
		return koff_fail(err, -EOPNOTSUPP,
				 "kernel %s lacks bpf_xdp_load_bytes (5.18), which koff's XDP entry needs", name);
	if (g->fn->nloops && g->in_callback && !target_has(g->target, KFEAT_BPF_LOOP))
		return koff_fail(err, -EOPNOTSUPP,
				 "kernel %s has neither may_goto with sound loop pruning (6.17) nor bpf_loop (5.17) "
				 "to bound the handler's loops", name);
	if (g->o->shared_mode != KOFF_SHARED_NONE && !target_has(g->target, KFEAT_MMAPABLE))
		return koff_fail(err, -EOPNOTSUPP,
				 "kernel %s lacks BPF_F_MMAPABLE maps (5.5), which shared state needs", name);
	if (g->o->shared_mode == KOFF_SHARED_LOCK && !target_has(g->target, KFEAT_ATOMICS))
		return koff_fail(err, -EOPNOTSUPP,
				 "kernel %s lacks BPF atomics (5.12), which the shared-state lock needs", name);
	if (g->in_callback && g->traced)
		return koff_fail(err, -EOPNOTSUPP,
				 "--record-path needs the may_goto loop shape (kernel 6.17+, e.g. --kernel host here); kernel %s has not",
				 name);
	return 0;
}

/* Per vreg, the instructions that read it (NULL on ENOMEM). */
static int *count_uses(const struct ir_func *fn)
{
	int *uses = calloc((size_t)fn->nvregs + 1, sizeof(int));

	if (!uses)
		return NULL;
	for (int b = 0; b < fn->nblocks; b++)
		for (int i = 0; i < fn->blocks[b].ninsns; i++) {
			int u[5], n = ir_insn_uses(&fn->blocks[b].insns[i], u);

			for (int k = 0; k < n; k++)
				uses[u[k]]++;
		}
	return uses;
}

int codegen_program(const struct ir_func *fn, const struct codegen_opts *o, struct bpf_emit *e,
		    struct koff_error *err)
{
	struct xdp_wrap_opts wo = { .udp_port = o->udp_port, .resp_cap = o->resp_cap,
				    .shared_mode = o->shared_mode, .shared_data_size = o->shared_data_size,
				    .shared_value_size = o->shared_value_size };
	struct gen g = { .fn = fn, .o = o, .e = e };
	int rc;

	g.traced = ir_has_op(fn, IR_TRACE);
	g.target = o->target ? o->target : target_find("6.18");
	g.walk = walks_walkable(fn, o->walk_loops);
	g.walk_exits = g.walk && launders_walk_exits(fn);
	g.laundered_loops = count_guards(fn, false) + (g.walk ? 0 : count_guards(fn, true));
	g.in_callback = g.laundered_loops && codegen_loops_in_callback(g.target, true);
	rc = check_target(&g, err);
	if (rc)
		return rc;
	rc = regalloc_run(fn, g.traced ? FRAME_TOP_TRACED : FRAME_TOP,
			  g.in_callback ? FRAME_CALLBACK : FRAME_MAY_GOTO, g.walk, &g.ra, err);
	if (rc) {
		regalloc_free(&g.ra);
		return rc;
	}
	g.copies = g.in_callback && o->loop_copies > 1 ? (int)o->loop_copies : 1;
	g.copy_labels = calloc((size_t)g.copies * fn->nblocks, sizeof(int));
	g.in_copy = calloc((size_t)g.copies * fn->nblocks, sizeof(bool));
	g.tramp_label = calloc(fn->nblocks, sizeof(int));
	g.tramp_used = calloc(fn->nblocks, sizeof(bool));
	g.reachable = calloc(fn->nblocks, sizeof(bool));
	g.resume_label = calloc(fn->nblocks, sizeof(int));
	g.npreds = calloc(fn->nblocks, sizeof(int));
	g.uses = count_uses(fn);
	if (!g.copy_labels || !g.in_copy || !g.tramp_label || !g.tramp_used || !g.reachable ||
	    !g.resume_label || !g.npreds || !g.uses || mark_reachable(&g) || mark_copies(&g)) {
		rc = koff_fail(err, -ENOMEM, "out of memory");
		goto out;
	}
	count_preds(&g);
	rc = emit_program(&g, &wo, err);
	if (rc == -E2BIG && !err->code) {
		/* Some branch is more than 32767 instructions from its target:
		 * again, with every block-to-block branch able to go far. */
		emit_free(e);
		emit_init(e);
		g.far = true;
		rc = emit_program(&g, &wo, err);
	}
	if (rc && !err->code)
		rc = koff_fail(err, rc, "code generation failed: %s", strerror(-rc));
out:
	free(g.copy_labels);
	free(g.in_copy);
	free(g.tramp_label);
	free(g.tramp_used);
	free(g.reachable);
	free(g.resume_label);
	free(g.npreds);
	free(g.uses);
	free(g.cold);
	regalloc_free(&g.ra);
	return rc;
}

/* ---- Shared state: which mode ------------------------------------------------
 *
 * A forward dataflow over the IR: which vregs, and which 8-byte slots of
 * the x86 stack at constant addresses (where -O0 code keeps everything),
 * may hold an address inside the shared region (a constant there, or
 * arithmetic on one).  A store through such a value, or at a constant
 * address or displacement there, may write shared state: LOCK.  A shared
 * address stored anywhere else could come back through any load, so then
 * every store of unknown region counts too.  Otherwise SEQ: a store that
 * still reaches the region at run time falls back (pass_shared) before it
 * writes. */

#define TAINT_SLOTS ((int)(IR_STACK_SIZE / 8))

struct taint {
	const struct ir_func *fn;
	uint64_t data_size;
	int words;		/* per set: fn->nvregs bits, then TAINT_SLOTS */
	uint64_t *in;		/* per block: what may hold a shared address at entry */
	bool lock;		/* a store may write shared state */
	bool escaped;		/* a shared address was stored where it is not tracked */
	bool unknown_store;	/* a store of unknown region exists */
};

static bool in_shared(uint64_t a, uint64_t data_size)
{
	return a >= IR_DATA_VA && a < IR_DATA_VA + data_size;
}

static bool set_has(const uint64_t *set, int i)
{
	return set[i / 64] >> (i % 64) & 1;
}

static void set_bit(uint64_t *set, int i, bool on)
{
	if (on)
		set[i / 64] |= 1ull << (i % 64);
	else
		set[i / 64] &= ~(1ull << (i % 64));
}

static bool val_tainted(const struct taint *t, const uint64_t *set, const struct ir_val *v)
{
	if (v->reg == IR_NONE)
		return in_shared((uint64_t)v->imm, t->data_size);
	return v->reg >= 0 && v->reg < t->fn->nvregs && set_has(set, v->reg);
}

/* The first stack slot a constant access covers, or -1 when it is no
 * stack access at a constant address. */
static int stack_slot(const struct ir_insn *in)
{
	uint64_t a = (uint64_t)(in->a.imm + in->imm);

	if (in->a.reg != IR_NONE || a < IR_STACK_VA || a + in->size > IR_STACK_VA + IR_STACK_SIZE)
		return -1;
	return (int)((a - IR_STACK_VA) / 8);
}

static int slot_bit(const struct taint *t, int slot)
{
	return t->fn->nvregs + slot;
}

static void taint_store(struct taint *t, uint64_t *set, const struct ir_insn *in)
{
	bool value = val_tainted(t, set, &in->b);
	int slot = stack_slot(in), last;

	if (in->a.reg == IR_NONE ? in_shared((uint64_t)(in->a.imm + in->imm), t->data_size)
				 : (val_tainted(t, set, &in->a) || in_shared((uint64_t)in->imm, t->data_size)))
		t->lock = true;
	if (in->a.reg != IR_NONE && in->region == IR_REG_UNKNOWN)
		t->unknown_store = true;
	if (slot < 0) {
		t->escaped |= value && in->size >= 4;	/* fewer bytes cannot hold an address */
		return;
	}
	last = (int)((uint64_t)(in->a.imm + in->imm) - IR_STACK_VA + in->size - 1) / 8;
	for (int k = slot; k <= last && k < TAINT_SLOTS; k++)
		set_bit(set, slot_bit(t, k), false);
	if (value && in->size == 8 && slot == last)
		set_bit(set, slot_bit(t, slot), true);
	else if (value)
		t->escaped = true;	/* a part of an address: not tracked */
}

static void taint_insn(struct taint *t, uint64_t *set, const struct ir_insn *in)
{
	bool tainted = false;
	int slot;

	if (in->op == IR_STORE) {
		taint_store(t, set, in);
		return;
	}
	if (!ir_insn_defines(in) || in->dst < 0 || in->dst >= t->fn->nvregs)
		return;
	if (in->op == IR_LOAD) {
		/* shared memory holds no pointers (src/shared.c); stack slots may */
		slot = stack_slot(in);
		if (slot >= 0) {
			int last = (int)((uint64_t)(in->a.imm + in->imm) - IR_STACK_VA + in->size - 1) / 8;

			for (int k = slot; k <= last && k < TAINT_SLOTS; k++)
				tainted |= set_has(set, slot_bit(t, k));
		}
	} else if (in->op == IR_SUB && val_tainted(t, set, &in->b)) {
		tainted = false;	/* a difference of two addresses is a length */
	} else if ((in->op == IR_ZEXT || in->op == IR_SEXT) && in->w < 32) {
		tainted = false;	/* a byte or a word cannot hold an address */
	} else {
		tainted = val_tainted(t, set, &in->a) || val_tainted(t, set, &in->b) ||
			  (in->op == IR_SELECT && (val_tainted(t, set, &in->c) || val_tainted(t, set, &in->d)));
	}
	set_bit(set, in->dst, tainted);
}

static int taint_run(struct taint *t)
{
	const struct ir_func *fn = t->fn;
	int *work = malloc(sizeof(int) * ((size_t)fn->nblocks + 1)), *succ = NULL, nwork = 0;
	bool *queued = calloc((size_t)fn->nblocks + 1, sizeof(bool));
	uint64_t *cur = calloc((size_t)t->words + 1, sizeof(uint64_t));
	int maxsucc = 2;

	for (int b = 0; b < fn->nblocks; b++) {
		const struct ir_block *blk = &fn->blocks[b];

		if (blk->ninsns && blk->insns[blk->ninsns - 1].op == IR_SWITCH &&
		    blk->insns[blk->ninsns - 1].ncases + 2 > maxsucc)
			maxsucc = blk->insns[blk->ninsns - 1].ncases + 2;
	}
	succ = malloc(sizeof(int) * (size_t)maxsucc);
	if (!work || !queued || !cur || !succ) {
		free(work), free(queued), free(cur), free(succ);
		return -ENOMEM;
	}
	/* every block once (block 0 first), then again whenever its entry set grows */
	for (int b = fn->nblocks - 1; b >= 0; b--) {
		work[nwork++] = b;
		queued[b] = true;
	}
	while (nwork && !t->lock) {
		int b = work[--nwork], n;

		queued[b] = false;
		memcpy(cur, t->in + (size_t)b * t->words, sizeof(uint64_t) * (size_t)t->words);
		for (int i = 0; i < fn->blocks[b].ninsns; i++)
			taint_insn(t, cur, &fn->blocks[b].insns[i]);
		n = ir_succs(&fn->blocks[b], succ, maxsucc);
		for (int k = 0; k < n; k++) {
			uint64_t *in = t->in + (size_t)succ[k] * t->words;
			bool grew = false;

			for (int w = 0; w < t->words; w++)
				if (cur[w] & ~in[w]) {
					in[w] |= cur[w];
					grew = true;
				}
			if (grew && !queued[succ[k]]) {
				queued[succ[k]] = true;
				work[nwork++] = succ[k];
			}
		}
	}
	free(work), free(queued), free(cur), free(succ);
	return 0;
}

enum koff_shared_mode codegen_shared_mode(const struct ir_func *fn, uint64_t data_size)
{
	struct taint t = { .fn = fn, .data_size = data_size,
			   .words = (fn->nvregs + TAINT_SLOTS + 63) / 64 };
	bool lock;

	t.in = calloc((size_t)fn->nblocks * (size_t)t.words + 1, sizeof(uint64_t));
	if (!t.in || taint_run(&t)) {
		free(t.in);
		return KOFF_SHARED_LOCK;	/* out of memory: the mode that is always exact */
	}
	free(t.in);
	lock = t.lock || (t.escaped && t.unknown_store);
	return lock ? KOFF_SHARED_LOCK : KOFF_SHARED_SEQ;
}
