/* xdpshared.c - the kernel side of shared state (see xdpshared.h and
 * docs/shared-state.md, "Kernel side").
 *
 * Memory order.  The JIT turns each BPF load and store into one x86 move,
 * in program order, and x86-64 (TSO) never reorders loads with loads nor
 * stores with stores: plain loads of seq and writers, in the order written
 * here, are enough for the SEQ checks.  The only atomic is the LOCK mode's
 * compare-and-exchange (lock cmpxchg, a full barrier); its release is a
 * plain store, after every store of the run in program order. */
#include <stddef.h>

#include "ir.h"
#include "koff_abi.h"
#include "xdpshared.h"

#define R0 BPF_REG_0
#define R1 BPF_REG_1
#define R2 BPF_REG_2
#define R3 BPF_REG_3
#define R4 BPF_REG_4
#define R5 BPF_REG_5
#define R6 BPF_REG_6
#define R9 BPF_REG_9
#define R10 BPF_REG_10

#define CTL_MAGIC ((int16_t)offsetof(struct koff_shared_ctl, magic))
#define CTL_SEQ ((int16_t)offsetof(struct koff_shared_ctl, seq))
#define CTL_WRITERS ((int16_t)offsetof(struct koff_shared_ctl, writers))
#define CTL_LOCK ((int16_t)offsetof(struct koff_shared_ctl, lock))

_Static_assert(sizeof(struct koff_shared_ctl) == KOFF_SHARED_CTL_SIZE, "ctl block size");
_Static_assert(IR_UNDO_OFF + IR_UNDO_SIZE <= IR_SCRATCH_SIZE, "undo log outside the scratch value");

static int32_t ctl_off(const struct xdp_wrap_opts *o)
{
	return (int32_t)(o->shared_value_size - KOFF_SHARED_CTL_SIZE);
}

uint64_t xdp_shared_window_max(const struct xdp_wrap_opts *o)
{
	return (o->shared_data_size > 8 ? o->shared_data_size : 8) - 8;
}

/* reg = the control block, from the value pointer in this frame's slot. */
static void load_ctl(struct bpf_emit *e, const struct xdp_wrap_opts *o, int reg)
{
	emit_ldx(e, BPF_DW, reg, R10, XDP_WRAP_SLOT_SHARED);
	emit_alu_imm(e, 1, BPF_ADD, reg, ctl_off(o));
}

/* Fall back (pass_shared) unless ctl.magic (R2 = ctl) says OUT initialised it. */
static void check_magic(struct bpf_emit *e, int lbl_fallback)
{
	emit_mov_imm(e, R0, KOFF_STAT_PASS_SHARED);
	emit_ldx(e, BPF_DW, R3, R2, CTL_MAGIC);
	emit_const64(e, R4, KOFF_SHARED_MAGIC);
	emit_jmp_reg(e, 0, BPF_JNE, R3, R4, lbl_fallback);
}

static void enter_seq(struct bpf_emit *e, int lbl_fallback)
{
	emit_ldx(e, BPF_DW, R3, R2, CTL_WRITERS);
	emit_jmp_imm(e, 0, BPF_JNE, R3, 0, lbl_fallback);
	emit_ldx(e, BPF_DW, R3, R2, CTL_SEQ);
	emit_stx(e, BPF_DW, R9, IR_SEQ_SAVED_OFF, R3);
}

static void enter_lock(struct bpf_emit *e, int lbl_fallback)
{
	int locked = emit_label(e);

	emit_mov_imm(e, R0, 0);
	emit_mov_imm(e, R3, (int32_t)KOFF_SHARED_LOCK_KERNEL);
	/* r0 = cmpxchg(&ctl->lock, r0, r3): r0 is the old value */
	emit_insn(e, (struct bpf_insn){ .code = BPF_STX | BPF_DW | BPF_ATOMIC, .dst_reg = R2,
					.src_reg = R3, .off = CTL_LOCK, .imm = BPF_CMPXCHG });
	emit_jmp_imm(e, 0, BPF_JEQ, R0, 0, locked);
	emit_mov_imm(e, R0, KOFF_STAT_PASS_SHARED);
	emit_ja(e, lbl_fallback);
	emit_bind(e, locked);
	emit_st_imm(e, BPF_DW, R9, IR_UNDO_COUNT_OFF, 0);
}

void xdp_shared_enter(struct bpf_emit *e, const struct xdp_wrap_opts *o, int lbl_fallback)
{
	int found = emit_label(e);

	emit_st_imm(e, BPF_W, R10, XDP_WRAP_SLOT_KEY, 0);
	emit_ld_map(e, R1, KOFF_MAPID_SHARED, 0);
	emit_mov_reg(e, R2, R10);
	emit_alu_imm(e, 1, BPF_ADD, R2, XDP_WRAP_SLOT_KEY);
	emit_call(e, BPF_FUNC_map_lookup_elem);
	emit_jmp_imm(e, 0, BPF_JNE, R0, 0, found);
	emit_mov_imm(e, R0, KOFF_STAT_PASS_SHARED);
	emit_ja(e, lbl_fallback);
	emit_bind(e, found);
	emit_stx(e, BPF_DW, R10, XDP_WRAP_SLOT_SHARED, R0);
	emit_mov_reg(e, R2, R0);
	emit_alu_imm(e, 1, BPF_ADD, R2, ctl_off(o));
	check_magic(e, lbl_fallback);
	if (o->shared_mode == KOFF_SHARED_LOCK)
		enter_lock(e, lbl_fallback);
	else
		enter_seq(e, lbl_fallback);
}

void xdp_shared_check_seq(struct bpf_emit *e, const struct xdp_wrap_opts *o, int lbl_fallback)
{
	int ok = emit_label(e), moved = emit_label(e);

	load_ctl(e, o, R2);
	emit_ldx(e, BPF_DW, R3, R2, CTL_WRITERS);
	emit_jmp_imm(e, 0, BPF_JNE, R3, 0, moved);
	emit_ldx(e, BPF_DW, R3, R2, CTL_SEQ);
	emit_ldx(e, BPF_DW, R4, R9, IR_SEQ_SAVED_OFF);
	emit_jmp_reg(e, 0, BPF_JEQ, R3, R4, ok);
	emit_bind(e, moved);
	emit_mov_imm(e, R0, KOFF_STAT_PASS_SHARED);
	emit_ja(e, lbl_fallback);
	emit_bind(e, ok);
}

void xdp_shared_release(struct bpf_emit *e, const struct xdp_wrap_opts *o)
{
	load_ctl(e, o, R1);
	emit_st_imm(e, BPF_DW, R1, CTL_LOCK, 0);
}

void xdp_shared_undo_and_release(struct bpf_emit *e, const struct xdp_wrap_opts *o)
{
	int loop = emit_label(e), done = emit_label(e);

	emit_mov_reg(e, R6, R0);
	/* R1 = records left, bounded for the verifier (the log never holds more) */
	emit_ldx(e, BPF_DW, R1, R9, IR_UNDO_COUNT_OFF);
	emit_jmp_imm(e, 0, BPF_JGT, R1, IR_UNDO_MAX, done);
	emit_bind(e, loop);
	emit_jmp_imm(e, 0, BPF_JLT, R1, 1, done);
	emit_alu_imm(e, 1, BPF_SUB, R1, 1);
	emit_mov_reg(e, R2, R1);
	emit_alu_imm(e, 1, BPF_LSH, R2, 4);
	emit_alu_reg(e, 1, BPF_ADD, R2, R9);
	emit_ldx(e, BPF_DW, R3, R2, IR_UNDO_REC_OFF);		/* the window's offset */
	emit_ldx(e, BPF_DW, R4, R2, IR_UNDO_REC_OFF + 8);	/* its old bytes */
	emit_jmp_imm(e, 0, BPF_JGT, R3, (int32_t)xdp_shared_window_max(o), loop);
	emit_ldx(e, BPF_DW, R5, R10, XDP_WRAP_SLOT_SHARED);
	emit_alu_reg(e, 1, BPF_ADD, R5, R3);
	emit_stx(e, BPF_DW, R5, 0, R4);
	emit_ja(e, loop);
	emit_bind(e, done);
	xdp_shared_release(e, o);
	emit_mov_reg(e, R0, R6);
}

void xdp_shared_log_store(struct bpf_emit *e, const struct xdp_wrap_opts *o, const int16_t slots[3],
			  int lbl_full)
{
	int16_t s_off = slots[0], s_window = slots[1], s_rec = slots[2];
	int clamped = emit_label(e);
	int32_t wmax = (int32_t)xdp_shared_window_max(o);

	emit_stx(e, BPF_DW, R10, s_off, R1);
	emit_jmp_imm(e, 0, BPF_JLE, R1, wmax, clamped);
	emit_mov_imm(e, R1, wmax);
	emit_bind(e, clamped);
	emit_stx(e, BPF_DW, R10, s_window, R1);
	/* R0 = this record's index; a full log falls back before the store */
	emit_ldx(e, BPF_DW, R0, R9, IR_UNDO_COUNT_OFF);
	emit_jmp_imm(e, 0, BPF_JGE, R0, IR_UNDO_MAX, lbl_full);
	emit_alu_imm(e, 1, BPF_ADD, R0, 1);
	emit_stx(e, BPF_DW, R9, IR_UNDO_COUNT_OFF, R0);
	emit_alu_imm(e, 1, BPF_LSH, R0, 4);
	emit_alu_reg(e, 1, BPF_ADD, R0, R9);	/* R0 = the record + 16 */
	emit_stx(e, BPF_DW, R0, IR_UNDO_REC_OFF - 16, R1);
	emit_stx(e, BPF_DW, R10, s_rec, R0);
	emit_ldx(e, BPF_DW, R0, R10, XDP_WRAP_SLOT_SHARED);
	emit_alu_reg(e, 1, BPF_ADD, R0, R1);
	emit_ldx(e, BPF_DW, R0, R0, 0);		/* the window's old bytes */
	emit_ldx(e, BPF_DW, R1, R10, s_rec);
	emit_stx(e, BPF_DW, R1, IR_UNDO_REC_OFF - 16 + 8, R0);
	emit_ldx(e, BPF_DW, R1, R10, s_off);
}
