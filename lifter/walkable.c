/* walkable.c - which loops a verifier can walk pass by pass.
 *
 * The BPF verifier takes a plain loop by walking it: every pass again, with
 * exact values, until each path leaves.  That costs nothing at run time
 * (no pass count, no laundering, no may_goto) and proves what it can: an
 * access whose address the walk knows loses its range check, because the
 * verifier removes the branch sides no path takes.  But the walk only ends
 * well when the state at the loop's head is a function of the pass number:
 * a value that data decides (a position advanced by a length read from
 * the request, a flag) multiplies the states each pass, and the budget
 * runs out.  So a loop is marked walkable (its guard's `walkable`) when
 *   - every value it carries (written in the loop, live at its head) comes
 *     back along each back edge as a constant, as a carried value plus a
 *     constant (counters, pointers stepping through a table), or as a
 *     value computed in the pass from loads, counters and constants that
 *     no branch reads (SYM_FRESH: unknown to the verifier the same way
 *     whichever path the pass took: a hash, gcc's next byte in a
 *     register); and
 *   - some exit of the loop compares such a counter, entering the loop as
 *     a constant, with a constant, or with a value the loop does not write
 *     (the request's length) while the counter steps an access through a
 *     scratch region (the walk ends where the access leaves it: the range
 *     check decides it): the walk then ends within WALK_MAX_PASSES.  (A
 *     counter that enters unknown, or that the verifier cannot narrow,
 *     could keep the walk going forever; one kept in memory, as at -O0, is
 *     not followed at all.)
 * It is a prediction, not a proof: the verifier decides, and a rejected
 * walk is answered with the loop shapes that launder (src/offload.c).
 * loops.c also keeps nested walks, and the branches they leave pending,
 * within bounds. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"
#include "koff.h"
#include "lift.h"

/* What a vreg holds, in terms of the values at the loop's head. */
enum sym_kind {
	SYM_UNSEEN,	/* no path here yet */
	SYM_CONST,	/* the constant k */
	SYM_STEP,	/* head value of vreg `base`, plus k, in w bits */
	SYM_FRESH,	/* what instruction k computed in this pass, from loads,
			 * counters and constants (no select: no path chose it) */
	SYM_DATA,	/* anything else */
};

struct sym {
	uint8_t kind, w;
	int base;
	int64_t k;
};

/* Past this many (block, vreg) states a loop is not analysed (analysable). */
#define WALKABLE_MAX_STATES (1 << 22)

static struct sym sym_join(struct sym a, struct sym b)
{
	if (a.kind == SYM_UNSEEN)
		return b;
	if (b.kind == SYM_UNSEEN)
		return a;
	if (a.kind == b.kind && a.k == b.k &&
	    (a.kind == SYM_CONST || a.kind == SYM_FRESH || (a.base == b.base && a.w == b.w)))
		return a;
	return (struct sym){ .kind = SYM_DATA };
}

static struct sym sym_of(const struct sym *st, struct ir_val v)
{
	if (v.reg == IR_NONE)
		return (struct sym){ .kind = SYM_CONST, .k = v.imm };
	return st[v.reg];
}

/* x + k for a symbolic x, in w bits. */
static struct sym sym_add(struct sym x, int64_t k, int w)
{
	if (x.kind == SYM_CONST)
		return (struct sym){ .kind = SYM_CONST,
				     .k = w == 32 ? (int64_t)(uint32_t)((uint64_t)x.k + (uint64_t)k)
						  : (int64_t)((uint64_t)x.k + (uint64_t)k) };
	if (x.kind == SYM_STEP && (x.w == w || x.k == 0))
		return (struct sym){ .kind = SYM_STEP, .w = (uint8_t)w, .base = x.base,
				     .k = (int64_t)((uint64_t)x.k + (uint64_t)k) };
	return (struct sym){ .kind = SYM_DATA };
}

/* x truncated to 32 bits (a 32-bit mov or zero extension). */
static struct sym sym_low32(struct sym x)
{
	if (x.kind == SYM_CONST)
		return (struct sym){ .kind = SYM_CONST, .k = (int64_t)(uint32_t)x.k };
	if (x.kind == SYM_STEP && (x.w == 32 || x.k == 0))
		return (struct sym){ .kind = SYM_STEP, .w = 32, .base = x.base, .k = x.k };
	return (struct sym){ .kind = SYM_DATA };
}

/* The value instruction `in` (numbered id) defines. */
static struct sym sym_insn(const struct sym *st, const struct ir_insn *in, int64_t id)
{
	struct sym a = sym_of(st, in->a), b = sym_of(st, in->b);
	int w = in->w == 32 ? 32 : 64;

	switch (in->op) {
	case IR_LOAD:
		return (struct sym){ .kind = SYM_FRESH, .k = id };
	case IR_MOV:
		if (w != 32)
			return b;
		if (b.kind != SYM_FRESH)
			return sym_low32(b);
		break;
	case IR_ZEXT:
		if (in->w == 32 && b.kind != SYM_FRESH)
			return sym_low32(b);
		break;
	case IR_ADD:
		if (b.kind == SYM_CONST)
			return sym_add(a, b.k, w);
		if (a.kind == SYM_CONST)
			return sym_add(b, a.k, w);
		break;
	case IR_SUB:
		if (b.kind == SYM_CONST)
			return sym_add(a, (int64_t)(0 - (uint64_t)b.k), w);
		break;
	case IR_SELECT:
		return (struct sym){ .kind = SYM_DATA };
	default:
		break;
	}
	if (a.kind != SYM_DATA && b.kind != SYM_DATA)
		return (struct sym){ .kind = SYM_FRESH, .k = id };
	return (struct sym){ .kind = SYM_DATA };
}

/* The successors of a block, as flow_loop and the judges take them. */
#define MAX_SUCCS 64

static bool wide_switch(const struct ir_block *blk)
{
	const struct ir_insn *t = blk->ninsns ? &blk->insns[blk->ninsns - 1] : NULL;

	return t && t->op == IR_SWITCH && t->ncases > MAX_SUCCS;
}

struct walk {
	const struct ir_func *fn;
	int head, nv;
	const int *idx;		/* per block: its row in `in`, or -1 outside the loop */
	const int *pred_start, *preds;	/* predecessors, CSR (loops.c) */
	int64_t *insn_id0;	/* per block: the number of its first instruction */
	bool *compared;		/* per instruction: a value some branch narrows (note_compared) */
	int newly;		/* values note_compared found since flow_loop's last round */
	struct sym *in;		/* per loop block: the state at its entry */
	struct sym *st;		/* one state being run */
	int64_t *step;		/* per vreg: what each back edge adds to it (0: not a counter) */
	int64_t *region_passes;	/* per counter: region_bound's, 0 when none */
	const bool *written;	/* per vreg: the loop writes it */
};

/* Whether `in` sets its destination to a constant whatever its operands
 * hold: a move of one, or x86's zeroing idioms (`xor r, r`, `sub r, r`). */
static bool constant_def(const struct ir_insn *in, int64_t *k)
{
	if (in->op == IR_MOV && in->b.reg == IR_NONE) {
		*k = in->w == 32 ? (int64_t)(uint32_t)in->b.imm : in->b.imm;
		return true;
	}
	if (ir_zeroing_idiom(in)) {
		*k = 0;
		return true;
	}
	return false;
}

/* The constant v holds before instruction i of block b: from where it is
 * set, following unique predecessors back (a prediction: constprop has
 * folded what it knows into moves).  A copy or a constant step of
 * another value is followed too (a loop rotated by the compiler steps its
 * counter once before the head). */
static bool constant_before(const struct walk *w, int b, int i, int v, int depth, int64_t *k)
{
	for (int hops = 0; b >= 0 && hops < 64 && depth < 16; hops++) {
		const struct ir_block *blk = &w->fn->blocks[b];

		for (i = i < 0 ? blk->ninsns - 1 : i - 1; i >= 0; i--) {
			const struct ir_insn *in = &blk->insns[i];
			int64_t x;

			if (!ir_insn_defines(in) || in->dst != v)
				continue;
			if (constant_def(in, k))
				return true;
			if (in->op == IR_MOV && in->w == 64)
				return constant_before(w, b, i, in->b.reg, depth + 1, k);
			if ((in->op != IR_ADD && in->op != IR_SUB) || in->w != 64 || in->a.reg == IR_NONE ||
			    in->b.reg != IR_NONE || !constant_before(w, b, i, in->a.reg, depth + 1, &x))
				return false;
			*k = (int64_t)((uint64_t)x + (in->op == IR_ADD ? (uint64_t)in->b.imm : -(uint64_t)in->b.imm));
			return true;
		}
		b = w->pred_start[b + 1] - w->pred_start[b] == 1 ? w->preds[w->pred_start[b]] : -1;
		i = -1;
	}
	return false;
}

/* Passes until a counter that starts at `start` and steps by `step` meets
 * `limit`: 0 when it steps away from it (or the figures overflow). */
static int64_t passes_between(int64_t start, int64_t step, int64_t limit)
{
	int64_t gap, n;

	if (__builtin_sub_overflow(limit, start, &gap) || (step == -1 && gap == INT64_MIN))
		return 0;
	n = gap / step;
	if (n < 0)
		return 0;
	return n >= WALK_MAX_PASSES ? WALK_MAX_PASSES + 1 : n + 1;
}

/* The scratch regions an access may be hinted to (ir.h). */
static bool hinted_region(uint8_t region, uint64_t *lo, uint64_t *hi)
{
	static const struct { uint8_t region; uint64_t va, size; } regions[] = {
		{ IR_REG_REQ, IR_REQ_VA, IR_REQ_MAX },
		{ IR_REG_RESP, IR_RESP_VA, IR_RESP_MAX },
		{ IR_REG_STACK, IR_STACK_VA, IR_STACK_SIZE },
	};

	for (size_t i = 0; i < sizeof(regions) / sizeof(regions[0]); i++)
		if (regions[i].region == region) {
			*lo = regions[i].va;
			*hi = regions[i].va + regions[i].size;
			return true;
		}
	return false;
}

/* The passes an address that starts at `at` and steps by `step` stays in
 * [lo, hi) (0 when it starts outside). */
static int64_t passes_in(int64_t at, int64_t step, uint64_t lo, uint64_t hi)
{
	if ((uint64_t)at < lo || (uint64_t)at >= hi)
		return 0;
	if (step > 0)
		return (int64_t)((hi - (uint64_t)at + (uint64_t)step - 1) / (uint64_t)step);
	return (int64_t)(((uint64_t)at - lo) / (uint64_t)(-step)) + 1;
}

/* How a walk's passes follow from where counter c starts: c.k added to
 * its start, then either a limit it meets or a region it leaves. */
struct pass_rule {
	struct sym c;
	int64_t step;
	bool region;
	int64_t limit;		/* !region */
	uint64_t lo, hi;	/* region */
};

/* The most passes rule r allows over every way into the loop (the counter's
 * constant start on each); 0 when one is unknown. */
static int64_t most_passes(const struct walk *w, const struct pass_rule *r)
{
	int64_t most = 0;

	for (int e = w->pred_start[w->head]; e < w->pred_start[w->head + 1]; e++) {
		int64_t start, n;

		if (w->idx[w->preds[e]] >= 0)
			continue;	/* a back edge */
		if (!constant_before(w, w->preds[e], -1, r->c.base, 0, &start))
			return 0;
		start = (int64_t)((uint64_t)start + (uint64_t)r->c.k);
		n = r->region ? passes_in(start, r->step, r->lo, r->hi) : passes_between(start, r->step, r->limit);
		if (!n)
			return 0;
		most = n > most ? n : most;
	}
	return most;
}

/* The most passes counter c (symbolically at an exit) takes to meet the
 * constant limit, over every way into the loop; 0 when unknown. */
static int64_t passes_to(const struct walk *w, struct sym c, int64_t limit)
{
	struct pass_rule r = { .c = c, .limit = limit };

	if (c.kind != SYM_STEP || !(r.step = w->step[c.base]))
		return 0;
	return most_passes(w, &r);
}

static struct sym *entry_state(const struct walk *w, int b)
{
	return w->in + (size_t)w->idx[b] * (size_t)w->nv;
}

/* Whether s is the same at every pass: a value the loop does not write. */
static bool invariant(const struct walk *w, struct sym s)
{
	return s.kind == SYM_STEP && s.k == 0 && !w->written[s.base];
}

/* The passes an exit of the loop allows when it compares a counter with a
 * constant; with a value the loop does not write (the request's length),
 * those the counter's accesses allow (region_bound); 0 otherwise. */
static int64_t counted_exit(const struct walk *w, const struct ir_block *blk, const struct sym *st)
{
	const struct ir_insn *t = blk->ninsns ? &blk->insns[blk->ninsns - 1] : NULL;
	struct sym a, b;

	if (!t || t->op != IR_BR || (w->idx[t->t] >= 0 && w->idx[t->f] >= 0))
		return 0;
	a = sym_of(st, t->a);
	b = sym_of(st, t->b);
	if (b.kind == SYM_CONST)
		return passes_to(w, a, b.k);
	if (a.kind == SYM_CONST)
		return passes_to(w, b, a.k);
	if (a.kind == SYM_STEP && w->step[a.base] && invariant(w, b))
		return w->region_passes[a.base];
	if (b.kind == SYM_STEP && w->step[b.base] && invariant(w, a))
		return w->region_passes[b.base];
	return 0;
}

/* Access `in` (its address symbolically addr) of a counter: the most
 * passes before the address leaves the region it is hinted to, over every
 * way into the loop; 0 when unknown.  The verifier's walk of the loop
 * ends there: the range check decides it, every path past it falls back. */
static int64_t access_passes(const struct walk *w, const struct ir_insn *in, struct sym addr)
{
	struct pass_rule r = { .c = addr, .region = true };

	if (addr.kind != SYM_STEP || !(r.step = w->step[addr.base]) || !hinted_region(in->region, &r.lo, &r.hi))
		return 0;
	r.c.k = (int64_t)((uint64_t)addr.k + (uint64_t)in->imm);
	return most_passes(w, &r);
}

/* Join st into block s's entry state; true when that changed.  Edges
 * into the head are back edges: not followed. */
static bool flow_into(struct walk *w, int s, const struct sym *st)
{
	struct sym *dst;
	bool changed = false;

	if (w->idx[s] < 0 || s == w->head)
		return false;
	dst = entry_state(w, s);
	for (int v = 0; v < w->nv; v++) {
		struct sym j = sym_join(dst[v], st[v]);

		if (j.kind != dst[v].kind || j.k != dst[v].k || j.base != dst[v].base || j.w != dst[v].w) {
			dst[v] = j;
			changed = true;
		}
	}
	return changed;
}

/* What run_block shows each instruction before it takes effect. */
typedef void (*visit_fn)(struct walk *w, const struct ir_insn *in, int64_t id);

/* Run block b (in the loop) from its entry state in w->st, visit (if
 * given) seeing each instruction first; false if no path reached it. */
static bool run_block(struct walk *w, int b, visit_fn visit)
{
	const struct ir_block *blk = &w->fn->blocks[b];
	const struct sym *in = entry_state(w, b);

	if (b != w->head && in[0].kind == SYM_UNSEEN)
		return false;	/* every vreg is set on a path that got here */
	memcpy(w->st, in, sizeof(*w->st) * (size_t)w->nv);
	for (int i = 0; i < blk->ninsns; i++) {
		const struct ir_insn *x = &blk->insns[i];

		if (visit)
			visit(w, x, w->insn_id0[b] + i);
		if (ir_insn_defines(x))
			w->st[x->dst] = sym_insn(w->st, x, w->insn_id0[b] + i);
	}
	return true;
}

static void mark(struct walk *w, int64_t id)
{
	if (!w->compared[id])
		w->newly++;
	w->compared[id] = true;
}

/* Marks in w->compared the values computed in a pass that a branch or a
 * select reads (the verifier narrows them there, differently on each
 * side), and those computed from such a value. */
static void note_compared(struct walk *w, const struct ir_insn *in, int64_t id)
{
	struct sym a = sym_of(w->st, in->a), b = sym_of(w->st, in->b);

	if (in->op == IR_BR || in->op == IR_SELECT) {
		if (a.kind == SYM_FRESH)
			mark(w, a.k);
		if (b.kind == SYM_FRESH)
			mark(w, b.k);
	} else if (ir_insn_defines(in) && ((a.kind == SYM_FRESH && w->compared[a.k]) ||
					   (b.kind == SYM_FRESH && w->compared[b.k]))) {
		mark(w, id);
	}
}

/* An access stepping with a counter: the fewest passes one allows, per
 * counter, in w->region_passes (access_passes). */
static void note_access(struct walk *w, const struct ir_insn *in, int64_t id)
{
	struct sym addr;
	int64_t n;

	(void)id;
	if ((in->op != IR_LOAD && in->op != IR_STORE) || in->a.reg == IR_NONE)
		return;
	addr = w->st[in->a.reg];
	n = access_passes(w, in, addr);
	if (n > 0 && (w->region_passes[addr.base] == 0 || n < w->region_passes[addr.base]))
		w->region_passes[addr.base] = n;
}

static void region_bound(struct walk *w)
{
	for (int b = 0; b < w->fn->nblocks; b++)
		if (w->idx[b] >= 0)
			run_block(w, b, note_access);
}

/* The entry states of every block of the loop, and what is compared, to a
 * fixed point (an inner loop's back edge makes a cycle: what it changes
 * joins to DATA). */
static void flow_loop(struct walk *w)
{
	bool changed = true;

	for (int v = 0; v < w->nv; v++)
		entry_state(w, w->head)[v] = (struct sym){ .kind = SYM_STEP, .w = 64, .base = v };
	while (changed) {
		w->newly = 0;
		changed = false;
		for (int b = 0; b < w->fn->nblocks; b++) {
			int succ[MAX_SUCCS], ns;

			if (w->idx[b] < 0 || !run_block(w, b, note_compared))
				continue;
			ns = ir_succs(&w->fn->blocks[b], succ, MAX_SUCCS);
			for (int k = 0; k < ns; k++)
				changed |= flow_into(w, succ[k], w->st);
		}
		changed |= w->newly > 0;
	}
}

/* Note what the back edge from the current state does to v: a counter
 * steps by the same constant along every back edge. */
static void note_step(struct walk *w, int v, bool *seen)
{
	struct sym s = w->st[v];
	int64_t d = s.kind == SYM_STEP && s.base == v ? s.k : 0;

	if (seen[v] && w->step[v] != d)
		d = 0;
	w->step[v] = d;
	seen[v] = true;
}

/* What a carried value may come back as: a constant, a carried value plus
 * a constant, or a value loaded in the pass that no branch narrows (an
 * unknown, but the same unknown whichever way the pass went: gcc carries
 * the next pass's byte in a register). */
static bool steps_or_fresh(const struct walk *w, struct sym s)
{
	return s.kind == SYM_CONST || s.kind == SYM_STEP || (s.kind == SYM_FRESH && !w->compared[s.k]);
}

/* Whether every carried value (written, live at the head) comes back
 * along each back edge as steps_or_fresh allows; fills w->step. */
static bool carried_values_step(struct walk *w, const bool *written, const uint64_t *live_at_head)
{
	bool *seen = calloc((size_t)w->nv + 1, sizeof(bool)), ok = seen != NULL;

	for (int b = 0; ok && b < w->fn->nblocks; b++) {
		int succ[MAX_SUCCS], ns;

		if (w->idx[b] < 0 || !run_block(w, b, note_compared))
			continue;
		ns = ir_succs(&w->fn->blocks[b], succ, MAX_SUCCS);
		for (int k = 0; k < ns && ok; k++) {
			if (succ[k] != w->head)
				continue;
			for (int v = 0; v < w->nv && ok; v++) {
				if (!written[v])
					continue;
				note_step(w, v, seen);
				ok = !ir_bit(live_at_head, v) || steps_or_fresh(w, w->st[v]);
			}
		}
	}
	free(seen);
	return ok;
}

/* The fewest passes some counted exit allows, or 0 when none is counted. */
static int64_t fewest_passes(struct walk *w)
{
	int64_t best = 0;

	for (int b = 0; b < w->fn->nblocks; b++) {
		int64_t n;

		if (w->idx[b] < 0 || !run_block(w, b, note_compared))
			continue;
		n = counted_exit(w, &w->fn->blocks[b], w->st);
		if (n > 0 && (best == 0 || n < best))
			best = n;
	}
	return best;
}

/* Loops not analysed, and so not walked: too many (block, vreg) states,
 * or a switch wider than the walk's successor buffers. */
static bool analysable(const struct ir_func *fn, const bool *in_loop, int nin)
{
	if ((size_t)nin * (size_t)fn->nvregs > WALKABLE_MAX_STATES)
		return false;
	for (int b = 0; b < fn->nblocks; b++)
		if (in_loop[b] && wide_switch(&fn->blocks[b]))
			return false;
	return true;
}

int64_t loop_walk_passes(const struct ir_func *fn, int head, const bool *in_loop, const int *loop_vregs,
			 int nloop_vregs, const uint64_t *live_at_head, const int *pred_start,
			 const int *preds)
{
	struct walk w = { .fn = fn, .head = head, .nv = fn->nvregs, .pred_start = pred_start,
			  .preds = preds };
	int nin = 0, *idx = malloc(sizeof(int) * ((size_t)fn->nblocks + 1));
	bool *written = calloc((size_t)fn->nvregs + 1, sizeof(bool));
	int64_t rc = -ENOMEM;

	for (int b = 0; idx && b < fn->nblocks; b++)
		idx[b] = in_loop[b] ? nin++ : -1;
	if (idx && written && !analysable(fn, in_loop, nin)) {
		rc = 0;
		goto out;
	}
	w.idx = idx;
	w.in = calloc((size_t)nin * (size_t)fn->nvregs + 1, sizeof(*w.in));
	w.st = malloc(sizeof(*w.st) * ((size_t)fn->nvregs + 1));
	w.step = calloc((size_t)fn->nvregs + 1, sizeof(*w.step));
	w.region_passes = calloc((size_t)fn->nvregs + 1, sizeof(*w.region_passes));
	w.written = written;
	w.insn_id0 = malloc(sizeof(*w.insn_id0) * ((size_t)fn->nblocks + 1));
	if (!idx || !written || !w.in || !w.st || !w.step || !w.region_passes || !w.insn_id0)
		goto out;
	w.insn_id0[0] = 0;
	for (int b = 0; b < fn->nblocks; b++)
		w.insn_id0[b + 1] = w.insn_id0[b] + fn->blocks[b].ninsns;
	w.compared = calloc((size_t)w.insn_id0[fn->nblocks] + 1, sizeof(bool));
	if (!w.compared)
		goto out;
	for (int k = 0; k < nloop_vregs; k++)
		written[loop_vregs[k]] = true;
	flow_loop(&w);
	rc = 0;
	if (carried_values_step(&w, written, live_at_head)) {
		region_bound(&w);
		rc = fewest_passes(&w);
	}
	if (rc > WALK_MAX_PASSES)
		rc = 0;
out:
	free(idx);
	free(written);
	free(w.in);
	free(w.st);
	free(w.step);
	free(w.region_passes);
	free(w.insn_id0);
	free(w.compared);
	return rc;
}
