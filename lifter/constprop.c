/* constprop.c - constant addresses and pointer provenance.
 *
 * A forward dataflow over the IR that knows, for each vreg, one of:
 * nothing yet, an exact constant, "somewhere in region R" (request, reply,
 * stack, read-only data), or anything.  Then:
 *   - loads and stores through a constant address become absolute, so
 *     bpfgen emits one instruction where a run-time region check was needed
 *     (stack slots at rsp/rbp + k, globals in .rodata);
 *   - other loads and stores get the region as a hint;
 *   - an instruction whose result is a known constant becomes a move of it,
 *     and an operand known to be a constant that fits 32 bits becomes an
 *     immediate (`mov fb, '#'; zext t = fb; br eq x, t` compares x with
 *     '#' in one jump; simplify.c then drops the dead moves).
 * The x86 registers are tracked across blocks, temporaries within one. */
#include <errno.h>
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
	struct aval *temp0;	/* per vreg: a temporary's value at every block's start */
	struct aval *in;	/* nblocks x IR_NFIXED: x86 registers at block entry */
	bool *seen;		/* block reached at least once */
};

static struct aval val(const struct state *s, struct ir_val x)
{
	return x.reg == IR_NONE ? konst(x.imm) : s->v[x.reg];
}

/* ZEXT/SEXT of b from w bits. */
static int64_t extend(enum ir_op op, uint64_t b, int w)
{
	uint64_t m = w >= 64 ? ~0ull : (1ull << w) - 1, sign = 1ull << (w - 1);

	if (op == IR_ZEXT || w >= 64)
		return (int64_t)(b & m);
	return (int64_t)(((b & m) ^ sign) - sign);
}

/* a OP b at width w (64, or 32: the low halves, zero-extended), for the
 * operations whose x86 meaning the IR states exactly; false for others. */
static bool fold(const struct ir_insn *in, uint64_t a, uint64_t b, int64_t *out)
{
	uint64_t mask = in->w == 32 ? 0xffffffffull : ~0ull, r;
	unsigned n = (unsigned)(b & (in->w == 32 ? 31 : 63));

	switch (in->op) {
	case IR_AND: r = a & b; break;
	case IR_OR: r = a | b; break;
	case IR_XOR: r = a ^ b; break;
	case IR_MUL: r = a * b; break;
	case IR_SHL: r = (a & mask) << n; break;
	case IR_LSHR: r = (a & mask) >> n; break;
	case IR_ASHR:
		r = in->w == 32 ? (uint64_t)(uint32_t)((int32_t)(uint32_t)a >> n) : (uint64_t)((int64_t)a >> n);
		break;
	case IR_NEG: r = -b; break;
	case IR_ZEXT: case IR_SEXT:
		if (in->w != 8 && in->w != 16 && in->w != 32)
			return false;
		*out = extend(in->op, b, in->w);
		return true;
	default: return false;
	}
	*out = (int64_t)(r & mask);
	return true;
}

/* The abstract result of one instruction (only what matters for addresses). */
static struct aval transfer(const struct state *s, const struct ir_insn *in)
{
	struct aval a = val(s, in->a), b = val(s, in->b);
	uint64_t mask = in->w == 32 ? 0xffffffffull : ~0ull;
	int64_t folded;

	/* Folded to a move of 0, since the verifier would not know it: its
	 * tnum of x ^ x keeps every unknown bit of x, and a walked loop whose
	 * counter starts so would not be walked (tlv's string copy, in the
	 * bpf_loop callback where the counter's old value is reloaded). */
	if (ir_zeroing_idiom(in))
		return konst(0);
	switch (in->op) {
	case IR_MOV:
		if (b.kind == V_CONST && in->w == 32)
			return konst((int64_t)((uint64_t)b.c & mask));
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
	case IR_AND: case IR_OR: case IR_XOR: case IR_MUL: case IR_SHL: case IR_LSHR: case IR_ASHR:
		if (a.kind == V_CONST && b.kind == V_CONST && fold(in, (uint64_t)a.c, (uint64_t)b.c, &folded))
			return konst(folded);
		return top;
	case IR_NEG: case IR_ZEXT: case IR_SEXT:
		if (b.kind == V_CONST && fold(in, 0, (uint64_t)b.c, &folded))
			return konst(folded);
		return top;
	default:
		return top;
	}
}

/* Operand x as an immediate when it is a constant that fits a BPF imm32
 * (a wider one costs a 64-bit load each use: better kept in its register). */
static void to_imm(const struct state *s, struct ir_val *x)
{
	if (x->reg != IR_NONE && s->v[x->reg].kind == V_CONST && s->v[x->reg].c == (int32_t)s->v[x->reg].c)
		*x = ir_imm(s->v[x->reg].c);
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
	if (ir_insn_defines(in)) {
		struct aval r = transfer(s, in);

		if (r.kind == V_CONST) {
			in->op = IR_MOV;
			in->w = 64;
			in->a = ir_imm(0);
			in->b = ir_imm(r.c);
			return;
		}
	}
	/* Branches, selects, ALU operands (codegen takes an immediate on
	 * either side of each); not a switch's value, nor the divisor the
	 * lifter has proven nonzero in a register. */
	if (in->op == IR_BR || in->op == IR_SELECT) {
		to_imm(s, &in->a);
		to_imm(s, &in->b);
		to_imm(s, &in->c);
		to_imm(s, &in->d);
	} else if (ir_insn_defines(in) && in->op != IR_UDIV && in->op != IR_UMOD && in->op != IR_SDIV &&
		   in->op != IR_SMOD) {
		to_imm(s, &in->a);
		to_imm(s, &in->b);
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
		s->v[v] = v < IR_NFIXED ? s->in[(size_t)b * IR_NFIXED + v] : s->temp0[v];
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

/* ---- Extensions of values already that narrow ---------------------------
 * x86 code zero-extends what it loads (movzx) and masks what it has just
 * masked; the IR says so explicitly, and each such zext is an `and` (and
 * often a copy) in BPF.  Within a block, the number of low bits a value can
 * have set is known from what made it (a 2-byte load: 16); an extension or
 * a mask that cannot change such a value becomes a copy, which simplify.c
 * then propagates. */

static int bit_length(uint64_t v)
{
	int n = 0;

	while (v) {
		n++;
		v >>= 1;
	}
	return n;
}

static int bits_of(const uint8_t *bits, struct ir_val x)
{
	return x.reg == IR_NONE ? bit_length((uint64_t)x.imm) : bits[x.reg];
}

static void make_copy(struct ir_insn *in, struct ir_val from)
{
	in->op = IR_MOV;
	in->w = 64;
	in->a = ir_imm(0);
	in->b = from;
}

static int min_bits(int a, int b)
{
	return a < b ? a : b;
}

/* At most how many low bits the result of `in` has set; rewrites the
 * extension or mask into a copy when it cannot change its operand. */
static int narrow(struct ir_insn *in, const uint8_t *bits)
{
	int a = bits_of(bits, in->a), b = bits_of(bits, in->b), cap = in->w == 32 ? 32 : 64;

	switch (in->op) {
	case IR_LOAD:
		return 8 * in->size;
	case IR_MOV:
		return min_bits(b, cap);
	case IR_ZEXT:
	case IR_SEXT:
		if (in->w != 8 && in->w != 16 && in->w != 32)
			return 64;
		if (b < in->w || (in->op == IR_ZEXT && b == in->w)) {
			make_copy(in, in->b);	/* sign bit clear / nothing above: unchanged */
			return b;
		}
		return in->op == IR_ZEXT ? in->w : 64;
	case IR_AND:
		if (in->b.reg == IR_NONE && in->b.imm >= 0 && bit_length((uint64_t)in->b.imm) <= cap &&
		    ((uint64_t)in->b.imm & ((uint64_t)in->b.imm + 1)) == 0 && a <= bit_length((uint64_t)in->b.imm)) {
			make_copy(in, in->a);	/* a mask of low bits the value already fits */
			return a;
		}
		return min_bits(min_bits(a, b), cap);
	case IR_OR: case IR_XOR:
		return min_bits(a > b ? a : b, cap);
	case IR_LSHR:
		if (in->b.reg == IR_NONE)
			return min_bits(a - (int)min_bits((int)(in->b.imm & 63), a), cap);
		return min_bits(a, cap);
	case IR_SELECT:
		return min_bits(bits_of(bits, in->c) > bits_of(bits, in->d) ? bits_of(bits, in->c)
									     : bits_of(bits, in->d), 64);
	default:
		return cap;
	}
}

static int drop_extensions(struct ir_func *fn)
{
	uint8_t *bits = malloc((size_t)fn->nvregs + 1);

	if (!bits)
		return -ENOMEM;
	for (int b = 0; b < fn->nblocks; b++) {
		memset(bits, 64, (size_t)fn->nvregs);
		for (int i = 0; i < fn->blocks[b].ninsns; i++) {
			struct ir_insn *in = &fn->blocks[b].insns[i];
			int n = narrow(in, bits);

			if (ir_insn_defines(in))
				bits[in->dst] = (uint8_t)n;
		}
	}
	free(bits);
	return 0;
}

/* Temporaries are tracked within a block, except one the lifter sets to a
 * constant once and never again, and never reads before that (not live at
 * the entry): every path to a use passes that one def, so it holds the
 * constant everywhere.  Builtins (memcpy, memset...) set their loops' base
 * addresses up this way, in a block before the loop. */
static int constant_temporaries(const struct ir_func *fn, struct aval *temp0)
{
	struct ir_liveness lv;
	int *defs = calloc((size_t)fn->nvregs + 1, sizeof(int));

	if (!defs || ir_liveness_run(fn, &lv)) {
		free(defs);
		return -ENOMEM;
	}
	for (int v = 0; v < fn->nvregs; v++)
		temp0[v] = top;
	ir_count_defs(fn, defs);
	for (int b = 0; b < fn->nblocks; b++)
		for (int i = 0; i < fn->blocks[b].ninsns; i++) {
			const struct ir_insn *in = &fn->blocks[b].insns[i];

			if (ir_insn_defines(in) && in->dst >= IR_NFIXED && defs[in->dst] == 1 && in->op == IR_MOV &&
			    in->b.reg == IR_NONE && !ir_bit(lv.in, in->dst))
				temp0[in->dst] = konst(in->w == 32 ? (int64_t)(uint32_t)in->b.imm : in->b.imm);
		}
	ir_liveness_free(&lv);
	free(defs);
	return 0;
}

/* The dataflow to its fixed point, then every reached block rewritten. */
static void propagate(struct ir_func *fn, struct state *s, int *work, bool *queued)
{
	int nwork = 0;

	memset(s->seen, 0, sizeof(bool) * (size_t)fn->nblocks);
	/* Handler entry: the arguments koff passes and the stack pointer;
	 * the length and the cap vary.  Every other register is 0, as
	 * bpfgen's prologue makes it: what the caller left there cannot
	 * matter to the handler, which only saves and restores it (the
	 * callee-saved pushes then store a constant, and no register is tied
	 * up from the entry to the push). */
	for (int v = 0; v < IR_NFIXED; v++) {
		uint64_t c;

		s->in[v] = ir_entry_constant(v, &c) ? konst((int64_t)c) : top;
	}
	s->seen[0] = true;
	work[nwork++] = 0;
	queued[0] = true;
	while (nwork) {
		int b = work[--nwork];

		queued[b] = false;
		visit(fn, s, b, false, work, &nwork, queued);
	}
	/* Facts are final: rewrite every reached block once. */
	for (int b = 0; b < fn->nblocks; b++)
		if (s->seen[b])
			visit(fn, s, b, true, work, &nwork, queued);
}

int constprop_run(struct ir_func *fn, struct koff_error *err)
{
	struct state s = { 0 };
	int *work = calloc(fn->nblocks + 1, sizeof(int));
	bool *queued = calloc(fn->nblocks, sizeof(bool));
	int rc = 0;

	s.v = calloc(fn->nvregs, sizeof(*s.v));
	s.in = calloc((size_t)fn->nblocks * IR_NFIXED, sizeof(*s.in));
	s.seen = calloc(fn->nblocks, sizeof(bool));
	s.temp0 = calloc(fn->nvregs, sizeof(*s.temp0));
	if (!work || !queued || !s.v || !s.in || !s.seen || !s.temp0) {
		rc = koff_fail(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (int v = 0; v < fn->nvregs; v++)
		s.temp0[v] = top;
	propagate(fn, &s, work, queued);
	/* The first round turned copies of constants into constants: the
	 * temporaries that now hold one everywhere seed a second round. */
	if (constant_temporaries(fn, s.temp0) || drop_extensions(fn)) {
		rc = koff_fail(err, -ENOMEM, "out of memory");
		goto out;
	}
	propagate(fn, &s, work, queued);
out:
	free(work);
	free(queued);
	free(s.v);
	free(s.in);
	free(s.seen);
	free(s.temp0);
	return rc;
}
