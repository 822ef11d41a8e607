/* xdp.c - the XDP entry and exit around the lifted handler (see xdp.h).
 *
 * Register use in the wrapper:
 *   R0  the pass reason while parsing: every failed check is then a single
 *       jump to lbl_fallback, which counts R0 and passes the packet;
 *   R6  ctx in the entry and the reply path; the stat index at `count`;
 *   R7  the request length in the entry; the verdict at `count`;
 *   R8  the reply length in the reply path;
 *   R9  the scratch map value, from the entry to the end.
 * R6-R9 survive helper calls, which is why they hold what the code needs
 * after a call.
 *
 * Frames answered: Ethernet, untagged or with one 802.1Q tag or an 802.1ad
 * tag followed by an 802.1Q one (the tags stay in the reply unchanged);
 * IPv4 without options or fragments, or IPv6 whose next header is UDP;
 * UDP.  Everything else passes with PASS_OTHER.  The entry's paths differ
 * only in packet-pointer offsets and constants the verifier never needs
 * precisely, so it walks the handler once, not once per frame layout; the
 * exit parses the layout again from the packet (see emit_rewrite_headers).
 * IPv4 replies carry UDP checksum 0 ("none"); IPv6 forbids that, so its
 * replies get a computed checksum (emit_udp6_csum).
 *
 * Growing the packet for a reply longer than the request: in generic
 * (skb) mode bpf_xdp_adjust_tail can only grow into the tailroom of the
 * skb's head buffer, i.e. its allocation slack.  Measured on lo, kernel
 * 6.18: a 2-byte request grows to a 400-byte reply, not to 420.  Loading
 * with BPF_F_XDP_HAS_FRAGS makes it worse (the skb is copied into a
 * page-pool buffer sized to the packet: even 400 fails).  Native XDP on
 * veth has no tailroom at all for frames from the local stack (the same
 * page-pool copy).  So when the tail refuses, the exit grows at the head,
 * into XDP_PACKET_HEADROOM, which both modes keep (emit_grow_at_head:
 * about 210 bytes).  A refused grow leaves the packet untouched, so the
 * wrapper passes it with PASS_REPLY and userspace answers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "ir.h"
#include "koff_abi.h"
#include "xdp.h"
#include "xdpcopy.h"
#include "xdpshared.h"

/* Ethernet: the offsets of the fields the wrapper reads or writes. */
enum {
	OFF_ETH_DST = 0, OFF_ETH_SRC = 6, OFF_ETH_TYPE = 12, ETH_HDR_LEN = 14,
	VLAN_TAG_LEN = 4,		/* TCI + the next ethertype */
};

/* IPv4 and UDP after it, as offsets from the start of the IP header (L3). */
enum {
	OFF_IP_VIHL = 0, OFF_IP_TOT_LEN = 2, OFF_IP_FRAG = 6, OFF_IP_TTL = 8, OFF_IP_PROTO = 9,
	OFF_IP_CSUM = 10, OFF_IP_SADDR = 12, OFF_IP_DADDR = 16, IP_HDR_LEN = 20,
	UDP_HDR_LEN = 8,
	OFF_UDP_SPORT = 0, OFF_UDP_DPORT = 2, OFF_UDP_LEN = 4, OFF_UDP_CSUM = 6,
};

/* IPv6 (fixed header only), as offsets from L3. */
enum {
	OFF_IP6_PLEN = 4, OFF_IP6_NEXT = 6, OFF_IP6_HOPS = 7, OFF_IP6_SADDR = 8,
	OFF_IP6_DADDR = 24, IP6_HDR_LEN = 40,
};

#define ETH_P_IPV4	0x0800
#define ETH_P_IPV6	0x86dd
#define ETH_P_8021Q	0x8100
#define ETH_P_8021AD	0x88a8
#define IPV4_VIHL_NO_OPTIONS 0x45
#define IPV4_FRAG_MASK 0x3fff	/* MF flag and fragment offset; DF is fine */
#define REPLY_TTL 64
/* bpf_csum_diff sums at most 512 bytes per call on 6.1 (its per-CPU
 * scratchpad is MAX_BPF_STACK bytes), in whole 32-bit words. */
#define CSUM_CHUNK 512

/* dst = htons(dst) for a 16-bit value in the low half.  Verifiers before
 * 6.17 know nothing of a byte swap's result (6.12: "math between pkt
 * pointer and register with unbounded min value" when the UDP length is
 * added to the packet pointer): the mask gives them its range. */
static void emit_be16(struct bpf_emit *e, int dst)
{
	emit_insn(e, (struct bpf_insn){ .code = BPF_ALU | BPF_END | BPF_TO_BE,
					.dst_reg = dst, .imm = 16 });
	emit_alu_imm(e, 1, BPF_AND, dst, 0xffff);
}

/* Loads compare against constants in packet (network) byte order: the
 * program runs on the host that generates it, so htons() here matches what
 * a plain BPF load sees. */
static int32_t net16(uint16_t v)
{
	return htons(v);
}

/* Fall to lbl unless `need` bytes from packet pointer `base` lie before
 * data_end (R3).  Clobbers R4. */
static void emit_need(struct bpf_emit *e, int base, int32_t need, int lbl)
{
	emit_mov_reg(e, BPF_REG_4, base);
	emit_alu_imm(e, 1, BPF_ADD, BPF_REG_4, need);
	emit_jmp_reg(e, 0, BPF_JGT, BPF_REG_4, BPF_REG_3, lbl);
}

/* Steps R2 over one VLAN tag: R2 += 4, R4 = the next ethertype.  The tag
 * stays in the packet (the reply keeps it unchanged). */
static void emit_step_tag(struct bpf_emit *e, int lbl_pass)
{
	emit_alu_imm(e, 1, BPF_ADD, BPF_REG_2, VLAN_TAG_LEN);
	emit_need(e, BPF_REG_2, ETH_HDR_LEN, lbl_pass);
	emit_ldx(e, BPF_H, BPF_REG_4, BPF_REG_2, OFF_ETH_TYPE);
}

/* The L3 header is at most two tags past the Ethernet header. */
#define L3_OFF_MAX (ETH_HDR_LEN + 2 * VLAN_TAG_LEN)

/* R2 = the L3 header (a packet pointer whose offset each tag path knows
 * exactly) becomes data + `off`, where off = R2 - data is a scalar the
 * verifier does not track (a difference of two packet pointers, allowed
 * with CAP_PERFMON, which the loader needs anyway), bounded by a check
 * that never fails.  The three tag paths then meet, and what follows is
 * walked once per IP version instead of once per frame layout (nop's
 * program: 1688 instructions processed before).  `data` is clobbered. */
static void emit_opaque_l3(struct bpf_emit *e, int off, int data, int lbl)
{
	emit_ldx(e, BPF_W, data, BPF_REG_6, offsetof(struct xdp_md, data));
	emit_mov_reg(e, off, BPF_REG_2);
	emit_alu_reg(e, 1, BPF_SUB, off, data);
	emit_jmp_imm(e, 0, BPF_JGT, off, L3_OFF_MAX, lbl);
	emit_mov_reg(e, BPF_REG_2, data);
	emit_alu_reg(e, 1, BPF_ADD, BPF_REG_2, off);
}

/* From R2 = data (and R3 = data_end, ETH_HDR_LEN bytes known present):
 * R2 = the L3 header, R4 = its ethertype, past one 802.1Q tag or an
 * 802.1ad tag followed by an 802.1Q one (emit_opaque_l3: R2's offset is
 * `off`, unknown to the verifier; `data` is clobbered).  Untagged IPv4,
 * the common frame, is tested first: one compare instead of two that
 * fail. */
static void emit_skip_vlan(struct bpf_emit *e, int off, int data, int lbl_pass)
{
	int not_qinq = emit_label(e), untagged = emit_label(e);

	emit_ldx(e, BPF_H, BPF_REG_4, BPF_REG_2, OFF_ETH_TYPE);
	emit_jmp_imm(e, 0, BPF_JEQ, BPF_REG_4, net16(ETH_P_IPV4), untagged);
	emit_jmp_imm(e, 0, BPF_JNE, BPF_REG_4, net16(ETH_P_8021AD), not_qinq);
	emit_step_tag(e, lbl_pass);
	emit_jmp_imm(e, 0, BPF_JNE, BPF_REG_4, net16(ETH_P_8021Q), lbl_pass);
	emit_bind(e, not_qinq);
	emit_jmp_imm(e, 0, BPF_JNE, BPF_REG_4, net16(ETH_P_8021Q), untagged);
	emit_step_tag(e, lbl_pass);
	emit_bind(e, untagged);
	emit_alu_imm(e, 1, BPF_ADD, BPF_REG_2, ETH_HDR_LEN);
	emit_opaque_l3(e, off, data, lbl_pass);
}

/* IPv4 without options or fragmentation carrying UDP, R2 = L3.  On
 * fall-through: R5 = the IP payload length, R8 += the IP header. */
static void emit_parse_ipv4(struct bpf_emit *e, int lbl_pass)
{
	emit_need(e, BPF_REG_2, IP_HDR_LEN + UDP_HDR_LEN, lbl_pass);
	emit_ldx(e, BPF_B, BPF_REG_4, BPF_REG_2, OFF_IP_VIHL);
	emit_jmp_imm(e, 0, BPF_JNE, BPF_REG_4, IPV4_VIHL_NO_OPTIONS, lbl_pass);
	emit_ldx(e, BPF_H, BPF_REG_4, BPF_REG_2, OFF_IP_FRAG);
	emit_jmp_imm(e, 0, BPF_JSET, BPF_REG_4, net16(IPV4_FRAG_MASK), lbl_pass);
	emit_ldx(e, BPF_B, BPF_REG_4, BPF_REG_2, OFF_IP_PROTO);
	emit_jmp_imm(e, 0, BPF_JNE, BPF_REG_4, IPPROTO_UDP, lbl_pass);
	emit_ldx(e, BPF_H, BPF_REG_5, BPF_REG_2, OFF_IP_TOT_LEN);
	emit_be16(e, BPF_REG_5);
	emit_alu_imm(e, 1, BPF_SUB, BPF_REG_5, IP_HDR_LEN);
	emit_alu_imm(e, 1, BPF_ADD, BPF_REG_8, IP_HDR_LEN);
}

/* IPv6 whose next header is UDP (an extension header passes), whose UDP
 * length equals the payload length, R2 = L3.  On fall-through: R2 moved so
 * that the UDP header is at R2 + IP_HDR_LEN as for IPv4, R5 = the payload
 * length, R8 += the IPv6 header. */
static void emit_parse_ipv6(struct bpf_emit *e, int lbl_pass)
{
	emit_need(e, BPF_REG_2, IP6_HDR_LEN + UDP_HDR_LEN, lbl_pass);
	emit_ldx(e, BPF_B, BPF_REG_4, BPF_REG_2, OFF_IP6_NEXT);
	emit_jmp_imm(e, 0, BPF_JNE, BPF_REG_4, IPPROTO_UDP, lbl_pass);
	emit_ldx(e, BPF_H, BPF_REG_5, BPF_REG_2, OFF_IP6_PLEN);
	emit_ldx(e, BPF_H, BPF_REG_4, BPF_REG_2, IP6_HDR_LEN + OFF_UDP_LEN);
	emit_jmp_reg(e, 0, BPF_JNE, BPF_REG_4, BPF_REG_5, lbl_pass);
	emit_be16(e, BPF_REG_5);
	emit_alu_imm(e, 1, BPF_ADD, BPF_REG_2, IP6_HDR_LEN - IP_HDR_LEN);
	emit_alu_imm(e, 1, BPF_ADD, BPF_REG_8, IP6_HDR_LEN);
}

/* Ethernet (untagged, 802.1Q, or 802.1ad + 802.1Q), IPv4 or IPv6, UDP to
 * the right port.  On fall-through: R2 = the UDP header - IP_HDR_LEN,
 * R3 = data_end, R5 = the UDP length the IP header allows, R8 = the offset
 * of the UDP header in the packet, R0 still PASS_OTHER.  Past the tags R2's
 * offset and R8 are unknown to the verifier (emit_opaque_l3), so it walks
 * each IP version's parse once; the versions' paths then differ only in
 * values the code after the entry never makes precise: the verifier walks
 * the handler once. */
static void emit_parse_headers(struct bpf_emit *e, int lbl_pass)
{
	int not_ipv4 = emit_label(e), udp = emit_label(e);

	emit_ldx(e, BPF_W, BPF_REG_2, BPF_REG_6, offsetof(struct xdp_md, data));
	emit_ldx(e, BPF_W, BPF_REG_3, BPF_REG_6, offsetof(struct xdp_md, data_end));
	emit_need(e, BPF_REG_2, ETH_HDR_LEN, lbl_pass);
	emit_skip_vlan(e, BPF_REG_8, BPF_REG_5, lbl_pass);
	emit_jmp_imm(e, 0, BPF_JNE, BPF_REG_4, net16(ETH_P_IPV4), not_ipv4);
	emit_parse_ipv4(e, lbl_pass);
	emit_ja(e, udp);
	emit_bind(e, not_ipv4);
	emit_jmp_imm(e, 0, BPF_JNE, BPF_REG_4, net16(ETH_P_IPV6), lbl_pass);
	emit_parse_ipv6(e, lbl_pass);
	emit_bind(e, udp);
}

/* UDP at R2 + IP_HDR_LEN: the port, and the payload length in R7.  It
 * comes from the UDP header, never from data_end (NICs pad short frames
 * to 60 bytes); it must fit what the IP header says (R5) and lie inside
 * the packet.  R8 becomes the payload's offset. */
static void emit_parse_udp(struct bpf_emit *e, const struct xdp_wrap_opts *o, int lbl_pass)
{
	if (o->udp_port) {
		emit_ldx(e, BPF_H, BPF_REG_4, BPF_REG_2, IP_HDR_LEN + OFF_UDP_DPORT);
		emit_jmp_imm(e, 0, BPF_JNE, BPF_REG_4, net16(o->udp_port), lbl_pass);
	}
	emit_ldx(e, BPF_H, BPF_REG_7, BPF_REG_2, IP_HDR_LEN + OFF_UDP_LEN);
	emit_be16(e, BPF_REG_7);
	emit_jmp_imm(e, 0, BPF_JLT, BPF_REG_7, UDP_HDR_LEN, lbl_pass);
	emit_jmp_reg(e, 0, BPF_JGT, BPF_REG_7, BPF_REG_5, lbl_pass);
	emit_alu_imm(e, 1, BPF_SUB, BPF_REG_7, UDP_HDR_LEN);
	emit_alu_imm(e, 1, BPF_ADD, BPF_REG_8, UDP_HDR_LEN);

	emit_mov_reg(e, BPF_REG_4, BPF_REG_2);
	emit_alu_imm(e, 1, BPF_ADD, BPF_REG_4, IP_HDR_LEN + UDP_HDR_LEN);
	emit_alu_reg(e, 1, BPF_ADD, BPF_REG_4, BPF_REG_7);
	emit_jmp_reg(e, 0, BPF_JGT, BPF_REG_4, BPF_REG_3, lbl_pass);
}

/* R0 = lookup(map, key) with the key in the wrapper's key slot. */
static void emit_lookup(struct bpf_emit *e, enum koff_map_id map)
{
	emit_ld_map(e, BPF_REG_1, map, 0);
	emit_mov_reg(e, BPF_REG_2, BPF_REG_10);
	emit_alu_imm(e, 1, BPF_ADD, BPF_REG_2, XDP_WRAP_SLOT_KEY);
	emit_call(e, BPF_FUNC_map_lookup_elem);
}

/* "if R0 != 0 continue, else pass with PASS_OTHER": helpers that fail here
 * cannot fail for a packet the parser accepted, but the verifier (and
 * honesty) want the check. */
static void emit_pass_unless_r0(struct bpf_emit *e, int jmp_if_ok, int lbl_pass)
{
	int ok = emit_label(e);

	emit_jmp_imm(e, 0, jmp_if_ok, BPF_REG_0, 0, ok);
	emit_mov_imm(e, BPF_REG_0, KOFF_STAT_PASS_OTHER);
	emit_ja(e, lbl_pass);
	emit_bind(e, ok);
}

/* `dst` = the payload in the packet, R3 = data_end, R4 clobbered: a packet
 * pointer whose offset the verifier knows only to be below 256 (the byte
 * the entry stored at IR_WRAP_HDR_OFF, loaded back), the same for every
 * frame layout.  Code after it is then walked once, not once per layout,
 * and the payload offset slot stays imprecise.  R6 = ctx, R9 = scratch. */
static void emit_opaque_payload(struct bpf_emit *e, int dst)
{
	emit_ldx(e, BPF_B, BPF_REG_4, BPF_REG_9, IR_WRAP_HDR_OFF);
	emit_ldx(e, BPF_W, dst, BPF_REG_6, offsetof(struct xdp_md, data));
	emit_ldx(e, BPF_W, BPF_REG_3, BPF_REG_6, offsetof(struct xdp_md, data_end));
	emit_alu_reg(e, 1, BPF_ADD, dst, BPF_REG_4);
}

/* The payload of up to XDP_COPY_DIRECT_MAX bytes between the packet
 * (through `pkt`, emit_opaque_payload) and scratch + scratch_off, with
 * direct loads and stores (xdpcopy.h), then a jump to `copied`; a longer
 * one goes to `slow`, for the helper.  The length is the one stored at
 * IR_WRAP_LEN_OFF, loaded back into R5: a register that nothing the
 * program keeps is linked to, so the copy's branches narrow nothing else
 * (the request's R7, the reply's R8) and its length classes meet after it. */
static void emit_direct_copy(struct bpf_emit *e, bool to_packet, int pkt, int16_t scratch_off, int copied,
			     int slow)
{
	const struct xdp_copy direct = {
		.to_packet = to_packet, .pkt = pkt, .scratch_off = scratch_off, .lbl_slow = slow,
	};

	emit_opaque_payload(e, pkt);
	emit_ldx(e, BPF_H, BPF_REG_5, BPF_REG_9, IR_WRAP_LEN_OFF);
	xdp_emit_direct_copy(e, &direct);
	emit_ja(e, copied);
}

/* R9 = scratch; the request copied to scratch + IR_REQ_OFF; R1 = length:
 * directly up to XDP_COPY_DIRECT_MAX bytes, else by bpf_xdp_load_bytes.
 * R8 = the payload's offset, R7 its length on entry: both are stored to
 * the wrapper's word here, the offset once for the entry and the exit (no
 * other code writes it: the x86 code cannot reach the private area). */
static void emit_copy_request(struct bpf_emit *e, int lbl_pass)
{
	int copied = emit_label(e), slow = emit_label(e);

	emit_st_imm(e, BPF_W, BPF_REG_10, XDP_WRAP_SLOT_KEY, 0);
	emit_lookup(e, KOFF_MAPID_SCRATCH);
	emit_pass_unless_r0(e, BPF_JNE, lbl_pass);
	emit_mov_reg(e, BPF_REG_9, BPF_REG_0);

	emit_stx(e, BPF_B, BPF_REG_9, IR_WRAP_HDR_OFF, BPF_REG_8);
	emit_stx(e, BPF_H, BPF_REG_9, IR_WRAP_LEN_OFF, BPF_REG_7);
	emit_direct_copy(e, false, BPF_REG_8, IR_REQ_OFF, copied, slow);

	/* bpf_xdp_load_bytes refuses a zero length.  `< 1` rather than `== 0`:
	 * verifiers before 6.5 learn nothing from a not-equal branch, and 6.1
	 * then sees a size that may be 0. */
	emit_bind(e, slow);
	emit_jmp_imm(e, 0, BPF_JLT, BPF_REG_7, 1, copied);
	emit_mov_reg(e, BPF_REG_1, BPF_REG_6);
	emit_ldx(e, BPF_DW, BPF_REG_2, BPF_REG_10, XDP_WRAP_SLOT_HDRLEN);
	emit_mov_reg(e, BPF_REG_3, BPF_REG_9);
	emit_alu_imm(e, 1, BPF_ADD, BPF_REG_3, IR_REQ_OFF);
	emit_mov_reg(e, BPF_REG_4, BPF_REG_7);
	emit_call(e, BPF_FUNC_xdp_load_bytes);
	emit_pass_unless_r0(e, BPF_JEQ, lbl_pass);
	emit_bind(e, copied);
	emit_mov_reg(e, BPF_REG_1, BPF_REG_7);
}

static int check_opts(const struct xdp_wrap_opts *o)
{
	if (!o || o->resp_cap == 0 || o->resp_cap > IR_RESP_MAX)
		return -EINVAL;
	/* The region: globals, then the control block, in whole pages. */
	if (o->shared_mode != KOFF_SHARED_NONE &&
	    (o->shared_value_size % KOFF_SHARED_PAGE || o->shared_value_size > INT32_MAX ||
	     o->shared_value_size < o->shared_data_size + KOFF_SHARED_CTL_SIZE))
		return -EINVAL;
	return 0;
}

int xdp_emit_entry(struct bpf_emit *e, const struct xdp_wrap_opts *o, struct xdp_wrap *w)
{
	if (check_opts(o))
		return -EINVAL;
	w->lbl_return = emit_label(e);
	w->lbl_fallback = emit_label(e);
	w->lbl_handler_fallback = o->shared_mode == KOFF_SHARED_LOCK ? emit_label(e) : w->lbl_fallback;

	emit_mov_reg(e, BPF_REG_6, BPF_REG_1);
	emit_stx(e, BPF_DW, BPF_REG_10, XDP_WRAP_SLOT_CTX, BPF_REG_1);
	emit_mov_imm(e, BPF_REG_0, KOFF_STAT_PASS_OTHER);
	emit_parse_headers(e, w->lbl_fallback);
	emit_parse_udp(e, o, w->lbl_fallback);
	emit_mov_imm(e, BPF_REG_0, KOFF_STAT_PASS_TOO_BIG);
	emit_jmp_imm(e, 0, BPF_JGT, BPF_REG_7, IR_REQ_MAX, w->lbl_fallback);

	emit_stx(e, BPF_DW, BPF_REG_10, XDP_WRAP_SLOT_HDRLEN, BPF_REG_8);
	emit_stx(e, BPF_DW, BPF_REG_10, XDP_WRAP_SLOT_REQLEN, BPF_REG_7);
	emit_copy_request(e, w->lbl_fallback);
	if (o->shared_mode != KOFF_SHARED_NONE) {
		xdp_shared_enter(e, o, w->lbl_fallback);
		emit_mov_reg(e, BPF_REG_1, BPF_REG_7);
	}
	return e->err;
}

/* ---- Exit ---------------------------------------------------------------- */

/* R2 = headers + R8 - R7: how much the packet must grow (R7 = its length). */
static void emit_growth(struct bpf_emit *e)
{
	emit_ldx(e, BPF_DW, BPF_REG_2, BPF_REG_10, XDP_WRAP_SLOT_HDRLEN);
	emit_alu_reg(e, 1, BPF_ADD, BPF_REG_2, BPF_REG_8);
	emit_alu_reg(e, 1, BPF_SUB, BPF_REG_2, BPF_REG_7);
}

/* R4 = min(R7, XDP_WRAP_HDR_MAX), in [1, XDP_WRAP_HDR_MAX]: the bytes that
 * hold every header.  From the packet's length, not from the header-length
 * slot: a helper's size becomes precise, and a precise slot would make the
 * verifier walk the handler once per frame layout. */
static void emit_header_span(struct bpf_emit *e, int lbl_pass_reply)
{
	int small = emit_label(e);

	emit_mov_reg(e, BPF_REG_4, BPF_REG_7);
	emit_jmp_imm(e, 0, BPF_JLE, BPF_REG_4, XDP_WRAP_HDR_MAX, small);
	emit_mov_imm(e, BPF_REG_4, XDP_WRAP_HDR_MAX);
	emit_bind(e, small);
	emit_jmp_imm(e, 0, BPF_JLT, BPF_REG_4, 1, lbl_pass_reply);
}

/* bpf_xdp_load/store_bytes(ctx, 0, scratch + IR_REQ_OFF, R4 from
 * emit_header_span): the request copy is dead once the handler returned. */
static void emit_header_copy(struct bpf_emit *e, int helper)
{
	emit_mov_reg(e, BPF_REG_1, BPF_REG_6);
	emit_mov_imm(e, BPF_REG_2, 0);
	emit_mov_reg(e, BPF_REG_3, BPF_REG_9);
	emit_alu_imm(e, 1, BPF_ADD, BPF_REG_3, IR_REQ_OFF);
	emit_call(e, helper);
}

/* The tail could not grow (generic XDP has only the skb's slack there,
 * veth's native XDP a buffer sized to the frame): grow at the head, where
 * both keep XDP_PACKET_HEADROOM (256 bytes, minus struct xdp_frame), and
 * move the headers to the new front.  Until adjust_head succeeds the
 * packet is untouched and may still pass; after it, only a drop. */
static void emit_grow_at_head(struct bpf_emit *e, int lbl_pass_reply, int lbl_drop)
{
	emit_growth(e);
	emit_jmp_imm(e, 0, BPF_JSLT, BPF_REG_2, 1, lbl_pass_reply);
	emit_header_span(e, lbl_pass_reply);
	emit_header_copy(e, BPF_FUNC_xdp_load_bytes);
	emit_jmp_imm(e, 0, BPF_JNE, BPF_REG_0, 0, lbl_pass_reply);
	emit_growth(e);
	emit_alu_imm(e, 1, BPF_NEG, BPF_REG_2, 0);
	emit_mov_reg(e, BPF_REG_1, BPF_REG_6);
	emit_call(e, BPF_FUNC_xdp_adjust_head);
	emit_jmp_imm(e, 0, BPF_JNE, BPF_REG_0, 0, lbl_pass_reply);
	emit_header_span(e, lbl_drop);
	emit_header_copy(e, BPF_FUNC_xdp_store_bytes);
	emit_jmp_imm(e, 0, BPF_JNE, BPF_REG_0, 0, lbl_drop);
}

/* R7 = the packet's length, data_end - data.  The program is loaded
 * without BPF_F_XDP_HAS_FRAGS, so the packet is one linear buffer and this
 * is what bpf_xdp_get_buff_len would say, without a helper call: with the
 * return-stack mitigations of current CPUs (SRSO's safe RET here) a call
 * costs ~20 ns, more than the rest of the reply's rewrite.  Subtracting
 * two packet pointers needs CAP_PERFMON, which the lifted code's pointer
 * arithmetic needs anyway. */
static void emit_packet_length(struct bpf_emit *e)
{
	emit_ldx(e, BPF_W, BPF_REG_7, BPF_REG_6, offsetof(struct xdp_md, data_end));
	emit_ldx(e, BPF_W, BPF_REG_2, BPF_REG_6, offsetof(struct xdp_md, data));
	emit_alu_reg(e, 1, BPF_SUB, BPF_REG_7, BPF_REG_2);
}

/* Make the packet exactly headers + R8 bytes: at the tail, else at the
 * head.  bpf_xdp_adjust_tail/head leave the packet as it was when they
 * fail, so failing there may still pass. */
static void emit_resize_packet(struct bpf_emit *e, int lbl_pass_reply, int lbl_drop)
{
	int sized = emit_label(e);

	emit_packet_length(e);
	emit_growth(e);
	emit_jmp_imm(e, 0, BPF_JEQ, BPF_REG_2, 0, sized);
	emit_mov_reg(e, BPF_REG_1, BPF_REG_6);
	emit_call(e, BPF_FUNC_xdp_adjust_tail);
	emit_jmp_imm(e, 0, BPF_JEQ, BPF_REG_0, 0, sized);
	emit_grow_at_head(e, lbl_pass_reply, lbl_drop);
	emit_bind(e, sized);
}

/* Reply bytes from scratch + IR_RESP_OFF to just after the headers:
 * directly up to XDP_COPY_DIRECT_MAX, else by bpf_xdp_store_bytes.  R8 =
 * the reply's length, also at IR_WRAP_LEN_OFF (emit_opaque_reply_len);
 * clobbers R7. */
static void emit_copy_reply(struct bpf_emit *e, int lbl_broken)
{
	int copied = emit_label(e), slow = emit_label(e);

	emit_direct_copy(e, true, BPF_REG_7, IR_RESP_OFF, copied, slow);

	emit_bind(e, slow);
	emit_mov_reg(e, BPF_REG_1, BPF_REG_6);
	emit_ldx(e, BPF_DW, BPF_REG_2, BPF_REG_10, XDP_WRAP_SLOT_HDRLEN);
	emit_mov_reg(e, BPF_REG_3, BPF_REG_9);
	emit_alu_imm(e, 1, BPF_ADD, BPF_REG_3, IR_RESP_OFF);
	emit_mov_reg(e, BPF_REG_4, BPF_REG_8);
	emit_call(e, BPF_FUNC_xdp_store_bytes);
	emit_jmp_imm(e, 0, BPF_JNE, BPF_REG_0, 0, lbl_broken);
	emit_bind(e, copied);
}

/* Exchange two fields of `size` at offsets a and b from packet pointer
 * `base` (R0 and R1 are the temporaries: R3 may still be data_end). */
static void emit_swap(struct bpf_emit *e, int base, int size, int16_t a, int16_t b)
{
	emit_ldx(e, size, BPF_REG_0, base, a);
	emit_ldx(e, size, BPF_REG_1, base, b);
	emit_stx(e, size, base, a, BPF_REG_1);
	emit_stx(e, size, base, b, BPF_REG_0);
}

/* *(be16 *)(base + off) = R8 + extra (R3 is the temporary). */
static void emit_store_len16(struct bpf_emit *e, int base, int16_t off, int32_t extra)
{
	emit_mov_reg(e, BPF_REG_3, BPF_REG_8);
	emit_alu_imm(e, 1, BPF_ADD, BPF_REG_3, extra);
	emit_be16(e, BPF_REG_3);
	emit_stx(e, BPF_H, base, off, BPF_REG_3);
}

/* reg = one's-complement fold of reg, `times` times: each step turns a sum
 * below 2^(16+k) into one below 2^16 + 2^k. */
static void emit_fold16(struct bpf_emit *e, int reg, int tmp, int times)
{
	for (int i = 0; i < times; i++) {
		emit_mov_reg(e, tmp, reg);
		emit_alu_imm(e, 1, BPF_RSH, tmp, 16);
		emit_alu_imm(e, 1, BPF_AND, reg, 0xffff);
		emit_alu_reg(e, 1, BPF_ADD, reg, tmp);
	}
}

/* IPv4 header checksum over the 20 bytes at R2 (L3), with the checksum
 * field already 0.  The one's-complement sum is byte-order independent, so
 * native 16-bit loads and a native store give the network-order result. */
static void emit_ipv4_csum(struct bpf_emit *e)
{
	emit_mov_imm(e, BPF_REG_3, 0);
	for (int off = OFF_IP_VIHL; off < OFF_IP_VIHL + IP_HDR_LEN; off += 2) {
		if (off == OFF_IP_CSUM)
			continue;
		emit_ldx(e, BPF_H, BPF_REG_4, BPF_REG_2, off);
		emit_alu_reg(e, 1, BPF_ADD, BPF_REG_3, BPF_REG_4);
	}
	/* Ten 16-bit words sum to < 2^20: two folds reach 16 bits. */
	emit_fold16(e, BPF_REG_3, BPF_REG_4, 2);
	emit_alu_imm(e, 1, BPF_XOR, BPF_REG_3, 0xffff);
	emit_stx(e, BPF_H, BPF_REG_2, OFF_IP_CSUM, BPF_REG_3);
}

/* IPv4 at R2 (L3): endpoints, lengths for R8 reply bytes, TTL, header
 * checksum; the UDP checksum 0 (allowed for IPv4: "none"). */
static void emit_rewrite_ipv4(struct bpf_emit *e, int lbl_broken)
{
	const int16_t udp = IP_HDR_LEN;

	emit_need(e, BPF_REG_2, IP_HDR_LEN + UDP_HDR_LEN, lbl_broken);
	emit_swap(e, BPF_REG_2, BPF_W, OFF_IP_SADDR, OFF_IP_DADDR);
	emit_swap(e, BPF_REG_2, BPF_H, udp + OFF_UDP_SPORT, udp + OFF_UDP_DPORT);
	emit_store_len16(e, BPF_REG_2, OFF_IP_TOT_LEN, IP_HDR_LEN + UDP_HDR_LEN);
	emit_st_imm(e, BPF_B, BPF_REG_2, OFF_IP_TTL, REPLY_TTL);
	emit_st_imm(e, BPF_H, BPF_REG_2, OFF_IP_CSUM, 0);
	emit_store_len16(e, BPF_REG_2, udp + OFF_UDP_LEN, UDP_HDR_LEN);
	emit_st_imm(e, BPF_H, BPF_REG_2, udp + OFF_UDP_CSUM, 0);
	emit_ipv4_csum(e);
}

/* R0 += the reply payload (R8 bytes at scratch + IR_RESP_OFF) as 32-bit
 * words, R0 below 2^32 on entry and on exit.  Whole words go through
 * bpf_csum_diff, at most CSUM_CHUNK bytes a call, each chunk's size a
 * register the verifier bounds to [1, CSUM_CHUNK] (emitted once per chunk
 * resp_cap can need: no loop); the last 1-3 bytes are one word loaded from
 * scratch and masked, which is the zero padding the checksum defines. */
static void emit_payload_csum(struct bpf_emit *e, const struct xdp_wrap_opts *o, int lbl_broken)
{
	int tail = emit_label(e), summed = emit_label(e);

	for (uint32_t at = 0; at < o->resp_cap; at += CSUM_CHUNK) {
		int sized = emit_label(e);

		emit_mov_reg(e, BPF_REG_4, BPF_REG_8);
		emit_alu_imm(e, 1, BPF_AND, BPF_REG_4, ~3);
		if (at)
			emit_alu_imm(e, 1, BPF_SUB, BPF_REG_4, (int32_t)at);
		emit_jmp_imm(e, 0, BPF_JSLT, BPF_REG_4, 1, tail);
		emit_jmp_imm(e, 0, BPF_JLE, BPF_REG_4, CSUM_CHUNK, sized);
		emit_mov_imm(e, BPF_REG_4, CSUM_CHUNK);
		emit_bind(e, sized);
		emit_mov_reg(e, BPF_REG_5, BPF_REG_0);
		emit_mov_imm(e, BPF_REG_1, 0);
		emit_mov_imm(e, BPF_REG_2, 0);
		emit_mov_reg(e, BPF_REG_3, BPF_REG_9);
		emit_alu_imm(e, 1, BPF_ADD, BPF_REG_3, (int32_t)(IR_RESP_OFF + at));
		emit_call(e, BPF_FUNC_csum_diff);
		emit_jmp_imm(e, 0, BPF_JSLT, BPF_REG_0, 0, lbl_broken);
	}
	emit_bind(e, tail);
	emit_mov_reg(e, BPF_REG_1, BPF_REG_8);
	emit_alu_imm(e, 1, BPF_AND, BPF_REG_1, 3);
	emit_jmp_imm(e, 0, BPF_JLT, BPF_REG_1, 1, summed);
	emit_mov_reg(e, BPF_REG_2, BPF_REG_8);
	emit_alu_imm(e, 1, BPF_AND, BPF_REG_2, ~3);
	emit_mov_reg(e, BPF_REG_3, BPF_REG_9);
	emit_alu_reg(e, 1, BPF_ADD, BPF_REG_3, BPF_REG_2);
	emit_ldx(e, BPF_W, BPF_REG_3, BPF_REG_3, IR_RESP_OFF);
	/* Keep the low 8 * (R8 & 3) bits: on this little-endian target, the
	 * bytes first in memory.  mask = ~(~0 << bits). */
	emit_alu_imm(e, 1, BPF_LSH, BPF_REG_1, 3);
	emit_mov_imm(e, BPF_REG_4, -1);
	emit_alu_reg(e, 1, BPF_LSH, BPF_REG_4, BPF_REG_1);
	emit_alu_imm(e, 1, BPF_XOR, BPF_REG_4, -1);
	emit_alu_reg(e, 1, BPF_AND, BPF_REG_3, BPF_REG_4);
	emit_alu_reg(e, 1, BPF_ADD, BPF_REG_0, BPF_REG_3);
	emit_bind(e, summed);
}

/* The UDP checksum IPv6 requires, L3 at R7 and the UDP header already the
 * reply's (checksum field 0): pseudo-header (addresses, UDP length, next
 * header 17) + UDP header + payload.  Sums stay in memory order (native
 * loads, native store), like the IPv4 header checksum. */
static void emit_udp6_csum(struct bpf_emit *e, const struct xdp_wrap_opts *o, int lbl_broken)
{
	const int16_t udp = IP6_HDR_LEN;
	int nonzero = emit_label(e);

	emit_mov_reg(e, BPF_REG_0, BPF_REG_8);
	emit_alu_imm(e, 1, BPF_ADD, BPF_REG_0, UDP_HDR_LEN);
	emit_be16(e, BPF_REG_0);
	emit_alu_imm(e, 1, BPF_ADD, BPF_REG_0, net16(IPPROTO_UDP));
	/* Both addresses and the UDP header are contiguous: ten words. */
	for (int16_t off = OFF_IP6_SADDR; off < udp + UDP_HDR_LEN; off += 4) {
		emit_ldx(e, BPF_W, BPF_REG_1, BPF_REG_7, off);
		emit_alu_reg(e, 1, BPF_ADD, BPF_REG_0, BPF_REG_1);
	}
	/* < 11 * 2^32: two folds bring it below 2^17, a valid csum_diff seed. */
	emit_fold16(e, BPF_REG_0, BPF_REG_1, 2);
	emit_payload_csum(e, o, lbl_broken);
	emit_fold16(e, BPF_REG_0, BPF_REG_1, 3);
	emit_alu_imm(e, 1, BPF_XOR, BPF_REG_0, 0xffff);
	/* 0 means "no checksum", which IPv6 forbids: send its other form. */
	emit_jmp_imm(e, 0, BPF_JNE, BPF_REG_0, 0, nonzero);
	emit_mov_imm(e, BPF_REG_0, 0xffff);
	emit_bind(e, nonzero);
	emit_stx(e, BPF_H, BPF_REG_7, udp + OFF_UDP_CSUM, BPF_REG_0);
}

/* IPv6 at R2 (L3): addresses, ports, payload and UDP lengths for R8 reply
 * bytes, hop limit, UDP checksum.  R7 keeps L3 across the helper calls. */
static void emit_rewrite_ipv6(struct bpf_emit *e, const struct xdp_wrap_opts *o, int lbl_broken)
{
	const int16_t udp = IP6_HDR_LEN;

	emit_need(e, BPF_REG_2, IP6_HDR_LEN + UDP_HDR_LEN, lbl_broken);
	emit_mov_reg(e, BPF_REG_7, BPF_REG_2);
	emit_swap(e, BPF_REG_7, BPF_DW, OFF_IP6_SADDR, OFF_IP6_DADDR);
	emit_swap(e, BPF_REG_7, BPF_DW, OFF_IP6_SADDR + 8, OFF_IP6_DADDR + 8);
	emit_swap(e, BPF_REG_7, BPF_H, udp + OFF_UDP_SPORT, udp + OFF_UDP_DPORT);
	emit_store_len16(e, BPF_REG_7, OFF_IP6_PLEN, UDP_HDR_LEN);
	emit_st_imm(e, BPF_B, BPF_REG_7, OFF_IP6_HOPS, REPLY_TTL);
	emit_store_len16(e, BPF_REG_7, udp + OFF_UDP_LEN, UDP_HDR_LEN);
	emit_st_imm(e, BPF_H, BPF_REG_7, udp + OFF_UDP_CSUM, 0);
	emit_udp6_csum(e, o, lbl_broken);
}

/* Turn the request's headers into the reply's: swap the MAC addresses
 * (VLAN tags stay as they are), then IPv4 or IPv6 and UDP.  The packet
 * pointers are re-derived: adjust_tail invalidated them.  The layout is
 * parsed again from the packet rather than read from a stack slot: a
 * branch on the entry's slot would make the verifier tell the entry's
 * paths apart and walk the handler once for each. */
static void emit_rewrite_headers(struct bpf_emit *e, const struct xdp_wrap_opts *o, int lbl_broken)
{
	int ipv6 = emit_label(e), done = emit_label(e);

	emit_ldx(e, BPF_W, BPF_REG_2, BPF_REG_6, offsetof(struct xdp_md, data));
	emit_ldx(e, BPF_W, BPF_REG_3, BPF_REG_6, offsetof(struct xdp_md, data_end));
	emit_need(e, BPF_REG_2, ETH_HDR_LEN, lbl_broken);
	emit_swap(e, BPF_REG_2, BPF_W, OFF_ETH_DST, OFF_ETH_SRC);
	emit_swap(e, BPF_REG_2, BPF_H, OFF_ETH_DST + 4, OFF_ETH_SRC + 4);
	emit_skip_vlan(e, BPF_REG_1, BPF_REG_0, lbl_broken);
	emit_jmp_imm(e, 0, BPF_JEQ, BPF_REG_4, net16(ETH_P_IPV6), ipv6);
	emit_rewrite_ipv4(e, lbl_broken);
	emit_ja(e, done);
	emit_bind(e, ipv6);
	emit_rewrite_ipv6(e, o, lbl_broken);
	emit_bind(e, done);
}

/* R6 = stat, R7 = verdict, then jump to the shared counting code. */
static void emit_verdict(struct bpf_emit *e, enum koff_stat stat, int verdict, int lbl_count)
{
	emit_mov_imm(e, BPF_REG_6, stat);
	emit_mov_imm(e, BPF_REG_7, verdict);
	emit_ja(e, lbl_count);
}

/* R8 = R0, the reply's length, in [1, resp_cap]: stored to the scratch
 * map and loaded back, then bounded again by checks that never fail.  The
 * verifier then sees the same R8 on every path that returns a reply, and
 * walks the exit once instead of once per length range the handler's
 * paths return (dns: 48 walks). */
static void emit_opaque_reply_len(struct bpf_emit *e, const struct xdp_wrap_opts *o, int lbl_drop,
				  int lbl_pass_reply)
{
	emit_stx(e, BPF_H, BPF_REG_9, IR_WRAP_LEN_OFF, BPF_REG_0);
	emit_ldx(e, BPF_H, BPF_REG_8, BPF_REG_9, IR_WRAP_LEN_OFF);
	emit_jmp_imm(e, 0, BPF_JLT, BPF_REG_8, 1, lbl_drop);
	emit_jmp_imm(e, 0, BPF_JGT, BPF_REG_8, (int32_t)o->resp_cap, lbl_pass_reply);
}

/* lbl_return: R0 = the handler's return value.  With shared state, SEQ
 * first checks that no writer overlapped the run; LOCK releases the lock
 * once the verdict can no longer be a pass (a pass before that undoes the
 * run's stores: userspace serves the request against the old state). */
static void emit_reply(struct bpf_emit *e, const struct xdp_wrap_opts *o, const struct xdp_wrap *w,
		       int lbl_drop, int lbl_pass_reply, int lbl_count)
{
	bool lock = o->shared_mode == KOFF_SHARED_LOCK;
	int drop_locked = lock ? emit_label(e) : lbl_drop;

	if (o->shared_mode == KOFF_SHARED_SEQ)
		xdp_shared_check_seq(e, o, w->lbl_fallback);
	emit_jmp_imm(e, 0, BPF_JSLE, BPF_REG_0, 0, drop_locked);
	emit_jmp_imm(e, 0, BPF_JGT, BPF_REG_0, (int32_t)o->resp_cap, lbl_pass_reply);
	emit_opaque_reply_len(e, o, drop_locked, lbl_pass_reply);
	emit_ldx(e, BPF_DW, BPF_REG_6, BPF_REG_10, XDP_WRAP_SLOT_CTX);
	emit_resize_packet(e, lbl_pass_reply, drop_locked);
	if (lock)
		xdp_shared_release(e, o);
	/* From here on the packet has been resized: it can no longer be passed
	 * unchanged, so a failure (which the checks above make impossible)
	 * drops it. */
	emit_copy_reply(e, lbl_drop);
	emit_rewrite_headers(e, o, lbl_drop);
	emit_verdict(e, KOFF_STAT_TX, XDP_TX, lbl_count);
	if (lock) {
		emit_bind(e, drop_locked);
		xdp_shared_release(e, o);
		emit_ja(e, lbl_drop);
	}
}

/* lbl_fallback: R0 = stat index.  A wrong index is a koff bug; count it as
 * an untranslated instruction rather than as some other verdict. */
static void emit_fallback(struct bpf_emit *e)
{
	int bad = emit_label(e), ok = emit_label(e);

	emit_jmp_imm(e, 0, BPF_JGT, BPF_REG_0, KOFF_STAT__COUNT - 1, bad);
	emit_jmp_imm(e, 0, BPF_JGE, BPF_REG_0, KOFF_STAT_PASS_OTHER, ok);
	emit_bind(e, bad);
	emit_mov_imm(e, BPF_REG_0, KOFF_STAT_PASS_INSN);
	emit_bind(e, ok);
	emit_mov_reg(e, BPF_REG_6, BPF_REG_0);
	emit_mov_imm(e, BPF_REG_7, XDP_PASS);
}

/* The one place that counts: koff_stats[R6] += 1, then return R7. */
static void emit_count_and_exit(struct bpf_emit *e)
{
	int done = emit_label(e);

	emit_stx(e, BPF_W, BPF_REG_10, XDP_WRAP_SLOT_KEY, BPF_REG_6);
	emit_lookup(e, KOFF_MAPID_STATS);
	emit_jmp_imm(e, 0, BPF_JEQ, BPF_REG_0, 0, done);
	emit_ldx(e, BPF_DW, BPF_REG_1, BPF_REG_0, 0);
	emit_alu_imm(e, 1, BPF_ADD, BPF_REG_1, 1);
	emit_stx(e, BPF_DW, BPF_REG_0, 0, BPF_REG_1);
	emit_bind(e, done);
	emit_mov_reg(e, BPF_REG_0, BPF_REG_7);
	emit_exit(e);
}

int xdp_emit_exit(struct bpf_emit *e, const struct xdp_wrap_opts *o, struct xdp_wrap *w)
{
	int lbl_drop, lbl_pass_reply, lbl_count;

	if (check_opts(o))
		return -EINVAL;
	lbl_drop = emit_label(e);
	lbl_pass_reply = emit_label(e);
	lbl_count = emit_label(e);

	emit_bind(e, w->lbl_return);
	emit_reply(e, o, w, lbl_drop, lbl_pass_reply, lbl_count);

	emit_bind(e, lbl_drop);
	emit_verdict(e, KOFF_STAT_DROP, XDP_DROP, lbl_count);

	emit_bind(e, lbl_pass_reply);
	emit_mov_imm(e, BPF_REG_0, KOFF_STAT_PASS_REPLY);
	if (w->lbl_handler_fallback != w->lbl_fallback) {
		/* LOCK: the handler ran with the lock held */
		emit_bind(e, w->lbl_handler_fallback);
		xdp_shared_undo_and_release(e, o);
	}
	emit_bind(e, w->lbl_fallback);
	emit_fallback(e);

	emit_bind(e, lbl_count);
	emit_count_and_exit(e);
	return e->err;
}
