/* loops.c - mark every loop head of the lifted CFG.
 *
 * Every cycle of a graph contains a back edge of a depth-first search, so a
 * LOOPGUARD first in every block a back edge enters is passed on every
 * iteration of every loop, however irreducible.  bpfgen makes each guard a
 * run-time cap (past it the request falls back) and the point where the
 * verifier can see that one iteration looks like the next. */
#include <stdlib.h>
#include <string.h>

#include "ir.h"
#include "koff.h"

enum { WHITE, GREY, BLACK };

/* Successor k of block b, or -1 past the last. */
static int succ(const struct ir_func *fn, int b, int k)
{
	const struct ir_block *blk = &fn->blocks[b];
	const struct ir_insn *t;

	if (!blk->ninsns)
		return -1;
	t = &blk->insns[blk->ninsns - 1];
	switch (t->op) {
	case IR_JMP:
		return k == 0 ? t->t : -1;
	case IR_BR:
		return k == 0 ? t->t : k == 1 ? t->f : -1;
	case IR_SWITCH:
		return k < t->ncases ? t->cases[k].target : -1;
	default:
		return -1;
	}
}

/* Iterative DFS from block 0; marks the targets of back edges. */
static int find_heads(const struct ir_func *fn, bool *head)
{
	int n = fn->nblocks, sp = 0;
	uint8_t *color = calloc(n, 1);
	int *stack = calloc(n + 1, sizeof(int)), *next = calloc(n + 1, sizeof(int));

	if (!color || !stack || !next) {
		free(color);
		free(stack);
		free(next);
		return -ENOMEM;
	}
	stack[sp++] = 0;
	color[0] = GREY;
	while (sp > 0) {
		int b = stack[sp - 1], s = succ(fn, b, next[sp - 1]++);

		if (s < 0) {
			color[b] = BLACK;
			sp--;
		} else if (color[s] == GREY) {
			head[s] = true;
		} else if (color[s] == WHITE) {
			color[s] = GREY;
			next[sp] = 0;
			stack[sp++] = s;
		}
	}
	free(color);
	free(stack);
	free(next);
	return 0;
}

static int prepend_guard(struct ir_func *fn, int b)
{
	struct ir_block *blk = &fn->blocks[b];
	struct ir_insn *in = ir_emit(fn, b, IR_LOOPGUARD);

	if (!in)
		return -ENOMEM;
	/* ir_emit appended it: rotate it to the front. */
	{
		struct ir_insn guard = *in;

		memmove(&blk->insns[1], &blk->insns[0], (size_t)(blk->ninsns - 1) * sizeof(*in));
		guard.imm = fn->nloops++;
		guard.x86_addr = blk->x86_addr;
		blk->insns[0] = guard;
	}
	return 0;
}

int loops_guard(struct ir_func *fn, struct koff_error *err)
{
	bool *head = calloc(fn->nblocks, sizeof(bool));
	int rc = head ? find_heads(fn, head) : -ENOMEM;

	for (int b = 0; b < fn->nblocks && !rc; b++)
		if (head[b])
			rc = prepend_guard(fn, b);
	free(head);
	return rc ? koff_fail(err, rc, "out of memory") : 0;
}
