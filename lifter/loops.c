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
#include "lift.h"

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

/* Iterative DFS from block 0; marks the targets of back edges and
 * records each back edge (latch -> head). */
static int find_heads(const struct ir_func *fn, bool *head, int *latch_of_edge, int *head_of_edge,
		      int *nedges)
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
			latch_of_edge[*nedges] = b;
			head_of_edge[(*nedges)++] = s;
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

/* The natural loop of back edge latch -> head: head plus every block that
 * reaches the latch without passing through head. */
static int natural_loop(const struct ir_func *fn, int latch, int head, const int *pred_start,
			const int *preds, bool *in_loop)
{
	int *stack = malloc(sizeof(int) * (fn->nblocks + 1)), sp = 0;

	if (!stack)
		return -ENOMEM;
	in_loop[head] = true;
	if (!in_loop[latch]) {
		in_loop[latch] = true;
		stack[sp++] = latch;
	}
	while (sp) {
		int b = stack[--sp];

		for (int k = pred_start[b]; k < pred_start[b + 1]; k++)
			if (!in_loop[preds[k]]) {
				in_loop[preds[k]] = true;
				stack[sp++] = preds[k];
			}
	}
	free(stack);
	return 0;
}

/* Predecessor lists in CSR form. */
static int predecessors(const struct ir_func *fn, int **pred_start, int **preds)
{
	int n = fn->nblocks, total = 0;
	int *start = calloc(n + 2, sizeof(int)), *fill, *p;

	if (!start)
		return -ENOMEM;
	for (int b = 0; b < n; b++)
		for (int k = 0, s; (s = succ(fn, b, k)) >= 0; k++, total++)
			start[s + 1]++;
	for (int b = 0; b < n; b++)
		start[b + 1] += start[b];
	p = malloc(sizeof(int) * (total + 1));
	fill = calloc(n + 1, sizeof(int));
	if (!p || !fill) {
		free(start);
		free(p);
		free(fill);
		return -ENOMEM;
	}
	for (int b = 0; b < n; b++)
		for (int k = 0, s; (s = succ(fn, b, k)) >= 0; k++)
			p[start[s] + fill[s]++] = b;
	free(fill);
	*pred_start = start;
	*preds = p;
	return 0;
}

/* The vregs written by the blocks of a loop, as the guard's list: the only
 * values that can differ from one iteration to the next. */
static int loop_writes(const struct ir_func *fn, const bool *in_loop, int **out, int *nout)
{
	bool *written = calloc(fn->nvregs, sizeof(bool));
	int n = 0;

	if (!written)
		return -ENOMEM;
	for (int b = 0; b < fn->nblocks; b++) {
		if (!in_loop[b])
			continue;
		for (int i = 0; i < fn->blocks[b].ninsns; i++) {
			const struct ir_insn *in = &fn->blocks[b].insns[i];

			if (in->dst != IR_NONE && in->op != IR_STORE && !ir_is_terminator(in->op) &&
			    !written[in->dst]) {
				written[in->dst] = true;
				n++;
			}
		}
	}
	*out = malloc(sizeof(int) * (n + 1));
	if (!*out) {
		free(written);
		return -ENOMEM;
	}
	*nout = 0;
	for (int v = 0; v < fn->nvregs; v++)
		if (written[v])
			(*out)[(*nout)++] = v;
	free(written);
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

/* Nested walks multiply: the verifier walks an inner loop's passes in
 * each pass of the outer, and each pass leaves a state waiting at every
 * branch it cannot decide (the verifier keeps 8192).  Walkable loops,
 * outermost first, keep their mark while the passes of the walked loops
 * around them, times theirs, stay within WALK_MAX_NESTED_PASSES, and that
 * times their branches within WALK_MAX_BRANCH_PASSES (a loop of 200
 * passes over 64 bit tests, walked, left the verifier 8193 branches to
 * come back to), and all walks' instructions within WALK_MAX_WORK.
 *
 * A loop that is not walked but holds a walked one is marked holds_walks:
 * the walk hands exact values to its body, where a compare with one
 * narrows what the verifier knows of a value the loop never writes (kv's
 * key length against the matched prefix), and its head would meet a new
 * state every pass; so codegen launders every value live at such a head,
 * not only those it writes. */
#define WALK_MAX_NESTED_PASSES 4096
#define WALK_MAX_BRANCH_PASSES 6144
/* And all walks together within this many IR instructions walked (passes
 * times the loop's instructions): about six BPF instructions the verifier
 * processes each (kv: 4k, 23k processed), so a few hundred thousand in
 * all, well inside the verifier's million. */
#define WALK_MAX_WORK 40000
/* Past this many (loop, block) pairs, no loop is walked. */
#define WALK_MAX_LOOP_BLOCKS (1 << 24)

/* Branches an instruction may leave the verifier to come back to: a
 * branch, a select (a branch in BPF), an access whose address is not a
 * constant (its length check; the walk decides its range check). */
static int branches_of(const struct ir_insn *in)
{
	if (in->op == IR_BR || in->op == IR_SELECT)
		return 1;
	return (in->op == IR_LOAD || in->op == IR_STORE) && in->a.reg != IR_NONE;
}

/* The size of a loop: its blocks, instructions and branches_of. */
struct loop_size {
	int blocks, insns, branches;
};

static struct loop_size loop_size(const struct ir_func *fn, const bool *in_loop)
{
	struct loop_size n = { 0 };

	for (int b = 0; b < fn->nblocks; b++) {
		if (!in_loop[b])
			continue;
		n.blocks++;
		n.insns += fn->blocks[b].ninsns;
		for (int i = 0; i < fn->blocks[b].ninsns; i++)
			n.branches += branches_of(&fn->blocks[b].insns[i]);
	}
	return n;
}

/* The walks around h (not h) that are kept so far, as passes times. */
static int64_t passes_around(const struct ir_func *fn, int h, const int64_t *passes, bool *const *loop_of,
			     const bool *settled)
{
	int64_t total = 1;

	for (int g = 0; g < fn->nblocks && total <= WALK_MAX_NESTED_PASSES; g++)
		if (g != h && settled[g] && loop_of[g] && loop_of[g][h] && fn->blocks[g].insns[0].walkable)
			total *= passes[g];
	return total;
}

static void mark_holds_walks(struct ir_func *fn, bool *const *loop_of)
{
	for (int g = 0; g < fn->nblocks; g++)
		for (int h = 0; h < fn->nblocks && loop_of[g] && !fn->blocks[g].insns[0].walkable; h++)
			if (h != g && loop_of[g][h] && loop_of[h] && fn->blocks[h].insns[0].walkable)
				fn->blocks[g].insns[0].holds_walks = true;
}

static bool writes(const struct ir_insn *guard, int v)
{
	for (int k = 0; k < guard->nloop_vregs; k++)
		if (guard->loop_vregs[k] == v)
			return true;
	return false;
}

/* What mark_walk_exits needs of the walkable loops, found once. */
struct walk_exits {
	struct ir_func *fn;
	bool *const *loop_of;
	const struct ir_liveness *lv;
	int *heads, nheads;	/* the walkable loops' heads */
	bool *nest_live;	/* per vreg: live at the head of a walkable loop
				 * that holds another */
	int *copy_of;		/* per vreg: its class of register copies */
	bool *narrowed;		/* per class: a branch of the current loop reads it */
	bool *written;		/* per vreg: the current loop writes it */
};

static int copy_class(const struct walk_exits *x, int v)
{
	while (x->copy_of[v] != v)
		v = x->copy_of[v];
	return v;
}

/* The verifier links a register and its copies (one id): a branch on one
 * narrows them all.  So a vreg defined once, by a register move, is one
 * class with its source (a builtin's copy of its length argument and the
 * register it came from).  Not a vreg defined more than once: x86 code
 * reuses registers, and joining every move's ends would make most values
 * one class. */
static void find_copies(struct walk_exits *x, int *defs)
{
	for (int v = 0; v < x->fn->nvregs; v++)
		x->copy_of[v] = v;
	ir_count_defs(x->fn, defs);
	for (int b = 0; b < x->fn->nblocks; b++)
		for (int i = 0; i < x->fn->blocks[b].ninsns; i++) {
			const struct ir_insn *in = &x->fn->blocks[b].insns[i];
			int p, q;

			if (in->op != IR_MOV || in->b.reg == IR_NONE || defs[in->dst] != 1)
				continue;
			p = copy_class(x, in->dst);
			q = copy_class(x, in->b.reg);
			if (p != q)
				x->copy_of[p] = q;
		}
}

/* x->narrowed: the classes a branch or select of the loop headed by h
 * reads.  The walk narrows those differently on each pass (the request's
 * length against a counter), even a value the loop does not write.  And
 * x->written. */
static void note_narrowed(struct walk_exits *x, int h)
{
	const struct ir_insn *guard = &x->fn->blocks[h].insns[0];

	memset(x->narrowed, 0, sizeof(bool) * (size_t)x->fn->nvregs);
	memset(x->written, 0, sizeof(bool) * (size_t)x->fn->nvregs);
	for (int k = 0; k < guard->nloop_vregs; k++)
		x->written[guard->loop_vregs[k]] = true;
	for (int b = 0; b < x->fn->nblocks; b++) {
		if (!x->loop_of[h][b])
			continue;
		for (int i = 0; i < x->fn->blocks[b].ninsns; i++) {
			const struct ir_insn *in = &x->fn->blocks[b].insns[i];

			if (in->op != IR_BR && in->op != IR_SELECT)
				continue;
			if (in->a.reg != IR_NONE)
				x->narrowed[copy_class(x, in->a.reg)] = true;
			if (in->b.reg != IR_NONE)
				x->narrowed[copy_class(x, in->b.reg)] = true;
		}
	}
}

static bool holds_walkable(const struct walk_exits *x, int g)
{
	for (int k = 0; k < x->nheads; k++)
		if (x->heads[k] != g && x->loop_of[g][x->heads[k]])
			return true;
	return false;
}

/* Whether v must keep what the verifier knows of it past an exit into
 * block b: a walkable loop around b carries it (its walk ends only with
 * exact values), or a walkable loop that holds another has it live at its
 * head (kv's key length: the inner walk's compares narrow it to a
 * different range on each pass they leave at, and each such range would
 * start another pass of the outer walk). */
static bool kept_exact(const struct walk_exits *x, int b, int v)
{
	if (x->nest_live[v])
		return true;
	for (int k = 0; k < x->nheads; k++)
		if (x->loop_of[x->heads[k]][b] && writes(&x->fn->blocks[x->heads[k]].insns[0], v))
			return true;
	return false;
}

static int add_walk_exit_vreg(struct ir_block *blk, int v)
{
	int *grown;

	for (int k = 0; k < blk->nwalk_exit_vregs; k++)
		if (blk->walk_exit_vregs[k] == v)
			return 0;
	grown = realloc(blk->walk_exit_vregs, sizeof(int) * (size_t)(blk->nwalk_exit_vregs + 1));
	if (!grown)
		return -ENOMEM;
	blk->walk_exit_vregs = grown;
	blk->walk_exit_vregs[blk->nwalk_exit_vregs++] = v;
	return 0;
}

/* What the walk of the current loop (note_narrowed) leaves pass-dependent
 * at block s: what the loop writes, and what its branches narrow, live at
 * s. */
static bool pass_dependent(const struct walk_exits *x, int s, int v)
{
	const uint64_t *live = x->lv->in + (size_t)s * x->lv->nwords;

	return ir_bit(live, v) && (x->written[v] || x->narrowed[copy_class(x, v)]);
}

/* A walked loop that data can leave at any pass leaves it with exact,
 * pass-dependent values (a position, a length so far, the request length
 * narrowed against the position): the verifier walks the code after the
 * loop once per pass it may leave at, and a walked loop there (tlv's
 * checksum over the reply) once per length.  So block s, where an exit of
 * the current loop leads, is marked to launder them: unless one of them
 * must stay exact (kept_exact), which keeps the states apart anyway, and
 * laundering the others would only cost their range checks.
 *
 * (The request length's slot, which each request read's check narrows, is
 * not reloaded here: that also forgets what the handler's own checks
 * taught the verifier, and across the servers corpus it cost more than it
 * saved: httpfsm at gcc -O1 took 104k instructions instead of 20k, though
 * geoip at gcc -O2 took 25k instead of 231k.) */
static int mark_walk_exit(const struct walk_exits *x, int s)
{
	int rc = 0;

	for (int v = 0; v < x->fn->nvregs; v++)
		if (pass_dependent(x, s, v) && kept_exact(x, s, v))
			return 0;
	for (int v = 0; v < x->fn->nvregs && !rc; v++)
		if (pass_dependent(x, s, v))
			rc = add_walk_exit_vreg(&x->fn->blocks[s], v);
	return rc;
}

static int mark_exits_of(struct walk_exits *x, int h)
{
	int rc = 0;

	note_narrowed(x, h);
	for (int b = 0; b < x->fn->nblocks && !rc; b++) {
		if (!x->loop_of[h][b])
			continue;
		for (int k = 0, s; (s = succ(x->fn, b, k)) >= 0 && !rc; k++)
			if (!x->loop_of[h][s] && x->fn->blocks[s].insns[0].op != IR_LOOPGUARD)
				rc = mark_walk_exit(x, s);
	}
	return rc;
}

/* Every walkable loop's exits (mark_walk_exit), once the marks are final. */
static int mark_walk_exits(struct ir_func *fn, bool *const *loop_of, const struct ir_liveness *lv)
{
	struct walk_exits x = { .fn = fn, .loop_of = loop_of, .lv = lv };
	int rc = 0, *defs;

	x.heads = malloc(sizeof(int) * ((size_t)fn->nblocks + 1));
	x.nest_live = calloc((size_t)fn->nvregs + 1, sizeof(bool));
	x.copy_of = malloc(sizeof(int) * ((size_t)fn->nvregs + 1));
	x.narrowed = calloc((size_t)fn->nvregs + 1, sizeof(bool));
	x.written = calloc((size_t)fn->nvregs + 1, sizeof(bool));
	defs = calloc((size_t)fn->nvregs + 1, sizeof(int));
	if (!x.heads || !x.nest_live || !x.copy_of || !x.narrowed || !x.written || !defs)
		rc = -ENOMEM;
	else
		find_copies(&x, defs);
	free(defs);
	for (int h = 0; h < fn->nblocks && !rc; h++)
		if (loop_of[h] && fn->blocks[h].insns[0].walkable)
			x.heads[x.nheads++] = h;
	for (int k = 0; k < x.nheads && !rc; k++) {
		if (!holds_walkable(&x, x.heads[k]))
			continue;
		for (int v = 0; v < fn->nvregs; v++)
			x.nest_live[v] |= ir_bit(lv->in + (size_t)x.heads[k] * lv->nwords, v);
	}
	for (int k = 0; k < x.nheads && !rc; k++)
		rc = mark_exits_of(&x, x.heads[k]);
	free(x.heads);
	free(x.nest_live);
	free(x.copy_of);
	free(x.narrowed);
	free(x.written);
	return rc;
}

/* loop_of[h]: the blocks of every loop headed by h; passes[h] > 0 for
 * the walkable ones. */
static int limit_nested_walks(struct ir_func *fn, const int64_t *passes, bool *const *loop_of)
{
	bool *settled = calloc((size_t)fn->nblocks + 1, sizeof(bool));
	struct loop_size *size = calloc((size_t)fn->nblocks + 1, sizeof(*size));
	int64_t work = 0;

	if (!settled || !size) {
		free(settled);
		free(size);
		return -ENOMEM;
	}
	for (int h = 0; h < fn->nblocks; h++)
		if (loop_of[h])
			size[h] = loop_size(fn, loop_of[h]);
	for (;;) {
		struct ir_insn *guard;
		int outer = -1;
		int64_t total;

		for (int h = 0; h < fn->nblocks; h++)
			if (loop_of[h] && !settled[h] && (outer < 0 || size[h].blocks > size[outer].blocks))
				outer = h;
		if (outer < 0)
			break;
		settled[outer] = true;
		guard = &fn->blocks[outer].insns[0];
		total = passes[outer] * passes_around(fn, outer, passes, loop_of, settled);
		guard->walkable &= total <= WALK_MAX_NESTED_PASSES &&
				   total * (size[outer].branches + 1) <= WALK_MAX_BRANCH_PASSES &&
				   work + total * size[outer].insns <= WALK_MAX_WORK;
		if (guard->walkable)
			work += total * size[outer].insns;
	}
	mark_holds_walks(fn, loop_of);
	free(settled);
	free(size);
	return 0;
}

/* Whether the verifier can walk the loop headed by h (its guard's
 * walkable), with its passes and a copy of its blocks for
 * limit_nested_walks. */
static int note_walkable(struct ir_func *fn, int h, const bool *in_loop, const struct ir_liveness *lv,
			 const int *pred_start, const int *preds, int64_t *passes, bool **loop_of)
{
	struct ir_insn *guard = &fn->blocks[h].insns[0];
	int64_t n = loop_walk_passes(fn, h, in_loop, guard->loop_vregs, guard->nloop_vregs,
				     lv->in + (size_t)h * lv->nwords, pred_start, preds);

	if (n < 0)
		return (int)n;
	guard->walkable = n > 0;
	passes[h] = n;
	loop_of[h] = malloc(sizeof(bool) * (size_t)fn->nblocks);
	if (!loop_of[h])
		return -ENOMEM;
	memcpy(loop_of[h], in_loop, sizeof(bool) * (size_t)fn->nblocks);
	return 0;
}

/* For each head, the vregs written anywhere in the loops it heads, and
 * whether the verifier can walk them. */
static int record_loop_writes(struct ir_func *fn, const int *latch, const int *headv, int nedges)
{
	int *pred_start = NULL, *preds = NULL, rc;
	bool *in_loop = calloc(fn->nblocks, sizeof(bool)), **loop_of = calloc(fn->nblocks, sizeof(bool *));
	int64_t *passes = calloc(fn->nblocks, sizeof(int64_t));
	struct ir_liveness lv = { 0 };
	bool walks = (size_t)fn->nloops * (size_t)fn->nblocks <= WALK_MAX_LOOP_BLOCKS;

	rc = in_loop && loop_of && passes ? predecessors(fn, &pred_start, &preds) : -ENOMEM;
	if (!rc)
		rc = ir_liveness_run(fn, &lv);
	for (int h = 0; h < fn->nblocks && !rc; h++) {
		struct ir_insn *guard = &fn->blocks[h].insns[0];
		bool any = false;

		if (guard->op != IR_LOOPGUARD)
			continue;
		memset(in_loop, 0, fn->nblocks * sizeof(bool));
		for (int e = 0; e < nedges && !rc; e++)
			if (headv[e] == h) {
				rc = natural_loop(fn, latch[e], h, pred_start, preds, in_loop);
				any = true;
			}
		if (!rc && any)
			rc = loop_writes(fn, in_loop, &guard->loop_vregs, &guard->nloop_vregs);
		if (!rc && any && walks)
			rc = note_walkable(fn, h, in_loop, &lv, pred_start, preds, passes, loop_of);
		/* Nesting depth, for the register allocator's spill costs. */
		for (int b = 0; b < fn->nblocks && any; b++)
			fn->blocks[b].loop_depth += in_loop[b];
	}
	if (!rc)
		rc = limit_nested_walks(fn, passes, loop_of);
	if (!rc)
		rc = mark_walk_exits(fn, loop_of, &lv);
	for (int h = 0; !rc && h < fn->nblocks; h++)
		for (int b = 0; loop_of[h] && fn->blocks[h].insns[0].walkable && b < fn->nblocks; b++)
			fn->blocks[b].in_walkable_loop |= loop_of[h][b];
	for (int h = 0; loop_of && h < fn->nblocks; h++)
		free(loop_of[h]);
	free(loop_of);
	free(passes);
	free(in_loop);
	free(pred_start);
	free(preds);
	ir_liveness_free(&lv);
	return rc;
}

int loops_guard(struct ir_func *fn, struct koff_error *err)
{
	int n = fn->nblocks, nedges = 0, maxedges = 0;
	bool *head = calloc(n, sizeof(bool));
	int *latch, *headv, rc;

	for (int b = 0; b < n; b++)
		for (int k = 0; succ(fn, b, k) >= 0; k++)
			maxedges++;
	latch = malloc(sizeof(int) * (maxedges + 1));
	headv = malloc(sizeof(int) * (maxedges + 1));
	rc = head && latch && headv ? find_heads(fn, head, latch, headv, &nedges) : -ENOMEM;
	for (int b = 0; b < n && !rc; b++)
		if (head[b])
			rc = prepend_guard(fn, b);
	if (!rc)
		rc = record_loop_writes(fn, latch, headv, nedges);
	free(head);
	free(latch);
	free(headv);
	return rc ? koff_fail(err, rc, "out of memory") : 0;
}
