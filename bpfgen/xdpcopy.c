/* xdpcopy.c - small packet <-> scratch copies without helper calls (see
 * xdpcopy.h).
 *
 * Shape, for a length L = R5 - bias:
 *
 *   classes       ascending compares of R5, small lengths first (requests
 *                 are mostly short), each followed by its class's code:
 *                 L = 0 copies nothing, 1 a byte, 2-3 and 4-7 a head piece
 *                 and a tail piece of 2 and 4 bytes, 8k+1 .. 8k+8 (k >= 1)
 *                 a tail word and k whole words
 *   tail          the piece that ends at L, at the variable offset L - s:
 *                 a packet pointer with a variable offset and its own
 *                 check, and the scratch pointer with the same offset
 *   words         one descending chain of whole words, entered at the
 *                 class's first one after one data_end check that covers
 *                 them all
 *
 * Each class is one path for the verifier, a few dozen instructions: the
 * classes meet in the word chain and at the end, where the registers they
 * differ in are dead.
 */
#include "xdpcopy.h"

#define WORD 8
#define MAX_WORDS (XDP_COPY_DIRECT_MAX / WORD)

/* One piece of `size` bytes at constant offset `at` from the start of the
 * payload on both sides (R0 carries it). */
static void copy_piece(struct bpf_emit *e, const struct xdp_copy *c, int size, int16_t pkt_at,
		       int scratch_base, int16_t scratch_at)
{
	int code = emit_size_code(size);

	if (c->to_packet) {
		emit_ldx(e, code, BPF_REG_0, scratch_base, scratch_at);
		emit_stx(e, code, c->pkt, pkt_at, BPF_REG_0);
	} else {
		emit_ldx(e, code, BPF_REG_0, c->pkt, pkt_at);
		emit_stx(e, code, scratch_base, scratch_at, BPF_REG_0);
	}
}

/* Fall to lbl_slow unless the packet holds `n` bytes of payload. */
static void check_payload(struct bpf_emit *e, const struct xdp_copy *c, int32_t n)
{
	emit_mov_reg(e, BPF_REG_0, c->pkt);
	emit_alu_imm(e, 1, BPF_ADD, BPF_REG_0, c->pkt_off + n);
	emit_jmp_reg(e, 0, BPF_JGT, BPF_REG_0, BPF_REG_3, c->lbl_slow);
}

/* The `size`-byte piece that ends at L, then jump to `done`. */
static void copy_tail(struct bpf_emit *e, const struct xdp_copy *c, int size, int done)
{
	emit_mov_reg(e, BPF_REG_4, BPF_REG_5);
	emit_alu_imm(e, 1, BPF_SUB, BPF_REG_4, c->bias + size);	/* L - size */
	emit_mov_reg(e, BPF_REG_1, c->pkt);
	emit_alu_reg(e, 1, BPF_ADD, BPF_REG_1, BPF_REG_4);
	emit_mov_reg(e, BPF_REG_0, BPF_REG_1);
	emit_alu_imm(e, 1, BPF_ADD, BPF_REG_0, c->pkt_off + size);
	emit_jmp_reg(e, 0, BPF_JGT, BPF_REG_0, BPF_REG_3, c->lbl_slow);
	emit_alu_reg(e, 1, BPF_ADD, BPF_REG_4, BPF_REG_9);	/* scratch + L - size */
	{
		struct xdp_copy at_tail = *c;

		at_tail.pkt = BPF_REG_1;
		copy_piece(e, &at_tail, size, c->pkt_off, BPF_REG_4, c->scratch_off);
	}
	emit_ja(e, done);
}

/* Lengths 2-3 and 4-7: a `size`-byte head piece, then the tail. */
static void copy_head_and_tail(struct bpf_emit *e, const struct xdp_copy *c, int size, int done)
{
	check_payload(e, c, size);
	copy_piece(e, c, size, c->pkt_off, BPF_REG_9, c->scratch_off);
	copy_tail(e, c, size, done);
}

/* "if R5 > bias + above goto next": a length class's code follows it, so
 * the verifier walks the classes from the shortest up (it follows a
 * branch's fall-through first).  The word chain relies on that order. */
static void next_class_unless_within(struct bpf_emit *e, const struct xdp_copy *c, int32_t above,
				     int next)
{
	emit_jmp_imm(e, 0, BPF_JGT, BPF_REG_5, c->bias + above, next);
}

void xdp_emit_direct_copy(struct bpf_emit *e, const struct xdp_copy *c)
{
	int done = emit_label(e), words_from[MAX_WORDS];
	int next = emit_label(e);

	for (int k = 1; k < MAX_WORDS; k++)
		words_from[k] = emit_label(e);

	next_class_unless_within(e, c, 0, next);
	emit_ja(e, done);					/* L = 0 */
	emit_bind(e, next), next = emit_label(e);
	next_class_unless_within(e, c, 1, next);
	copy_tail(e, c, 1, done);				/* L = 1 */
	emit_bind(e, next), next = emit_label(e);
	next_class_unless_within(e, c, 3, next);
	copy_head_and_tail(e, c, 2, done);			/* L = 2-3 */
	emit_bind(e, next), next = emit_label(e);
	next_class_unless_within(e, c, 7, next);
	copy_head_and_tail(e, c, 4, done);			/* L = 4-7 */
	emit_bind(e, next), next = emit_label(e);
	next_class_unless_within(e, c, WORD, next);
	copy_tail(e, c, WORD, done);				/* L = 8 */
	/* L = 8k+1 .. 8k+8: the tail word while R5 is live, then words k-1
	 * down to 0.  The chain's paths meet: a class reaches the entry of
	 * the one below it with R5 dead and a packet range the shorter class,
	 * walked first, already covered, so the verifier prunes there. */
	for (int k = 1; k < MAX_WORDS; k++) {
		emit_bind(e, next);
		next = k + 1 < MAX_WORDS ? emit_label(e) : c->lbl_slow;
		next_class_unless_within(e, c, WORD * k + WORD, next);
		check_payload(e, c, WORD * k);
		copy_tail(e, c, WORD, words_from[k]);
	}
	for (int k = MAX_WORDS - 1; k >= 1; k--) {
		int16_t at = (int16_t)(WORD * (k - 1));

		emit_bind(e, words_from[k]);
		copy_piece(e, c, WORD, (int16_t)(c->pkt_off + at), BPF_REG_9,
			   (int16_t)(c->scratch_off + at));
	}
	emit_bind(e, done);
}
