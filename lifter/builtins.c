/* builtins.c - the libc functions a handler may call, lifted as IR loops.
 *
 * Each builtin reads and writes memory through ordinary IR loads and stores,
 * so bpfgen checks every access like any other; the loops get iteration
 * guards like the program's own loops.  Results match glibc on x86-64:
 * memcmp/strcmp return the difference of the first differing bytes. */
#include <stdlib.h>
#include <string.h>

#include "lift_int.h"

/* A counted loop over i = 0, 1, ...: the caller fills the body block and
 * jumps back to `head`; `done` is where the loop exits to. */
struct loop {
	int i;		/* the index vreg */
	int head, body, done;
};

static void set(struct lift_ctx *c, enum ir_op op, int dst, struct ir_val a, struct ir_val b, int w)
{
	struct ir_insn *in = lift_emit(c, op);

	if (in) {
		in->dst = dst;
		in->a = a;
		in->b = b;
		in->w = (uint8_t)w;
	}
}

static void jump(struct lift_ctx *c, int target)
{
	struct ir_insn *in = lift_emit(c, IR_JMP);

	if (in)
		in->t = target;
}

static void branch(struct lift_ctx *c, enum ir_cond cond, struct ir_val a, struct ir_val b, int t, int f)
{
	struct ir_insn *in = lift_emit(c, IR_BR);

	if (in) {
		in->cond = (uint8_t)cond;
		in->a = a;
		in->b = b;
		in->t = t;
		in->f = f;
	}
}

/* Starts a loop whose index is `i` as it stands; leaves the builder in `head`. */
static void loop_resume(struct lift_ctx *c, struct loop *l, int i)
{
	l->i = i;
	l->head = lift_new_block(c);
	l->body = lift_new_block(c);
	l->done = lift_new_block(c);
	jump(c, l->head);
	lift_set_block(c, l->head);
}

/* Starts the loop: i = 0, then head. Leaves the builder in `head`. */
static void loop_begin(struct lift_ctx *c, struct loop *l)
{
	int i = lift_temp(c);

	set(c, IR_MOV, i, ir_imm(0), ir_imm(0), 64);
	loop_resume(c, l, i);
}

/* A load (zero-extended) or store of `size` bytes at base + i (vregs). */
static struct ir_val load_at(struct lift_ctx *c, int base, int i, int size)
{
	int addr = lift_temp(c), v = lift_temp(c);
	struct ir_insn *in;

	set(c, IR_ADD, addr, ir_reg(base), ir_reg(i), 64);
	in = lift_emit(c, IR_LOAD);
	if (in) {
		in->dst = v;
		in->a = ir_reg(addr);
		in->size = (uint8_t)size;
	}
	return ir_reg(v);
}

static void store_at(struct lift_ctx *c, int base, int i, struct ir_val v, int size)
{
	int addr = lift_temp(c);
	struct ir_insn *in;

	set(c, IR_ADD, addr, ir_reg(base), ir_reg(i), 64);
	in = lift_emit(c, IR_STORE);
	if (in) {
		in->a = ir_reg(addr);
		in->b = v;
		in->size = (uint8_t)size;
	}
}

/* Eight bytes at a time while eight or more of n remain: i = 0 on entry,
 * the first byte not yet handled at `done`.  word_phase_begin leaves the
 * builder in the round's body; word_phase_next closes the round and leaves
 * the builder at `done`, where a byte loop takes over from i. */
struct word_phase {
	int i, n;
	int step;	/* bytes a round handles: 8, or 16 for two words */
	int head, body, done;
};

/* A phase of rounds of `step` bytes while that many of n remain, from
 * index vreg `from` as it stands (-1: from 0).
 *
 * The round's test is n - i < step, which lifter/walkable.c cannot count,
 * so the loop is laundered, never walked.  With walkable_builtins it is
 * i + step > n (the same while i <= n): a counter plus a constant against
 * a value the loop does not write, which the verifier walks pass by pass
 * up to the end of the region the accesses step through.  Only for a
 * walked variant that nothing else would give one, and that it makes
 * plain (src/variants.c, setup_walked): older kernels load it instead of
 * a bpf_loop callback that yields every fourth pass (echo: 0.74x the
 * reference instead of 1.06x).  A copy called from many places with
 * different exact values multiplies the walks (geoip at gcc -O1 verified
 * in 916k instructions instead of 31k in the host's shape). */
static void phase_begin(struct lift_ctx *c, struct word_phase *w, int n, int from, int step)
{
	int test = lift_temp(c);

	w->n = n;
	w->step = step;
	w->i = from >= 0 ? from : lift_temp(c);
	w->head = lift_new_block(c);
	w->body = lift_new_block(c);
	w->done = lift_new_block(c);
	if (from < 0)
		set(c, IR_MOV, w->i, ir_imm(0), ir_imm(0), 64);
	jump(c, w->head);
	lift_set_block(c, w->head);
	if (c->opts->walkable_builtins) {
		set(c, IR_ADD, test, ir_reg(w->i), ir_imm(step), 64);
		branch(c, IR_UGT, ir_reg(test), ir_reg(n), w->done, w->body);
	} else {
		set(c, IR_SUB, test, ir_reg(n), ir_reg(w->i), 64);
		branch(c, IR_ULT, ir_reg(test), ir_imm(step), w->done, w->body);
	}
	lift_set_block(c, w->body);
}

static void word_phase_begin(struct lift_ctx *c, struct word_phase *w, int n)
{
	phase_begin(c, w, n, -1, 8);
}

static void word_phase_next(struct lift_ctx *c, struct word_phase *w)
{
	set(c, IR_ADD, w->i, ir_reg(w->i), ir_imm(w->step), 64);
	jump(c, w->head);
	lift_set_block(c, w->done);
}

/* i += 1 and back to the head; leaves the builder in `done`. */
static void loop_next(struct lift_ctx *c, struct loop *l)
{
	set(c, IR_ADD, l->i, ir_reg(l->i), ir_imm(1), 64);
	jump(c, l->head);
	lift_set_block(c, l->done);
}


/* Arguments are copied: the loop must see them as they were at the call. */
static int arg(struct lift_ctx *c, int reg)
{
	int t = lift_temp(c);

	set(c, IR_MOV, t, ir_imm(0), ir_reg(reg), 64);
	return t;
}

/* Copies `words` words from s + i to d + i (i unchanged). */
static void copy_words(struct lift_ctx *c, int d, int s, int i, int words)
{
	for (int k = 0; k < words; k++) {
		int at = i;

		if (k) {
			at = lift_temp(c);
			set(c, IR_ADD, at, ir_reg(i), ir_imm(8 * k), 64);
		}
		store_at(c, d, at, load_at(c, s, at, 8), 8);
	}
}

/* Leaves the builder where `bytes` of n remain from i (no loop); returns
 * the block if_left_done goes on in. */
static int if_left(struct lift_ctx *c, int n, int i, int bytes)
{
	int rem = lift_temp(c), then = lift_new_block(c), after = lift_new_block(c);

	set(c, IR_SUB, rem, ir_reg(n), ir_reg(i), 64);
	branch(c, IR_ULT, ir_reg(rem), ir_imm(bytes), after, then);
	lift_set_block(c, then);
	return after;
}

/* i += bytes, and on after the if_left. */
static void if_left_done(struct lift_ctx *c, int i, int bytes, int after)
{
	set(c, IR_ADD, i, ir_reg(i), ir_imm(bytes), 64);
	jump(c, after);
	lift_set_block(c, after);
}

/* If `bytes` of n remain from i: copy them (in words from 8 on, else in
 * one access of that size) and i += bytes. */
static void copy_if_left(struct lift_ctx *c, int d, int s, int n, int i, int bytes)
{
	int after = if_left(c, n, i, bytes);

	if (bytes >= 8)
		copy_words(c, d, s, i, bytes / 8);
	else
		store_at(c, d, i, load_at(c, s, i, bytes), bytes);
	if_left_done(c, i, bytes, after);
}

/* memcpy copies four words a round while 32 bytes remain, then 16, 8, 4,
 * 2 and 1 bytes each if that many do: one loop, whose head (iteration
 * count, may_goto, laundering) costs about as much as a word's copy, so
 * the fewer rounds the better (echo, two words a round: 671 instructions
 * per request; four: 615, bench/icount; the tail without a byte loop:
 * 560 -> 532). */
static void lift_memcpy(struct lift_ctx *c)
{
	int d = arg(c, IR_RDI), s = arg(c, IR_RSI), n = arg(c, IR_RDX);
	struct word_phase quad;

	phase_begin(c, &quad, n, -1, 32);
	copy_words(c, d, s, quad.i, 4);
	word_phase_next(c, &quad);
	for (int bytes = 16; bytes >= 1; bytes /= 2)
		copy_if_left(c, d, s, n, quad.i, bytes);
	set(c, IR_MOV, IR_RAX, ir_imm(0), ir_reg(d), 64);
}

/* memmove copies backwards when the destination overlaps the source's tail. */
static void lift_memmove(struct lift_ctx *c)
{
	int d = arg(c, IR_RDI), s = arg(c, IR_RSI), n = arg(c, IR_RDX);
	int gap = lift_temp(c), back = lift_new_block(c), fwd = lift_new_block(c), out;
	struct loop l;

	set(c, IR_SUB, gap, ir_reg(d), ir_reg(s), 64);
	branch(c, IR_ULT, ir_reg(gap), ir_reg(n), back, fwd);
	lift_set_block(c, fwd);
	lift_memcpy(c);
	out = lift_new_block(c);
	jump(c, out);
	lift_set_block(c, back);
	loop_begin(c, &l);
	branch(c, IR_UGE, ir_reg(l.i), ir_reg(n), l.done, l.body);
	lift_set_block(c, l.body);
	{
		int k = lift_temp(c);	/* k = n - 1 - i */

		set(c, IR_SUB, k, ir_reg(n), ir_reg(l.i), 64);
		set(c, IR_SUB, k, ir_reg(k), ir_imm(1), 64);
		store_at(c, d, k, load_at(c, s, k, 1), 1);
	}
	loop_next(c, &l);
	set(c, IR_MOV, IR_RAX, ir_imm(0), ir_reg(d), 64);
	jump(c, out);
	lift_set_block(c, out);
}

static void lift_memset(struct lift_ctx *c)
{
	int d = arg(c, IR_RDI), v = arg(c, IR_RSI), n = arg(c, IR_RDX);
	struct word_phase w;
	int v8 = lift_temp(c);

	set(c, IR_AND, v, ir_reg(v), ir_imm(0xff), 64);
	set(c, IR_MUL, v8, ir_reg(v), ir_imm(0x0101010101010101ll), 64);
	word_phase_begin(c, &w, n);
	store_at(c, d, w.i, ir_reg(v8), 8);
	word_phase_next(c, &w);
	/* fewer than 8 left: 4, 2 and 1 bytes of the pattern, no loop */
	for (int bytes = 4; bytes >= 1; bytes /= 2) {
		int after = if_left(c, n, w.i, bytes);

		store_at(c, d, w.i, ir_reg(v8), bytes);
		if_left_done(c, w.i, bytes, after);
	}
	set(c, IR_MOV, IR_RAX, ir_imm(0), ir_reg(d), 64);
}

/* memcmp, strcmp, strncmp: `bounded` stops after n bytes, `stop_at_nul`
 * after a NUL common to both. */
static void lift_compare(struct lift_ctx *c, bool bounded, bool stop_at_nul)
{
	int a = arg(c, IR_RDI), b = arg(c, IR_RSI), n = bounded ? arg(c, IR_RDX) : -1;
	int differ = lift_new_block(c), same = lift_new_block(c), out = lift_new_block(c);
	int x = lift_temp(c), y = lift_temp(c);
	struct loop l;

	if (bounded && !stop_at_nul) {
		/* memcmp: skip equal words; the byte loop finds the first
		 * difference inside the word that differs. */
		struct word_phase w;
		int same_word = lift_new_block(c);

		word_phase_begin(c, &w, n);
		branch(c, IR_NE, load_at(c, a, w.i, 8), load_at(c, b, w.i, 8), w.done, same_word);
		lift_set_block(c, same_word);
		word_phase_next(c, &w);
		loop_resume(c, &l, w.i);
	} else {
		loop_begin(c, &l);
	}
	if (bounded) {
		int check = lift_new_block(c);

		branch(c, IR_UGE, ir_reg(l.i), ir_reg(n), same, check);
		lift_set_block(c, check);
	}
	set(c, IR_MOV, x, ir_imm(0), load_at(c, a, l.i, 1), 64);
	set(c, IR_MOV, y, ir_imm(0), load_at(c, b, l.i, 1), 64);
	if (stop_at_nul) {
		int nonnul = lift_new_block(c);

		branch(c, IR_NE, ir_reg(x), ir_reg(y), differ, nonnul);
		lift_set_block(c, nonnul);
		branch(c, IR_EQ, ir_reg(x), ir_imm(0), same, l.body);
	} else {
		branch(c, IR_NE, ir_reg(x), ir_reg(y), differ, l.body);
	}
	lift_set_block(c, l.body);
	loop_next(c, &l);
	jump(c, same);	/* `done` is unused: the exits are `same` and `differ` */
	lift_set_block(c, differ);
	set(c, IR_SUB, IR_RAX, ir_reg(x), ir_reg(y), 32);
	jump(c, out);
	lift_set_block(c, same);
	set(c, IR_MOV, IR_RAX, ir_imm(0), ir_imm(0), 64);
	jump(c, out);
	lift_set_block(c, out);
}

static void lift_strlen(struct lift_ctx *c, bool bounded)
{
	int s = arg(c, IR_RDI), n = bounded ? arg(c, IR_RSI) : -1;
	struct loop l;

	loop_begin(c, &l);
	if (bounded) {
		int check = lift_new_block(c);

		branch(c, IR_UGE, ir_reg(l.i), ir_reg(n), l.done, check);
		lift_set_block(c, check);
	}
	branch(c, IR_EQ, load_at(c, s, l.i, 1), ir_imm(0), l.done, l.body);
	lift_set_block(c, l.body);
	loop_next(c, &l);
	set(c, IR_MOV, IR_RAX, ir_imm(0), ir_reg(l.i), 64);
}

static void lift_memchr(struct lift_ctx *c)
{
	int s = arg(c, IR_RDI), v = arg(c, IR_RSI), n = arg(c, IR_RDX);
	int found = lift_new_block(c), check = lift_new_block(c), out = lift_new_block(c);
	struct loop l;

	set(c, IR_AND, v, ir_reg(v), ir_imm(0xff), 64);
	loop_begin(c, &l);
	branch(c, IR_UGE, ir_reg(l.i), ir_reg(n), l.done, check);
	lift_set_block(c, check);
	branch(c, IR_EQ, load_at(c, s, l.i, 1), ir_reg(v), found, l.body);
	lift_set_block(c, l.body);
	loop_next(c, &l);
	set(c, IR_MOV, IR_RAX, ir_imm(0), ir_imm(0), 64);
	jump(c, out);
	lift_set_block(c, found);
	set(c, IR_ADD, IR_RAX, ir_reg(s), ir_reg(l.i), 64);
	jump(c, out);
	lift_set_block(c, out);
}

/* rep movs / rep stos (and their single forms): element size `size`,
 * count in rcx (1 without rep), direction flag clear as the ABI requires. */
static void lift_string_op(struct lift_ctx *c, bool is_movs, int size, bool rep)
{
	int n = lift_temp(c), bytes = lift_temp(c);
	struct loop l;

	set(c, IR_MOV, n, ir_imm(0), rep ? ir_reg(IR_RCX) : ir_imm(1), 64);
	loop_begin(c, &l);
	branch(c, IR_UGE, ir_reg(l.i), ir_reg(n), l.done, l.body);
	lift_set_block(c, l.body);
	{
		int off = lift_temp(c), addr = lift_temp(c);
		struct ir_insn *in;
		struct ir_val v = ir_reg(IR_RAX);

		set(c, IR_SHL, off, ir_reg(l.i), ir_imm(__builtin_ctz((unsigned)size)), 64);
		if (is_movs) {
			int t = lift_temp(c);

			set(c, IR_ADD, addr, ir_reg(IR_RSI), ir_reg(off), 64);
			in = lift_emit(c, IR_LOAD);
			if (in) {
				in->dst = t;
				in->a = ir_reg(addr);
				in->size = (uint8_t)size;
			}
			v = ir_reg(t);
		}
		set(c, IR_ADD, addr, ir_reg(IR_RDI), ir_reg(off), 64);
		in = lift_emit(c, IR_STORE);
		if (in) {
			in->a = ir_reg(addr);
			in->b = v;
			in->size = (uint8_t)size;
		}
	}
	loop_next(c, &l);
	set(c, IR_SHL, bytes, ir_reg(n), ir_imm(__builtin_ctz((unsigned)size)), 64);
	set(c, IR_ADD, IR_RDI, ir_reg(IR_RDI), ir_reg(bytes), 64);
	if (is_movs)
		set(c, IR_ADD, IR_RSI, ir_reg(IR_RSI), ir_reg(bytes), 64);
	if (rep)
		set(c, IR_MOV, IR_RCX, ir_imm(0), ir_imm(0), 64);
}

bool builtin_string_insn(struct lift_ctx *c)
{
	const cs_insn *in = c->in;
	const cs_x86 *x = &in->detail->x86;
	bool rep = x->prefix[0] == X86_PREFIX_REP;
	bool is_movs;
	int size;

	switch (in->id) {
	case X86_INS_MOVSB: is_movs = true; size = 1; break;
	case X86_INS_MOVSW: is_movs = true; size = 2; break;
	case X86_INS_MOVSQ: is_movs = true; size = 8; break;
	case X86_INS_MOVSD:	/* also SSE's scalar double move: string form only */
		if (x->op_count != 2 || x->operands[0].type != X86_OP_MEM ||
		    x->operands[0].mem.base != X86_REG_RDI)
			return false;
		is_movs = true;
		size = 4;
		break;
	case X86_INS_STOSB: is_movs = false; size = 1; break;
	case X86_INS_STOSW: is_movs = false; size = 2; break;
	case X86_INS_STOSD: is_movs = false; size = 4; break;
	case X86_INS_STOSQ: is_movs = false; size = 8; break;
	default: return false;
	}
	if (x->prefix[0] && !rep)
		return false;	/* repne: not a string copy */
	lift_string_op(c, is_movs, size, rep);
	/* The loop ended the block: continue after the instruction. */
	lift_jump(c, c->inst, in->address + in->size);
	return true;
}

/* ---- Where only the sign of a comparison counts --------------------------
 * glibc's memcmp and strcmp on x86-64 return different values for the same
 * inputs depending on the CPU (an ifunc picks -1/1 or a byte difference),
 * and C promises only the sign.  The builtins return the byte difference;
 * that is exact only where the program looks at nothing but the sign or
 * zero of the result, which this scan of the code after the call checks. */

/* Registers (as x86 register numbers 0-15, see x86_reg_family) that may
 * still hold the raw result, as a bit set. */
typedef unsigned tracked_set;

/* What the instruction reads and writes, as sets of register families:
 * all of the register, or only its low byte (al, cl, ...).  A low-byte
 * write leaves the rest of the result in place. */
struct reg_use {
	tracked_set rd, rd_low8, wr_full, wr_low8;
};

static bool reg_sets(csh cs, const cs_insn *in, struct reg_use *u)
{
	cs_regs rd, wr;
	uint8_t nrd = 0, nwr = 0;

	memset(u, 0, sizeof(*u));
	if (cs_regs_access(cs, in, rd, &nrd, wr, &nwr) != CS_ERR_OK)
		return false;
	for (int i = 0; i < nrd; i++) {
		int w, f = x86_reg_family(rd[i], &w);
		bool low8 = w == 8 && rd[i] != X86_REG_AH && rd[i] != X86_REG_BH &&
			    rd[i] != X86_REG_CH && rd[i] != X86_REG_DH;

		if (f >= 0)
			*(low8 ? &u->rd_low8 : &u->rd) |= 1u << f;
	}
	for (int i = 0; i < nwr; i++) {
		int w, f = x86_reg_family(wr[i], &w);

		if (f >= 0 && w >= 32)
			u->wr_full |= 1u << f;
		else if (f >= 0 && w == 8)
			u->wr_low8 |= 1u << f;
	}
	return true;
}

static int op_family(const cs_x86_op *op)
{
	int w;

	return op->type == X86_OP_REG ? x86_reg_family(op->reg, &w) : -1;
}

/* Operations that keep only the sign or zero of a tracked register:
 * test r, r; cmp r, 0 (flags from sign/zero); sar/shr r, width-1 (the sign
 * bit).  Returns the family it applies to, or -1. */
/* Is the next reader of the flags one that reads only CF? */
static bool next_flag_use_is_carry(struct lift_ctx *c, uint64_t va)
{
	for (int n = 0; n < 8; n++) {
		const cs_insn *in = decode_at(c->dec, va);

		if (!in)
			return false;
		switch (in->id) {
		case X86_INS_SBB: case X86_INS_ADC: case X86_INS_JB: case X86_INS_JAE:
		case X86_INS_SETB: case X86_INS_SETAE: case X86_INS_CMOVB: case X86_INS_CMOVAE:
			return true;
		default:
			break;
		}
		if (x86_reads_flags(in) || x86_writes_flags(in) ||
		    cs_insn_group(c->dec->cs, in, CS_GRP_JUMP) || cs_insn_group(c->dec->cs, in, CS_GRP_CALL))
			return false;
		va += in->size;
	}
	return false;
}

static int sign_op(struct lift_ctx *c, const cs_insn *in, tracked_set t)
{
	const cs_x86 *x = &in->detail->x86;
	int f = x->op_count == 2 ? op_family(&x->operands[0]) : -1;

	if (f < 0 || !(t & (1u << f)) || x->operands[0].size < 4)
		return -1;	/* the low byte of a result says little of its sign */
	if (in->id == X86_INS_TEST && op_family(&x->operands[1]) == f)
		return f;
	if (in->id == X86_INS_CMP && x->operands[1].type == X86_OP_IMM && x->operands[1].imm == 0)
		return f;
	if (in->id == X86_INS_CMP && x->operands[1].type == X86_OP_IMM && x->operands[1].imm == 1 &&
	    next_flag_use_is_carry(c, in->address + in->size))
		return f;	/* CF of r - 1 is "r == 0" (gcc's cmp/sbb idiom) */
	if ((in->id == X86_INS_SAR || in->id == X86_INS_SHR) && x->operands[1].type == X86_OP_IMM &&
	    x->operands[1].imm == x->operands[0].size * 8 - 1)
		return f;
	return -1;
}

/* mov r2, r (a full copy of a tracked register): the family copied to. */
static int copy_to(const cs_insn *in, tracked_set t)
{
	const cs_x86 *x = &in->detail->x86;
	int from, to;

	if (in->id != X86_INS_MOV || x->op_count != 2 || x->operands[0].size < 4)
		return -1;
	from = op_family(&x->operands[1]);
	to = op_family(&x->operands[0]);
	return from >= 0 && to >= 0 && (t & (1u << from)) ? to : -1;
}

#define CALLER_SAVED ((1u << IR_RAX) | (1u << IR_RCX) | (1u << IR_RDX) | (1u << IR_RSI) | \
		      (1u << IR_RDI) | (1u << IR_R8) | (1u << IR_R9) | (1u << IR_R10) | (1u << IR_R11))
#define ARG_REGS ((1u << IR_RDI) | (1u << IR_RSI) | (1u << IR_RDX) | (1u << IR_RCX) | \
		  (1u << IR_R8) | (1u << IR_R9))

/* A stack slot the raw result was stored to (a spill, or an -O0 local):
 * `off` from rbp, or from rsp as it was at the call for rsp-based slots. */
#define MAX_SLOTS 4
struct slot {
	int base;	/* IR_RSP or IR_RBP */
	int64_t off;
	int size;
};

/* Where the raw result may be, at one point of the scan. */
struct sign_state {
	uint64_t va;
	tracked_set t, clean8;
	/* Registers this path set to 0 (xor r, r), and whether the last flag
	 * write was a test of one: clang leaves `xor edx, edx; test dl, dl;
	 * jne` behind after inlining, a branch the path cannot take. */
	tracked_set zero;
	bool zf_known;
	/* The registers that held the raw result when the last flag write
	 * tested it for zero: where ZF is set they hold 0, whatever the CPU
	 * (gcc -Os reuses such a register as a 0). */
	tracked_set zero_if_zf;
	uint64_t table;		/* the last lea of a .rodata address: a jump table? */
	int64_t rsp_delta;	/* rsp now minus rsp at the call */
	struct slot slots[MAX_SLOTS];
	int nslots;
};

/* The scan: states already checked (a loop or a join reaches them again:
 * checking them once is enough) and an instruction budget. */
struct sign_scan {
	struct lift_ctx *c;
	struct sign_state *seen;
	int nseen, capseen;
	int budget;
	bool nomem;
};

static bool same_state(const struct sign_state *a, const struct sign_state *b)
{
	if (a->va != b->va || a->t != b->t || a->clean8 != b->clean8 || a->rsp_delta != b->rsp_delta ||
	    a->nslots != b->nslots || a->zero != b->zero || a->zf_known != b->zf_known ||
	    a->zero_if_zf != b->zero_if_zf ||
	    a->table != b->table)
		return false;
	for (int i = 0; i < a->nslots; i++)
		if (a->slots[i].base != b->slots[i].base || a->slots[i].off != b->slots[i].off ||
		    a->slots[i].size != b->slots[i].size)
			return false;
	return true;
}

/* true when the state was met before; records it otherwise. */
static bool seen_before(struct sign_scan *sc, const struct sign_state *st)
{
	for (int i = 0; i < sc->nseen; i++)
		if (same_state(&sc->seen[i], st))
			return true;
	if (koff_grow(&sc->seen, &sc->capseen, sc->nseen, sizeof(*sc->seen))) {
		sc->nomem = true;
		return false;
	}
	sc->seen[sc->nseen++] = *st;
	return false;
}

/* The frame offset a memory operand names (rsp- or rbp-based, no index). */
static bool frame_ref(const struct sign_state *st, const cs_x86_op *op, int *base, int64_t *off)
{
	int w, f;

	if (op->type != X86_OP_MEM || op->mem.base == X86_REG_INVALID || op->mem.segment != X86_REG_INVALID)
		return false;
	f = x86_reg_family(op->mem.base, &w);
	if (f != IR_RSP && f != IR_RBP)
		return false;
	*base = f;
	*off = op->mem.disp + (f == IR_RSP ? st->rsp_delta : 0);
	return true;
}

static bool overlaps(const struct slot *s, int base, int64_t off, int size)
{
	return s->base == base && off < s->off + s->size && s->off < off + size;
}

/* Does the function holding va take a frame address at or below the slot
 * (lea r, [rbp/rsp + d], d <= off)?  An object there may extend over the
 * slot and be read through a pointer: the slot is then not tracked. */
static bool frame_address_taken(struct lift_ctx *c, uint64_t va, int base, int64_t raw_off)
{
	uint64_t start = layout_function_start(c->lay, va);

	for (uint64_t a = start; start && layout_function_start(c->lay, a) == start;) {
		const cs_insn *in = decode_at(c->dec, a);
		const cs_x86_op *op;
		int w;

		if (!in)
			break;
		op = &in->detail->x86.operands[1];
		if (in->id == X86_INS_LEA && op->mem.index == X86_REG_INVALID &&
		    x86_reg_family(op->mem.base, &w) == base && op->mem.disp <= raw_off)
			return true;
		a += in->size;
	}
	return false;
}

/* The stack side of one instruction: spills of the result, reloads, rsp
 * moves.  Returns -1 when the raw result escapes, 1 when the instruction
 * was fully handled here, 0 when the register rules still apply. */
static int track_frame(struct sign_scan *sc, const cs_insn *in, struct sign_state *st)
{
	const cs_x86 *x = &in->detail->x86;
	int base, w, f;
	int64_t off;

	/* rsp and rbp moves */
	if ((in->id == X86_INS_SUB || in->id == X86_INS_ADD) && op_family(&x->operands[0]) == IR_RSP &&
	    x->operands[1].type == X86_OP_IMM) {
		st->rsp_delta += in->id == X86_INS_SUB ? -x->operands[1].imm : x->operands[1].imm;
		return 1;
	}
	if (in->id == X86_INS_PUSH)
		st->rsp_delta -= 8;
	if (in->id == X86_INS_POP) {
		for (int i = 0; i < st->nslots; i++)
			if (overlaps(&st->slots[i], IR_RSP, st->rsp_delta, 8))
				return -1;
		st->rsp_delta += 8;
	}
	if (in->id == X86_INS_LEAVE || (in->id == X86_INS_POP && op_family(&x->operands[0]) == IR_RBP)) {
		/* the frame is released: what it held is dead */
		int k = 0;

		for (int i = 0; i < st->nslots; i++)
			if (st->slots[i].base != IR_RBP)
				st->slots[k++] = st->slots[i];
		st->nslots = k;
		if (in->id == X86_INS_LEAVE) {
			for (int i = 0; i < st->nslots; i++)
				if (st->slots[i].base == IR_RSP)
					return -1;	/* rsp is no longer known */
		}
	}
	if (st->nslots == 0 && !(in->id == X86_INS_MOV && x->op_count == 2 &&
				 x->operands[0].type == X86_OP_MEM && op_family(&x->operands[1]) >= 0 &&
				 (st->t & (1u << op_family(&x->operands[1]))) && x->operands[1].size >= 2))
		return 0;
	/* mov [frame], r: a spill of the result (a byte store is the register
	 * rules' to judge: the low byte may be a clean sete) */
	if (in->id == X86_INS_MOV && x->op_count == 2 && frame_ref(st, &x->operands[0], &base, &off) &&
	    (f = op_family(&x->operands[1])) >= 0 && (st->t & (1u << f)) && x->operands[1].size >= 2) {
		if (x->operands[0].size < 4 || st->nslots == MAX_SLOTS ||
		    frame_address_taken(sc->c, in->address, base, x->operands[0].mem.disp))
			return -1;
		st->slots[st->nslots++] = (struct slot){ base, off, x->operands[0].size };
		return 1;
	}
	for (int k = 0; k < x->op_count; k++) {
		const cs_x86_op *op = &x->operands[k];
		bool hit = false;
		int i;

		if (op->type != X86_OP_MEM)
			continue;
		if (!frame_ref(st, op, &base, &off)) {
			f = op->mem.base == X86_REG_INVALID ? -1 : x86_reg_family(op->mem.base, &w);
			for (i = 0; i < st->nslots; i++)
				if (st->slots[i].base == f)
					return -1;	/* indexed frame access: may reach a slot */
			continue;
		}
		if (op->mem.index != X86_REG_INVALID) {
			for (i = 0; i < st->nslots; i++)
				if (st->slots[i].base == base)
					return -1;
			continue;
		}
		for (i = 0; i < st->nslots && !hit; i++)
			hit = overlaps(&st->slots[i], base, off, op->size);
		if (!hit)
			continue;
		i--;
		/* mov r, [slot]: a reload */
		if (in->id == X86_INS_MOV && k == 1 && (f = op_family(&x->operands[0])) >= 0 &&
		    off == st->slots[i].off && op->size >= 4 && op->size <= st->slots[i].size) {
			st->t |= 1u << f;
			st->clean8 &= ~(1u << f);
			return 1;
		}
		/* cmp [slot], 0 (or 1 before a carry test): the sign only */
		if (in->id == X86_INS_CMP && k == 0 && off == st->slots[i].off && op->size >= 4 &&
		    x->operands[1].type == X86_OP_IMM &&
		    (x->operands[1].imm == 0 ||
		     (x->operands[1].imm == 1 && next_flag_use_is_carry(sc->c, in->address + in->size))))
			return 1;
		/* mov [slot], other: overwritten */
		if (in->id == X86_INS_MOV && k == 0 && off <= st->slots[i].off &&
		    off + op->size >= st->slots[i].off + st->slots[i].size) {
			st->slots[i] = st->slots[--st->nslots];
			return 0;
		}
		return -1;
	}
	return 0;
}

/* Zeroed registers and a ZF known to be set (see struct sign_state). */
static void note_zeroes(const cs_insn *in, const struct reg_use *u, struct sign_state *st)
{
	const cs_x86 *x = &in->detail->x86;
	int f = x->op_count == 2 ? op_family(&x->operands[0]) : -1;
	bool zeroing = in->id == X86_INS_XOR && f >= 0 && f == op_family(&x->operands[1]) &&
		       x->operands[0].size >= 4;
	bool test_zero = in->id == X86_INS_TEST && f >= 0 && f == op_family(&x->operands[1]) &&
			 (st->zero & (1u << f));

	if (x86_writes_flags(in))
		st->zf_known = test_zero;
	st->zero &= ~(u->wr_full | u->wr_low8);
	if (zeroing)
		st->zero |= 1u << f;
}

/* lea r, [x + y*s + d] where the tracked x/y hold a sign/zero fact in their
 * low byte only (setcc then a byte load): r's low byte depends on theirs
 * alone, so r holds a clean low byte over raw upper bits (clang computes
 * `switch (byte)` indices this way).  lea sets no flags.  Returns r's
 * family, or -1. */
static int low8_lea(const cs_insn *in, tracked_set t, tracked_set clean8)
{
	const cs_x86 *x = &in->detail->x86;
	int w, b, i, d;

	if (in->id != X86_INS_LEA)
		return -1;
	b = x->operands[1].mem.base == X86_REG_INVALID ? -1 : x86_reg_family(x->operands[1].mem.base, &w);
	i = x->operands[1].mem.index == X86_REG_INVALID ? -1 : x86_reg_family(x->operands[1].mem.index, &w);
	d = op_family(&x->operands[0]);
	if (d < 0 || x->operands[0].size < 4 || (b < 0 && i < 0))
		return -1;
	if ((b >= 0 && (t & (1u << b)) && !(clean8 & (1u << b))) ||
	    (i >= 0 && (t & (1u << i)) && !(clean8 & (1u << i))))
		return -1;
	if (!((b >= 0 && (t & (1u << b))) || (i >= 0 && (t & (1u << i)))))
		return -1;
	return d;
}

static bool sign_only_from(struct sign_scan *sc, struct sign_state st, int depth);

/* The registers a call reads as arguments: those of the libc function it
 * calls, all six for anything else. */
static tracked_set call_args(struct lift_ctx *c, const cs_insn *call)
{
	static const struct { const char *name; int n; } known[] = {
		{ "memcpy", 3 }, { "memmove", 3 }, { "memset", 3 }, { "memcmp", 3 }, { "bcmp", 3 },
		{ "strncmp", 3 }, { "memchr", 3 }, { "strnlen", 2 }, { "strcmp", 2 }, { "strchr", 2 },
		{ "strlen", 1 }, { "tolower", 1 }, { "toupper", 1 }, { "__ctype_b_loc", 0 },
		{ "__ctype_tolower_loc", 0 }, { "__ctype_toupper_loc", 0 }, { "ntohs", 1 },
		{ "htons", 1 }, { "ntohl", 1 }, { "htonl", 1 },
	};
	static const int order[6] = { IR_RDI, IR_RSI, IR_RDX, IR_RCX, IR_R8, IR_R9 };
	const cs_x86_op *op = &call->detail->x86.operands[0];
	const char *name = op->type == X86_OP_IMM ? layout_extern_name(c->lay, (uint64_t)op->imm) : NULL;
	tracked_set args = 0;

	for (size_t i = 0; name && i < sizeof(known) / sizeof(known[0]); i++)
		if (!strcmp(name, known[i].name)) {
			for (int k = 0; k < known[i].n; k++)
				args |= 1u << order[k];
			return args;
		}
	return ARG_REGS;
}

/* Is va in the function starting at fn, or in a part split off it
 * (gcc's NAME.cold)? */
static bool same_function_or_part(const struct layout *lay, uint64_t fn, uint64_t va)
{
	const char *f = layout_function_at(lay, fn), *g = layout_function_at(lay, va);
	size_t nf = strlen(f);

	return layout_function_start(lay, va) == fn || (!strncmp(f, g, nf) && g[nf] == '.');
}

/* jmp reg after `lea r, [rip + table]`: a switch.  Every entry of the
 * table that lands in the same function is a path to check (4-byte entries
 * relative to the table, as PIC and clang emit them, or 8-byte absolute
 * ones); more candidates than the real cases only make the scan stricter. */
static bool table_targets_sign_only(struct sign_scan *sc, const cs_insn *jmp, const struct sign_state *st,
				    int depth)
{
	const struct layout *lay = sc->c->lay;
	uint64_t fn = layout_function_start(lay, jmp->address), off;

	int n = 0;

	if (!st->table || !fn)
		return false;
	off = st->table - IR_RODATA_VA;
	for (uint64_t i = 0; i < 1024; i++) {
		uint64_t targets[2] = { 0, 0 };
		bool hit = false;

		if (off + (i + 1) * 4 <= lay->rodata_size) {
			int32_t r4;

			memcpy(&r4, lay->rodata + off + i * 4, 4);
			targets[0] = st->table + (uint64_t)(int64_t)r4;
		}
		if (off + (i + 1) * 8 <= lay->rodata_size)
			memcpy(&targets[1], lay->rodata + off + i * 8, 8);
		for (int k = 0; k < 2; k++) {
			struct sign_state to = *st;

			if (!layout_in_text(lay, targets[k]) || !same_function_or_part(lay, fn, targets[k]))
				continue;
			hit = true;
			to.va = targets[k];
			to.table = 0;
			if (!sign_only_from(sc, to, depth + 1))
				return false;
			n++;
		}
		if (!hit)
			break;
	}
	return n > 0;
}

/* Does the raw result, held in the registers st->t at st->va, die having
 * been looked at only for its sign or zero?  Follows copies to other
 * registers and to stack slots, and both sides of branches. */
static bool sign_only_from(struct sign_scan *sc, struct sign_state st, int depth)
{
	if (depth > 64)
		return false;
	if (seen_before(sc, &st))
		return !sc->nomem;
	while (st.t || st.nslots) {
		const cs_insn *in;
		const cs_x86 *x;
		struct reg_use u;
		int f, fr;

		if (--sc->budget < 0)
			return false;
		in = decode_at(sc->c->dec, st.va);
		if (!in || !reg_sets(sc->c->dec->cs, in, &u))
			return false;
		x = &in->detail->x86;
		note_zeroes(in, &u, &st);
		if (x86_writes_flags(in))
			st.zero_if_zf = 0;	/* set again below by a test of the result */
		if (in->id == X86_INS_LEA && x->operands[1].mem.base == X86_REG_RIP &&
		    layout_in_rodata(sc->c->lay, in->address + in->size + (uint64_t)x->operands[1].mem.disp))
			st.table = in->address + in->size + (uint64_t)x->operands[1].mem.disp;
		fr = track_frame(sc, in, &st);
		if (fr < 0)
			return false;
		if (fr > 0 || in->id == X86_INS_NOP) {
			/* handled: a spill, reload, slot compare or rsp move; a
			 * long nop "reads" its operand's registers */
		} else if ((f = low8_lea(in, st.t, st.clean8)) >= 0) {
			st.t |= 1u << f;
			st.clean8 |= 1u << f;
		} else if (((in->id == X86_INS_XOR || in->id == X86_INS_SBB) && x->op_count == 2 &&
			    op_family(&x->operands[0]) >= 0 &&
			    op_family(&x->operands[0]) == op_family(&x->operands[1])) ||
		    (in->id == X86_INS_OR && x->op_count == 2 && x->operands[1].type == X86_OP_IMM &&
		     x->operands[1].imm == -1)) {
			st.t &= ~u.wr_full;	/* xor r, r / sbb r, r / or r, -1: 0, -CF, -1 */
		} else if ((f = sign_op(sc->c, in, st.t)) >= 0) {
			if (in->id == X86_INS_SAR || in->id == X86_INS_SHR)
				st.t &= ~(1u << f);	/* only the sign is left */
			else if (!(st.clean8 & (1u << f)) &&
				 (in->id == X86_INS_TEST || x->operands[1].imm == 0))
				st.zero_if_zf = st.t & ~st.clean8;	/* test r, r / cmp r, 0 */
		} else if ((f = copy_to(in, st.t)) >= 0) {
			st.t |= 1u << f;
			st.clean8 &= ~(1u << f);
		} else if ((u.rd & st.t) || (u.rd_low8 & st.t & ~st.clean8)) {
			return false;	/* any other look at the value */
		} else {
			/* setcc al: the low byte is a sign/zero fact; the rest is
			 * still the raw result until a full write replaces it. */
			st.clean8 |= u.wr_low8 & st.t;
			st.t &= ~u.wr_full;
		}
		if (in->id == X86_INS_CALL) {
			if (st.t & call_args(sc->c, in))
				return false;	/* handed to another function */
			st.t &= ~CALLER_SAVED;
		} else if (in->id == X86_INS_RET || cs_insn_group(sc->c->dec->cs, in, CS_GRP_RET)) {
			return !(st.t & (1u << IR_RAX));	/* returned: it escapes */
		} else if (in->id == X86_INS_JMP) {
			if (x->operands[0].type != X86_OP_IMM)
				return table_targets_sign_only(sc, in, &st, depth);
			st.va = (uint64_t)x->operands[0].imm;
			if (seen_before(sc, &st))
				return !sc->nomem;
			continue;
		} else if (cs_insn_group(sc->c->dec->cs, in, CS_GRP_JUMP)) {
			struct sign_state taken = st;

			taken.va = (uint64_t)x->operands[0].imm;
			if (in->id == X86_INS_JE)
				taken.t &= ~st.zero_if_zf;
			if (st.zf_known && (in->id == X86_INS_JNE || in->id == X86_INS_JE)) {
				if (in->id == X86_INS_JE) {	/* always taken */
					st = taken;
					if (seen_before(sc, &st))
						return !sc->nomem;
					continue;
				}
			} else if (x->operands[0].type != X86_OP_IMM || !sign_only_from(sc, taken, depth + 1)) {
				return false;
			}
			if (in->id == X86_INS_JNE)
				st.t &= ~st.zero_if_zf;
		}
		st.va += in->size;
	}
	return true;
}

static bool result_sign_only(struct lift_ctx *c)
{
	const struct instance *me = &c->insts[c->inst];
	struct sign_scan sc = { .c = c, .budget = 20000 };
	struct sign_state st = { .t = 1u << IR_RAX };
	bool ok;

	if (c->in->id == X86_INS_CALL)
		st.va = c->in->address + c->in->size;
	else if (me->parent >= 0)	/* a tail call returns the result to our caller */
		st.va = me->ret_va;
	else
		return false;
	ok = sign_only_from(&sc, st, 0);
	free(sc.seen);
	return ok;
}

static bool is_comparison(const char *name)
{
	return !strcmp(name, "memcmp") || !strcmp(name, "bcmp") || !strcmp(name, "strcmp") ||
	       !strcmp(name, "strncmp");
}

/* __ctype_b_loc() and friends: the address of the pointer to the table. */
static bool lift_ctype_loc(struct lift_ctx *c, uint64_t ptr_va)
{
	if (!ptr_va)
		return false;	/* the program may change locale: not modelled */
	set(c, IR_MOV, IR_RAX, ir_imm(0), ir_imm((int64_t)ptr_va), 64);
	return true;
}

/* tolower/toupper(c): table[c] for c in [-128, 255], else c itself. */
static bool lift_ctype_map(struct lift_ctx *c, uint64_t ptr_va)
{
	int v = lift_temp(c), idx = lift_temp(c), in_range = lift_new_block(c), out = lift_new_block(c);
	struct ir_insn *ld;

	if (!ptr_va)
		return false;
	set(c, IR_SEXT, v, ir_imm(0), ir_reg(IR_RDI), 32);
	set(c, IR_MOV, IR_RAX, ir_imm(0), ir_reg(v), 64);
	set(c, IR_ADD, idx, ir_reg(v), ir_imm(128), 64);
	branch(c, IR_ULT, ir_reg(idx), ir_imm(384), in_range, out);
	lift_set_block(c, in_range);
	set(c, IR_SHL, idx, ir_reg(idx), ir_imm(2), 64);
	/* the table starts 128 entries below where the pointer points */
	ld = lift_emit(c, IR_LOAD);
	if (ld) {
		ld->dst = IR_RAX;
		ld->a = ir_reg(idx);
		ld->imm = (int64_t)(ptr_va - 384 * 4);
		ld->size = 4;
		ld->region = IR_REG_RODATA;
	}
	jump(c, out);
	lift_set_block(c, out);
	return true;
}

/* strchr(s, c): the first byte equal to (char)c, the terminator included. */
static void lift_strchr(struct lift_ctx *c)
{
	int s = arg(c, IR_RDI), v = arg(c, IR_RSI), x = lift_temp(c);
	int found = lift_new_block(c), check_end = lift_new_block(c), out = lift_new_block(c);
	struct loop l;

	set(c, IR_AND, v, ir_reg(v), ir_imm(0xff), 64);
	loop_begin(c, &l);
	set(c, IR_MOV, x, ir_imm(0), load_at(c, s, l.i, 1), 64);
	branch(c, IR_EQ, ir_reg(x), ir_reg(v), found, check_end);
	lift_set_block(c, check_end);
	branch(c, IR_EQ, ir_reg(x), ir_imm(0), l.done, l.body);
	lift_set_block(c, l.body);
	loop_next(c, &l);
	set(c, IR_MOV, IR_RAX, ir_imm(0), ir_imm(0), 64);
	jump(c, out);
	lift_set_block(c, found);
	set(c, IR_ADD, IR_RAX, ir_reg(s), ir_reg(l.i), 64);
	jump(c, out);
	lift_set_block(c, out);
}

bool builtin_lift(struct lift_ctx *c, const char *name)
{
	if (!strcmp(name, "__ctype_b_loc"))
		return lift_ctype_loc(c, c->lay->ctype_b_ptr_va);
	if (!strcmp(name, "__ctype_tolower_loc"))
		return lift_ctype_loc(c, c->lay->ctype_tolower_ptr_va);
	if (!strcmp(name, "__ctype_toupper_loc"))
		return lift_ctype_loc(c, c->lay->ctype_toupper_ptr_va);
	if (!strcmp(name, "tolower") || !strcmp(name, "toupper")) {
		bool ok = lift_ctype_map(c, !strcmp(name, "tolower") ? c->lay->ctype_tolower_ptr_va
								      : c->lay->ctype_toupper_ptr_va);

		if (ok)
			c->fs = (struct fstate){ FK_NONE, 0 };
		return ok;
	}
	if (!strcmp(name, "ntohs") || !strcmp(name, "htons") || !strcmp(name, "ntohl") ||
	    !strcmp(name, "htonl")) {
		/* glibc's byte-order functions (calls at -O0, inline otherwise) */
		set(c, IR_BSWAP, IR_RAX, ir_imm(0), ir_reg(IR_RDI), name[4] == 's' ? 16 : 32);
		c->fs = (struct fstate){ FK_NONE, 0 };
		return true;
	}
	if (!strcmp(name, "__popcountdi2") || !strcmp(name, "__popcountsi2")) {
		/* libgcc's __builtin_popcount where the target has no popcnt */
		struct ir_val v = ir_reg(arg(c, IR_RDI));

		if (!strcmp(name, "__popcountsi2"))
			set(c, IR_ZEXT, v.reg, ir_imm(0), v, 32);
		set(c, IR_MOV, IR_RAX, ir_imm(0), x86_popcount(c, v), 64);
		c->fs = (struct fstate){ FK_NONE, 0 };
		return true;
	}
	if (is_comparison(name) && !result_sign_only(c)) {
		lift_fallback(c, KOFF_STAT_PASS_CALL,
			      "%s result used beyond its sign (glibc's value depends on the CPU)", name);
		return true;
	}
	if (!strcmp(name, "memcpy"))
		lift_memcpy(c);
	else if (!strcmp(name, "memmove"))
		lift_memmove(c);
	else if (!strcmp(name, "memset"))
		lift_memset(c);
	else if (!strcmp(name, "memcmp") || !strcmp(name, "bcmp"))
		lift_compare(c, true, false);
	else if (!strcmp(name, "strcmp"))
		lift_compare(c, false, true);
	else if (!strcmp(name, "strncmp"))
		lift_compare(c, true, true);
	else if (!strcmp(name, "strlen"))
		lift_strlen(c, false);
	else if (!strcmp(name, "strnlen"))
		lift_strlen(c, true);
	else if (!strcmp(name, "memchr"))
		lift_memchr(c);
	else if (!strcmp(name, "strchr"))
		lift_strchr(c);
	else
		return false;
	/* The callee leaves the flags undefined. */
	c->fs = (struct fstate){ FK_NONE, 0 };
	return true;
}
