/* calls_probe.bpf.c - what the verifier of the running kernel accepts at a
 * BPF-to-BPF call: argument kinds of global functions, NULL checks, return
 * values, the combined stack limit.  Each SEC("xdp") program is one
 * question; `calls_bench --probe` loads each on its own and prints
 * "accepted" or "rejected: <the verifier's complaint>".  bench/calls.sh
 * compares the answers with the expectation written next to each program
 * (EXPECT: ...) and CALLS.md quotes them.
 *
 * Two questions are answered by clang, at compile time:
 * -DPROBE_SIX_ARGS adds a call with six arguments (BPF passes arguments in
 * r1..r5); -DPROBE_INLINED_STACK adds two 304-byte frames inlined into one. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* The kernel's argument tag (include/bpf/bpf_helpers.h of newer libbpf;
 * libbpf 1.1 here does not define it). */
#define __arg_nonnull __attribute__((btf_decl_tag("arg:nonnull")))

#define REGION 512

struct region {
	__u8 bytes[REGION];
};

/* Like calls.bpf.c's scratch value: the handler's memory. */
struct scratch {
	struct region req;
	__u8 name[256];
	__u64 hash;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} probe_scratch SEC(".maps");

static __always_inline struct scratch *scratch(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&probe_scratch, &zero);
}

/* ---- Global functions: arguments ------------------------------------------ */

/* void * and a size, as memcpy-like code would pass a buffer. */
__noinline long g_void_ptr(void *p, __u64 size)
{
	if (!p || size == 0 || size > REGION)
		return 0;
	return ((__u8 *)p)[(size - 1) & (REGION - 1)];
}

/* EXPECT: rejected (a global function's void * argument has no size) */
SEC("xdp") int void_ptr_and_size(struct xdp_md *ctx)
{
	struct scratch *s = scratch();
	return s ? (int)g_void_ptr(s->req.bytes, REGION) & 1 : XDP_PASS;
}

/* __u8 *: the verifier sizes the argument from its type, one byte. */
__noinline long g_byte_ptr(const __u8 *p, __u64 i)
{
	return p ? p[i & (REGION - 1)] : 0;
}

/* EXPECT: rejected (a __u8 * argument gives access to one byte only) */
SEC("xdp") int byte_ptr_indexed(struct xdp_md *ctx)
{
	struct scratch *s = scratch();
	return s ? (int)g_byte_ptr(s->req.bytes, 7) & 1 : XDP_PASS;
}

/* A pointer to a sized type: the callee may use the whole type. */
__noinline long g_region(const struct region *r, __u64 i)
{
	return r ? r->bytes[i & (REGION - 1)] : 0;
}

/* EXPECT: accepted (a map value pointer as a typed, sized argument) */
SEC("xdp") int map_value_as_typed_ptr(struct xdp_md *ctx)
{
	struct scratch *s = scratch();
	return s ? (int)g_region(&s->req, 7) & 1 : XDP_PASS;
}

/* EXPECT: rejected (the caller's region is smaller than the type) */
SEC("xdp") int map_value_too_small_for_type(struct xdp_md *ctx)
{
	struct scratch *s = scratch();
	return s ? (int)g_region((const struct region *)s->name, 7) & 1 : XDP_PASS;
}

__noinline long g_region_unchecked(const struct region *r, __u64 i)
{
	return r->bytes[i & (REGION - 1)];	/* no NULL check */
}

/* EXPECT: rejected (a pointer argument may be NULL: the callee must check) */
SEC("xdp") int typed_ptr_without_null_check(struct xdp_md *ctx)
{
	struct scratch *s = scratch();
	return s ? (int)g_region_unchecked(&s->req, 7) & 1 : XDP_PASS;
}

__noinline long g_region_nonnull(const struct region *r __arg_nonnull, __u64 i)
{
	return r->bytes[i & (REGION - 1)];
}

/* EXPECT: accepted (arg:nonnull tag: no check in the callee, the caller proves it) */
SEC("xdp") int typed_ptr_tagged_nonnull(struct xdp_md *ctx)
{
	struct scratch *s = scratch();
	return s ? (int)g_region_nonnull(&s->req, 7) & 1 : XDP_PASS;
}

/* More than five values: pass a struct on the caller's stack. */
struct six_args {
	__u64 a, b, c, d, e, f;
};

__noinline long g_six_in_struct(const struct six_args *x)
{
	return x ? (long)(x->a + x->b + x->c + x->d + x->e + x->f) : 0;
}

/* EXPECT: accepted (six values through a pointer to the caller's stack) */
SEC("xdp") int six_args_via_stack_struct(struct xdp_md *ctx)
{
	struct six_args x = { 1, 2, 3, 4, 5, 6 };
	return (int)g_six_in_struct(&x) & 1;
}

/* ---- Return values ----------------------------------------------------------- */

__noinline __u8 *g_returns_ptr(struct region *r)
{
	return r ? &r->bytes[1] : 0;
}

/* EXPECT: rejected (a global function returns a scalar only) */
SEC("xdp") int global_returns_pointer(struct xdp_md *ctx)
{
	struct scratch *s = scratch();
	__u8 *p = s ? g_returns_ptr(&s->req) : 0;
	return p ? *p & 1 : XDP_PASS;
}

static __noinline __u8 *s_returns_ptr(struct region *r)
{
	return &r->bytes[1];
}

/* EXPECT: accepted (a static subprogram may return a pointer) */
SEC("xdp") int static_returns_pointer(struct xdp_md *ctx)
{
	struct scratch *s = scratch();
	__u8 *p = s ? s_returns_ptr(&s->req) : 0;
	return p ? *p & 1 : XDP_PASS;
}

/* ---- The 512-byte stack, combined over the call chain ----------------------------- */

#define FRAME 304	/* bytes; a multiple of 8 */

/* A frame of FRAME bytes the compiler cannot drop (constant offsets: the
 * verifier takes variable-offset stack writes badly). */
#define FILL_FRAME(buf, seed)                                             \
	do {                                                              \
		_Pragma("unroll") for (int i_ = 0; i_ < FRAME / 8; i_++)  \
			((volatile __u64 *)(buf))[i_] = (seed) + i_;      \
	} while (0)

static __noinline long s_big_frame(__u64 seed)
{
	__u64 buf[FRAME / 8];
	FILL_FRAME(buf, seed);
	return ((volatile __u64 *)buf)[seed & 7];
}

/* EXPECT: rejected (304 + 304 bytes over two frames > 512) */
SEC("xdp") int stack_304_calls_static_304(struct xdp_md *ctx)
{
	__u64 buf[FRAME / 8];
	FILL_FRAME(buf, ctx->ingress_ifindex);
	return (int)((s_big_frame(ctx->rx_queue_index) + ((volatile __u64 *)buf)[3]) & 1);
}

__noinline long g_big_frame(__u64 seed)
{
	__u64 buf[FRAME / 8];
	FILL_FRAME(buf, seed);
	return ((volatile __u64 *)buf)[seed & 7];
}

/* EXPECT: rejected (the limit counts a global function's frame too) */
SEC("xdp") int stack_304_calls_global_304(struct xdp_md *ctx)
{
	__u64 buf[FRAME / 8];
	FILL_FRAME(buf, ctx->ingress_ifindex);
	return (int)((g_big_frame(ctx->rx_queue_index) + ((volatile __u64 *)buf)[3]) & 1);
}

#ifdef PROBE_INLINED_STACK
static __always_inline long i_big_frame(__u64 seed)
{
	__u64 buf[FRAME / 8];
	FILL_FRAME(buf, seed);
	return ((volatile __u64 *)buf)[seed & 7];
}

/* clang: error (inlined, both buffers are live at once: 600 bytes in one frame) */
SEC("xdp") int stack_304_inlines_304(struct xdp_md *ctx)
{
	__u64 buf[FRAME / 8];
	FILL_FRAME(buf, ctx->ingress_ifindex);
	return (int)((i_big_frame(ctx->rx_queue_index) + ((volatile __u64 *)buf)[3]) & 1);
}
#endif

#ifdef PROBE_SIX_ARGS
/* clang: error ("defined with too many args") */
__noinline long g_six(__u64 a, __u64 b, __u64 c, __u64 d, __u64 e, __u64 f)
{
	return (long)(a + b + c + d + e + f);
}

SEC("xdp") int six_register_args(struct xdp_md *ctx)
{
	return (int)g_six(1, 2, 3, 4, 5, ctx->rx_queue_index) & 1;
}
#endif

char LICENSE[] SEC("license") = "GPL";
