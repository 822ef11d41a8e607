/* ref_wrap.h - the XDP wrapper around a hand-ported handler: what a BPF
 * expert would write around handle_request(), following koff's runtime ABI
 * (include/koff_abi.h) so koffdiff and the benchmarks treat it like koff's
 * own output.
 *
 * The including file defines REF_DEFAULT_PORT and
 *   static __always_inline long ref_handle(const __u8 *req, __u32 len,
 *                                          __u8 *resp, __u32 cap);
 * (req and resp point into the per-CPU scratch value) and then expands
 * REF_XDP_PROGRAM.
 *
 * Test variants (tests/t-diff-harness.sh): -DREF_ALWAYS_PASS falls back on
 * every request; -DREF_BREAK_PASS modifies one-byte requests' frames and
 * then passes them - wrong, and koffdiff must say so.
 *
 * Path: Ethernet/IPv4/UDP to the port -> copy the payload (length from the
 * UDP header, never from data_end: NICs pad short frames) to scratch -> run
 * the handler -> > 0: resize the frame (at the tail, or when the tail has
 * no room - veth's native XDP, generic XDP's skb - by growing at the head
 * and moving the headers to the new front, as koff's wrapper does), write
 * the reply, swap addresses and ports, IPv4 checksum, UDP checksum 0
 * (allowed in IPv4), XDP_TX;
 * <= 0: XDP_DROP; anything else: XDP_PASS with the frame untouched.
 */
#ifndef REF_WRAP_H
#define REF_WRAP_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "koff_abi.h"

#define REF_REQ_MAX  2048	/* scratch request region (IR_REQ_MAX) */
#define REF_RESP_MAX 2048	/* scratch reply region (IR_RESP_MAX) */
#define REF_CAP      1472	/* the cap the sample's server passes (RESP_CAP) */
#define REF_MAX_PAYLOAD 1472	/* largest reply in a 1500-byte MTU */
#define REF_MAX_REQ  (REF_REQ_MAX - 8)	/* handlers may read a word past len */
#define REF_HDRS (sizeof(struct ethhdr) + sizeof(struct iphdr) + sizeof(struct udphdr))

struct ref_scratch {
	__u8 req[REF_REQ_MAX];
	__u8 resp[REF_RESP_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ref_scratch);
} koff_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KOFF_STAT__COUNT);
	__type(key, __u32);
	__type(value, __u64);
} koff_stats SEC(".maps");

/* The hand-ported handler, defined by the including file. */
static __always_inline long ref_handle(const __u8 *req, __u32 len, __u8 *resp, __u32 cap);

/* The UDP port served; koffdiff and loaders may set it before load. */
const volatile __u16 koff_udp_port = REF_DEFAULT_PORT;

static __always_inline int ref_count(__u32 stat, int verdict)
{
	__u64 *v = bpf_map_lookup_elem(&koff_stats, &stat);
	if (v)
		*v += 1;	/* per-CPU value: no atomic needed */
	return verdict;
}

/* Finds the UDP header of a request for the port; NULL for anything else. */
static __always_inline struct udphdr *ref_find_request(void *data, void *data_end)
{
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);
	if ((void *)(udp + 1) > data_end)
		return NULL;
	if (eth->h_proto != bpf_htons(ETH_P_IP) || ip->version != 4 || ip->ihl != 5 ||
	    ip->protocol != IPPROTO_UDP || (ip->frag_off & bpf_htons(0x3fff)))
		return NULL;
	if (udp->dest != bpf_htons(koff_udp_port))
		return NULL;
	return udp;
}

/* 16-bit one's complement checksum of a 20-byte IPv4 header. */
static __always_inline __u16 ref_ip_checksum(struct iphdr *ip)
{
	__u16 *w = (__u16 *)ip;
	__u32 sum = 0;
	ip->check = 0;
#pragma unroll
	for (int i = 0; i < 10; i++)
		sum += w[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* Turns the (already resized) frame into the reply's headers. */
static __always_inline int ref_make_reply_headers(struct xdp_md *ctx, __u32 rlen)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);
	if ((void *)(udp + 1) > data_end)
		return -1;
	__u8 mac[ETH_ALEN];
	__builtin_memcpy(mac, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, mac, ETH_ALEN);
	__u32 addr = ip->saddr;
	ip->saddr = ip->daddr;
	ip->daddr = addr;
	ip->tot_len = bpf_htons(sizeof(*ip) + sizeof(*udp) + rlen);
	ip->check = ref_ip_checksum(ip);
	__u16 port = udp->source;
	udp->source = udp->dest;
	udp->dest = port;
	udp->len = bpf_htons(sizeof(*udp) + rlen);
	udp->check = 0;
	return 0;
}

/* Grows the frame by `grow` bytes at the head and moves the headers there:
 * for when the tail has no room.  0, or -1 with the frame untouched. */
static __always_inline int ref_grow_at_head(struct xdp_md *ctx, __u32 grow)
{
	__u8 hdrs[REF_HDRS];

	if (grow > REF_MAX_PAYLOAD || bpf_xdp_load_bytes(ctx, 0, hdrs, sizeof(hdrs)))
		return -1;
	if (bpf_xdp_adjust_head(ctx, -(int)grow))
		return -1;
	return bpf_xdp_store_bytes(ctx, 0, hdrs, sizeof(hdrs)) ? -1 : 0;
}

/* Runs the handler on the payload; the XDP verdict. */
static __always_inline int ref_serve(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct udphdr *udp = ref_find_request(data, data_end);
	if (!udp)
		return ref_count(KOFF_STAT_PASS_OTHER, XDP_PASS);
	__u32 ulen = bpf_ntohs(udp->len);
	__u32 frame_len = (__u32)(data_end - data);
	if (ulen < sizeof(*udp) || REF_HDRS - sizeof(*udp) + ulen > frame_len)
		return ref_count(KOFF_STAT_PASS_OTHER, XDP_PASS);	/* truncated */
	__u32 len = ulen - sizeof(*udp);
	if (len > REF_MAX_REQ)
		return ref_count(KOFF_STAT_PASS_TOO_BIG, XDP_PASS);
	__u32 zero = 0;
	struct ref_scratch *s = bpf_map_lookup_elem(&koff_scratch, &zero);
	if (!s)
		return ref_count(KOFF_STAT_PASS_OTHER, XDP_PASS);
	if (len > 0 && bpf_xdp_load_bytes(ctx, REF_HDRS, s->req, len))
		return ref_count(KOFF_STAT_PASS_OTHER, XDP_PASS);
	long ret = ref_handle(s->req, len, s->resp, REF_CAP);
#ifdef REF_ALWAYS_PASS	/* a program that falls back on everything */
	return ref_count(KOFF_STAT_PASS_INSN, XDP_PASS);
#endif
#ifdef REF_BREAK_PASS	/* deliberately wrong: touches the frame, then passes */
	if (len == 1) {
		udp->check ^= 1;
		return ref_count(KOFF_STAT_PASS_INSN, XDP_PASS);
	}
#endif
	if (ret <= 0)
		return ref_count(KOFF_STAT_DROP, XDP_DROP);
	if (ret > REF_MAX_PAYLOAD)
		return ref_count(KOFF_STAT_PASS_REPLY, XDP_PASS);
	__u32 rlen = (__u32)ret;
	/* Resize first: if that fails the frame is still untouched. */
	int delta = (int)(REF_HDRS + rlen) - (int)frame_len;
	if (bpf_xdp_adjust_tail(ctx, delta) && (delta < 0 || ref_grow_at_head(ctx, (__u32)delta)))
		return ref_count(KOFF_STAT_PASS_REPLY, XDP_PASS);
	if (ref_make_reply_headers(ctx, rlen) || bpf_xdp_store_bytes(ctx, REF_HDRS, s->resp, rlen))
		return ref_count(KOFF_STAT_DROP, XDP_DROP);	/* cannot happen: sizes checked */
	return ref_count(KOFF_STAT_TX, XDP_TX);
}

#define REF_XDP_PROGRAM                                   \
	SEC("xdp") int koff_xdp(struct xdp_md *ctx)       \
	{                                                 \
		return ref_serve(ctx);                    \
	}                                                 \
	char LICENSE[] SEC("license") = "GPL";

#endif
