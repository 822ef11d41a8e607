/* emit.c - eBPF instruction helpers, labels and map references. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "emit.h"
#include "koff.h"

const char *const emit_kind_names[EK__COUNT] = {
	[EK_OTHER] = "other", [EK_ENTRY] = "entry", [EK_EXIT] = "exit", [EK_PROLOGUE] = "prologue",
	[EK_BODY] = "body", [EK_CHECK] = "check", [EK_SPILL] = "spill", [EK_MOVE] = "move",
	[EK_UNLINK] = "unlink", [EK_LAUNDER] = "launder", [EK_LOOP] = "loop", [EK_STUB] = "stub",
};

void emit_init(struct bpf_emit *e)
{
	memset(e, 0, sizeof(*e));
	e->subprog_start = -1;
	e->func_ref = -1;
	e->bound_at = -1;
}

void emit_free(struct bpf_emit *e)
{
	free(e->insns);
	free(e->origin);
	free(e->kind);
	free(e->labels);
	free(e->fixups);
	free(e->maprefs);
	emit_init(e);
}

void emit_insn(struct bpf_emit *e, struct bpf_insn insn)
{
	int cap = e->cap, kcap = e->cap;

	if (e->err)
		return;
	if (koff_grow(&e->insns, &cap, e->n, sizeof(*e->insns)) ||
	    koff_grow(&e->kind, &kcap, e->n, sizeof(*e->kind)) ||
	    koff_grow(&e->origin, &e->cap, e->n, sizeof(*e->origin))) {
		e->err = -ENOMEM;
		return;
	}
	e->insns[e->n] = insn;
	e->origin[e->n] = e->origin_now;
	e->kind[e->n] = e->kind_now;
	e->n++;
}

static struct bpf_insn insn(uint8_t code, int dst, int src, int16_t off, int32_t imm)
{
	struct bpf_insn i = { .code = code, .dst_reg = dst & 0xf, .src_reg = src & 0xf,
			      .off = off, .imm = imm };
	return i;
}

void emit_alu_imm(struct bpf_emit *e, int alu64, int op, int dst, int32_t imm)
{
	emit_insn(e, insn((alu64 ? BPF_ALU64 : BPF_ALU) | op | BPF_K, dst, 0, 0, imm));
}

void emit_alu_reg(struct bpf_emit *e, int alu64, int op, int dst, int src)
{
	emit_insn(e, insn((alu64 ? BPF_ALU64 : BPF_ALU) | op | BPF_X, dst, src, 0, 0));
}

void emit_mov_imm(struct bpf_emit *e, int dst, int32_t imm)
{
	emit_alu_imm(e, 1, BPF_MOV, dst, imm);
}

void emit_mov_reg(struct bpf_emit *e, int dst, int src)
{
	emit_alu_reg(e, 1, BPF_MOV, dst, src);
}

void emit_const64(struct bpf_emit *e, int dst, uint64_t v)
{
	if ((int64_t)v == (int32_t)v) {
		emit_mov_imm(e, dst, (int32_t)v);
	} else if (v <= 0xffffffffull) {
		/* 32-bit mov zero-extends: one instruction instead of two. */
		emit_alu_imm(e, 0, BPF_MOV, dst, (int32_t)(uint32_t)v);
	} else {
		emit_insn(e, insn(BPF_LD | BPF_DW | BPF_IMM, dst, 0, 0, (int32_t)(uint32_t)v));
		emit_insn(e, insn(0, 0, 0, 0, (int32_t)(uint32_t)(v >> 32)));
	}
}

void emit_ld_map(struct bpf_emit *e, int dst, enum koff_map_id map, uint32_t off)
{
	int cap = e->capmaprefs;

	if (e->err)
		return;
	if (koff_grow(&e->maprefs, &cap, e->nmaprefs, sizeof(*e->maprefs))) {
		e->err = -ENOMEM;
		return;
	}
	e->capmaprefs = cap;
	e->maprefs[e->nmaprefs++] = (struct emit_mapref){ .insn = e->n, .map = map, .off = off };
	/* The object writer emits a relocation; libbpf fills in src_reg/imm. */
	emit_insn(e, insn(BPF_LD | BPF_DW | BPF_IMM, dst, 0, 0, (int32_t)off));
	emit_insn(e, insn(0, 0, 0, 0, 0));
}

/* The instruction before the next one stores register `reg` to the stack
 * slot at `off` (8 bytes), and no jump lands between them. */
static bool just_spilled(const struct bpf_emit *e, int16_t off, int *reg)
{
	const struct bpf_insn *prev = e->n ? &e->insns[e->n - 1] : NULL;

	if (!prev || e->bound_at == e->n || prev->code != (BPF_STX | BPF_MEM | BPF_DW) ||
	    prev->dst_reg != BPF_REG_10 || prev->off != off)
		return false;
	*reg = prev->src_reg;
	return true;
}

/* A stack load of the 8 bytes the previous instruction stored from a
 * register reads that register: nothing to load back into it, a move
 * into another (codegen's spill code stores a result and the next
 * instruction's operand is that vreg).  The verifier tracks an 8-byte
 * spilled scalar exactly, so it sees the same value either way; map
 * values it does not track, so a store and load there stay (they make a
 * value unknown on purpose). */
void emit_ldx(struct bpf_emit *e, int size, int dst, int src, int16_t off)
{
	int reg;

	if (size == BPF_DW && src == BPF_REG_10 && just_spilled(e, off, &reg)) {
		if (reg != dst)
			emit_mov_reg(e, dst, reg);
		return;
	}
	emit_insn(e, insn(BPF_LDX | BPF_MEM | size, dst, src, off, 0));
}

void emit_stx(struct bpf_emit *e, int size, int dst, int16_t off, int src)
{
	emit_insn(e, insn(BPF_STX | BPF_MEM | size, dst, src, off, 0));
}

void emit_st_imm(struct bpf_emit *e, int size, int dst, int16_t off, int32_t imm)
{
	emit_insn(e, insn(BPF_ST | BPF_MEM | size, dst, 0, off, imm));
}

void emit_call(struct bpf_emit *e, int helper)
{
	emit_insn(e, insn(BPF_JMP | BPF_CALL, 0, 0, 0, helper));
}

void emit_exit(struct bpf_emit *e)
{
	emit_insn(e, insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
}

int emit_label(struct bpf_emit *e)
{
	int cap = e->caplabels;

	if (e->err)
		return 0;
	if (koff_grow(&e->labels, &cap, e->nlabels, sizeof(*e->labels))) {
		e->err = -ENOMEM;
		return 0;
	}
	e->caplabels = cap;
	e->labels[e->nlabels] = -1;
	return e->nlabels++;
}

void emit_bind(struct bpf_emit *e, int label)
{
	if (!e->err) {
		e->labels[label] = e->n;
		e->bound_at = e->n;
	}
}

static void add_fixup_kind(struct bpf_emit *e, int label, int far)
{
	int cap = e->capfixups;

	if (e->err)
		return;
	if (koff_grow(&e->fixups, &cap, e->nfixups, sizeof(*e->fixups))) {
		e->err = -ENOMEM;
		return;
	}
	e->capfixups = cap;
	e->fixups[e->nfixups++] = (struct emit_fixup){ .insn = e->n, .label = label, .far = far };
}

static void add_fixup(struct bpf_emit *e, int label)
{
	add_fixup_kind(e, label, 0);
}

void emit_ja(struct bpf_emit *e, int label)
{
	add_fixup(e, label);
	emit_insn(e, insn(BPF_JMP | BPF_JA, 0, 0, 0, 0));
}

void emit_ja_far(struct bpf_emit *e, int label)
{
	if (e->no_gotol) {
		emit_ja(e, label);
		return;
	}
	add_fixup_kind(e, label, 1);
	emit_insn(e, insn(BPF_JMP32 | BPF_JA, 0, 0, 0, 0));
}

/* The fixup gives imm the distance to the label, in instructions, as the
 * kernel wants it; bpfobj turns it into a relocation for libbpf. */
void emit_ld_func(struct bpf_emit *e, int dst, int label)
{
	if (e->func_ref >= 0) {
		e->err = e->err ? e->err : -EINVAL;
		return;
	}
	e->func_ref = e->n;
	add_fixup_kind(e, label, 1);
	emit_insn(e, insn(BPF_LD | BPF_DW | BPF_IMM, dst, BPF_PSEUDO_FUNC, 0, 0));
	emit_insn(e, insn(0, 0, 0, 0, 0));
}

void emit_subprog_start(struct bpf_emit *e)
{
	e->subprog_start = e->n;
}

void emit_jmp_imm(struct bpf_emit *e, int jmp32, int op, int dst, int32_t imm, int label)
{
	add_fixup(e, label);
	emit_insn(e, insn((jmp32 ? BPF_JMP32 : BPF_JMP) | op | BPF_K, dst, 0, 0, imm));
}

void emit_jmp_reg(struct bpf_emit *e, int jmp32, int op, int dst, int src, int label)
{
	add_fixup(e, label);
	emit_insn(e, insn((jmp32 ? BPF_JMP32 : BPF_JMP) | op | BPF_X, dst, src, 0, 0));
}

/* ---- Branch relaxation without gotol ---------------------------------------
 * Without cpu v4 a jump reaches 32767 instructions at most.  A jump that
 * needs more goes through pads: `ja label` instructions inserted where no
 * code falls through (after an unconditional jump or an exit), each within
 * reach of the one before, so that the verifier sees every pad reached and
 * nothing else changes.  Codegen's stub islands every few thousand
 * instructions guarantee such places. */

#define REACH (INT16_MAX - 64)	/* margin for pads inserted later in between */

static long jump_distance(const struct bpf_emit *e, const struct emit_fixup *f)
{
	return (long)e->labels[f->label] - (f->insn + 1);
}

/* No instruction runs into k: a pad may go there. */
static bool is_pad_site(const struct bpf_emit *e, int k)
{
	uint8_t code;

	if (k <= 0 || k >= e->n || k == e->subprog_start)
		return false;
	code = e->insns[k - 1].code;
	return code == (BPF_JMP | BPF_JA) || code == (BPF_JMP32 | BPF_JA) || code == (BPF_JMP | BPF_EXIT);
}

/* The pad site farthest toward `to` that a jump at `from` still reaches. */
static int pad_site(const struct bpf_emit *e, int from, int to)
{
	if (to > from) {
		for (int k = from + REACH < to ? from + REACH : to - 1; k > from + 1; k--)
			if (is_pad_site(e, k))
				return k;
	} else {
		for (int k = from - REACH > to ? from - REACH : to + 1; k < from; k++)
			if (is_pad_site(e, k))
				return k;
	}
	return -1;
}

static void shift_from(int *idx, int at)
{
	if (*idx >= at)
		(*idx)++;
}

/* Insert `ja label` before instruction `at`; returns the pad's own label. */
static int insert_pad(struct bpf_emit *e, int at, int label)
{
	int pad;

	emit_insn(e, insn(0, 0, 0, 0, 0));	/* grow by one */
	if (e->err)
		return -1;
	memmove(e->insns + at + 1, e->insns + at, (size_t)(e->n - 1 - at) * sizeof(*e->insns));
	memmove(e->origin + at + 1, e->origin + at, (size_t)(e->n - 1 - at) * sizeof(*e->origin));
	memmove(e->kind + at + 1, e->kind + at, (size_t)(e->n - 1 - at) * sizeof(*e->kind));
	e->insns[at] = insn(BPF_JMP | BPF_JA, 0, 0, 0, 0);
	e->origin[at] = 0;
	e->kind[at] = EK_OTHER;
	for (int l = 0; l < e->nlabels; l++)
		shift_from(&e->labels[l], at);
	for (int i = 0; i < e->nfixups; i++)
		shift_from(&e->fixups[i].insn, at);
	for (int i = 0; i < e->nmaprefs; i++)
		shift_from(&e->maprefs[i].insn, at);
	if (e->func_ref >= 0)
		shift_from(&e->func_ref, at);
	if (e->subprog_start >= 0)
		shift_from(&e->subprog_start, at);
	pad = emit_label(e);
	if (pad < 0 || e->err)
		return -1;
	e->labels[pad] = at;
	add_fixup_kind(e, label, 0);
	if (e->err)
		return -1;
	e->fixups[e->nfixups - 1].insn = at;
	return pad;
}

/* Route every out-of-reach jump through pads (no_gotol targets). */
static int relax_far_jumps(struct bpf_emit *e)
{
	for (int round = 0; round < 100000 && !e->err; round++) {
		struct emit_fixup *f = NULL;
		int site, pad;

		for (int i = 0; i < e->nfixups; i++) {
			long d;

			if (e->labels[e->fixups[i].label] < 0)
				return e->err = -EINVAL;
			d = jump_distance(e, &e->fixups[i]);
			if (!e->fixups[i].far && (d < INT16_MIN || d > INT16_MAX)) {
				f = &e->fixups[i];
				break;
			}
		}
		if (!f)
			return 0;
		site = pad_site(e, f->insn, e->labels[f->label]);
		if (site < 0)
			return e->err = -E2BIG;
		{
			int from = f->insn, label = f->label;

			pad = insert_pad(e, site, label);
			if (pad < 0)
				return e->err ? e->err : -ENOMEM;
			/* f may have moved with the fixup array: find it again. */
			for (int i = 0; i < e->nfixups; i++)
				if (e->fixups[i].insn == (from >= site ? from + 1 : from) &&
				    e->fixups[i].label == label && !e->fixups[i].far) {
					e->fixups[i].label = pad;
					break;
				}
		}
	}
	return e->err ? e->err : -E2BIG;
}

int emit_finish(struct bpf_emit *e)
{
	if (e->no_gotol && !e->err && relax_far_jumps(e))
		return e->err ? e->err : -E2BIG;
	for (int i = 0; i < e->nfixups && !e->err; i++) {
		const struct emit_fixup *f = &e->fixups[i];
		int target = e->labels[f->label];
		long off;

		if (target < 0)
			return e->err = -EINVAL;
		off = (long)target - (f->insn + 1);
		if (f->far) {
			e->insns[f->insn].imm = (int32_t)off;
			continue;
		}
		if (off < INT16_MIN || off > INT16_MAX)
			return e->err = -E2BIG;
		e->insns[f->insn].off = (int16_t)off;
	}
	return e->err;
}

int emit_size_bytes(int size)
{
	switch (size) {
	case BPF_B: return 1;
	case BPF_H: return 2;
	case BPF_W: return 4;
	default: return 8;
	}
}

int emit_size_code(int bytes)
{
	switch (bytes) {
	case 1: return BPF_B;
	case 2: return BPF_H;
	case 4: return BPF_W;
	default: return BPF_DW;
	}
}
