/* regalloc.c - liveness, live intervals and linear-scan allocation. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "regalloc.h"

/* BPF registers handed out to vregs, in order of preference. */
static const int alloc_regs[] = { 6, 7, 8, 2, 3, 4, 5 };
#define NREGS ((int)KOFF_ARRAY_SIZE(alloc_regs))


/* A live range [start, end] of positions; an interval is a vreg's sorted,
 * disjoint ranges.  The holes between them matter: an x86 register is
 * reused for unrelated values all over a function, and one [first, last]
 * span per vreg kept rcx, rsi, rdi and rax in no register at all on the dns
 * sample (each spanned the whole handler, so its uses looked sparse). */
struct range {
	int start, end;
};

struct interval {
	int vreg;
	int start, end;	/* first and last position: the extent, holes included */
	double weight;	/* spill cost: uses and defs, x8 per loop level */
	struct range *r;
	int nr, capr;
	int reg;	/* index into alloc_regs, or -1 */
	int hint;	/* the vreg whose register would make its first def a copy-free one, or -1 */
};

/* Positions: two per instruction (its uses, then its def), blocks laid
 * out in index order. */
static int *block_starts(const struct ir_func *fn)
{
	int *start = calloc(fn->nblocks + 1, sizeof(int)), pos = 0;

	if (!start)
		return NULL;
	for (int b = 0; b < fn->nblocks; b++) {
		start[b] = pos;
		pos += 2 * fn->blocks[b].ninsns + 2;
	}
	start[fn->nblocks] = pos;
	return start;
}

/* Ranges arrive in decreasing position order (blocks and instructions are
 * walked backwards): prepend by appending, reversed once at the end. */
static int add_range(struct interval *iv, int start, int end)
{
	if (iv->nr && iv->r[iv->nr - 1].start <= end + 1) {	/* touches the one after it */
		if (start < iv->r[iv->nr - 1].start)
			iv->r[iv->nr - 1].start = start;
		return 0;
	}
	if (koff_grow(&iv->r, &iv->capr, iv->nr, sizeof(*iv->r)))
		return -ENOMEM;
	iv->r[iv->nr++] = (struct range){ start, end };
	return 0;
}

/* The operand codegen moves into the destination register before
 * operating on it (gen_binary: a; gen_unary: b): if the two share a
 * register, that move disappears. */
static int copy_source(const struct ir_insn *in)
{
	switch (in->op) {
	case IR_MOV: case IR_NEG: case IR_ZEXT: case IR_SEXT: case IR_BSWAP:
		return in->b.reg;
	case IR_ADD: case IR_SUB: case IR_MUL: case IR_AND: case IR_OR: case IR_XOR:
	case IR_SHL: case IR_LSHR: case IR_ASHR: case IR_UDIV: case IR_UMOD:
		return in->a.reg;
	default:
		return IR_NONE;
	}
}

static double loop_weight(const struct ir_block *b)
{
	double w = 1.0;

	for (int d = 0; d < b->loop_depth && d < 5; d++)
		w *= 8.0;
	return w;
}

/* One block backwards: open[v] is the end of v's range while v is live
 * below the current instruction (-1: not live). */
static int block_ranges(const struct ir_func *fn, const struct ir_liveness *lv, int b,
			const int *block_start, struct interval *iv, int *open)
{
	const struct ir_block *blk = &fn->blocks[b];
	const uint64_t *out = lv->out + (size_t)b * lv->nwords;
	int start = block_start[b], end = block_start[b + 1] - 1, rc = 0;
	double w = loop_weight(blk);

	for (int v = 0; v < fn->nvregs; v++)
		open[v] = ir_bit(out, v) ? end : -1;
	for (int i = blk->ninsns - 1; i >= 0 && !rc; i--) {
		const struct ir_insn *in = &blk->insns[i];
		int use = start + 1 + 2 * i, u[5], nu = ir_insn_uses(in, u);

		if (ir_insn_defines(in)) {
			int d = in->dst;

			/* A dead def still writes its register. */
			rc = add_range(&iv[d], use + 1, open[d] >= 0 ? open[d] : use + 1);
			open[d] = -1;
			iv[d].weight += w;
			iv[d].hint = copy_source(in);	/* walking backwards: the first def wins */
		}
		for (int k = 0; k < nu; k++) {
			if (open[u[k]] < 0)
				open[u[k]] = use;
			iv[u[k]].weight += w;
		}
	}
	for (int v = 0; v < fn->nvregs && !rc; v++)
		if (open[v] >= 0)
			rc = add_range(&iv[v], start, open[v]);
	return rc;
}

static int build_intervals(const struct ir_func *fn, const struct ir_liveness *lv,
			   const int *block_start, struct interval *iv)
{
	int *open = malloc(sizeof(int) * (size_t)(fn->nvregs + 1)), rc = 0;

	if (!open)
		return -ENOMEM;
	for (int v = 0; v < fn->nvregs; v++)
		iv[v] = (struct interval){ .vreg = v, .start = -1, .end = -1, .reg = -1, .hint = -1 };
	for (int b = fn->nblocks - 1; b >= 0 && !rc; b--)
		rc = block_ranges(fn, lv, b, block_start, iv, open);
	free(open);
	for (int v = 0; v < fn->nvregs && !rc; v++) {
		struct interval *x = &iv[v];

		for (int i = 0, j = x->nr - 1; i < j; i++, j--) {
			struct range t = x->r[i];

			x->r[i] = x->r[j];
			x->r[j] = t;
		}
		if (x->nr) {
			x->start = x->r[0].start;
			x->end = x->r[x->nr - 1].end;
		}
	}
	return rc;
}

static bool intersect(const struct interval *a, const struct interval *b)
{
	int i = 0, j = 0;

	if (a->end < b->start || b->end < a->start)
		return false;
	while (i < a->nr && j < b->nr) {
		if (a->r[i].end < b->r[j].start)
			i++;
		else if (b->r[j].end < a->r[i].start)
			j++;
		else
			return true;
	}
	return false;
}

static int by_start(const void *a, const void *b)
{
	const struct interval *x = *(struct interval *const *)a, *y = *(struct interval *const *)b;

	return x->start != y->start ? (x->start > y->start) - (x->start < y->start) : x->vreg - y->vreg;
}

struct scan {
	/* per register: the intervals holding it that have not ended yet */
	struct interval **on[NREGS];
	int non[NREGS], capon[NREGS];
	/* slots: the interval end after which each slot is free again (-1:
	 * never taken); 0..MAP_SLOTS-1 are the scratch map's, then the BPF
	 * stack's up to maxslots */
	int *slot_free_at;
	int maxslots;
	const bool *laundered;	/* per vreg: a loop writes it and it is live at the loop's head */
};

#define MAP_SLOTS ((IR_SPILL_END - IR_SPILL_OFF) / 8)

/* R10 offset of slot `slot`, one of the BPF stack's. */
static int16_t slot_offset(const struct regalloc *ra, int slot)
{
	return (int16_t)(ra->spill_slot0 - 8 * (slot - (int)MAP_SLOTS));
}

static struct loc slot_loc(const struct regalloc *ra, int slot)
{
	if (slot < (int)MAP_SLOTS)
		return (struct loc){ LOC_MAPSLOT, (int16_t)(IR_SPILL_OFF + 8 * slot) };
	return (struct loc){ LOC_SLOT, slot_offset(ra, slot) };
}

/* A slot among lo..hi-1 free for iv's whole extent, taken; or -1. */
static int take_slot_in(struct scan *s, const struct interval *iv, int lo, int hi)
{
	for (int i = lo; i < hi; i++)
		if (s->slot_free_at[i] < iv->start) {
			s->slot_free_at[i] = iv->end;
			return i;
		}
	return -1;
}

/* Where a spilled value goes.  A value a loop writes and needs at its head
 * goes to the scratch map first: the verifier knows nothing of a value
 * there, so the loop head need not launder it (a stack slot's costs a load,
 * an XOR and a store each pass) nor a bpf_loop yield save it (tok, whose
 * loop keeps eight values in slots: 28% fewer instructions per request).
 * Every other value goes to the BPF stack first, where the verifier keeps
 * what it knows: a branch on a value it knows is walked one way only
 * (waf's 24 rule flags in the map made its may_goto shape run out of the
 * verifier's budget).  Either kind when the other is full. */
static int take_slot(struct scan *s, const struct interval *iv)
{
	int slot;

	if (s->laundered[iv->vreg]) {
		slot = take_slot_in(s, iv, 0, (int)MAP_SLOTS);
		return slot >= 0 ? slot : take_slot_in(s, iv, (int)MAP_SLOTS, s->maxslots);
	}
	slot = take_slot_in(s, iv, (int)MAP_SLOTS, s->maxslots);
	return slot >= 0 ? slot : take_slot_in(s, iv, 0, (int)MAP_SLOTS);
}

/* Spill an interval: give it a slot (its whole extent: slots are
 * plentiful, registers are not). */
static int spill(struct regalloc *ra, struct scan *s, struct interval *iv)
{
	int slot = take_slot(s, iv);

	if (slot < 0)
		return -E2BIG;
	iv->reg = -1;
	ra->locs[iv->vreg] = slot_loc(ra, slot);
	if (slot >= (int)MAP_SLOTS && slot_offset(ra, slot) < ra->frame_low)
		ra->frame_low = slot_offset(ra, slot);
	return 0;
}

/* Drop from each register's list the intervals that ended before pos:
 * nothing starting later can meet them. */
static void expire(struct scan *s, int pos)
{
	for (int k = 0; k < NREGS; k++) {
		int n = 0;

		for (int i = 0; i < s->non[k]; i++)
			if (s->on[k][i]->end >= pos)
				s->on[k][n++] = s->on[k][i];
		s->non[k] = n;
	}
}

/* What taking register k for cur costs: the spill weight of the intervals
 * holding k that overlap cur (0: free). */
static double conflict_cost(const struct scan *s, int k, const struct interval *cur)
{
	double cost = 0;

	for (int i = 0; i < s->non[k]; i++)
		if (intersect(s->on[k][i], cur))
			cost += s->on[k][i]->weight;
	return cost;
}

/* Give cur register k, spilling whatever holds k where cur lives. */
static int assign(struct regalloc *ra, struct scan *s, int k, struct interval *cur)
{
	int n = 0;

	for (int i = 0; i < s->non[k]; i++) {
		struct interval *x = s->on[k][i];

		if (!intersect(x, cur))
			s->on[k][n++] = x;
		else if (spill(ra, s, x))
			return -E2BIG;
	}
	s->non[k] = n;
	if (koff_grow(&s->on[k], &s->capon[k], s->non[k], sizeof(*s->on[k])))
		return -ENOMEM;
	s->on[k][s->non[k]++] = cur;
	cur->reg = k;
	ra->locs[cur->vreg] = (struct loc){ LOC_REG, (int16_t)alloc_regs[k] };
	return 0;
}

/* Linear scan with lifetime holes, no splitting: each vreg keeps one
 * location, but vregs whose ranges interleave without overlapping share a
 * register.  When no register is free where cur lives, the cheapest of
 * spilling cur and spilling what holds some register there wins (weights
 * count uses by loop depth, so values of hot loops keep registers). */
static int linear_scan(struct regalloc *ra, struct interval *iv, struct interval **order, int n,
		       struct scan *s)
{
	for (int i = 0; i < n; i++) {
		struct interval *cur = order[i];
		int best = -1, h = cur->hint >= 0 ? iv[cur->hint].reg : -1;
		double best_cost = 0;

		expire(s, cur->start);
		/* The register of the value it is computed from, when free. */
		if (h >= 0 && conflict_cost(s, h, cur) == 0) {
			if (assign(ra, s, h, cur))
				return -E2BIG;
			continue;
		}
		for (int k = 0; k < NREGS; k++) {
			double c = conflict_cost(s, k, cur);

			if (best < 0 || c < best_cost) {
				best = k;
				best_cost = c;
			}
			if (c == 0)
				break;
		}
		if (best_cost > 0 && best_cost >= cur->weight) {
			if (spill(ra, s, cur))
				return -E2BIG;
			continue;
		}
		if (assign(ra, s, best, cur))
			return -E2BIG;
	}
	return 0;
}

/* The values codegen launders at loop heads: those a loop writes
 * (its guard's loop_vregs) that are live at its head, all live there when
 * it holds walked loops, none for walked loops.  And none a walked loop
 * carries (writes and needs at its head: `carried`, scratch of
 * fn->nvregs): it must stay where the verifier sees it exactly, or the
 * walk meets the same state every pass and is refused ("infinite loop
 * detected"); gcc reuses a register in loop after loop, so one x86
 * register may be a walked loop's counter and another loop's laundered
 * value. */
static void mark_laundered(const struct ir_func *fn, const struct ir_liveness *lv, bool walk,
			   bool *laundered, bool *carried)
{
	for (int b = 0; b < fn->nblocks; b++) {
		const struct ir_insn *guard = fn->blocks[b].ninsns ? &fn->blocks[b].insns[0] : NULL;
		bool *mark = walk && guard && guard->walkable ? carried : laundered;

		if (!guard || guard->op != IR_LOOPGUARD)
			continue;
		if (walk && guard->holds_walks) {	/* codegen launders all it needs */
			for (int v = 0; v < fn->nvregs; v++)
				laundered[v] |= ir_bit(lv->in + (size_t)b * lv->nwords, v);
			continue;
		}
		for (int k = 0; k < guard->nloop_vregs; k++)
			if (ir_bit(lv->in + (size_t)b * lv->nwords, guard->loop_vregs[k]))
				mark[guard->loop_vregs[k]] = true;
	}
	for (int v = 0; v < fn->nvregs; v++)
		laundered[v] &= !carried[v];
}

int regalloc_run(const struct ir_func *fn, int frame_top, int frame_size, bool walk,
		 struct regalloc *ra, struct koff_error *err)
{
	struct ir_liveness lv = { 0 };
	struct interval *iv = NULL, **order = NULL;
	int *block_start = block_starts(fn);
	struct scan s = { 0 };
	bool *laundered = NULL, *carried = NULL;
	int n = 0, rc;

	memset(ra, 0, sizeof(*ra));
	ra->nvregs = fn->nvregs;
	ra->locs = calloc(fn->nvregs, sizeof(*ra->locs));
	ra->live_at_entry = calloc(fn->nvregs, sizeof(bool));
	iv = calloc(fn->nvregs, sizeof(*iv));
	order = calloc(fn->nvregs + 1, sizeof(*order));
	ra->spill_slot0 = (int16_t)-(frame_top + 8);
	ra->frame_low = (int16_t)-frame_top;
	s.maxslots = (int)MAP_SLOTS + (frame_size - frame_top) / 8;
	s.slot_free_at = malloc(sizeof(int) * (size_t)s.maxslots);
	laundered = calloc(fn->nvregs ? fn->nvregs : 1, sizeof(bool));
	carried = calloc(fn->nvregs ? fn->nvregs : 1, sizeof(bool));
	if (!ra->locs || !ra->live_at_entry || !iv || !order || !s.slot_free_at || !block_start ||
	    !laundered || !carried || ir_liveness_run(fn, &lv) || build_intervals(fn, &lv, block_start, iv)) {
		rc = koff_fail(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < s.maxslots; i++)
		s.slot_free_at[i] = -1;
	mark_laundered(fn, &lv, walk, laundered, carried);
	s.laundered = laundered;
	for (int v = 0; v < fn->nvregs; v++)
		ra->live_at_entry[v] = ir_bit(lv.in, v);
	/* Hand the live-in sets over: codegen launders them at loop heads. */
	ra->live_in = lv.in;
	ra->nwords = lv.nwords;
	lv.in = NULL;
	/* The vregs in use, by where they start. */
	for (int v = 0; v < fn->nvregs; v++)
		if (iv[v].nr)
			order[n++] = &iv[v];
	qsort(order, n, sizeof(*order), by_start);
	rc = linear_scan(ra, iv, order, n, &s);
	if (rc)
		rc = koff_fail(err, rc, "%s: too many values live at once for the BPF stack and the spill area",
			       fn->name);
out:
	for (int v = 0; iv && v < fn->nvregs; v++)
		free(iv[v].r);
	for (int k = 0; k < NREGS; k++)
		free(s.on[k]);
	free(iv);
	free(order);
	free(s.slot_free_at);
	free(laundered);
	free(carried);
	free(block_start);
	ir_liveness_free(&lv);
	return rc;
}

void regalloc_free(struct regalloc *ra)
{
	free(ra->live_in);
	free(ra->locs);
	free(ra->live_at_entry);
	memset(ra, 0, sizeof(*ra));
}
