/* constprop.c - constant addresses and pointer provenance.
 *
 * A forward dataflow over the IR that knows, for each vreg, one of:
 * nothing yet, an exact constant, "somewhere in region R" (request, reply,
 * stack, read-only data), or anything.  Then:
 *   - loads and stores through a constant address become absolute, so
 *     bpfgen emits one instruction where a run-time region check was needed
 *     (stack slots at rsp/rbp + k, globals in .rodata);
 *   - other loads and stores get the region as a hint;
 *   - add/sub/mov whose result is a known constant become a move of it.
 * The x86 registers are tracked across blocks, temporaries within one. */
#include <stdlib.h>
#include <string.h>

#include "ir.h"
#include "koff.h"
#include "lift.h"

enum vkind { V_UNDEF, V_CONST, V_REGION, V_TOP };

struct aval {
	uint8_t kind;	/* enum vkind */
	uint8_t region;	/* enum ir_region for V_REGION (and V_CONST) */
	int64_t c;
};

static uint8_t region_of(uint64_t a)
{
	if (a >= IR_REQ_VA && a < IR_REQ_VA + IR_REQ_MAX)
		return IR_REG_REQ;
	if (a >= IR_RESP_VA && a < IR_RESP_VA + IR_RESP_MAX)
		return IR_REG_RESP;
	if (a >= IR_STACK_VA && a < IR_STACK_VA + IR_STACK_SIZE)
		return IR_REG_STACK;
	if (a >= IR_RODATA_VA && a < IR_SCRATCH_VA)
		return IR_REG_RODATA;
	return IR_REG_UNKNOWN;
}

static struct aval konst(int64_t c)
{
	return (struct aval){ V_CONST, region_of((uint64_t)c), c };
}

static const struct aval top = { V_TOP, IR_REG_UNKNOWN, 0 };

static struct aval join(struct aval x, struct aval y)
{
	if (x.kind == V_UNDEF)
		return y;
	if (y.kind == V_UNDEF)
		return x;
	if (x.kind == V_CONST && y.kind == V_CONST && x.c == y.c)
		return x;
	if (x.kind != V_TOP && y.kind != V_TOP && x.region == y.region && x.region != IR_REG_UNKNOWN)
		return (struct aval){ V_REGION, x.region, 0 };
	return top;
}

static bool same(struct aval x, struct aval y)
{
	return x.kind == y.kind && x.region == y.region && (x.kind != V_CONST || x.c == y.c);
}

struct state {
	struct aval *v;		/* per vreg, for the block being analysed */
	struct aval *in;	/* nblocks x IR_NFIXED: x86 registers at block entry */
	bool *seen;		/* block reached at least once */
};

static struct aval val(const struct state *s, struct ir_val x)
{
	return x.reg == IR_NONE ? konst(x.imm) : s->v[x.reg];
}

/* The abstract result of one instruction (only what matters for addresses). */
static struct aval transfer(const struct state *s, const struct ir_insn *in)
{
	struct aval a = val(s, in->a), b = val(s, in->b);
	uint64_t mask = in->w == 32 ? 0xffffffffull : ~0ull;

	switch (in->op) {
	case IR_MOV:
		return b;
	case IR_ADD:
	case IR_SUB:
		if (a.kind == V_CONST && b.kind == V_CONST)
			return konst((int64_t)((in->op == IR_ADD ? (uint64_t)a.c + (uint64_t)b.c
								  : (uint64_t)a.c - (uint64_t)b.c) & mask));
		if (in->w == 64 && a.kind != V_TOP && a.kind != V_UNDEF && a.region != IR_REG_UNKNOWN &&
		    (in->op == IR_SUB ? b.kind == V_CONST : b.region == IR_REG_UNKNOWN))
			return (struct aval){ V_REGION, a.region, 0 };
		if (in->w == 64 && in->op == IR_ADD && b.kind != V_TOP && b.kind != V_UNDEF &&
		    b.region != IR_REG_UNKNOWN && a.region == IR_REG_UNKNOWN)
			return (struct aval){ V_REGION, b.region, 0 };
		return top;
	default:
		return top;
	}
}

/* Rewrite what the facts before `in` allow. */
static void rewrite(const struct state *s, struct ir_insn *in)
{
	if (in->op == IR_LOAD || in->op == IR_STORE) {
		struct aval a = val(s, in->a);

		if (a.kind == V_CONST) {
			in->a = ir_imm(a.c);
		}
		if (a.kind == V_CONST || a.kind == V_REGION) {
			uint8_t r = a.kind == V_CONST ? region_of((uint64_t)(a.c + in->imm)) : a.region;

			if (r != IR_REG_UNKNOWN)
				in->region = r;
		}
		if (in->op == IR_STORE && in->b.reg != IR_NONE && s->v[in->b.reg].kind == V_CONST)
			in->b = ir_imm(s->v[in->b.reg].c);
		return;
	}
	if ((in->op == IR_ADD || in->op == IR_SUB || in->op == IR_MOV) && in->dst != IR_NONE) {
		struct aval r = transfer(s, in);

		if (r.kind == V_CONST) {
			in->op = IR_MOV;
			in->w = 64;
			in->a = ir_imm(0);
			in->b = ir_imm(r.c);
		}
	}
}

/* Analyse block b from its entry facts; with `apply`, rewrite it too.
 * Returns whether a successor's entry facts changed (worklist). */
static bool visit(struct ir_func *fn, struct state *s, int b, bool apply, int *work, int *nwork,
		  bool *queued)
{
	struct ir_block *blk = &fn->blocks[b];
	int sv[1024], ns;
	bool changed = false;

	for (int v = 0; v < fn->nvregs; v++)
		s->v[v] = v < IR_NFIXED ? s->in[(size_t)b * IR_NFIXED + v] : top;
	for (int i = 0; i < blk->ninsns; i++) {
		struct ir_insn *in = &blk->insns[i];
		struct aval r = transfer(s, in);

		if (apply)
			rewrite(s, in);
		if (in->dst != IR_NONE && in->op != IR_STORE && !ir_is_terminator(in->op))
			s->v[in->dst] = r;
	}
	ns = ir_succs(blk, sv, 1024);
	for (int k = 0; k < ns; k++) {
		struct aval *in = &s->in[(size_t)sv[k] * IR_NFIXED];
		bool grew = !s->seen[sv[k]];

		s->seen[sv[k]] = true;
		for (int v = 0; v < IR_NFIXED; v++) {
			struct aval j = join(in[v], s->v[v]);

			if (!same(j, in[v])) {
				in[v] = j;
				grew = true;
			}
		}
		if (grew && !queued[sv[k]]) {
			queued[sv[k]] = true;
			work[(*nwork)++] = sv[k];
			changed = true;
		}
	}
	return changed;
}

int constprop_run(struct ir_func *fn, struct koff_error *err)
{
	struct state s = { 0 };
	int *work = calloc(fn->nblocks + 1, sizeof(int)), nwork = 0;
	bool *queued = calloc(fn->nblocks, sizeof(bool));
	int rc = 0;

	s.v = calloc(fn->nvregs, sizeof(*s.v));
	s.in = calloc((size_t)fn->nblocks * IR_NFIXED, sizeof(*s.in));
	s.seen = calloc(fn->nblocks, sizeof(bool));
	if (!work || !queued || !s.v || !s.in || !s.seen) {
		rc = koff_fail(err, -ENOMEM, "out of memory");
		goto out;
	}
	/* Handler entry: the arguments koff passes and the stack pointer. */
	for (int v = 0; v < IR_NFIXED; v++)
		s.in[v] = top;
	s.in[IR_RDI] = konst((int64_t)IR_REQ_VA);
	s.in[IR_RDX] = konst((int64_t)IR_RESP_VA);
	s.in[IR_RSP] = konst((int64_t)IR_STACK_ENTRY);
	s.seen[0] = true;
	work[nwork++] = 0;
	queued[0] = true;
	while (nwork) {
		int b = work[--nwork];

		queued[b] = false;
		visit(fn, &s, b, false, work, &nwork, queued);
	}
	/* Facts are final: rewrite every reached block once. */
	for (int b = 0; b < fn->nblocks; b++)
		if (s.seen[b])
			visit(fn, &s, b, true, work, &nwork, queued);
out:
	free(work);
	free(queued);
	free(s.v);
	free(s.in);
	free(s.seen);
	return rc;
}
