/* emit.c - eBPF instruction helpers, labels and map references. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "emit.h"
#include "koff.h"

void emit_init(struct bpf_emit *e)
{
	memset(e, 0, sizeof(*e));
	e->subprog_start = -1;
	e->func_ref = -1;
}

void emit_free(struct bpf_emit *e)
{
	free(e->insns);
	free(e->origin);
	free(e->labels);
	free(e->fixups);
	free(e->maprefs);
	emit_init(e);
}

void emit_insn(struct bpf_emit *e, struct bpf_insn insn)
{
	int cap = e->cap;

	if (e->err)
		return;
	if (koff_grow(&e->insns, &cap, e->n, sizeof(*e->insns)) ||
	    koff_grow(&e->origin, &e->cap, e->n, sizeof(*e->origin))) {
		e->err = -ENOMEM;
		return;
	}
	e->insns[e->n] = insn;
	e->origin[e->n] = e->origin_now;
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

void emit_ldx(struct bpf_emit *e, int size, int dst, int src, int16_t off)
{
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
	if (!e->err)
		e->labels[label] = e->n;
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

int emit_finish(struct bpf_emit *e)
{
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
