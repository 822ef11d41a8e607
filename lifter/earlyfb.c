/* earlyfb.c - fall back as soon as the outcome is fixed.
 *
 * A request whose every remaining path ends in a fallback gains nothing
 * from the kernel work still ahead of it: the packet goes to userspace
 * untouched whatever that work computes.  This pass finds every block from
 * which all paths reach an IR_FALLBACK (the fallback post-dominates the
 * block, and no IR_RET is reachable) and turns the block itself into that
 * fallback, at its start.  A request then leaves the kernel at the first
 * block where its fate is sealed, e.g. at the branch that chose the path
 * with an unsupported call, instead of after a long loop before the call.
 *
 * Requires: a complete ir_func (every block ends in a terminator; after
 *   loops_guard, so that guards already sit at loop heads).  Run it last,
 *   just before code generation.
 * Keeps: the fallback reason and site.  A block is rewritten only when
 *   every fallback it can reach has the same reason (koff_stat); the new
 *   fallback takes the reason, address and `why` of one of them (the
 *   lowest address), so the counters and the manifest's sites read as
 *   before.  Implicit fallbacks inside blocks (a failed memory check, a
 *   loop past its cap) are not outcomes this pass sees: a request that
 *   would have hit one of those on its way to the explicit fallback is now
 *   counted under the explicit one's reason instead.  Either way it
 *   passes: the program's verdict is unchanged for every request.
 * Invalidates: liveness (instructions removed), reachability (the
 *   successors of a rewritten block may become unreachable: codegen skips
 *   them), loop guards inside rewritten blocks (fn->nloops stays an upper
 *   bound).
 * Cost: linear in blocks x successors per round, rounds bounded by the
 *   lattice height (3) times the block count. */
#include <stdlib.h>

#include "ir.h"
#include "koff.h"
#include "lift.h"

/* Per block: what every path from it ends in. */
enum { OUT_UNKNOWN = -1, OUT_MIXED = -2 };	/* else: the block index of a fallback */

static const struct ir_insn *terminator(const struct ir_func *fn, int b)
{
	const struct ir_block *blk = &fn->blocks[b];

	return blk->ninsns ? &blk->insns[blk->ninsns - 1] : NULL;
}

/* Two outcomes met at a branch: equal reasons stay (the lower address
 * represents them), anything else is mixed. */
static int meet(const struct ir_func *fn, int a, int b)
{
	const struct ir_insn *ta, *tb;

	if (a == OUT_UNKNOWN)
		return b;
	if (b == OUT_UNKNOWN)
		return a;
	if (a == OUT_MIXED || b == OUT_MIXED)
		return OUT_MIXED;
	ta = terminator(fn, a);
	tb = terminator(fn, b);
	if (ta->imm != tb->imm)
		return OUT_MIXED;
	return tb->x86_addr < ta->x86_addr ? b : a;
}

static int initial_outcome(const struct ir_func *fn, int b)
{
	const struct ir_insn *t = terminator(fn, b);

	if (!t || t->op == IR_RET || t->op == IR_SWITCH)
		return OUT_MIXED;	/* a switch's implicit default: keep it as is */
	return t->op == IR_FALLBACK ? b : OUT_UNKNOWN;
}

/* The greatest fixed point: start optimistic (unknown), lower to the meet
 * of the successors until nothing changes.  A cycle no path leaves stays
 * unknown and is left alone. */
static void solve(const struct ir_func *fn, int *out)
{
	bool changed = true;

	for (int b = 0; b < fn->nblocks; b++)
		out[b] = initial_outcome(fn, b);
	while (changed) {
		changed = false;
		for (int b = fn->nblocks - 1; b >= 0; b--) {
			int succ[64], n, v = OUT_UNKNOWN;
			const struct ir_insn *t = terminator(fn, b);

			if (t->op == IR_FALLBACK || out[b] == OUT_MIXED)
				continue;
			n = ir_succs(&fn->blocks[b], succ, (int)KOFF_ARRAY_SIZE(succ));
			if (n < 0 || n > (int)KOFF_ARRAY_SIZE(succ)) {
				v = OUT_MIXED;
			} else {
				for (int k = 0; k < n; k++)
					v = meet(fn, v, out[succ[k]]);
			}
			if (v != out[b]) {
				out[b] = v;
				changed = true;
			}
		}
	}
}

/* Block b becomes one instruction: a copy of the fallback at `sink`. */
static void rewrite_as_fallback(struct ir_func *fn, int b, int sink)
{
	struct ir_block *blk = &fn->blocks[b];
	struct ir_insn fb = *terminator(fn, sink);

	for (int i = 0; i < blk->ninsns; i++) {
		free(blk->insns[i].cases);
		free(blk->insns[i].loop_vregs);
	}
	fb.cases = NULL, fb.ncases = 0;
	fb.loop_vregs = NULL, fb.nloop_vregs = 0;
	blk->insns[0] = fb;
	blk->ninsns = 1;
}

int earlyfb_run(struct ir_func *fn, struct koff_error *err)
{
	int *out = malloc(sizeof(int) * (size_t)(fn->nblocks ? fn->nblocks : 1));
	int moved = 0;

	if (!out)
		return koff_fail(err, -ENOMEM, "out of memory");
	solve(fn, out);
	for (int b = 0; b < fn->nblocks; b++) {
		if (out[b] < 0 || terminator(fn, b)->op == IR_FALLBACK)
			continue;
		rewrite_as_fallback(fn, b, out[b]);
		moved++;
	}
	free(out);
	return moved;
}
