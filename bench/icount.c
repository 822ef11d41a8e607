/* icount - executed BPF instructions per request of an XDP program: a
 * deterministic figure where timing on a shared machine is too noisy.
 *
 *   icount [--port N] [--frame KIND] [--per-request] PROG.bpf.o [PROG2.bpf.o ...] REQUESTS.txt
 *
 * Each object is loaded into the kernel (libbpf, as xdp_bench does: root),
 * and its final instructions (bpf_program__insns() after the load: maps
 * relocated to fds, subprograms appended) run in the small interpreter
 * below on every request of the file, in the frame bench_common.h builds.
 * The same frame also runs in the kernel (bpf_prog_test_run): verdict and
 * output bytes must be equal, which is what makes the count trustworthy;
 * each difference is a mismatch (first ones described on stderr).  At the
 * end the array maps the program may write must also hold what the
 * kernel's hold.
 *
 * Counting: every instruction executed is 1 (ld_imm64 too), in subprograms
 * and bpf_loop callbacks as well; a helper call is its call instruction
 * (1), and helper calls are also counted apart, as are calls into the
 * program's own functions (BPF-to-BPF calls, bpf_loop callback runs):
 * with return-stack mitigations (SRSO's safe RET) every return costs
 * ~20 ns, whatever the instructions around it.  The kernel inlines some
 * helpers (array map lookups, bpf_loop) and rewrites ctx loads: these
 * counts are of the program as the compiler (clang or koff-link) wrote it.
 *
 * Prints, one line per program (I from 0, in the order given):
 *   prog I FILE insns_per_req X helpers_per_req Y min A max B
 *        verdicts tx=N drop=N pass=N other=N insns_tx X insns_drop X insns_pass X
 *        mismatch_vs_kernel M calls_per_req C
 *   helpers I ID:PER_REQ ...  (helper calls per request by helper id)
 *   ratio I 0 R      (insns_per_req of program I / program 0's, I > 0)
 * --frame: the requests travel in v4 (the default), v6, vlan4, vlan6, qinq4
 * or qinq6 frames (bench_common.h), as with xdp_bench.
 * --per-request adds "req I K verdict V insns N helpers N" lines. */
#include <bpf/bpf.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>

#include "bench_bpf.h"
#include "bench_common.h"

/* ---- The machine ------------------------------------------------------ */

#define ICOUNT_FRAME_SZ 4096	/* one page, as bpf_prog_test_run's XDP buffer */
#define ICOUNT_HEADROOM 256	/* XDP_PACKET_HEADROOM */
#define ICOUNT_TAILROOM 320	/* SKB_DATA_ALIGN(sizeof(struct skb_shared_info)), x86-64 */
#define ICOUNT_XDP_FRAME 40	/* sizeof(struct xdp_frame): adjust_head keeps it free */
#define ICOUNT_ETH_HLEN 14
#define ICOUNT_FRAME_STACK 512	/* one BPF stack frame */
#define ICOUNT_MAX_DEPTH 16	/* BPF-to-BPF calls and callbacks, nested */
#define ICOUNT_MAY_GOTO 8388608	/* BPF_MAX_LOOPS: may_goto's budget per run */
#define ICOUNT_INSN_CAP 100000000ull	/* a run longer than this is our bug, not the program */
#define ICOUNT_MAX_MISMATCH_NOTES 5
#define ICOUNT_HELPER_IDS 256	/* helper ids counted apart (all of today's are below) */

#ifndef BPF_JCOND
#define BPF_JCOND 0xe0
#endif
#ifndef BPF_MEMSX
#define BPF_MEMSX 0x80
#endif

/* An array map as a local buffer of value_size x max_entries bytes. */
struct vm_map {
	int fd;
	uint32_t type, value_size, max_entries;
	bool writable;		/* the program may write it: compared with the kernel's at the end */
	const char *name;
	uint8_t *buf;
};

/* struct xdp_md as the program sees it: 32-bit fields, but data, data_end
 * and data_meta load as 64-bit host pointers (see ctx_load). */
struct vm_xdp_md {
	uint32_t data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex;
};

struct vm_packet {
	uint8_t *buf;		/* ICOUNT_FRAME_SZ bytes, the hard start */
	uint8_t *data_meta, *data, *data_end;
};

struct vm_prog {
	const char *path;
	struct bpf_object *obj;
	int prog_fd;
	const struct bpf_insn *insns;
	size_t ninsns;
	struct vm_map *maps;
	int nmaps;
};

/* One run of a program on one frame. */
struct vm_run {
	const struct vm_prog *prog;
	struct vm_packet pkt;
	struct vm_xdp_md md;
	uint8_t *stack;		/* ICOUNT_MAX_DEPTH frames of ICOUNT_FRAME_STACK */
	uint64_t insns, helpers;
	uint64_t calls;		/* BPF-to-BPF calls and bpf_loop callback runs: each ends in a return */
	uint64_t helper_calls[ICOUNT_HELPER_IDS];
	uint64_t *hits;		/* --hits: per instruction, how often it ran (NULL: not asked) */
	long may_goto_left;
	int depth;
	char err[256];
};

static int vm_fail(struct vm_run *r, size_t pc, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(r->err, sizeof(r->err), "insn %zu: ", pc);
	va_start(ap, fmt);
	vsnprintf(r->err + n, sizeof(r->err) - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static bool within(uint64_t addr, size_t len, const void *base, size_t size)
{
	uint64_t b = (uint64_t)(uintptr_t)base;
	return addr >= b && addr + len >= addr && addr + len <= b + size;
}

/* Memory the program may touch: its stack, the packet buffer, map values.
 * Anything else is an interpreter bug (the verifier accepted the program):
 * refuse rather than read or write the host's memory. */
static bool vm_mem_ok(const struct vm_run *r, uint64_t addr, size_t len)
{
	if (within(addr, len, r->stack, (size_t)ICOUNT_MAX_DEPTH * ICOUNT_FRAME_STACK) ||
	    within(addr, len, r->pkt.buf, ICOUNT_FRAME_SZ))
		return true;
	for (int i = 0; i < r->prog->nmaps; i++) {
		const struct vm_map *m = &r->prog->maps[i];
		if (m->buf && within(addr, len, m->buf, (size_t)m->value_size * m->max_entries))
			return true;
	}
	return false;
}

static uint64_t load_sized(const void *p, int size)
{
	switch (size) {
	case BPF_B: return *(const uint8_t *)p;
	case BPF_H: { uint16_t v; memcpy(&v, p, 2); return v; }
	case BPF_W: { uint32_t v; memcpy(&v, p, 4); return v; }
	default: { uint64_t v; memcpy(&v, p, 8); return v; }
	}
}

static void store_sized(void *p, int size, uint64_t v)
{
	switch (size) {
	case BPF_B: *(uint8_t *)p = (uint8_t)v; break;
	case BPF_H: { uint16_t x = (uint16_t)v; memcpy(p, &x, 2); break; }
	case BPF_W: { uint32_t x = (uint32_t)v; memcpy(p, &x, 4); break; }
	default: memcpy(p, &v, 8); break;
	}
}

static size_t size_bytes(int size)
{
	return size == BPF_B ? 1 : size == BPF_H ? 2 : size == BPF_W ? 4 : 8;
}

static uint64_t sign_extend(uint64_t v, int size)
{
	switch (size) {
	case BPF_B: return (uint64_t)(int64_t)(int8_t)v;
	case BPF_H: return (uint64_t)(int64_t)(int16_t)v;
	case BPF_W: return (uint64_t)(int64_t)(int32_t)v;
	default: return v;
	}
}

/* A load from the ctx: the kernel rewrites data/data_end/data_meta loads
 * into loads of the xdp_buff's 64-bit pointers; we do the same here. */
static int ctx_load(struct vm_run *r, size_t pc, uint64_t addr, int size, uint64_t *out)
{
	size_t off = (size_t)(addr - (uint64_t)(uintptr_t)&r->md);
	if (size != BPF_W && size != BPF_DW)
		return vm_fail(r, pc, "ctx load of size %d", size);
	switch (off) {
	case offsetof(struct vm_xdp_md, data): *out = (uint64_t)(uintptr_t)r->pkt.data; return 0;
	case offsetof(struct vm_xdp_md, data_end): *out = (uint64_t)(uintptr_t)r->pkt.data_end; return 0;
	case offsetof(struct vm_xdp_md, data_meta): *out = (uint64_t)(uintptr_t)r->pkt.data_meta; return 0;
	default:
		if (off + 4 > sizeof(r->md))
			return vm_fail(r, pc, "ctx load at offset %zu", off);
		*out = load_sized((const uint8_t *)&r->md + off, BPF_W);
		return 0;
	}
}

static int mem_load(struct vm_run *r, size_t pc, uint64_t addr, int size, uint64_t *out)
{
	if (within(addr, 1, &r->md, sizeof(r->md)))
		return ctx_load(r, pc, addr, size, out);
	if (!vm_mem_ok(r, addr, size_bytes(size)))
		return vm_fail(r, pc, "load of %zu bytes at 0x%" PRIx64 " outside the stack, packet and maps",
			       size_bytes(size), addr);
	*out = load_sized((const void *)(uintptr_t)addr, size);
	return 0;
}

static int mem_store(struct vm_run *r, size_t pc, uint64_t addr, int size, uint64_t v)
{
	if (!vm_mem_ok(r, addr, size_bytes(size)))
		return vm_fail(r, pc, "store of %zu bytes at 0x%" PRIx64 " outside the stack, packet and maps",
			       size_bytes(size), addr);
	store_sized((void *)(uintptr_t)addr, size, v);
	return 0;
}

/* ---- ALU ---------------------------------------------------------------- */

static uint64_t alu_div(uint64_t dst, uint64_t src, bool is64, bool is_signed, bool mod)
{
	if (!src)	/* BPF: x / 0 = 0, x % 0 = x */
		return mod ? dst : 0;
	if (!is_signed)
		return mod ? dst % src : dst / src;
	if (is64) {
		int64_t a = (int64_t)dst, b = (int64_t)src;
		if (b == -1)	/* INT_MIN / -1 wraps, as the kernel's sdiv patch does */
			return mod ? 0 : (uint64_t)0 - dst;
		return (uint64_t)(mod ? a % b : a / b);
	}
	int32_t a = (int32_t)dst, b = (int32_t)src;
	if (b == -1)
		return mod ? 0 : (uint32_t)(0 - (uint32_t)dst);
	return (uint32_t)(mod ? a % b : a / b);
}

static uint64_t alu_end(const struct bpf_insn *in, uint64_t dst)
{
	bool swap = BPF_CLASS(in->code) == BPF_ALU64 || BPF_SRC(in->code) == BPF_TO_BE;
	switch (in->imm) {
	case 16: return swap ? __builtin_bswap16((uint16_t)dst) : (uint16_t)dst;
	case 32: return swap ? __builtin_bswap32((uint32_t)dst) : (uint32_t)dst;
	default: return swap ? __builtin_bswap64(dst) : dst;
	}
}

static uint64_t alu_mov(const struct bpf_insn *in, uint64_t src, bool is64)
{
	uint64_t v;
	switch (in->off) {	/* movsx: cpu v4 */
	case 8: v = (uint64_t)(int64_t)(int8_t)src; break;
	case 16: v = (uint64_t)(int64_t)(int16_t)src; break;
	case 32: v = (uint64_t)(int64_t)(int32_t)src; break;
	default: v = src; break;
	}
	return is64 ? v : (uint32_t)v;
}

static int alu(struct vm_run *r, size_t pc, const struct bpf_insn *in, uint64_t *reg)
{
	bool is64 = BPF_CLASS(in->code) == BPF_ALU64;
	uint64_t src = BPF_SRC(in->code) == BPF_X ? reg[in->src_reg] : (uint64_t)(int64_t)in->imm;
	uint64_t dst = reg[in->dst_reg], res;
	unsigned shift_mask = is64 ? 63 : 31;
	if (BPF_OP(in->code) == BPF_END) {
		reg[in->dst_reg] = alu_end(in, dst);
		return 0;
	}
	if (!is64) {
		src = (uint32_t)src;
		dst = (uint32_t)dst;
	}
	switch (BPF_OP(in->code)) {
	case BPF_ADD: res = dst + src; break;
	case BPF_SUB: res = dst - src; break;
	case BPF_MUL: res = dst * src; break;
	case BPF_DIV: res = alu_div(dst, src, is64, in->off == 1, false); break;
	case BPF_MOD: res = alu_div(dst, src, is64, in->off == 1, true); break;
	case BPF_OR: res = dst | src; break;
	case BPF_AND: res = dst & src; break;
	case BPF_XOR: res = dst ^ src; break;
	case BPF_LSH: res = dst << (src & shift_mask); break;
	case BPF_RSH: res = dst >> (src & shift_mask); break;
	case BPF_ARSH:
		res = is64 ? (uint64_t)((int64_t)dst >> (src & 63))
			   : (uint32_t)((int32_t)(uint32_t)dst >> (src & 31));
		break;
	case BPF_NEG: res = 0 - dst; break;
	case BPF_MOV: res = alu_mov(in, src, is64); break;
	default: return vm_fail(r, pc, "unknown ALU opcode 0x%02x", in->code);
	}
	reg[in->dst_reg] = is64 ? res : (uint32_t)res;
	return 0;
}

/* ---- Jumps -------------------------------------------------------------- */

static bool jump_taken(int op, uint64_t a, uint64_t b, bool is32, bool *known)
{
	int64_t sa = is32 ? (int32_t)a : (int64_t)a, sb = is32 ? (int32_t)b : (int64_t)b;
	if (is32) {
		a = (uint32_t)a;
		b = (uint32_t)b;
	}
	*known = true;
	switch (op) {
	case BPF_JEQ: return a == b;
	case BPF_JNE: return a != b;
	case BPF_JGT: return a > b;
	case BPF_JGE: return a >= b;
	case BPF_JLT: return a < b;
	case BPF_JLE: return a <= b;
	case BPF_JSET: return a & b;
	case BPF_JSGT: return sa > sb;
	case BPF_JSGE: return sa >= sb;
	case BPF_JSLT: return sa < sb;
	case BPF_JSLE: return sa <= sb;
	default: *known = false; return false;
	}
}

/* ---- Helpers ------------------------------------------------------------ */

static int vm_exec(struct vm_run *r, size_t pc, const uint64_t *args, uint8_t *frame_top, uint64_t *ret);

static struct vm_map *map_of(const struct vm_run *r, uint64_t ptr)
{
	for (int i = 0; i < r->prog->nmaps; i++)
		if ((uint64_t)(uintptr_t)&r->prog->maps[i] == ptr)
			return &r->prog->maps[i];
	return NULL;
}

static int helper_map_lookup(struct vm_run *r, size_t pc, uint64_t *reg)
{
	struct vm_map *m = map_of(r, reg[1]);
	uint64_t key;
	if (!m)
		return vm_fail(r, pc, "bpf_map_lookup_elem on something that is not a map");
	if (!m->buf)
		return vm_fail(r, pc, "map %s: type %u is not modelled (arrays only)", m->name, m->type);
	int err = mem_load(r, pc, reg[2], BPF_W, &key);
	if (err)
		return err;
	reg[0] = key < m->max_entries ? (uint64_t)(uintptr_t)(m->buf + key * m->value_size) : 0;
	return 0;
}

/* bpf_xdp_adjust_head and _tail: the kernel's bounds (net/core/filter.c),
 * a page-sized buffer without fragments as bpf_prog_test_run makes it. */
static void helper_adjust_head(struct vm_run *r, uint64_t *reg)
{
	struct vm_packet *p = &r->pkt;
	int off = (int)reg[2];
	size_t metalen = (size_t)(p->data - p->data_meta);
	uint8_t *data = p->data + off;
	if (data < p->buf + ICOUNT_XDP_FRAME + metalen || data > p->data_end - ICOUNT_ETH_HLEN) {
		reg[0] = (uint64_t)-EINVAL;
		return;
	}
	if (metalen)
		memmove(p->data_meta + off, p->data_meta, metalen);
	p->data_meta += off;
	p->data = data;
	reg[0] = 0;
}

static void helper_adjust_tail(struct vm_run *r, uint64_t *reg)
{
	struct vm_packet *p = &r->pkt;
	int off = (int)reg[2];
	uint8_t *end = p->data_end + off;
	if (end > p->buf + ICOUNT_FRAME_SZ - ICOUNT_TAILROOM || end < p->data + ICOUNT_ETH_HLEN) {
		reg[0] = (uint64_t)-EINVAL;
		return;
	}
	if (off > 0)	/* the kernel clears what it grows */
		memset(p->data_end, 0, (size_t)off);
	p->data_end = end;
	reg[0] = 0;
}

/* bpf_xdp_load_bytes / store_bytes: offset and len within the linear data. */
static int helper_xdp_bytes(struct vm_run *r, size_t pc, uint64_t *reg, bool store)
{
	uint32_t off = (uint32_t)reg[2], len = (uint32_t)reg[4];
	size_t size = (size_t)(r->pkt.data_end - r->pkt.data);
	if (off > 0xffff || len > 0xffff) {
		reg[0] = (uint64_t)-EFAULT;
		return 0;
	}
	if ((size_t)off + len > size) {
		reg[0] = (uint64_t)-EINVAL;
		return 0;
	}
	if (!vm_mem_ok(r, reg[3], len))
		return vm_fail(r, pc, "bpf_xdp_%s_bytes buffer outside memory", store ? "store" : "load");
	void *buf = (void *)(uintptr_t)reg[3];
	if (store)
		memmove(r->pkt.data + off, buf, len);
	else
		memmove(buf, r->pkt.data + off, len);
	reg[0] = 0;
	return 0;
}

/* csum_partial's sum: 32-bit words added with end-around carry. */
static uint32_t csum_words(const uint8_t *p, uint32_t len, uint32_t seed)
{
	uint64_t sum = seed;
	for (uint32_t i = 0; i + 4 <= len; i += 4) {
		uint32_t w;
		memcpy(&w, p + i, 4);
		sum += w;
	}
	while (sum >> 32)
		sum = (sum & 0xffffffffu) + (sum >> 32);
	return (uint32_t)sum;
}

static uint32_t csum_sub32(uint32_t a, uint32_t b)
{
	uint32_t nb = ~b, s = a + nb;
	return s + (s < nb);
}

/* bpf_csum_diff as kernels since 6.13 compute it (one code for all
 * architectures, the result folded to 16 bits: csum_from32to16). */
static int helper_csum_diff(struct vm_run *r, size_t pc, uint64_t *reg)
{
	uint32_t from_size = (uint32_t)reg[2], to_size = (uint32_t)reg[4], seed = (uint32_t)reg[5];
	uint32_t sum = seed;
	if ((from_size | to_size) & 3) {
		reg[0] = (uint64_t)-EINVAL;
		return 0;
	}
	if ((from_size && !vm_mem_ok(r, reg[1], from_size)) || (to_size && !vm_mem_ok(r, reg[3], to_size)))
		return vm_fail(r, pc, "bpf_csum_diff buffer outside memory");
	const uint8_t *from = (const uint8_t *)(uintptr_t)reg[1], *to = (const uint8_t *)(uintptr_t)reg[3];
	if (from_size && to_size)
		sum = csum_sub32(csum_words(to, to_size, sum), csum_words(from, from_size, 0));
	else if (to_size)
		sum = csum_words(to, to_size, sum);
	else if (from_size)
		sum = ~csum_words(from, from_size, ~sum);
	sum += (sum >> 16) | (sum << 16);
	reg[0] = (uint16_t)(sum >> 16);
	return 0;
}

/* bpf_loop: the callback's instructions count; the helper call is one. */
static int helper_loop(struct vm_run *r, size_t pc, uint64_t *reg, uint8_t *frame_top)
{
	uint64_t nr = (uint32_t)reg[1], i, cb_ret;
	const struct bpf_insn *cb = (const struct bpf_insn *)(uintptr_t)reg[2];
	if (cb < r->prog->insns || cb >= r->prog->insns + r->prog->ninsns)
		return vm_fail(r, pc, "bpf_loop callback is not a function of the program");
	if (reg[4]) {
		reg[0] = (uint64_t)-EINVAL;
		return 0;
	}
	if (nr > ICOUNT_MAY_GOTO) {
		reg[0] = (uint64_t)-E2BIG;
		return 0;
	}
	for (i = 0; i < nr; i++) {
		uint64_t args[5] = { i, reg[3], 0, 0, 0 };
		int err;

		r->calls++;
		err = vm_exec(r, (size_t)(cb - r->prog->insns), args, frame_top - ICOUNT_FRAME_STACK, &cb_ret);
		if (err)
			return err;
		if (cb_ret) {
			i++;
			break;
		}
	}
	reg[0] = i;
	return 0;
}

static int call_helper(struct vm_run *r, size_t pc, int id, uint64_t *reg, uint8_t *frame_top)
{
	r->helpers++;
	r->helper_calls[(unsigned)id % ICOUNT_HELPER_IDS]++;
	switch (id) {
	case BPF_FUNC_map_lookup_elem: return helper_map_lookup(r, pc, reg);
	case BPF_FUNC_xdp_adjust_head: helper_adjust_head(r, reg); return 0;
	case BPF_FUNC_xdp_adjust_tail: helper_adjust_tail(r, reg); return 0;
	case BPF_FUNC_csum_diff: return helper_csum_diff(r, pc, reg);
	case BPF_FUNC_xdp_get_buff_len: reg[0] = (uint64_t)(r->pkt.data_end - r->pkt.data); return 0;
	case BPF_FUNC_xdp_load_bytes: return helper_xdp_bytes(r, pc, reg, false);
	case BPF_FUNC_xdp_store_bytes: return helper_xdp_bytes(r, pc, reg, true);
	case BPF_FUNC_loop: return helper_loop(r, pc, reg, frame_top);
	default: return vm_fail(r, pc, "helper %d is not modelled", id);
	}
}

/* ---- Memory instructions ------------------------------------------------ */

static int atomic_op(struct vm_run *r, size_t pc, const struct bpf_insn *in, uint64_t *reg)
{
	int size = BPF_SIZE(in->code);
	uint64_t addr = reg[in->dst_reg] + (uint64_t)(int64_t)in->off, old, val = reg[in->src_reg], res;
	if (size != BPF_W && size != BPF_DW)
		return vm_fail(r, pc, "atomic of size %d", size);
	int err = mem_load(r, pc, addr, size, &old);
	if (err)
		return err;
	switch (in->imm & ~BPF_FETCH) {
	case BPF_ADD: res = old + val; break;
	case BPF_OR: res = old | val; break;
	case BPF_AND: res = old & val; break;
	case BPF_XOR: res = old ^ val; break;
	case BPF_XCHG & ~BPF_FETCH: res = val; break;
	case BPF_CMPXCHG & ~BPF_FETCH: {
		uint64_t expect = size == BPF_W ? (uint32_t)reg[0] : reg[0];
		res = old == expect ? val : old;
		reg[0] = old;
		return mem_store(r, pc, addr, size, res);
	}
	default: return vm_fail(r, pc, "atomic operation 0x%x is not modelled", in->imm);
	}
	if (in->imm & BPF_FETCH)
		reg[in->src_reg] = old;
	return mem_store(r, pc, addr, size, res);
}

static int mem_insn(struct vm_run *r, size_t pc, const struct bpf_insn *in, uint64_t *reg)
{
	int size = BPF_SIZE(in->code), mode = BPF_MODE(in->code);
	uint64_t v;
	int err;
	switch (BPF_CLASS(in->code)) {
	case BPF_LDX:
		if (mode != BPF_MEM && mode != BPF_MEMSX)
			return vm_fail(r, pc, "load mode 0x%02x", in->code);
		err = mem_load(r, pc, reg[in->src_reg] + (uint64_t)(int64_t)in->off, size, &v);
		if (!err)
			reg[in->dst_reg] = mode == BPF_MEMSX ? sign_extend(v, size) : v;
		return err;
	case BPF_ST:
		if (mode != BPF_MEM)
			return vm_fail(r, pc, "store mode 0x%02x", in->code);
		return mem_store(r, pc, reg[in->dst_reg] + (uint64_t)(int64_t)in->off, size,
				 (uint64_t)(int64_t)in->imm);
	default:	/* BPF_STX */
		if (mode == BPF_ATOMIC)
			return atomic_op(r, pc, in, reg);
		if (mode != BPF_MEM)
			return vm_fail(r, pc, "store mode 0x%02x", in->code);
		return mem_store(r, pc, reg[in->dst_reg] + (uint64_t)(int64_t)in->off, size, reg[in->src_reg]);
	}
}

/* ld_imm64: a constant, a map, a map value's address or a function. */
static int ld_imm64(struct vm_run *r, size_t pc, const struct bpf_insn *in, uint64_t *reg)
{
	const struct vm_prog *p = r->prog;
	if (in->code != (BPF_LD | BPF_IMM | BPF_DW) || pc + 1 >= p->ninsns)
		return vm_fail(r, pc, "load opcode 0x%02x is not modelled", in->code);
	uint64_t imm = (uint32_t)in[0].imm | (uint64_t)(uint32_t)in[1].imm << 32;
	struct vm_map *m = NULL;
	if (in->src_reg == BPF_PSEUDO_MAP_FD || in->src_reg == BPF_PSEUDO_MAP_VALUE) {
		for (int i = 0; i < p->nmaps && !m; i++)
			if (p->maps[i].fd == in->imm)
				m = &p->maps[i];
		if (!m || (in->src_reg == BPF_PSEUDO_MAP_VALUE && !m->buf))
			return vm_fail(r, pc, "map fd %d is not one of the object's (modelled) maps", in->imm);
	}
	switch (in->src_reg) {
	case 0: reg[in->dst_reg] = imm; return 0;
	case BPF_PSEUDO_MAP_FD: reg[in->dst_reg] = (uint64_t)(uintptr_t)m; return 0;
	case BPF_PSEUDO_MAP_VALUE:
		reg[in->dst_reg] = (uint64_t)(uintptr_t)(m->buf + (uint32_t)in[1].imm);
		return 0;
	case BPF_PSEUDO_FUNC:
		if ((int64_t)pc + in->imm + 1 < 0 || pc + (size_t)in->imm + 1 >= p->ninsns)
			return vm_fail(r, pc, "function address out of the program");
		reg[in->dst_reg] = (uint64_t)(uintptr_t)&p->insns[pc + (size_t)in->imm + 1];
		return 0;
	default: return vm_fail(r, pc, "ld_imm64 kind %d is not modelled", in->src_reg);
	}
}

/* ---- The loop ----------------------------------------------------------- */

/* A jump-class instruction other than call and exit: the next pc. */
static int jump(struct vm_run *r, size_t pc, const struct bpf_insn *in, const uint64_t *reg, size_t *next)
{
	bool is32 = BPF_CLASS(in->code) == BPF_JMP32, known, taken;
	int op = BPF_OP(in->code);
	if (op == BPF_JA) {
		*next = pc + 1 + (size_t)(is32 ? in->imm : in->off);	/* JMP32|JA: gotol */
		return 0;
	}
	if (op == BPF_JCOND) {	/* may_goto: falls through while the budget lasts */
		taken = r->may_goto_left-- <= 0;
		*next = pc + 1 + (size_t)(taken ? in->off : 0);
		return 0;
	}
	uint64_t b = BPF_SRC(in->code) == BPF_X ? reg[in->src_reg] : (uint64_t)(int64_t)in->imm;
	taken = jump_taken(op, reg[in->dst_reg], b, is32, &known);
	if (!known)
		return vm_fail(r, pc, "jump opcode 0x%02x is not modelled", in->code);
	*next = pc + 1 + (size_t)(taken ? in->off : 0);
	return 0;
}

static int call(struct vm_run *r, size_t pc, const struct bpf_insn *in, uint64_t *reg, uint8_t *frame_top)
{
	if (in->src_reg == BPF_PSEUDO_CALL) {
		r->calls++;
		return vm_exec(r, pc + 1 + (size_t)in->imm, reg + 1, frame_top - ICOUNT_FRAME_STACK, &reg[0]);
	}
	if (in->src_reg != 0)
		return vm_fail(r, pc, "call kind %d (kfunc?) is not modelled", in->src_reg);
	return call_helper(r, pc, in->imm, reg, frame_top);
}

/* Runs the function at pc with arguments r1-r5 and the frame below
 * frame_top until its exit; each BPF-to-BPF call and callback is a nested
 * vm_exec with its own registers (r6-r9 are the callee's own, as in BPF). */
static int vm_exec(struct vm_run *r, size_t pc, const uint64_t *args, uint8_t *frame_top, uint64_t *ret)
{
	uint64_t reg[11] = { 0 };
	const struct vm_prog *p = r->prog;
	int err = 0;
	if (++r->depth > ICOUNT_MAX_DEPTH)
		return vm_fail(r, pc, "calls nested deeper than %d", ICOUNT_MAX_DEPTH);
	memcpy(reg + 1, args, 5 * sizeof(*reg));
	reg[10] = (uint64_t)(uintptr_t)frame_top;
	while (!err) {
		if (pc >= p->ninsns)
			return vm_fail(r, pc, "jump out of the program");
		if (++r->insns > ICOUNT_INSN_CAP)
			return vm_fail(r, pc, "more than %llu instructions", ICOUNT_INSN_CAP);
		if (r->hits)
			r->hits[pc]++;
		const struct bpf_insn *in = &p->insns[pc];
		switch (BPF_CLASS(in->code)) {
		case BPF_ALU:
		case BPF_ALU64:
			err = alu(r, pc, in, reg);
			pc++;
			break;
		case BPF_LDX:
		case BPF_ST:
		case BPF_STX:
			err = mem_insn(r, pc, in, reg);
			pc++;
			break;
		case BPF_LD:
			err = ld_imm64(r, pc, in, reg);
			pc += 2;
			break;
		default:	/* BPF_JMP, BPF_JMP32 */
			if (BPF_OP(in->code) == BPF_EXIT) {
				*ret = reg[0];
				r->depth--;
				return 0;
			}
			if (BPF_OP(in->code) == BPF_CALL) {
				err = call(r, pc, in, reg, frame_top);
				pc++;
			} else {
				err = jump(r, pc, in, reg, &pc);
			}
			break;
		}
	}
	return err;
}

/* ---- Programs and maps -------------------------------------------------- */

/* Our copy of an array map: what the kernel's holds after the load
 * (.rodata/.data/.bss initial values, the port set by bench_set_port). */
static int model_map(struct vm_map *m, const struct bpf_map *map, const char *path)
{
	int ncpus = libbpf_num_possible_cpus();
	m->fd = bpf_map__fd(map);
	m->type = bpf_map__type(map);
	m->value_size = bpf_map__value_size(map);
	m->max_entries = bpf_map__max_entries(map);
	m->name = bpf_map__name(map);
	m->writable = !(bpf_map__map_flags(map) & BPF_F_RDONLY_PROG);
	if (m->type != BPF_MAP_TYPE_ARRAY && m->type != BPF_MAP_TYPE_PERCPU_ARRAY)
		return 0;	/* no buffer: a lookup in it, or its value's address, is refused */
	size_t stride = (m->value_size + 7) & ~7u, per_key = m->type == BPF_MAP_TYPE_PERCPU_ARRAY
		? stride * (size_t)(ncpus > 0 ? ncpus : 1) : m->value_size;
	uint8_t *value = malloc(per_key);
	m->buf = calloc(m->max_entries ? m->max_entries : 1, m->value_size);
	if (!value || !m->buf) {
		free(value);
		return -ENOMEM;
	}
	for (uint32_t k = 0; k < m->max_entries; k++) {
		if (bpf_map_lookup_elem(m->fd, &k, value)) {
			fprintf(stderr, "icount: %s: map %s: cannot read key %u: %s\n", path, m->name, k, strerror(errno));
			free(value);
			return -errno;
		}
		/* Per-CPU: one CPU's value, the program runs on one. */
		memcpy(m->buf + (size_t)k * m->value_size, value, m->value_size);
	}
	free(value);
	return 0;
}

static int load_prog(struct vm_prog *p, const char *path, unsigned port)
{
	struct bpf_map *map;
	struct bpf_program *xdp = NULL;
	p->path = path;
	int err = bench_open_xdp("icount", path, port, &p->obj, &xdp);
	if (err)
		return err;
	err = bpf_object__load(p->obj);
	if (err) {
		fprintf(stderr, "icount: %s: load failed: %s\n", path, strerror(-err));
		return err;
	}
	p->prog_fd = bpf_program__fd(xdp);
	p->insns = bpf_program__insns(xdp);	/* after the load: as the kernel got them */
	p->ninsns = bpf_program__insn_cnt(xdp);
	if (!p->insns || !p->ninsns) {
		fprintf(stderr, "icount: %s: libbpf kept no instructions after the load\n", path);
		return -ENOENT;
	}
	bpf_object__for_each_map(map, p->obj)
		p->nmaps++;
	p->maps = calloc((size_t)p->nmaps, sizeof(*p->maps));
	if (!p->maps)
		return -ENOMEM;
	int i = 0;
	bpf_object__for_each_map(map, p->obj)
		if ((err = model_map(&p->maps[i++], map, path)))
			return err;
	return 0;
}

static void free_prog(struct vm_prog *p)
{
	for (int i = 0; i < p->nmaps; i++)
		free(p->maps[i].buf);
	free(p->maps);
	bpf_object__close(p->obj);	/* the instructions go with it */
}

/* The kernel's array maps the program may write must hold what ours do. */
static int compare_maps(const struct vm_prog *p)
{
	int differ = 0;
	for (int i = 0; i < p->nmaps; i++) {
		const struct vm_map *m = &p->maps[i];
		if (!m->buf || !m->writable || m->type != BPF_MAP_TYPE_ARRAY)
			continue;	/* per-CPU: the kernel's runs may have landed on several CPUs */
		uint8_t *value = malloc(m->value_size);
		for (uint32_t k = 0; value && k < m->max_entries; k++)
			if (!bpf_map_lookup_elem(m->fd, &k, value) &&
			    memcmp(value, m->buf + (size_t)k * m->value_size, m->value_size)) {
				fprintf(stderr, "icount: %s: map %s key %u differs from the kernel's after the runs\n",
					p->path, m->name, k);
				differ++;
				break;
			}
		free(value);
	}
	return differ;
}

/* ---- Requests ------------------------------------------------------------ */

struct req_result {
	int verdict;
	uint64_t insns, helpers, calls;
	int mismatch;		/* 0, or 1 when kernel and interpreter disagree */
};

static int run_interpreted(struct vm_run *r, const uint8_t *frame, size_t len, uint64_t *verdict)
{
	static const uint64_t no_args[5];
	memset(r->pkt.buf, 0, ICOUNT_FRAME_SZ);
	memset(r->stack, 0, (size_t)ICOUNT_MAX_DEPTH * ICOUNT_FRAME_STACK);	/* same start, same run */
	memcpy(r->pkt.buf + ICOUNT_HEADROOM, frame, len);
	r->pkt.data = r->pkt.data_meta = r->pkt.buf + ICOUNT_HEADROOM;
	r->pkt.data_end = r->pkt.data + len;
	r->md = (struct vm_xdp_md){ .ingress_ifindex = 1 };	/* test_run: the loopback device */
	r->insns = r->helpers = r->calls = 0;
	memset(r->helper_calls, 0, sizeof(r->helper_calls));
	r->may_goto_left = ICOUNT_MAY_GOTO;
	r->depth = 0;
	r->err[0] = 0;
	uint64_t args[5];
	memcpy(args, no_args, sizeof(args));
	args[0] = (uint64_t)(uintptr_t)&r->md;
	return vm_exec(r, 0, args, r->stack + (size_t)ICOUNT_MAX_DEPTH * ICOUNT_FRAME_STACK, verdict);
}

static size_t first_difference(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t i = 0;
	while (i < alen && i < blen && a[i] == b[i])
		i++;
	return i;
}

static int run_request(struct vm_run *r, const uint8_t *frame, size_t len, int idx, struct req_result *res,
		       int *notes)
{
	static uint8_t kout[ICOUNT_FRAME_SZ];
	LIBBPF_OPTS(bpf_test_run_opts, run, .data_in = frame, .data_size_in = (__u32)len, .data_out = kout,
		    .data_size_out = sizeof(kout), .repeat = 1);
	if (bpf_prog_test_run_opts(r->prog->prog_fd, &run)) {
		fprintf(stderr, "icount: %s: test_run: %s\n", r->prog->path, strerror(errno));
		return -errno;
	}
	uint64_t verdict = 0;
	int err = run_interpreted(r, frame, len, &verdict);
	size_t out_len = (size_t)(r->pkt.data_end - r->pkt.data_meta);
	*res = (struct req_result){ .verdict = (int)verdict, .insns = r->insns, .helpers = r->helpers,
				.calls = r->calls };
	res->mismatch = err || verdict != run.retval || out_len != run.data_size_out ||
			memcmp(kout, r->pkt.data_meta, out_len);
	if (res->mismatch && (*notes)++ < ICOUNT_MAX_MISMATCH_NOTES)
		fprintf(stderr, "icount: %s: request %d: %s (interpreter verdict %" PRIu64 " len %zu, kernel %u len %u,"
			" first different byte %zu)\n", r->prog->path, idx, err ? r->err : "differs from the kernel",
			verdict, out_len, run.retval, run.data_size_out,
			first_difference(kout, run.data_size_out, r->pkt.data_meta, out_len));
	return 0;
}

/* ---- Report -------------------------------------------------------------- */

struct prog_summary {
	uint64_t insns, helpers, calls, min, max;
	uint64_t helper_calls[ICOUNT_HELPER_IDS];	/* over every request */
	uint64_t n_by_verdict[5], insns_by_verdict[5];	/* XDP_ABORTED..XDP_REDIRECT */
	int n, mismatches;
};

static void add_result(struct prog_summary *s, const struct req_result *res)
{
	int v = res->verdict >= 0 && res->verdict <= XDP_REDIRECT ? res->verdict : XDP_ABORTED;
	s->insns += res->insns;
	s->helpers += res->helpers;
	s->calls += res->calls;
	s->min = s->n == 0 || res->insns < s->min ? res->insns : s->min;
	s->max = res->insns > s->max ? res->insns : s->max;
	s->n_by_verdict[v]++;
	s->insns_by_verdict[v] += res->insns;
	s->mismatches += res->mismatch;
	s->n++;
}

static void print_verdict_mean(const struct prog_summary *s, const char *name, int v)
{
	if (s->n_by_verdict[v])
		printf(" insns_%s %.2f", name, (double)s->insns_by_verdict[v] / (double)s->n_by_verdict[v]);
	else
		printf(" insns_%s -", name);
}

static void print_summary(int idx, const struct vm_prog *p, const struct prog_summary *s)
{
	printf("prog %d %s insns_per_req %.2f helpers_per_req %.2f min %" PRIu64 " max %" PRIu64
	       " verdicts tx=%" PRIu64 " drop=%" PRIu64 " pass=%" PRIu64 " other=%" PRIu64,
	       idx, p->path, (double)s->insns / s->n, (double)s->helpers / s->n, s->min, s->max,
	       s->n_by_verdict[XDP_TX], s->n_by_verdict[XDP_DROP], s->n_by_verdict[XDP_PASS],
	       s->n_by_verdict[XDP_ABORTED] + s->n_by_verdict[XDP_REDIRECT]);
	print_verdict_mean(s, "tx", XDP_TX);
	print_verdict_mean(s, "drop", XDP_DROP);
	print_verdict_mean(s, "pass", XDP_PASS);
	printf(" mismatch_vs_kernel %d calls_per_req %.2f\n", s->mismatches, (double)s->calls / s->n);
	printf("helpers %d", idx);
	for (int h = 0; h < ICOUNT_HELPER_IDS; h++)
		if (s->helper_calls[h])
			printf(" %d:%.2f", h, (double)s->helper_calls[h] / s->n);
	printf("\n");
}

struct icount_opts {
	unsigned port;
	const struct bench_frame_kind *frame;
	bool per_request;
	bool hits;		/* print `hit PROG PC COUNT` for every instruction that ran */
	char **progs;
	int nprogs;
	const char *requests_path;
};

static int parse_opts(int argc, char **argv, struct icount_opts *o)
{
	static const struct option longopts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "per-request", no_argument, NULL, 'r' },
		{ "hits", no_argument, NULL, 'h' },
		{ "frame", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	*o = (struct icount_opts){ .port = 5353, .frame = &bench_frame_kinds[0] };
	int ch;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'p': o->port = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'r': o->per_request = true; break;
		case 'h': o->hits = true; break;
		case 'f':
			o->frame = bench_frame_kind(optarg);
			if (!o->frame)
				return -EINVAL;
			break;
		default: return -EINVAL;
		}
	}
	if (argc - optind < 2 || !o->port || o->port > 65535)
		return -EINVAL;
	o->progs = argv + optind;
	o->nprogs = argc - optind - 1;
	o->requests_path = argv[argc - 1];
	return 0;
}

/* Every request through program idx: its summary; -errno when a test run fails. */
static int count_prog(int idx, const struct vm_prog *p, const struct icount_opts *o,
		      const struct bench_requests *reqs, struct vm_run *r, struct prog_summary *s)
{
	static uint8_t frame[BENCH_HDRS_MAX + BENCH_MAX_REQUEST];
	int notes = 0;
	*s = (struct prog_summary){ 0 };
	r->prog = p;
	free(r->hits);
	r->hits = o->hits ? calloc(p->ninsns, sizeof(*r->hits)) : NULL;
	if (o->hits && !r->hits)
		return -ENOMEM;
	for (int i = 0; i < reqs->n; i++) {
		struct req_result res = { 0 };
		size_t len = bench_build_frame_kind(frame, reqs->items[i].bytes, reqs->items[i].len,
						    (uint16_t)o->port, o->frame);
		int err = run_request(r, frame, len, i, &res, &notes);
		if (err)
			return err;
		add_result(s, &res);
		for (int h = 0; h < ICOUNT_HELPER_IDS; h++)
			s->helper_calls[h] += r->helper_calls[h];
		if (o->per_request)
			printf("req %d %d verdict %d insns %" PRIu64 " helpers %" PRIu64 "%s\n", idx, i, res.verdict,
			       res.insns, res.helpers, res.mismatch ? " mismatch" : "");
	}
	s->mismatches += compare_maps(p);
	for (size_t pc = 0; r->hits && pc < p->ninsns; pc++)
		if (r->hits[pc])
			printf("hit %d %zu %" PRIu64 "\n", idx, pc, r->hits[pc]);
	return 0;
}

/* libbpf's warnings only: its notes (e.g. on koff-link's .koff.identity
 * section) would bury the figures. */
static int print_warnings(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

int main(int argc, char **argv)
{
	struct icount_opts o;
	struct bench_requests reqs = { 0 };
	struct vm_run run = { 0 };
	if (parse_opts(argc, argv, &o)) {
		fprintf(stderr, "usage: icount [--port N] [--frame KIND] [--per-request] [--hits] PROG.bpf.o [PROG.bpf.o...] REQUESTS.txt\n");
		return 2;
	}
	libbpf_set_print(print_warnings);
	struct vm_prog *progs = calloc((size_t)o.nprogs, sizeof(*progs));
	struct prog_summary *sums = calloc((size_t)o.nprogs, sizeof(*sums));
	run.stack = aligned_alloc(ICOUNT_FRAME_STACK, (size_t)ICOUNT_MAX_DEPTH * ICOUNT_FRAME_STACK);
	run.pkt.buf = aligned_alloc(ICOUNT_FRAME_SZ, ICOUNT_FRAME_SZ);	/* page-aligned like the kernel's */
	if (!progs || !sums || !run.stack || !run.pkt.buf || bench_load_requests(o.requests_path, &reqs))
		return 1;
	int mismatches = 0;
	for (int i = 0; i < o.nprogs; i++) {
		if (load_prog(&progs[i], o.progs[i], o.port) || count_prog(i, &progs[i], &o, &reqs, &run, &sums[i]))
			return 1;
		print_summary(i, &progs[i], &sums[i]);
		mismatches += sums[i].mismatches;
		free_prog(&progs[i]);
	}
	for (int i = 1; i < o.nprogs; i++)
		printf("ratio %d 0 %.3f\n", i, sums[0].insns ? (double)sums[i].insns / (double)sums[0].insns : 0);
	for (int i = 0; i < reqs.n; i++)
		free(reqs.items[i].bytes);
	free(reqs.items);
	free(run.hits);
	free(run.stack);
	free(run.pkt.buf);
	free(sums);
	free(progs);
	return mismatches ? 3 : 0;
}
