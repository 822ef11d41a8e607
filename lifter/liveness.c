/* liveness.c - which vregs are live where: a backward dataflow over the IR,
 * shared by the simplifier and the register allocator. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

static void bs_set(uint64_t *w, int i)
{
	w[i / 64] |= (uint64_t)1 << (i % 64);
}

bool ir_bit(const uint64_t *set, int i)
{
	return (set[i / 64] >> (i % 64)) & 1;
}

int ir_insn_uses(const struct ir_insn *in, int out[5])
{
	int n = 0;

	if (in->op == IR_RET)	/* returns rax */
		out[n++] = IR_RAX;
	if (in->a.reg != IR_NONE)
		out[n++] = in->a.reg;
	if (in->b.reg != IR_NONE)
		out[n++] = in->b.reg;
	if (in->op == IR_SELECT) {
		if (in->c.reg != IR_NONE)
			out[n++] = in->c.reg;
		if (in->d.reg != IR_NONE)
			out[n++] = in->d.reg;
	}
	return n;
}

bool ir_insn_defines(const struct ir_insn *in)
{
	return in->dst != IR_NONE && in->op != IR_STORE && !ir_is_terminator(in->op) &&
	       in->op != IR_LOOPGUARD;
}

void ir_count_defs(const struct ir_func *fn, int *defs)
{
	for (int b = 0; b < fn->nblocks; b++)
		for (int i = 0; i < fn->blocks[b].ninsns; i++)
			if (ir_insn_defines(&fn->blocks[b].insns[i]))
				defs[fn->blocks[b].insns[i].dst]++;
}

int ir_succs(const struct ir_block *b, int *out, int max)
{
	const struct ir_insn *t;
	int n = 0;

	if (!b->ninsns)
		return 0;
	t = &b->insns[b->ninsns - 1];
	if (t->op == IR_JMP) {
		out[n++] = t->t;
	} else if (t->op == IR_BR) {
		out[n++] = t->t;
		out[n++] = t->f;
	} else if (t->op == IR_SWITCH) {
		for (int i = 0; i < t->ncases && n < max; i++)
			out[n++] = t->cases[i].target;
	}
	return n;
}

/* use/def of one block: upward-exposed uses, and everything it writes. */
static void block_use_def(const struct ir_block *b, uint64_t *use, uint64_t *def)
{
	for (int i = 0; i < b->ninsns; i++) {
		const struct ir_insn *in = &b->insns[i];
		int u[5], nu = ir_insn_uses(in, u);

		for (int k = 0; k < nu; k++)
			if (!ir_bit(def, u[k]))
				bs_set(use, u[k]);
		if (ir_insn_defines(in))
			bs_set(def, in->dst);
	}
}

int ir_liveness_run(const struct ir_func *fn, struct ir_liveness *lv)
{
	int nb = fn->nblocks, nw = (fn->nvregs + 63) / 64, maxs = 2;
	uint64_t *use = calloc((size_t)nb * nw, sizeof(uint64_t));
	uint64_t *def = calloc((size_t)nb * nw, sizeof(uint64_t));
	int *sv;
	bool changed = true;

	for (int b = 0; b < nb; b++) {
		const struct ir_insn *t = &fn->blocks[b].insns[fn->blocks[b].ninsns - 1];

		if (t->op == IR_SWITCH && t->ncases > maxs)
			maxs = t->ncases;
	}
	sv = malloc(sizeof(int) * (size_t)maxs);
	memset(lv, 0, sizeof(*lv));
	lv->nwords = nw;
	lv->in = calloc((size_t)nb * nw, sizeof(uint64_t));
	lv->out = calloc((size_t)nb * nw, sizeof(uint64_t));
	if (!use || !def || !sv || !lv->in || !lv->out) {
		free(use);
		free(def);
		free(sv);
		ir_liveness_free(lv);
		return -ENOMEM;
	}
	for (int b = 0; b < nb; b++)
		block_use_def(&fn->blocks[b], use + (size_t)b * nw, def + (size_t)b * nw);
	while (changed) {
		changed = false;
		for (int b = nb - 1; b >= 0; b--) {
			uint64_t *in = lv->in + (size_t)b * nw, *out = lv->out + (size_t)b * nw;
			int ns = ir_succs(&fn->blocks[b], sv, maxs);

			for (int k = 0; k < ns; k++)
				for (int j = 0; j < nw; j++)
					out[j] |= lv->in[(size_t)sv[k] * nw + j];
			for (int j = 0; j < nw; j++) {
				uint64_t n = use[(size_t)b * nw + j] | (out[j] & ~def[(size_t)b * nw + j]);

				if (n != in[j]) {
					in[j] = n;
					changed = true;
				}
			}
		}
	}
	free(use);
	free(def);
	free(sv);
	return 0;
}

void ir_liveness_free(struct ir_liveness *lv)
{
	free(lv->in);
	free(lv->out);
	memset(lv, 0, sizeof(*lv));
}
