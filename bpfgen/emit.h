/* emit.h - building eBPF instruction streams: small helpers, labels for
 * jumps, and the map references the object writer turns into relocations.
 * Every instruction remembers the x86 address it was generated for, so a
 * verifier complaint can be traced back to the source line. */
#ifndef KOFF_EMIT_H
#define KOFF_EMIT_H

#include <linux/bpf.h>
#include <stdbool.h>
#include <stdint.h>

/* The maps every koff program has; the object writer defines them. */
enum koff_map_id {
	KOFF_MAPID_SCRATCH,	/* percpu array, 1 x IR_SCRATCH_SIZE bytes */
	KOFF_MAPID_STATS,	/* percpu array, KOFF_STAT__COUNT x u64 */
	KOFF_MAPID_RODATA,	/* the .rodata section (frozen by libbpf) */
	KOFF_MAPID_TRACE,	/* array, 1 x (KOFF_TRACE_SLOTS + 1) u64: --record-path builds only */
	KOFF_MAPID_SHARED,	/* mmapable array, 1 x the shared region: handlers with shared state */
	KOFF_MAPID__COUNT
};

/* What an instruction is for, for --dump-bpf and the benchmarks' breakdown
 * (bench/insn_kinds.sh): codegen stamps e->kind_now on what it emits. */
enum emit_kind {
	EK_OTHER,	/* not classified */
	EK_ENTRY,	/* XDP entry: parse, checks, request copy */
	EK_EXIT,	/* XDP exit: reply, swaps, checksums, counters, fallback */
	EK_PROLOGUE,	/* handler arguments and counters set up */
	EK_BODY,	/* the handler's own work: ALU, loads, stores, branches */
	EK_CHECK,	/* run-time address and request-length checks */
	EK_SPILL,	/* a vreg stored to or loaded from its slot */
	EK_MOVE,	/* register-to-register copies into place */
	EK_UNLINK,	/* copies that hide a value's link from the verifier */
	EK_LAUNDER,	/* loop heads: values through the scratch map */
	EK_LOOP,	/* loop heads: iteration count, may_goto, bpf_loop yield */
	EK_STUB,	/* fallback stubs */
	EK__COUNT
};
extern const char *const emit_kind_names[EK__COUNT];

struct emit_mapref {
	int insn;		/* index of the ld_imm64's first half */
	enum koff_map_id map;
	uint32_t off;		/* RODATA only: offset of the value pointer */
};

struct emit_fixup {
	int insn;		/* jump instruction to patch */
	int label;
	int far;		/* gotol: the offset goes in imm (32 bits) */
};

struct bpf_emit {
	struct bpf_insn *insns;
	uint64_t *origin;	/* per insn: x86 address it came from, 0 = wrapper */
	uint8_t *kind;		/* per insn: enum emit_kind */
	int n, cap;
	int *labels;		/* label -> insn index, -1 while unbound */
	int nlabels, caplabels;
	int bound_at;		/* where the last label was bound: a jump may land there */
	struct emit_fixup *fixups;
	int nfixups, capfixups;
	struct emit_mapref *maprefs;
	int nmaprefs, capmaprefs;
	uint64_t origin_now;	/* stamped on every new instruction */
	uint8_t kind_now;	/* enum emit_kind, stamped likewise */
	int err;		/* sticky: first failure (-ENOMEM, -E2BIG) */
	/* The target has no gotol (cpu v4): emit_ja_far emits a plain ja, and a
	 * jump farther than 32767 instructions fails emit_finish with -E2BIG. */
	bool no_gotol;
	/* A program with a subprogram (the bpf_loop callback): it starts at
	 * instruction subprog_start (-1: none) and func_ref is the ld_imm64
	 * (BPF_PSEUDO_FUNC) that passes its address.  bpfobj writes the
	 * subprogram to .text, where libbpf expects subprograms, and libbpf
	 * appends it after the main program again when it loads: instruction
	 * indices, and so origin[], stay those of this stream. */
	int subprog_start;
	int func_ref;
	/* Accesses emitted without a range check, for the verifier to prove
	 * in bounds (codegen_opts.bounds_by_verifier). */
	int left_to_verifier;
};

void emit_init(struct bpf_emit *e);
void emit_free(struct bpf_emit *e);
/* Resolve labels; returns 0 or a negative errno (unbound label, jump too far). */
int emit_finish(struct bpf_emit *e);

void emit_insn(struct bpf_emit *e, struct bpf_insn insn);

/* ALU: op is BPF_ADD, BPF_SUB, ... ; alu64 false = 32-bit (zero-extends). */
void emit_alu_imm(struct bpf_emit *e, int alu64, int op, int dst, int32_t imm);
void emit_alu_reg(struct bpf_emit *e, int alu64, int op, int dst, int src);
void emit_mov_imm(struct bpf_emit *e, int dst, int32_t imm);	/* 64-bit, sign-extended imm */
void emit_mov_reg(struct bpf_emit *e, int dst, int src);	/* 64-bit */
/* dst = any 64-bit constant, in as few instructions as it needs. */
void emit_const64(struct bpf_emit *e, int dst, uint64_t v);
/* dst = address of a map (PSEUDO_MAP_FD) or, for RODATA, of byte `off` of its value. */
void emit_ld_map(struct bpf_emit *e, int dst, enum koff_map_id map, uint32_t off);

/* Memory: size is BPF_B, BPF_H, BPF_W or BPF_DW. */
void emit_ldx(struct bpf_emit *e, int size, int dst, int src, int16_t off);
void emit_stx(struct bpf_emit *e, int size, int dst, int16_t off, int src);
void emit_st_imm(struct bpf_emit *e, int size, int dst, int16_t off, int32_t imm);

void emit_call(struct bpf_emit *e, int helper);	/* BPF_FUNC_* */
void emit_exit(struct bpf_emit *e);

/* Labels: create, then bind where the code should land. */
int emit_label(struct bpf_emit *e);
void emit_bind(struct bpf_emit *e, int label);
void emit_ja(struct bpf_emit *e, int label);
/* gotol (cpu v4, kernel 6.6): an unconditional jump with a 32-bit offset. */
void emit_ja_far(struct bpf_emit *e, int label);
/* dst = address of the subprogram starting at `label` (ld_imm64, BPF_PSEUDO_FUNC);
 * one per program, recorded in e->func_ref. */
void emit_ld_func(struct bpf_emit *e, int dst, int label);
/* The subprogram starts here (records e->subprog_start). */
void emit_subprog_start(struct bpf_emit *e);

/* Conditional jumps: op is BPF_JEQ, BPF_JGT, ...; jmp32 compares low halves. */
void emit_jmp_imm(struct bpf_emit *e, int jmp32, int op, int dst, int32_t imm, int label);
void emit_jmp_reg(struct bpf_emit *e, int jmp32, int op, int dst, int src, int label);

/* Size in bytes of a BPF_B/H/W/DW size code, and back. */
int emit_size_bytes(int size);
int emit_size_code(int bytes);

#endif
