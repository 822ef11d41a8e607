/* xdpcopy.c - small packet <-> scratch copies without helper calls (see
 * xdpcopy.h).
 *
 * Shape, for a length L = R5, as a small memcpy does it: lengths
 * fall in power-of-two classes, found by ascending compares of R5 (short
 * requests, the common case, first), and a class of pieces of s bytes
 * copies n pieces from the start and n pieces that end at L:
 *
 *   L        0    1    2-3   4-7   8-16   17-32   33-64   65-128
 *   s x n    -    1x1  2x1   4x1   8x1    8x2     8x4     8x8
 *
 * The two halves overlap unless L = 2 n s, and cover [0, L) since
 * L <= 2 n s.  The head is at constant offsets, under one data_end check;
 * the tail at the variable offset L - n s: a packet pointer with that
 * offset and its own check, and the scratch pointer with the same offset.
 * No branch per word, so each class is one short path for the verifier,
 * and the classes meet at the end, where R5 and the pointers are dead.
 */
#include <stddef.h>

#include "xdpcopy.h"

#define WORD 8

/* One piece of `size` bytes at pkt_at from the packet pointer `pkt` and
 * at scratch_at from `scratch_base` (R0 carries it). */
static void copy_piece(struct bpf_emit *e, bool to_packet, int size, int pkt, int16_t pkt_at,
		       int scratch_base, int16_t scratch_at)
{
	int code = emit_size_code(size);

	if (to_packet) {
		emit_ldx(e, code, BPF_REG_0, scratch_base, scratch_at);
		emit_stx(e, code, pkt, pkt_at, BPF_REG_0);
	} else {
		emit_ldx(e, code, BPF_REG_0, pkt, pkt_at);
		emit_stx(e, code, scratch_base, scratch_at, BPF_REG_0);
	}
}

/* n pieces of `size` bytes from the start of the payload, after one check
 * that the packet holds them. */
static void copy_head(struct bpf_emit *e, const struct xdp_copy *c, int size, int n)
{
	emit_mov_reg(e, BPF_REG_0, c->pkt);
	emit_alu_imm(e, 1, BPF_ADD, BPF_REG_0, size * n);
	emit_jmp_reg(e, 0, BPF_JGT, BPF_REG_0, BPF_REG_3, c->lbl_slow);
	for (int j = 0; j < n; j++)
		copy_piece(e, c->to_packet, size, c->pkt, (int16_t)(size * j), BPF_REG_9,
			   (int16_t)(c->scratch_off + size * j));
}

/* n pieces of `size` bytes that end at L: from R1 = pkt + L - n size, R4 =
 * scratch + L - n size, after R1's own check. */
static void copy_tail(struct bpf_emit *e, const struct xdp_copy *c, int size, int n)
{
	emit_mov_reg(e, BPF_REG_4, BPF_REG_5);
	emit_alu_imm(e, 1, BPF_SUB, BPF_REG_4, size * n);	/* L - n size >= 0 */
	emit_mov_reg(e, BPF_REG_1, c->pkt);
	emit_alu_reg(e, 1, BPF_ADD, BPF_REG_1, BPF_REG_4);
	emit_mov_reg(e, BPF_REG_0, BPF_REG_1);
	emit_alu_imm(e, 1, BPF_ADD, BPF_REG_0, size * n);
	emit_jmp_reg(e, 0, BPF_JGT, BPF_REG_0, BPF_REG_3, c->lbl_slow);
	emit_alu_reg(e, 1, BPF_ADD, BPF_REG_4, BPF_REG_9);
	for (int j = 0; j < n; j++)
		copy_piece(e, c->to_packet, size, BPF_REG_1, (int16_t)(size * j), BPF_REG_4,
			   (int16_t)(c->scratch_off + size * j));
}

void xdp_emit_direct_copy(struct bpf_emit *e, const struct xdp_copy *c)
{
	/* The classes above L = 0, by their largest length. */
	static const struct { int32_t most; int size, n; bool tail; } classes[] = {
		{ 1, 1, 1, false }, { 3, 2, 1, true }, { 7, 4, 1, true }, { 16, WORD, 1, true },
		{ 32, WORD, 2, true }, { 64, WORD, 4, true }, { 128, WORD, 8, true },
	};
	int done = emit_label(e), next = emit_label(e);

	_Static_assert(XDP_COPY_DIRECT_MAX == 128, "the classes end at XDP_COPY_DIRECT_MAX");
	emit_jmp_imm(e, 0, BPF_JGT, BPF_REG_5, 0, next);	/* L = 0 */
	emit_ja(e, done);
	for (size_t k = 0; k < sizeof(classes) / sizeof(classes[0]); k++) {
		bool last = k + 1 == sizeof(classes) / sizeof(classes[0]);

		emit_bind(e, next);
		next = last ? c->lbl_slow : emit_label(e);
		emit_jmp_imm(e, 0, BPF_JGT, BPF_REG_5, classes[k].most, next);
		copy_head(e, c, classes[k].size, classes[k].n);
		if (classes[k].tail)
			copy_tail(e, c, classes[k].size, classes[k].n);
		if (!last)
			emit_ja(e, done);
	}
	emit_bind(e, done);
}
