/* loops.c - bound every cycle of the lifted CFG.
 *
 * Every cycle of a graph contains a back edge of a depth-first search, so a
 * guard on each back edge bounds every loop: the guard counts the edge's
 * traversals for this request and falls back once they pass the cap.  The
 * verifier then sees a finite program, and a request whose loops run longer
 * is served by userspace instead. */
#include <stdlib.h>

#include "ir.h"
#include "koff.h"

enum { WHITE, GREY, BLACK };

struct dfs {
	struct ir_func *fn;
	uint8_t *color;
	int *stack;		/* explicit stack of (block, next successor index) */
	int *next_succ;
	int depth;
};

/* Successor k of block b (through the terminator), or -1 past the last. */
static int *succ_slot(struct ir_func *fn, int b, int k)
{
	struct ir_block *blk = &fn->blocks[b];
	struct ir_insn *t;

	if (!blk->ninsns)
		return NULL;
	t = &blk->insns[blk->ninsns - 1];
	switch (t->op) {
	case IR_JMP:
		return k == 0 ? &t->t : NULL;
	case IR_BR:
		return k == 0 ? &t->t : k == 1 ? &t->f : NULL;
	case IR_SWITCH:
		return k < t->ncases ? &t->cases[k].target : NULL;
	default:
		return NULL;
	}
}

/* Redirect *edge through a new guard block; returns 0 or -ENOMEM. */
static int guard_edge(struct ir_func *fn, int *edge, uint64_t x86_addr)
{
	int target = *edge, g = ir_block_new(fn, x86_addr);
	struct ir_insn *in;

	if (g < 0)
		return g;
	in = ir_emit(fn, g, IR_LOOPGUARD);
	if (!in)
		return -ENOMEM;
	in->imm = fn->nloops++;
	in->x86_addr = x86_addr;
	in = ir_emit(fn, g, IR_JMP);
	if (!in)
		return -ENOMEM;
	in->t = target;
	in->x86_addr = x86_addr;
	*edge = g;
	return 0;
}

int loops_guard(struct ir_func *fn, struct koff_error *err)
{
	int n = fn->nblocks, sp = 0, rc = 0;
	uint8_t *color = calloc(n, 1);
	int *stack = calloc(n + 1, sizeof(int)), *next = calloc(n + 1, sizeof(int));

	if (!color || !stack || !next) {
		rc = koff_fail(err, -ENOMEM, "out of memory");
		goto out;
	}
	/* Guards added below are new blocks >= n: they are never visited. */
	stack[sp++] = 0;
	color[0] = GREY;
	while (sp > 0 && !rc) {
		int b = stack[sp - 1];
		int *edge = succ_slot(fn, b, next[sp - 1]++);

		if (!edge) {
			color[b] = BLACK;
			sp--;
			continue;
		}
		if (*edge >= n)
			continue;
		if (color[*edge] == GREY) {
			struct ir_block *blk = &fn->blocks[b];

			rc = guard_edge(fn, edge, blk->insns[blk->ninsns - 1].x86_addr);
		} else if (color[*edge] == WHITE) {
			color[*edge] = GREY;
			next[sp] = 0;
			stack[sp++] = *edge;
		}
	}
	if (rc)
		rc = koff_fail(err, rc, "out of memory");
out:
	free(color);
	free(stack);
	free(next);
	return rc;
}
