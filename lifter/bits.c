/* bits.c - fold what the known-zero bits of values decide.
 *
 * The lifter writes each x86 instruction's exact semantics, and a narrow
 * x86 write is a merge into the wider register: `mov dl, al` is
 * rdx = (rdx & ~0xff) | zext8(rax), `rol ax, 8` after a 2-byte load masks
 * off upper bits that the load left zero already, `test eax, eax` ands a
 * value with itself.  A forward pass over each block tracks, per vreg, a
 * mask of the bits that may be nonzero (a 2-byte load: 0xffff; a zext8:
 * 0xff; an and: both masks' intersection), the x86 registers' from block
 * to block (a forward dataflow from the entry: ir_entry_constant), and
 * turns an operation the masks decide into a move: `x & m` where m keeps
 * every bit x may have is x, where it keeps none is 0; `x | y` and `x ^ y`
 * with y known zero is x; a zero extension of a value already that narrow
 * is the value.
 * simplify.c's copy propagation and dead-code removal then drop the moves.
 * Every rewrite is exact: the masks only ever over-approximate. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"
#include "lift.h"

#define ALL_BITS (~(uint64_t)0)
#define LOW32 ((uint64_t)0xffffffffu)

static uint64_t low_bits(int n)
{
	return n >= 64 ? ALL_BITS : ((uint64_t)1 << n) - 1;
}

/* The bits of v that may be nonzero. */
static uint64_t may(const uint64_t *mask, struct ir_val v)
{
	return v.reg == IR_NONE ? (uint64_t)v.imm : mask[v.reg];
}

/* A sum of values within `m` fits in one more bit than m's highest. */
static uint64_t sum_bits(uint64_t m)
{
	int top = 63;

	if (m == 0)
		return 0;
	while (!(m >> top))
		top--;
	return top >= 62 ? ALL_BITS : low_bits(top + 2);
}

/* The mask of in's result, from its operands' masks. */
static uint64_t result_bits(const uint64_t *mask, const struct ir_insn *in)
{
	uint64_t a = may(mask, in->a), b = may(mask, in->b), r = ALL_BITS;
	uint64_t narrow = in->w == 32 ? LOW32 : ALL_BITS;

	switch (in->op) {
	case IR_MOV:
		return in->w == 32 ? b & LOW32 : b;
	case IR_LOAD:
		return low_bits(8 * in->size);
	case IR_ZEXT:
		return b & low_bits(in->w);
	case IR_BSWAP:
		return low_bits(in->w);
	case IR_SELECT:
		return may(mask, in->c) | may(mask, in->d);
	case IR_AND:
		return a & b & narrow;
	case IR_OR: case IR_XOR:
		return (a | b) & narrow;
	case IR_ADD:
		return sum_bits(a | b) & narrow;
	case IR_LSHR:
		if (in->b.reg == IR_NONE)
			return ((a & narrow) >> (in->b.imm & (in->w == 32 ? 31 : 63))) & narrow;
		break;
	case IR_SHL:
		if (in->b.reg == IR_NONE)
			return (a << (in->b.imm & (in->w == 32 ? 31 : 63))) & narrow;
		break;
	case IR_SEXT: case IR_MULHU: case IR_MULHS:
		return ALL_BITS;
	default:
		break;
	}
	return in->w == 32 ? LOW32 : r;
}

static void make_move(struct ir_insn *in, struct ir_val from)
{
	in->op = IR_MOV;
	in->w = 64;
	in->a = ir_imm(0);
	in->b = from;
}

/* Rewrites in into a move when the masks decide its result; true if so. */
static bool fold(const uint64_t *mask, struct ir_insn *in)
{
	uint64_t narrow = in->w == 32 ? LOW32 : ALL_BITS;
	uint64_t a = may(mask, in->a), b = may(mask, in->b);

	switch (in->op) {
	case IR_AND:
		/* x & m is x when the constant m keeps every bit x may have (so
		 * x also fits the width), 0 when it keeps none; x & x is x.  A
		 * register's mask says which bits may be set, not which are, so
		 * only a constant or x itself can keep bits. */
		if (in->b.reg == IR_NONE && (a & ~(b & narrow)) == 0) {
			make_move(in, in->a);
			return true;
		}
		if (in->a.reg == IR_NONE && (b & ~(a & narrow)) == 0) {
			make_move(in, in->b);
			return true;
		}
		if (in->a.reg != IR_NONE && in->a.reg == in->b.reg && (a & ~narrow) == 0) {
			make_move(in, in->a);
			return true;
		}
		if ((a & b & narrow) == 0) {
			make_move(in, ir_imm(0));
			return true;
		}
		return false;
	case IR_OR: case IR_XOR:
		if (b == 0 && (a & ~narrow) == 0) {
			make_move(in, in->a);
			return true;
		}
		if (a == 0 && (b & ~narrow) == 0) {
			make_move(in, in->b);
			return true;
		}
		return false;
	case IR_ZEXT:
		if ((b & ~low_bits(in->w)) == 0) {
			make_move(in, in->b);
			return true;
		}
		return false;
	default:
		return false;
	}
}

/* The x86 registers at the handler's entry (ir_entry_constant): a
 * constant's own bits, or anything. */
static void entry_bits(uint64_t *in)
{
	for (int v = 0; v < IR_NFIXED; v++)
		if (!ir_entry_constant(v, &in[v]))
			in[v] = ALL_BITS;
}

/* Block b's effect on the masks (the x86 registers' at its start in
 * mask[0..IR_NFIXED), every temporary unknown); with `apply`, folds what
 * they decide too.  Returns how many it folded. */
static int run_block(struct ir_func *fn, int b, uint64_t *mask, bool apply)
{
	struct ir_block *blk = &fn->blocks[b];
	int folded = 0;

	for (int v = IR_NFIXED; v < fn->nvregs; v++)
		mask[v] = ALL_BITS;
	for (int i = 0; i < blk->ninsns; i++) {
		struct ir_insn *in = &blk->insns[i];

		if (!ir_insn_defines(in))
			continue;
		if (apply)
			folded += fold(mask, in);
		mask[in->dst] = result_bits(mask, in);
	}
	return folded;
}

/* Successor k of block b, or -1 past the last (a switch's every case). */
static int successor(const struct ir_block *blk, int k)
{
	const struct ir_insn *t = blk->ninsns ? &blk->insns[blk->ninsns - 1] : NULL;

	if (!t)
		return -1;
	if (t->op == IR_JMP)
		return k == 0 ? t->t : -1;
	if (t->op == IR_BR)
		return k == 0 ? t->t : k == 1 ? t->f : -1;
	if (t->op == IR_SWITCH)
		return k < t->ncases ? t->cases[k].target : -1;
	return -1;
}

/* The x86 registers' masks at each block's start: a forward dataflow from
 * the entry, joining predecessors by OR (masks only grow, so it ends).
 * in[b * IR_NFIXED + v]; a block no path reaches stays all zero and is
 * then given unknowns. */
static void block_entry_bits(struct ir_func *fn, uint64_t *in, bool *reached, uint64_t *mask)
{
	bool changed = true;

	entry_bits(in);
	reached[0] = true;
	while (changed) {
		changed = false;
		for (int b = 0; b < fn->nblocks; b++) {
			if (!reached[b])
				continue;
			memcpy(mask, &in[(size_t)b * IR_NFIXED], sizeof(uint64_t) * IR_NFIXED);
			run_block(fn, b, mask, false);
			for (int k = 0, s; (s = successor(&fn->blocks[b], k)) >= 0; k++) {
				uint64_t *to = &in[(size_t)s * IR_NFIXED];

				for (int v = 0; v < IR_NFIXED; v++)
					if (mask[v] & ~to[v] || !reached[s]) {
						to[v] |= mask[v];
						changed = true;
					}
				reached[s] = true;
			}
		}
	}
}

int bits_simplify(struct ir_func *fn)
{
	uint64_t *mask = malloc(sizeof(uint64_t) * (size_t)(fn->nvregs > IR_NFIXED ? fn->nvregs : IR_NFIXED));
	uint64_t *in = calloc((size_t)fn->nblocks * IR_NFIXED + 1, sizeof(uint64_t));
	bool *reached = calloc((size_t)fn->nblocks + 1, sizeof(bool));
	int folded = 0;

	if (!mask || !in || !reached) {
		free(mask);
		free(in);
		free(reached);
		return -ENOMEM;
	}
	block_entry_bits(fn, in, reached, mask);
	for (int b = 0; b < fn->nblocks; b++) {
		for (int v = 0; v < IR_NFIXED; v++)
			mask[v] = reached[b] ? in[(size_t)b * IR_NFIXED + v] : ALL_BITS;
		folded += run_block(fn, b, mask, true);
	}
	free(mask);
	free(in);
	free(reached);
	return folded;
}
