/* builtins.c - the libc functions a handler may call, lifted as IR loops.
 *
 * Each builtin reads and writes memory through ordinary IR loads and stores,
 * so bpfgen checks every access like any other; the loops get iteration
 * guards like the program's own loops.  Results match glibc on x86-64:
 * memcmp/strcmp return the difference of the first differing bytes. */
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

/* A load or store of `size` bytes at base + i. */
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
	int head, body, done;
};

static void word_phase_begin(struct lift_ctx *c, struct word_phase *w, int n)
{
	int rem = lift_temp(c);

	w->n = n;
	w->i = lift_temp(c);
	w->head = lift_new_block(c);
	w->body = lift_new_block(c);
	w->done = lift_new_block(c);
	set(c, IR_MOV, w->i, ir_imm(0), ir_imm(0), 64);
	jump(c, w->head);
	lift_set_block(c, w->head);
	set(c, IR_SUB, rem, ir_reg(n), ir_reg(w->i), 64);
	branch(c, IR_ULT, ir_reg(rem), ir_imm(8), w->done, w->body);
	lift_set_block(c, w->body);
}

static void word_phase_next(struct lift_ctx *c, struct word_phase *w)
{
	set(c, IR_ADD, w->i, ir_reg(w->i), ir_imm(8), 64);
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

/* The byte at base + i (base a vreg), zero-extended. */
static struct ir_val byte_at(struct lift_ctx *c, int base, int i)
{
	int addr = lift_temp(c), v = lift_temp(c);
	struct ir_insn *in;

	set(c, IR_ADD, addr, ir_reg(base), ir_reg(i), 64);
	in = lift_emit(c, IR_LOAD);
	if (in) {
		in->dst = v;
		in->a = ir_reg(addr);
		in->size = 1;
	}
	return ir_reg(v);
}

static void store_byte(struct lift_ctx *c, int base, struct ir_val i, struct ir_val v)
{
	int addr = lift_temp(c);
	struct ir_insn *in;

	set(c, IR_ADD, addr, ir_reg(base), i, 64);
	in = lift_emit(c, IR_STORE);
	if (in) {
		in->a = ir_reg(addr);
		in->b = v;
		in->size = 1;
	}
}

/* Arguments are copied: the loop must see them as they were at the call. */
static int arg(struct lift_ctx *c, int reg)
{
	int t = lift_temp(c);

	set(c, IR_MOV, t, ir_imm(0), ir_reg(reg), 64);
	return t;
}

static void lift_memcpy(struct lift_ctx *c)
{
	int d = arg(c, IR_RDI), s = arg(c, IR_RSI), n = arg(c, IR_RDX);
	struct word_phase w;
	struct loop l;

	word_phase_begin(c, &w, n);
	store_at(c, d, w.i, load_at(c, s, w.i, 8), 8);
	word_phase_next(c, &w);
	loop_resume(c, &l, w.i);
	branch(c, IR_UGE, ir_reg(l.i), ir_reg(n), l.done, l.body);
	lift_set_block(c, l.body);
	store_byte(c, d, ir_reg(l.i), byte_at(c, s, l.i));
	loop_next(c, &l);
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
		store_byte(c, d, ir_reg(k), byte_at(c, s, k));
	}
	loop_next(c, &l);
	set(c, IR_MOV, IR_RAX, ir_imm(0), ir_reg(d), 64);
	jump(c, out);
	lift_set_block(c, out);
}

static void lift_memset(struct lift_ctx *c)
{
	int d = arg(c, IR_RDI), v = arg(c, IR_RSI), n = arg(c, IR_RDX);
	struct loop l;

	struct word_phase w;
	int v8 = lift_temp(c);

	set(c, IR_AND, v, ir_reg(v), ir_imm(0xff), 64);
	set(c, IR_MUL, v8, ir_reg(v), ir_imm(0x0101010101010101ll), 64);
	word_phase_begin(c, &w, n);
	store_at(c, d, w.i, ir_reg(v8), 8);
	word_phase_next(c, &w);
	loop_resume(c, &l, w.i);
	branch(c, IR_UGE, ir_reg(l.i), ir_reg(n), l.done, l.body);
	lift_set_block(c, l.body);
	store_byte(c, d, ir_reg(l.i), ir_reg(v));
	loop_next(c, &l);
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
	set(c, IR_MOV, x, ir_imm(0), byte_at(c, a, l.i), 64);
	set(c, IR_MOV, y, ir_imm(0), byte_at(c, b, l.i), 64);
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
	branch(c, IR_EQ, byte_at(c, s, l.i), ir_imm(0), l.done, l.body);
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
	branch(c, IR_EQ, byte_at(c, s, l.i), ir_reg(v), found, l.body);
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

bool builtin_lift(struct lift_ctx *c, const char *name)
{
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
	else
		return false;
	/* The callee leaves the flags undefined. */
	c->fs = (struct fstate){ FK_NONE, 0 };
	return true;
}
