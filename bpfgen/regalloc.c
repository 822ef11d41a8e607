/* regalloc.c - liveness, live intervals and linear-scan allocation. */
#include <stdlib.h>
#include <string.h>

#include "regalloc.h"

/* BPF registers handed out to vregs, in order of preference. */
static const int alloc_regs[] = { 6, 7, 8, 2, 3, 4, 5 };
#define NREGS ((int)KOFF_ARRAY_SIZE(alloc_regs))


struct interval {
	int vreg;
	int start, end;	/* instruction positions, inclusive */
	double weight;	/* spill cost: uses and defs, x8 per loop level */
};

/* Positions: two per instruction, blocks laid out in index order. */
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

static void extend(struct interval *iv, int pos)
{
	if (iv->start < 0 || pos < iv->start)
		iv->start = pos;
	if (pos > iv->end)
		iv->end = pos;
}

static void build_intervals(const struct ir_func *fn, const struct ir_liveness *lv,
			    const int *block_start, struct interval *iv)
{
	int nw = lv->nwords;

	for (int v = 0; v < fn->nvregs; v++)
		iv[v] = (struct interval){ .vreg = v, .start = -1, .end = -1 };
	for (int b = 0; b < fn->nblocks; b++) {
		int start = block_start[b], end = block_start[b + 1] - 1;
		const uint64_t *in = lv->in + (size_t)b * nw, *out = lv->out + (size_t)b * nw;

		for (int v = 0; v < fn->nvregs; v++) {
			if (ir_bit(in, v))
				extend(&iv[v], start);
			if (ir_bit(out, v))
				extend(&iv[v], end);
		}
		for (int i = 0; i < fn->blocks[b].ninsns; i++) {
			const struct ir_insn *in = &fn->blocks[b].insns[i];
			int pos = start + 1 + 2 * i;
			const struct ir_val *vals[] = { &in->a, &in->b, &in->c, &in->d };

			double w = 1.0;

			for (int d = 0; d < fn->blocks[b].loop_depth && d < 5; d++)
				w *= 8.0;
			for (int k = 0; k < 4; k++)
				if (vals[k]->reg != IR_NONE) {
					extend(&iv[vals[k]->reg], pos);
					iv[vals[k]->reg].weight += w;
				}
			if (in->op == IR_RET)
				extend(&iv[IR_RAX], pos);
			if (ir_insn_defines(in)) {
				extend(&iv[in->dst], pos + 1);
				iv[in->dst].weight += w;
			}
		}
	}
}

static int by_start(const void *a, const void *b)
{
	const struct interval *x = a, *y = b;

	return x->start != y->start ? (x->start > y->start) - (x->start < y->start) : x->vreg - y->vreg;
}

struct scan {
	struct interval *active[NREGS];
	int nactive;
	int reg_of[NREGS];
	/* slots: the interval end after which each slot is free again */
	int *slot_free_at;
	int nslots, maxslots;
	int stack_slots;		/* slots 0..stack_slots-1 are on the BPF stack */
};

#define MAP_SLOTS ((IR_SPILL_END - IR_SPILL_OFF) / 8)

static int16_t slot_offset(const struct regalloc *ra, int slot)
{
	return (int16_t)(ra->spill_slot0 - 8 * slot);
}

/* Stack slots first (the verifier tracks values spilled there), then the
 * scratch map's. */
static struct loc slot_loc(const struct regalloc *ra, const struct scan *s, int slot)
{
	if (slot < s->stack_slots)
		return (struct loc){ LOC_SLOT, slot_offset(ra, slot) };
	return (struct loc){ LOC_MAPSLOT, (int16_t)(IR_SPILL_OFF + 8 * (slot - s->stack_slots)) };
}

static int take_slot(struct scan *s, const struct interval *iv)
{
	for (int i = 0; i < s->nslots; i++)
		if (s->slot_free_at[i] < iv->start) {
			s->slot_free_at[i] = iv->end;
			return i;
		}
	if (s->nslots >= s->maxslots)
		return -1;
	s->slot_free_at[s->nslots] = iv->end;
	return s->nslots++;
}

/* Spill an interval: give it a stack slot. */
static int spill(struct regalloc *ra, struct scan *s, const struct interval *iv)
{
	int slot = take_slot(s, iv);

	if (slot < 0)
		return -E2BIG;
	ra->locs[iv->vreg] = slot_loc(ra, s, slot);
	if (slot < s->stack_slots && slot_offset(ra, slot) < ra->frame_low)
		ra->frame_low = slot_offset(ra, slot);
	return 0;
}

static void expire(struct scan *s, int pos, bool *reg_busy)
{
	int k = 0;

	for (int i = 0; i < s->nactive; i++) {
		if (s->active[i]->end < pos)
			reg_busy[s->reg_of[i]] = false;
		else {
			s->active[k] = s->active[i];
			s->reg_of[k] = s->reg_of[i];
			k++;
		}
	}
	s->nactive = k;
}

/* Spill cost per position held: spilling a long, thinly used interval
 * frees a register for many others. */
static double density(const struct interval *iv)
{
	return iv->weight / (double)(iv->end - iv->start + 1);
}

static int linear_scan(struct regalloc *ra, struct interval *iv, int n, struct scan *s)
{
	bool reg_busy[NREGS] = { 0 };

	for (int i = 0; i < n; i++) {
		struct interval *cur = &iv[i];
		int r = -1;

		expire(s, cur->start, reg_busy);
		for (int k = 0; k < NREGS && r < 0; k++)
			if (!reg_busy[k])
				r = k;
		if (r < 0) {
			/* Spill the cheapest: the fewest uses, weighted by loop
			 * depth, so that values of hot loops keep their registers. */
			int far = 0;

			for (int k = 1; k < s->nactive; k++)
				if (density(s->active[k]) < density(s->active[far]))
					far = k;
			if (density(s->active[far]) >= density(cur)) {
				if (spill(ra, s, cur))
					return -E2BIG;
				continue;
			}
			r = s->reg_of[far];
			if (spill(ra, s, s->active[far]))
				return -E2BIG;
			s->active[far] = s->active[--s->nactive];
			s->reg_of[far] = s->reg_of[s->nactive];
		}
		reg_busy[r] = true;
		s->active[s->nactive] = cur;
		s->reg_of[s->nactive++] = r;
		ra->locs[cur->vreg] = (struct loc){ LOC_REG, (int16_t)alloc_regs[r] };
	}
	return 0;
}

int regalloc_run(const struct ir_func *fn, int frame_top, int frame_size, struct regalloc *ra,
		 struct koff_error *err)
{
	struct ir_liveness lv = { 0 };
	struct interval *iv = NULL;
	int *block_start = block_starts(fn);
	struct scan s = { 0 };
	int n = 0, rc;

	memset(ra, 0, sizeof(*ra));
	ra->nvregs = fn->nvregs;
	ra->locs = calloc(fn->nvregs, sizeof(*ra->locs));
	ra->live_at_entry = calloc(fn->nvregs, sizeof(bool));
	iv = calloc(fn->nvregs, sizeof(*iv));
	ra->spill_slot0 = (int16_t)-(frame_top + 8);
	ra->frame_low = (int16_t)-frame_top;
	s.stack_slots = (frame_size - frame_top) / 8;
	s.maxslots = s.stack_slots + (int)MAP_SLOTS;
	s.slot_free_at = calloc(s.maxslots > 0 ? s.maxslots : 1, sizeof(int));
	if (!ra->locs || !ra->live_at_entry || !iv || !s.slot_free_at || !block_start ||
	    ir_liveness_run(fn, &lv)) {
		rc = koff_fail(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (int v = 0; v < fn->nvregs; v++)
		ra->live_at_entry[v] = ir_bit(lv.in, v);
	build_intervals(fn, &lv, block_start, iv);
	/* Hand the live-in sets over: codegen launders them at loop heads. */
	ra->live_in = lv.in;
	ra->nwords = lv.nwords;
	lv.in = NULL;
	/* Compact to the vregs in use; entry-live ones start at -1 -> 0. */
	for (int v = 0; v < fn->nvregs; v++)
		if (iv[v].start >= 0 || iv[v].end >= 0)
			iv[n++] = iv[v];
	qsort(iv, n, sizeof(*iv), by_start);
	rc = linear_scan(ra, iv, n, &s);
	if (rc)
		rc = koff_fail(err, rc, "%s: too many values live at once for the BPF stack and the spill area",
			       fn->name);
out:
	free(iv);
	free(s.slot_free_at);
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
