/* calls.bpf.c - one DNS-like name walk, built nine ways, to measure
 * BPF-to-BPF calls against inlining (bench/calls.sh, bench/CALLS.md).
 *
 * The XDP program copies a UDP payload (to port 5353) into a per-CPU
 * scratch value - the one map koff's lifted handlers keep their memory in -
 * walks the QNAME's labels (at most 8), lowercases and FNV-hashes them, and
 * looks the hash up in a small table the driver fills:
 *   known name -> XDP_TX, unknown name -> XDP_PASS, malformed -> XDP_DROP.
 * The program never changes the frame, so bpf_prog_test_run may repeat it.
 *
 * The per-label work is label_step(); how it is called is chosen at build:
 *   -DCALLS_INLINE   static __always_inline   (what koff does today)
 *   -DCALLS_STATIC   static __noinline        (static subprogram: verified
 *                                              again at every call site)
 *   -DCALLS_GLOBAL   __noinline, not static   (global function: verified
 *                                              once, on its own)
 *   -DCALLS_K=1|4|16 the number of call sites:
 *      1   a loop over the labels, one call
 *      4   a loop of 2 iterations, each with 4 calls one after the other
 *      16  8 unrolled label slots, each with two calls on a data-dependent
 *          branch (short label / long label), as -O0 code and handlers
 *          with several callers produce
 *   -DCALLS_REG_POS  the walk's position travels in registers: label_step
 *                    takes it as an argument and returns the next one (as
 *                    an x86 function passes it in rsi and returns it in
 *                    rax); without it the position lives in the scratch
 *                    value and label_step returns only a status.
 * All variants compute the same verdict for every packet (the driver checks).
 * In both modes the name and hash live in the scratch value, as the x86
 * handler's memory does in koff's lifted code. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#if defined(CALLS_INLINE)
#define STEP_ATTR static __always_inline
#elif defined(CALLS_STATIC)
#define STEP_ATTR static __noinline
#elif defined(CALLS_GLOBAL)
#define STEP_ATTR __noinline
#else
#error "define one of CALLS_INLINE, CALLS_STATIC, CALLS_GLOBAL"
#endif
#ifndef CALLS_K
#define CALLS_K 1
#endif

#define CALLS_PORT 5353
#define REQ_MAX 512		/* scratch request region; a power of two */
#define REQ_MASK (REQ_MAX - 1)
#define NAME_BYTES 256		/* lowercased name; indexable with & 0xff */
#define DNS_HEADER_LEN 12
#define MAX_LABEL 63
#define SHORT_LABEL 15
#define MAX_LABELS 8
#define KNOWN_NAMES 8
#define FNV_BASIS 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL
#define HDRS (sizeof(struct ethhdr) + sizeof(struct iphdr) + sizeof(struct udphdr))

/* The handler's memory: one per-CPU scratch value, as in koff's output. */
struct walk {
	__u8 req[REQ_MAX];
	__u8 name[NAME_BYTES];
	__u64 hash;
	__u32 pos;		/* offset of the next label's length byte */
	__u32 name_len;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct walk);
} calls_scratch SEC(".maps");

/* FNV-1a hashes of the known names (lowercase, '.' after every label);
 * the driver writes them into .bss after loading. */
__u64 known_hashes[KNOWN_NAMES];

static __always_inline __u8 ascii_lower(__u8 c)
{
	return c >= 'A' && c <= 'Z' ? (__u8)(c + ('a' - 'A')) : c;
}

#ifdef CALLS_REG_POS
/* 64 bits, as an x86 register: with a __u32 parameter clang bounds-checks
 * one zero-extended copy and indexes with another, and the global function
 * is rejected ("unbounded memory access"). */
#define STEP_POS_PARAM __u64 pos,
#define STEP_DONE(next) return (next)
#define CUR_POS pos
/* One call site: the next position comes back in the return value. */
#define CALL_STEP(cap)                                              \
	({                                                          \
		long r_ = label_step(w, pos, len, cap);             \
		if (r_ > 0)                                         \
			pos = (__u64)r_;                            \
		r_;                                                 \
	})
#else
#define STEP_POS_PARAM
#define STEP_DONE(next) do { w->pos = (next); return 1; } while (0)
#define CUR_POS w->pos
#define CALL_STEP(cap) label_step(w, len, cap)
#endif

/* Appends the label at pos (an argument, or w->pos) to w->name, lowercased,
 * and hashes it.  Returns > 0 after a label (CALLS_REG_POS: the next
 * position, else 1), 0 at the root label, -1 when malformed.  cap is the
 * longest label the call site accepts. */
STEP_ATTR long label_step(struct walk *w, STEP_POS_PARAM __u32 len, __u32 cap)
{
	if (!w)
		return -1;	/* a global function's pointer argument may be NULL */
#ifndef CALLS_REG_POS
	__u32 pos = w->pos;
#endif
	if (pos >= len || pos >= REQ_MAX)
		return -1;
	__u32 label = w->req[pos & REQ_MASK];
	if (label == 0)
		return 0;
	if (label > cap || label > MAX_LABEL || pos + 1 + label > len)
		return -1;
	__u32 out = w->name_len;
	if (out + label + 1 > NAME_BYTES - 1)
		return -1;
	__u64 h = w->hash;
#pragma clang loop unroll(disable)
	for (__u32 i = 0; i < MAX_LABEL; i++) {
		if (i >= label)
			break;
		__u8 c = ascii_lower(w->req[(pos + 1 + i) & REQ_MASK]);
		w->name[(out + i) & 0xff] = c;
		h = (h ^ c) * FNV_PRIME;
	}
	w->name[(out + label) & 0xff] = '.';
	w->hash = (h ^ '.') * FNV_PRIME;
	w->name_len = out + label + 1;
	STEP_DONE(pos + 1 + label);
}

/* The length byte of the label at pos is at most SHORT_LABEL. */
static __always_inline int label_is_short(const struct walk *w, __u32 pos)
{
	return w->req[pos & REQ_MASK] <= SHORT_LABEL;
}

/* Walks the labels; 0 when the name ended at its root label in at most
 * MAX_LABELS labels, -1 otherwise. */
static __always_inline long walk_name(struct walk *w, __u32 len)
{
	long r = 1;
#ifdef CALLS_REG_POS
	__u64 pos = DNS_HEADER_LEN;
#endif
	w->pos = DNS_HEADER_LEN;
	w->name_len = 0;
	w->hash = FNV_BASIS;
#if CALLS_K == 1
#pragma clang loop unroll(disable)
	for (int j = 0; j < MAX_LABELS && r > 0; j++)
		r = CALL_STEP(MAX_LABEL);
#elif CALLS_K == 4
#pragma clang loop unroll(disable)
	for (int j = 0; j < MAX_LABELS / 4 && r > 0; j++) {
		r = CALL_STEP(MAX_LABEL);
		if (r > 0)
			r = CALL_STEP(MAX_LABEL);
		if (r > 0)
			r = CALL_STEP(MAX_LABEL);
		if (r > 0)
			r = CALL_STEP(MAX_LABEL);
	}
#elif CALLS_K == 16
	/* Written out: clang would keep a loop, and would merge the two calls of
	 * a slot into one call with a selected argument; the distinct (empty)
	 * asm after each call keeps them two call sites. */
#define LABEL_SLOT                                          \
	if (r > 0) {                                        \
		if (label_is_short(w, CUR_POS)) {          \
			r = CALL_STEP(SHORT_LABEL);          \
			asm volatile("/* short */" : "+r"(r)); \
		} else {                                    \
			r = CALL_STEP(MAX_LABEL);            \
			asm volatile("/* long */" : "+r"(r));  \
		}                                           \
	}
	LABEL_SLOT LABEL_SLOT LABEL_SLOT LABEL_SLOT
	LABEL_SLOT LABEL_SLOT LABEL_SLOT LABEL_SLOT
#undef LABEL_SLOT
#else
#error "CALLS_K must be 1, 4 or 16"
#endif
	if (r > 0)	/* MAX_LABELS labels: only the root label may follow */
		r = CUR_POS < len && w->req[CUR_POS & REQ_MASK] == 0 ? 0 : -1;
	return r;
}

static __always_inline int known_name(__u64 hash)
{
#pragma unroll
	for (int i = 0; i < KNOWN_NAMES; i++)
		if (known_hashes[i] == hash)
			return 1;
	return 0;
}

/* The UDP payload length of a request to CALLS_PORT, or 0. */
static __always_inline __u32 request_len(void *data, void *data_end)
{
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);
	if ((void *)(udp + 1) > data_end)
		return 0;
	if (eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5 || ip->protocol != IPPROTO_UDP ||
	    udp->dest != bpf_htons(CALLS_PORT))
		return 0;
	__u32 ulen = bpf_ntohs(udp->len);
	if (ulen < sizeof(*udp) || HDRS - sizeof(*udp) + ulen > (__u32)(data_end - data))
		return 0;
	return ulen - sizeof(*udp);
}

SEC("xdp")
int calls_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	__u32 len = request_len(data, data_end);
	if (len <= DNS_HEADER_LEN || len > REQ_MAX)
		return XDP_PASS;
	__u32 zero = 0;
	struct walk *w = bpf_map_lookup_elem(&calls_scratch, &zero);
	if (!w || bpf_xdp_load_bytes(ctx, HDRS, w->req, len))
		return XDP_PASS;
	if (walk_name(w, len) < 0)
		return XDP_DROP;
	return known_name(w->hash) ? XDP_TX : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
