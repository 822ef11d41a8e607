/* simplify.c - tidy the lifted IR before code generation.
 *
 * The lifter translates one x86 instruction at a time and is conservative
 * about flags, so its output has two kinds of waste this pass removes:
 *   - dead code: saved flag operands nothing reads, results overwritten
 *     before use, loads from a constant address in memory the x86 code
 *     may always read (the scratch regions, .rodata: the pops that
 *     restore callee-saved registers before the return); other loads
 *     stay, since a load through a bad address must fall back;
 *   - copies: `t = a + b; x = t` becomes `x = a + b` when t has no other
 *     use and nothing in between touches x; after `x = y`, later reads of
 *     x in the block read y (and the copy often dies);
 *   - operations the known-zero bits decide (bits.c) become copies first.
 * Every rewrite keeps the IR's meaning exactly. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"
#include "koff.h"
#include "lift.h"

static bool is_pure(const struct ir_insn *in)
{
	return ir_insn_defines(in) && in->op != IR_LOAD;
}

static bool is_pure_or_load(const struct ir_insn *in)
{
	return ir_insn_defines(in);
}

/* A load from a constant address in the request, reply or stack region or
 * in .rodata: memory the original can read too, so without a reader of
 * its result the load can go (a request byte past the length would fall
 * back, but the original reads its buffer there and goes on). */
static bool is_safe_constant_load(const struct ir_func *fn, const struct ir_insn *in)
{
	uint64_t a = (uint64_t)(in->a.imm + in->imm), s = in->size;

	if (in->op != IR_LOAD || in->a.reg != IR_NONE)
		return false;
	return (a >= IR_SCRATCH_VA && a + s <= IR_SCRATCH_VA + IR_PRIV_OFF) ||
	       (a >= IR_RODATA_VA && a + s <= IR_RODATA_VA + fn->rodata_size);
}

/* Remove instructions whose results nobody reads; returns how many. */
static int dead_code(struct ir_func *fn, const struct ir_liveness *lv, uint64_t *live)
{
	int removed = 0, nw = lv->nwords;

	for (int b = 0; b < fn->nblocks; b++) {
		struct ir_block *blk = &fn->blocks[b];
		int keep = blk->ninsns;

		memcpy(live, lv->out + (size_t)b * nw, sizeof(uint64_t) * nw);
		for (int i = blk->ninsns - 1; i >= 0; i--) {
			struct ir_insn *in = &blk->insns[i];
			int u[5], nu;

			if ((is_pure(in) || is_safe_constant_load(fn, in)) && !ir_bit(live, in->dst)) {
				in->op = IR_MOV;	/* mark: removed below */
				in->dst = -2;
				removed++;
				continue;
			}
			if (ir_insn_defines(in))
				live[in->dst / 64] &= ~((uint64_t)1 << (in->dst % 64));
			nu = ir_insn_uses(in, u);
			for (int k = 0; k < nu; k++)
				live[u[k] / 64] |= (uint64_t)1 << (u[k] % 64);
		}
		keep = 0;
		for (int i = 0; i < blk->ninsns; i++)
			if (blk->insns[i].dst != -2)
				blk->insns[keep++] = blk->insns[i];
		blk->ninsns = keep;
	}
	return removed;
}

/* Does the instruction's result have zero upper 32 bits by construction? */
static bool zero_extended32(const struct ir_insn *in)
{
	switch (in->op) {
	case IR_LOAD:
		return in->size <= 4;
	case IR_ZEXT:
		return true;
	case IR_MOV: case IR_SEXT: case IR_SELECT: case IR_MULHU: case IR_MULHS:
		return false;
	default:
		return in->w == 32;
	}
}

static bool reads(const struct ir_insn *in, int v)
{
	int u[5], nu = ir_insn_uses(in, u);

	for (int k = 0; k < nu; k++)
		if (u[k] == v)
			return true;
	return false;
}

/* `t = OP; ...; x = mov t` (or zext32 t after a 32-bit OP) -> `x = OP`. */
static int coalesce_block(struct ir_block *blk, const int *uses, const uint64_t *live_out)
{
	int merged = 0;

	for (int j = 0; j < blk->ninsns; j++) {
		struct ir_insn *cp = &blk->insns[j];
		int t = cp->b.reg, x = cp->dst, i;
		bool blocked = false;

		if (!((cp->op == IR_MOV && cp->w == 64) || (cp->op == IR_ZEXT && cp->w == 32)) ||
		    t == IR_NONE || t < IR_NFIXED || uses[t] != 1 || ir_bit(live_out, t) || x == t)
			continue;
		/* Find t's definition earlier in the block; x must be untouched between. */
		for (i = j - 1; i >= 0; i--) {
			const struct ir_insn *in = &blk->insns[i];

			if (ir_insn_defines(in) && in->dst == t)
				break;
			if (reads(in, x) || (ir_insn_defines(in) && in->dst == x) || in->op == IR_LOOPGUARD) {
				blocked = true;
				break;
			}
		}
		if (blocked || i < 0 || !is_pure_or_load(&blk->insns[i]))
			continue;
		if (cp->op == IR_ZEXT && !zero_extended32(&blk->insns[i]))
			continue;
		blk->insns[i].dst = x;
		memmove(cp, cp + 1, (size_t)(blk->ninsns - j - 1) * sizeof(*cp));
		blk->ninsns--;
		j--;
		merged++;
	}
	return merged;
}

/* Within a block, after `x = mov y`, read y where x is read, until either
 * is written again: the copy then often dies (flag operands, moves into
 * x86 registers read once).  But when y is a temporary and x an x86
 * register, read x where y is read: `t = x + 1; x = t; br t < n` becomes
 * `...; br x < n`, t's one use is the copy, and coalesce_block makes it
 * `x = x + 1` (two values live at once in two registers were a move into
 * a register, the add and a move back). */
static int propagate_copies(struct ir_func *fn, int *copy_of)
{
	int changed = 0, nactive = 0;
	int *active = copy_of + fn->nvregs;	/* the vregs with a live copy_of entry */

	for (int v = 0; v < fn->nvregs; v++)
		copy_of[v] = -1;
	for (int b = 0; b < fn->nblocks; b++) {
		struct ir_block *blk = &fn->blocks[b];

		for (int k = 0; k < nactive; k++)
			copy_of[active[k]] = -1;
		nactive = 0;
		for (int i = 0; i < blk->ninsns; i++) {
			struct ir_insn *in = &blk->insns[i];
			struct ir_val *ops[] = { &in->a, &in->b, &in->c, &in->d };

			for (int k = 0; k < 4; k++)
				if (ops[k]->reg != IR_NONE && copy_of[ops[k]->reg] >= 0) {
					ops[k]->reg = copy_of[ops[k]->reg];
					changed++;
				}
			if (!ir_insn_defines(in))
				continue;
			/* in->dst changes: forget copies of it and into it. */
			for (int k = 0; k < nactive; k++) {
				int v = active[k];

				if (v == in->dst || copy_of[v] == in->dst) {
					copy_of[v] = -1;
					active[k--] = active[--nactive];
				}
			}
			if (in->op == IR_MOV && in->w == 64 && in->b.reg != IR_NONE && in->b.reg != in->dst) {
				bool temp_into_x86 = in->b.reg >= IR_NFIXED && in->dst < IR_NFIXED;
				int from = temp_into_x86 ? in->b.reg : in->dst;

				copy_of[from] = temp_into_x86 ? in->dst : in->b.reg;
				active[nactive++] = from;
			}
		}
	}
	return changed;
}

static int *count_uses(const struct ir_func *fn)
{
	int *uses = calloc(fn->nvregs, sizeof(int));

	if (!uses)
		return NULL;
	for (int b = 0; b < fn->nblocks; b++)
		for (int i = 0; i < fn->blocks[b].ninsns; i++) {
			int u[5], nu = ir_insn_uses(&fn->blocks[b].insns[i], u);

			for (int k = 0; k < nu; k++)
				uses[u[k]]++;
		}
	return uses;
}

/* One round of every rewrite; returns how many it made, or -ENOMEM. */
static int simplify_round(struct ir_func *fn, int *copy_of)
{
	struct ir_liveness lv;
	uint64_t *live = NULL;
	int *uses = NULL, changed = -ENOMEM, folded;

	if (ir_liveness_run(fn, &lv))
		return -ENOMEM;
	live = malloc(sizeof(uint64_t) * (lv.nwords ? lv.nwords : 1));
	folded = live ? bits_simplify(fn) : -ENOMEM;
	if (folded < 0)
		goto out;
	changed = folded + dead_code(fn, &lv, live);
	changed += propagate_copies(fn, copy_of);
	uses = count_uses(fn);
	if (!uses) {
		changed = -ENOMEM;
		goto out;
	}
	for (int b = 0; b < fn->nblocks; b++)
		changed += coalesce_block(&fn->blocks[b], uses, lv.out + (size_t)b * lv.nwords);
out:
	free(uses);
	free(live);
	ir_liveness_free(&lv);
	return changed;
}

int simplify_run(struct ir_func *fn, struct koff_error *err)
{
	int *copy_of = malloc(2 * sizeof(int) * (size_t)fn->nvregs);
	int changed = 1;

	if (!copy_of)
		return koff_fail(err, -ENOMEM, "out of memory");
	for (int round = 0; round < 4 && changed > 0; round++)
		changed = simplify_round(fn, copy_of);
	free(copy_of);
	return changed < 0 ? koff_fail(err, -ENOMEM, "out of memory") : 0;
}
