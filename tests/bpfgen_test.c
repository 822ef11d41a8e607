/* bpfgen_test.c - bpfgen end to end on IR built by hand: every program is
 * generated with codegen_program, written with bpfobj_write, loaded with
 * libbpf and run in the kernel with bpf_prog_test_run on Eth+IPv4+UDP
 * packets; each reply (or fallback) is compared with the same operation
 * computed here in C.  Helper of tests/t-bpfgen.sh.
 *
 *   bpfgen_test [-n RUNS] [-s SEED] [-v]
 *     RUNS  packets per program (default 200)
 *     SEED  random seed (default: from the clock; printed first)
 *
 * Ends with "bpfgen: N cases, M failures"; exits 0 when M is 0.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bpfobj.h"
#include "codegen.h"
#include "ir.h"
#include "koff_abi.h"
#include "lift.h"
#include "regalloc.h"
#include "xdp.h"

#define TEST_PORT 9999
#define RESP_CAP 2048
#define HDR XDP_WRAP_HDR_LEN
#define PKT_MAX 4096
#define LOOP_CAP_DEFAULT 64
/* Failures printed in full per program; the rest are only counted. */
#define REPORT_PER_PROG 3

/* ---- Test context --------------------------------------------------------- */

struct tctx {
	char dir[64];		/* temp dir for the objects */
	uint64_t rng;
	int runs;		/* packets per program */
	bool verbose;
	long ncases, nfail;
	int nprogs;
	const struct kernel_target *target;	/* -k: the kernel shape generated */
	bool walk;		/* prog_open walks the walkable loops */
};

/* A loaded program with what the test expects its counters to say. */
struct prog {
	const char *name;
	struct ir_func *fn;
	struct bpf_object *obj;
	int fd, stats_fd;
	uint64_t want_stats[KOFF_STAT__COUNT];
	int reported;		/* failures printed so far */
	bool dumped;		/* IR already printed */
};

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/* xorshift64*: reproducible from the printed seed. */
static uint64_t rnd(struct tctx *t)
{
	t->rng ^= t->rng >> 12;
	t->rng ^= t->rng << 25;
	t->rng ^= t->rng >> 27;
	return t->rng * 0x2545f4914f6cdd1dull;
}

static uint64_t rnd_below(struct tctx *t, uint64_t n)
{
	return rnd(t) % n;
}

static const uint64_t special_values[] = {
	0, 1, 2, 3, 7, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000,
	0x7fffffff, 0x80000000, 0x80000001, 0xfffffffe, 0xffffffff, 0x100000000,
	0x7fffffffffffffff, 0x8000000000000000, 0x8000000000000001,
	0xfffffffffffffffe, 0xffffffffffffffff, 0xffffffff80000000, 0xffffffff7fffffff,
	0x00000001ffffffff, 0xffffffff00000000, 0x123456789abcdef0,
};

/* Operands that hit the boundaries often and everything else sometimes. */
static uint64_t rnd_operand(struct tctx *t)
{
	uint64_t s = special_values[rnd_below(t, KOFF_ARRAY_SIZE(special_values))];

	switch (rnd_below(t, 6)) {
	case 0: return s;
	case 1: return s + rnd_below(t, 5) - 2;
	case 2: return (uint64_t)(int64_t)(int8_t)rnd(t);
	case 3: return (uint64_t)(int64_t)(int32_t)rnd(t);
	case 4: return (uint32_t)rnd(t);
	default: return rnd(t);
	}
}

/* A value close to v: equal, off by one, same low half, or unrelated. */
static uint64_t rnd_near(struct tctx *t, uint64_t v)
{
	switch (rnd_below(t, 6)) {
	case 0: return v;
	case 1: return v + 1;
	case 2: return v - 1;
	case 3: return (v & 0xffffffffull) | (rnd(t) << 32);	/* w=32 sees v */
	case 4: return v ^ 0x8000000000000000ull;
	default: return rnd_operand(t);
	}
}

static void put_le(uint8_t *p, uint64_t v, int size)
{
	for (int i = 0; i < size; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int size)
{
	uint64_t v = 0;

	for (int i = size - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void fill_random(struct tctx *t, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd(t);
}

/* ---- Building IR ------------------------------------------------------------ */

/* Appends to one block of one function. */
struct irb {
	struct ir_func *fn;
	int blk;
};

static struct ir_insn *emit(struct irb *b, enum ir_op op)
{
	struct ir_insn *in = ir_emit(b->fn, b->blk, op);

	if (!in)
		die("out of memory");
	return in;
}

static int new_block(struct irb *b)
{
	int n = ir_block_new(b->fn, IR_TEXT_VA + 0x10 * (uint64_t)b->fn->nblocks);

	if (n < 0)
		die("out of memory");
	return n;
}

static struct ir_val R(int vreg) { return ir_reg(vreg); }
static struct ir_val I(int64_t v) { return ir_imm(v); }

static int load(struct irb *b, struct ir_val base, int64_t off, int size, enum ir_region hint)
{
	struct ir_insn *in = emit(b, IR_LOAD);

	in->dst = ir_new_vreg(b->fn);
	in->a = base;
	in->imm = off;
	in->size = (uint8_t)size;
	in->region = (uint8_t)hint;
	return in->dst;
}

static void store(struct irb *b, struct ir_val base, int64_t off, struct ir_val v, int size,
		  enum ir_region hint)
{
	struct ir_insn *in = emit(b, IR_STORE);

	in->a = base;
	in->imm = off;
	in->b = v;
	in->size = (uint8_t)size;
	in->region = (uint8_t)hint;
}

/* dst = a OP v (dst < 0: a new vreg); returns dst. */
static int alu(struct irb *b, enum ir_op op, int w, int dst, struct ir_val a, struct ir_val v)
{
	struct ir_insn *in = emit(b, op);

	in->dst = dst >= 0 ? dst : ir_new_vreg(b->fn);
	in->w = (uint8_t)w;
	in->a = a;
	in->b = v;
	return in->dst;
}

static int sel(struct irb *b, enum ir_cond cond, int w, int dst, struct ir_val x, struct ir_val y,
	       struct ir_val c, struct ir_val d)
{
	struct ir_insn *in = emit(b, IR_SELECT);

	in->dst = dst >= 0 ? dst : ir_new_vreg(b->fn);
	in->cond = (uint8_t)cond;
	in->w = (uint8_t)w;
	in->a = x;
	in->b = y;
	in->c = c;
	in->d = d;
	return in->dst;
}

static void store_resp64(struct irb *b, int lane, struct ir_val v)
{
	store(b, R(IR_RDX), 8 * lane, v, 8, IR_REG_RESP);
}

static void ret_const(struct irb *b, int64_t n)
{
	alu(b, IR_MOV, 64, IR_RAX, I(0), I(n));
	emit(b, IR_RET);
}

static void jmp(struct irb *b, int target)
{
	emit(b, IR_JMP)->t = target;
}

static void br(struct irb *b, enum ir_cond cond, int w, struct ir_val x, struct ir_val y, int t, int f)
{
	struct ir_insn *in = emit(b, IR_BR);

	in->cond = (uint8_t)cond;
	in->w = (uint8_t)w;
	in->a = x;
	in->b = y;
	in->t = t;
	in->f = f;
}

static void fallback(struct irb *b, enum koff_stat reason)
{
	struct ir_insn *in = emit(b, IR_FALLBACK);

	in->imm = reason;
	in->why = "test";
}

static struct irb new_func(const char *name)
{
	struct irb b = { .fn = ir_func_new(name) };

	if (!b.fn)
		die("out of memory");
	b.blk = new_block(&b);
	return b;
}

/* ---- Programs in the kernel --------------------------------------------------- */

static void dump_once(struct prog *p)
{
	if (p->dumped || !p->fn)
		return;
	p->dumped = true;
	ir_dump(p->fn, stderr);
}

static void fail(struct tctx *t, struct prog *p, const char *fmt, ...)
{
	va_list ap;

	t->nfail++;
	if (p && p->reported++ >= REPORT_PER_PROG)
		return;
	fprintf(stderr, "FAIL %s: ", p ? p->name : "-");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (p)
		dump_once(p);
}

/* IR -> object file -> loaded program.  Takes fn (freed by prog_close).
 * With t->walk, the loops marked walkable are walked (codegen_opts). */
static bool prog_open(struct tctx *t, struct ir_func *fn, uint32_t loop_cap, const char *name,
		      struct prog *p)
{
	struct codegen_opts o = { .udp_port = TEST_PORT, .resp_cap = RESP_CAP, .loop_cap = loop_cap,
				  .target = t->target, .walk_loops = t->walk };
	struct koff_error err = { 0 };
	struct bpf_emit e;
	char path[128];
	int rc;

	memset(p, 0, sizeof(*p));
	p->name = name;
	p->fn = fn;
	p->fd = -1;
	fn->loop_cap = loop_cap;
	snprintf(path, sizeof(path), "%s/p%d.bpf.o", t->dir, t->nprogs++);
	emit_init(&e);
	rc = codegen_program(fn, &o, &e, &err);
	if (!rc)
		rc = bpfobj_write(path, &e, fn->rodata, fn->rodata_size, &err);
	emit_free(&e);
	if (rc) {
		fail(t, p, "codegen/bpfobj: %d: %s", rc, err.msg);
		return false;
	}
	p->obj = bpf_object__open_file(path, NULL);
	if (!p->obj || bpf_object__load(p->obj)) {
		fail(t, p, "libbpf could not load the program (verifier log above)");
		unlink(path);
		return false;
	}
	unlink(path);
	p->fd = bpf_program__fd(bpf_object__find_program_by_name(p->obj, KOFF_PROG_NAME));
	p->stats_fd = bpf_object__find_map_fd_by_name(p->obj, KOFF_MAP_STATS);
	if (p->fd < 0 || p->stats_fd < 0) {
		fail(t, p, "program or stats map missing in the object");
		return false;
	}
	return true;
}

static uint64_t stat_read(const struct prog *p, unsigned int idx)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t sum = 0, *vals = calloc((size_t)ncpu, sizeof(*vals));

	if (!vals)
		die("out of memory");
	if (bpf_map_lookup_elem(p->stats_fd, &idx, vals) == 0)
		for (int i = 0; i < ncpu; i++)
			sum += vals[i];
	free(vals);
	return sum;
}

/* Every counter must say exactly what the runs led us to expect. */
static void prog_close(struct tctx *t, struct prog *p)
{
	if (p->fd >= 0) {
		t->ncases++;
		for (unsigned int i = 0; i < KOFF_STAT__COUNT; i++) {
			uint64_t got = stat_read(p, i);

			if (got != p->want_stats[i])
				fail(t, p, "counter %s = %" PRIu64 ", want %" PRIu64, koff_stat_name(i),
				     got, p->want_stats[i]);
		}
	}
	bpf_object__close(p->obj);
	ir_func_free(p->fn);
	memset(p, 0, sizeof(*p));
}

struct pkt {
	uint8_t data[PKT_MAX];
	uint32_t len;
};

static void put16be(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t get16be(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint16_t ipv4_csum(const uint8_t *ip)
{
	uint32_t sum = 0;

	for (int i = 0; i < 20; i += 2)
		sum += get16be(ip + i);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Eth + IPv4 + UDP to TEST_PORT around the request. */
static void build_packet(const uint8_t *req, size_t len, struct pkt *out)
{
	uint8_t *b = out->data;

	memset(b, 0, HDR);
	memcpy(b, "\x02\0\0\0\0\x01\x02\0\0\0\0\x02", 12);
	put16be(b + 12, 0x0800);
	b[14] = 0x45;
	put16be(b + 16, (uint16_t)(28 + len));
	b[22] = 33;
	b[23] = 17;
	memcpy(b + 26, "\x0a\0\0\x02\x0a\0\0\x01", 8);
	put16be(b + 24, ipv4_csum(b + 14));
	put16be(b + 34, 40000);
	put16be(b + 36, TEST_PORT);
	put16be(b + 38, (uint16_t)(8 + len));
	memcpy(b + HDR, req, len);
	out->len = (uint32_t)(HDR + len);
}

static bool run_packet(struct tctx *t, struct prog *p, const struct pkt *in, struct pkt *out,
		       uint32_t *verdict)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in->data, .data_size_in = in->len,
		    .data_out = out->data, .data_size_out = PKT_MAX, .repeat = 1);

	if (bpf_prog_test_run_opts(p->fd, &opts)) {
		fail(t, p, "bpf_prog_test_run: %s", strerror(errno));
		return false;
	}
	out->len = opts.data_size_out;
	*verdict = opts.retval;
	return true;
}

static const char *verdict_name(uint32_t v)
{
	static const char *const names[] = { "ABORTED", "DROP", "PASS", "TX", "REDIRECT" };
	return v < 5 ? names[v] : "?";
}

static void hex(const uint8_t *p, size_t n, char *buf, size_t cap)
{
	size_t k = 0;

	buf[0] = 0;
	for (size_t i = 0; i < n && k + 3 < cap; i++)
		k += (size_t)snprintf(buf + k, cap - k, "%02x", p[i]);
}

/* Names what byte `off` of a reply means, for failure messages. */
typedef void (*describe_fn)(const void *spec, size_t off, char *buf, size_t cap);

/* The request must be answered with exactly `want` (XDP_TX). */
static bool expect_reply(struct tctx *t, struct prog *p, const uint8_t *req, size_t len,
			 const uint8_t *want, size_t wlen, describe_fn describe, const void *spec)
{
	struct pkt in, out;
	uint32_t verdict;
	char what[160] = "", got_hex[40], want_hex[40], req_hex[80];
	size_t bad = 0;

	t->ncases++;
	build_packet(req, len, &in);
	if (!run_packet(t, p, &in, &out, &verdict))
		return false;
	if (verdict == XDP_TX)
		p->want_stats[KOFF_STAT_TX]++;
	else if (verdict == XDP_PASS)
		p->want_stats[KOFF_STAT_PASS_INSN]++;	/* unknown reason: the counter check names it */
	hex(req, len < 32 ? len : 32, req_hex, sizeof(req_hex));
	if (verdict != XDP_TX) {
		fail(t, p, "request %s (len %zu): verdict %s, want TX", req_hex, len, verdict_name(verdict));
		return false;
	}
	if (out.len != HDR + wlen || get16be(out.data + 38) != 8 + wlen) {
		fail(t, p, "request %s: reply of %u bytes, want %zu", req_hex, out.len - HDR, wlen);
		return false;
	}
	if (!memcmp(out.data + HDR, want, wlen))
		return true;
	while (out.data[HDR + bad] == want[bad])
		bad++;
	if (describe)
		describe(spec, bad, what, sizeof(what));
	bad &= ~(size_t)7;
	hex(out.data + HDR + bad, wlen - bad < 8 ? wlen - bad : 8, got_hex, sizeof(got_hex));
	hex(want + bad, wlen - bad < 8 ? wlen - bad : 8, want_hex, sizeof(want_hex));
	fail(t, p, "request %s: reply differs at byte %zu (%s): got %s, want %s", req_hex, bad, what,
	     got_hex, want_hex);
	return false;
}

/* Replies made of 64-bit lanes. */
static bool expect_lanes(struct tctx *t, struct prog *p, const uint8_t *req, size_t len,
			 const uint64_t *lanes, int n, describe_fn describe, const void *spec)
{
	uint8_t want[RESP_CAP];

	for (int i = 0; i < n; i++)
		put_le(want + 8 * i, lanes[i], 8);
	return expect_reply(t, p, req, len, want, (size_t)n * 8, describe, spec);
}

/* The request must be passed untouched with `reason` counted (or dropped:
 * reason KOFF_STAT_DROP). */
static bool expect_verdict(struct tctx *t, struct prog *p, const uint8_t *req, size_t len,
			   enum koff_stat reason, const char *what)
{
	uint32_t want = reason == KOFF_STAT_DROP ? XDP_DROP : XDP_PASS, verdict;
	struct pkt in, out;

	t->ncases++;
	build_packet(req, len, &in);
	if (!run_packet(t, p, &in, &out, &verdict))
		return false;
	p->want_stats[reason]++;
	if (verdict != want) {
		/* Keep the counter check from reporting the same failure twice. */
		p->want_stats[reason]--;
		p->want_stats[verdict == XDP_TX ? KOFF_STAT_TX : verdict == XDP_DROP ? KOFF_STAT_DROP :
			      KOFF_STAT_PASS_INSN]++;
		fail(t, p, "%s (len %zu): verdict %s, want %s (%s)", what, len, verdict_name(verdict),
		     verdict_name(want), koff_stat_name(reason));
		return false;
	}
	if (want == XDP_PASS && (out.len != in.len || memcmp(in.data, out.data, in.len))) {
		fail(t, p, "%s: passed packet was modified", what);
		return false;
	}
	return true;
}

static void describe_lane(const void *spec, size_t off, char *buf, size_t cap)
{
	(void)spec;
	snprintf(buf, cap, "lane %zu", off / 8);
}

/* ---- Reference semantics (include/ir.h) ----------------------------------- */

static uint64_t trunc_w(uint64_t v, int w)
{
	return w == 32 ? (uint32_t)v : v;
}

static int64_t sext_w(uint64_t v, int w)
{
	switch (w) {
	case 8: return (int8_t)v;
	case 16: return (int16_t)v;
	case 32: return (int32_t)v;
	default: return (int64_t)v;
	}
}

static uint64_t ref_binop(enum ir_op op, int w, uint64_t a, uint64_t b)
{
	uint64_t ua = trunc_w(a, w), ub = trunc_w(b, w), r = 0;
	int64_t sa = sext_w(a, w), sb = sext_w(b, w);

	switch (op) {
	case IR_ADD: r = ua + ub; break;
	case IR_SUB: r = ua - ub; break;
	case IR_MUL: r = ua * ub; break;
	case IR_AND: r = ua & ub; break;
	case IR_OR: r = ua | ub; break;
	case IR_XOR: r = ua ^ ub; break;
	case IR_SHL: r = ua << ub; break;
	case IR_LSHR: r = ua >> ub; break;
	case IR_ASHR: r = (uint64_t)(sa >> ub); break;
	case IR_UDIV: r = ua / ub; break;
	case IR_UMOD: r = ua % ub; break;
	case IR_SDIV: r = (uint64_t)(sa / sb); break;
	case IR_SMOD: r = (uint64_t)(sa % sb); break;
	case IR_MULHU: r = (uint64_t)(((unsigned __int128)a * b) >> 64); break;
	case IR_MULHS: r = (uint64_t)(((__int128)(int64_t)a * (int64_t)b) >> 64); break;
	default: die("ref_binop: op %d", op);
	}
	return trunc_w(r, w);
}

static uint64_t ref_unop(enum ir_op op, int w, uint64_t b)
{
	switch (op) {
	case IR_MOV: return trunc_w(b, w);
	case IR_NEG: return trunc_w(0 - b, w);
	case IR_ZEXT: return w == 8 ? (uint8_t)b : w == 16 ? (uint16_t)b : (uint32_t)b;
	case IR_SEXT: return (uint64_t)sext_w(b, w);
	case IR_BSWAP:
		return w == 16 ? __builtin_bswap16((uint16_t)b) :
		       w == 32 ? __builtin_bswap32((uint32_t)b) : __builtin_bswap64(b);
	default: die("ref_unop: op %d", op);
	}
	return 0;
}

/* Conditions at w=32 compare the low halves (BPF jmp32), as codegen and the
 * lifter's 32-bit cmp/test agree. */
static bool ref_cond(enum ir_cond c, int w, uint64_t a, uint64_t b)
{
	uint64_t ua = trunc_w(a, w), ub = trunc_w(b, w);
	int64_t sa = sext_w(a, w), sb = sext_w(b, w);

	switch (c) {
	case IR_EQ: return ua == ub;
	case IR_NE: return ua != ub;
	case IR_ULT: return ua < ub;
	case IR_ULE: return ua <= ub;
	case IR_UGT: return ua > ub;
	case IR_UGE: return ua >= ub;
	case IR_SLT: return sa < sb;
	case IR_SLE: return sa <= sb;
	case IR_SGT: return sa > sb;
	case IR_SGE: return sa >= sb;
	case IR_TSTZ: return (ua & ub) == 0;
	case IR_TSTNZ: return (ua & ub) != 0;
	}
	return false;
}

static const char *const op_name[] = {
	[IR_MOV] = "mov", [IR_ADD] = "add", [IR_SUB] = "sub", [IR_MUL] = "mul", [IR_AND] = "and",
	[IR_OR] = "or", [IR_XOR] = "xor", [IR_SHL] = "shl", [IR_LSHR] = "lshr", [IR_ASHR] = "ashr",
	[IR_NEG] = "neg", [IR_UDIV] = "udiv", [IR_UMOD] = "umod", [IR_SDIV] = "sdiv",
	[IR_SMOD] = "smod", [IR_MULHU] = "mulhu", [IR_MULHS] = "mulhs", [IR_BSWAP] = "bswap",
	[IR_ZEXT] = "zext", [IR_SEXT] = "sext",
};

static const char *const cond_name[] = {
	"eq", "ne", "ult", "ule", "ugt", "uge", "slt", "sle", "sgt", "sge", "tstz", "tstnz",
};
#define NCONDS 12

/* ---- ALU programs ------------------------------------------------------------
 * Request layout: a, b, x, y (8 bytes each), then NEXTRA more values that
 * the "spill" variants keep live across the operation; the reply is one
 * 64-bit lane per result. */

#define OFF_A 0
#define OFF_B 8
#define OFF_X 16
#define OFF_Y 24
#define OFF_EXTRA 32
#define NEXTRA 10
#define OPS_REQ_LEN (OFF_EXTRA + 8 * NEXTRA)
#define NIMM 8

struct operands {
	int a, b, x, y;
	int extra[NEXTRA];
	bool pressure;
};

/* With pressure, the extras are loaded first and a, b stay live to the
 * very end: the allocator (6 registers) must spill a and b themselves. */
static void load_operands(struct irb *ib, bool pressure, struct operands *o)
{
	o->pressure = pressure;
	for (int i = 0; pressure && i < NEXTRA; i++)
		o->extra[i] = load(ib, R(IR_RDI), OFF_EXTRA + 8 * i, 8, IR_REG_REQ);
	o->a = load(ib, R(IR_RDI), OFF_A, 8, IR_REG_REQ);
	o->b = load(ib, R(IR_RDI), OFF_B, 8, IR_REG_REQ);
	o->x = load(ib, R(IR_RDI), OFF_X, 8, IR_REG_REQ);
	o->y = load(ib, R(IR_RDI), OFF_Y, 8, IR_REG_REQ);
}

/* The extras are combined in NPASS passes after the operation: so many
 * uses make them costlier to spill than the operands (regalloc spills the
 * interval with the fewest uses), and the operands must go to stack slots. */
#define NPASS 16

static enum ir_op pass_op(int pass)
{
	return pass % 2 ? IR_XOR : IR_ADD;
}

/* Pressure lanes: the extras combined, then a and b. */
static int store_pressure(struct irb *ib, const struct operands *o, int lane)
{
	int s;

	if (!o->pressure)
		return lane;
	s = alu(ib, IR_MOV, 64, -1, I(0), R(o->extra[0]));
	for (int pass = 0; pass < NPASS; pass++)
		for (int i = pass ? 0 : 1; i < NEXTRA; i++) {
			alu(ib, IR_MUL, 64, s, R(s), I(31));
			alu(ib, pass_op(pass), 64, s, R(s), R(o->extra[i]));
		}
	store_resp64(ib, lane, R(s));
	store_resp64(ib, lane + 1, R(o->a));
	store_resp64(ib, lane + 2, R(o->b));
	return lane + 3;
}

static int model_pressure(bool pressure, const uint8_t *req, uint64_t *lanes, int lane)
{
	uint64_t s;

	if (!pressure)
		return lane;
	s = get_le(req + OFF_EXTRA, 8);
	for (int pass = 0; pass < NPASS; pass++)
		for (int i = pass ? 0 : 1; i < NEXTRA; i++) {
			uint64_t e = get_le(req + OFF_EXTRA + 8 * i, 8);

			s = pass_op(pass) == IR_XOR ? (s * 31) ^ e : s * 31 + e;
		}
	lanes[lane] = s;
	lanes[lane + 1] = get_le(req + OFF_A, 8);
	lanes[lane + 2] = get_le(req + OFF_B, 8);
	return lane + 3;
}

/* Finishes an ALU program: pressure lanes, return the reply length. */
static void finish_lanes(struct irb *ib, const struct operands *o, int lanes)
{
	lanes = store_pressure(ib, o, lanes);
	ret_const(ib, 8 * lanes);
}

static void ops_request(struct tctx *t, uint8_t *req, size_t *len)
{
	*len = OPS_REQ_LEN + rnd_below(t, 9);
	fill_random(t, req, *len);
}

/* ---- Binary operations ---- */

enum bvariant { BV_REG, BV_DST_A, BV_DST_B, BV_SAME, BV_IMM_B, BV_IMM_A, BV_SPILL, BV__COUNT };
static const char *const bvariant_name[] = {
	"r=a,b", "a=a,b", "b=a,b", "r=a,a", "r=a,imm", "r=imm,b", "r=a,b spilled",
};

struct binop_spec {
	enum ir_op op;
	int w;
	enum bvariant v;
	int64_t imm[NIMM];	/* IMM_B: the b of each lane; IMM_A: imm[0] is a */
};

static bool is_shift(enum ir_op op) { return op == IR_SHL || op == IR_LSHR || op == IR_ASHR; }
static bool is_sdiv(enum ir_op op) { return op == IR_SDIV || op == IR_SMOD; }
static bool is_div(enum ir_op op) { return is_sdiv(op) || op == IR_UDIV || op == IR_UMOD; }

/* What the lifter guarantees about b: masked shift counts, nonzero
 * divisors, never INT_MIN / -1. */
static uint64_t legal_b(enum ir_op op, int w, uint64_t a, uint64_t b)
{
	int64_t int_min = w == 32 ? INT32_MIN : INT64_MIN;

	if (is_shift(op))
		return b & (uint64_t)(w - 1);
	if (!is_div(op))
		return b;
	if (trunc_w(b, w) == 0)
		b |= 5;
	if (is_sdiv(op) && sext_w(a, w) == int_min && sext_w(b, w) == -1)
		b ^= 2;	/* -3 */
	return b;
}

/* An immediate b legal for every a: no -1 divisor for signed division. */
static int64_t legal_imm_b(enum ir_op op, int w, uint64_t b)
{
	b = legal_b(op, w, 0, b);
	if (is_sdiv(op) && sext_w(b, w) == -1)
		b ^= 2;
	return (int64_t)b;
}

static void pick_imms(struct tctx *t, int64_t *imm)
{
	imm[0] = (int64_t)0x8000000000000000ull;	/* does not fit 32 bits */
	imm[1] = 0x80000000;				/* nor does this one */
	imm[2] = -1;
	imm[3] = (int64_t)rnd_below(t, 64);
	imm[4] = -(int64_t)rnd_below(t, 200) - 2;
	for (int i = 5; i < NIMM; i++)
		imm[i] = (int64_t)rnd_operand(t);
}

static struct ir_func *binop_program(const struct binop_spec *s)
{
	struct irb ib = new_func("binop");
	struct operands o;
	int lanes = 1, r;

	load_operands(&ib, s->v == BV_SPILL, &o);
	switch (s->v) {
	case BV_REG: case BV_SPILL:
		r = alu(&ib, s->op, s->w, -1, R(o.a), R(o.b));
		break;
	case BV_DST_A:
		r = alu(&ib, s->op, s->w, o.a, R(o.a), R(o.b));
		break;
	case BV_DST_B:
		r = alu(&ib, s->op, s->w, o.b, R(o.a), R(o.b));
		break;
	case BV_SAME:
		r = alu(&ib, s->op, s->w, -1, R(o.a), R(o.a));
		break;
	case BV_IMM_A:
		r = alu(&ib, s->op, s->w, -1, I(s->imm[0]), R(o.b));
		break;
	default:	/* BV_IMM_B */
		for (int i = 0; i < NIMM; i++)
			store_resp64(&ib, i, R(alu(&ib, s->op, s->w, -1, R(o.a), I(s->imm[i]))));
		finish_lanes(&ib, &o, NIMM);
		return ib.fn;
	}
	store_resp64(&ib, 0, R(r));
	finish_lanes(&ib, &o, lanes);
	return ib.fn;
}

/* Operands for one run, legal for the variant, written into req. */
static void binop_operands(struct tctx *t, const struct binop_spec *s, uint8_t *req)
{
	uint64_t a = rnd_operand(t), b = rnd_below(t, 4) ? rnd_operand(t) : rnd_near(t, a);

	if (s->v == BV_SAME)
		a = legal_b(s->op, s->w, 0, a);
	else if (s->v == BV_IMM_A)
		b = legal_b(s->op, s->w, (uint64_t)s->imm[0], b);
	else
		b = legal_b(s->op, s->w, a, b);
	put_le(req + OFF_A, a, 8);
	put_le(req + OFF_B, b, 8);
}

static int binop_model(const struct binop_spec *s, const uint8_t *req, uint64_t *lanes)
{
	uint64_t a = get_le(req + OFF_A, 8), b = get_le(req + OFF_B, 8);

	switch (s->v) {
	case BV_SAME:
		lanes[0] = ref_binop(s->op, s->w, a, a);
		break;
	case BV_IMM_A:
		lanes[0] = ref_binop(s->op, s->w, (uint64_t)s->imm[0], b);
		break;
	case BV_IMM_B:
		for (int i = 0; i < NIMM; i++)
			lanes[i] = ref_binop(s->op, s->w, a, (uint64_t)s->imm[i]);
		return NIMM;
	default:
		lanes[0] = ref_binop(s->op, s->w, a, b);
	}
	return model_pressure(s->v == BV_SPILL, req, lanes, 1);
}

static void describe_binop(const void *spec, size_t off, char *buf, size_t cap)
{
	const struct binop_spec *s = spec;
	int lane = (int)(off / 8);

	if (s->v == BV_IMM_B && lane < NIMM)
		snprintf(buf, cap, "%s/%d %s, imm %#" PRIx64, op_name[s->op], s->w,
			 bvariant_name[s->v], (uint64_t)s->imm[lane]);
	else
		snprintf(buf, cap, "%s/%d %s lane %d", op_name[s->op], s->w, bvariant_name[s->v], lane);
}

/* The variant really spills a and b (else the test would not test that). */
static void check_spilled(struct tctx *t, struct prog *p, int a, int b)
{
	struct regalloc ra;
	struct koff_error err = { 0 };

	t->ncases++;
	if (regalloc_run(p->fn, XDP_WRAP_STACK, 512 - 8, false, &ra, &err)) {
		fail(t, p, "regalloc_run: %s", err.msg);
		return;
	}
	if (ra.locs[a].kind != LOC_SLOT || ra.locs[b].kind != LOC_SLOT)
		fail(t, p, "spill variant: operands not spilled (a kind %d, b kind %d)",
		     ra.locs[a].kind, ra.locs[b].kind);
	regalloc_free(&ra);
}

static void test_binop(struct tctx *t, const struct binop_spec *s)
{
	char name[64];
	struct prog p;
	uint8_t req[RESP_CAP];
	uint64_t lanes[NIMM + 3];
	size_t len;

	snprintf(name, sizeof(name), "%s/%d %s", op_name[s->op], s->w, bvariant_name[s->v]);
	if (!prog_open(t, binop_program(s), 0, name, &p)) {
		prog_close(t, &p);
		return;
	}
	if (s->v == BV_SPILL)
		check_spilled(t, &p, IR_NFIXED + NEXTRA, IR_NFIXED + NEXTRA + 1);
	for (int run = 0; run < t->runs; run++) {
		int n;

		ops_request(t, req, &len);
		binop_operands(t, s, req);
		n = binop_model(s, req, lanes);
		expect_lanes(t, &p, req, len, lanes, n, describe_binop, s);
	}
	prog_close(t, &p);
}

static void test_binops(struct tctx *t)
{
	static const enum ir_op ops[] = {
		IR_ADD, IR_SUB, IR_MUL, IR_AND, IR_OR, IR_XOR, IR_SHL, IR_LSHR, IR_ASHR,
		IR_UDIV, IR_UMOD, IR_SDIV, IR_SMOD, IR_MULHU, IR_MULHS,
	};

	for (size_t k = 0; k < KOFF_ARRAY_SIZE(ops); k++)
		for (int w = 32; w <= 64; w += 32) {
			if ((ops[k] == IR_MULHU || ops[k] == IR_MULHS) && w == 32)
				continue;	/* defined at w=64 only */
			for (int v = 0; v < BV__COUNT; v++) {
				struct binop_spec s = { .op = ops[k], .w = w, .v = (enum bvariant)v };

				pick_imms(t, s.imm);
				for (int i = 0; i < NIMM; i++)
					s.imm[i] = legal_imm_b(s.op, w, (uint64_t)s.imm[i]);
				if (v == BV_IMM_A)
					s.imm[0] = (int64_t)rnd_operand(t);
				test_binop(t, &s);
			}
		}
}

/* ---- Unary operations ---- */

enum uvariant { UV_REG, UV_INPLACE, UV_IMM, UV_SPILL, UV__COUNT };
static const char *const uvariant_name[] = { "r=b", "b=b", "r=imm", "r=b spilled" };

struct unop_spec {
	enum ir_op op;
	int w;
	enum uvariant v;
	int64_t imm[NIMM];
};

static struct ir_func *unop_program(const struct unop_spec *s)
{
	struct irb ib = new_func("unop");
	struct operands o;
	int r;

	load_operands(&ib, s->v == UV_SPILL, &o);
	if (s->v == UV_IMM) {
		for (int i = 0; i < NIMM; i++)
			store_resp64(&ib, i, R(alu(&ib, s->op, s->w, -1, I(0), I(s->imm[i]))));
		finish_lanes(&ib, &o, NIMM);
		return ib.fn;
	}
	r = alu(&ib, s->op, s->w, s->v == UV_INPLACE ? o.b : -1, I(0), R(o.b));
	store_resp64(&ib, 0, R(r));
	finish_lanes(&ib, &o, 1);
	return ib.fn;
}

static int unop_model(const struct unop_spec *s, const uint8_t *req, uint64_t *lanes)
{
	if (s->v == UV_IMM) {
		for (int i = 0; i < NIMM; i++)
			lanes[i] = ref_unop(s->op, s->w, (uint64_t)s->imm[i]);
		return NIMM;
	}
	lanes[0] = ref_unop(s->op, s->w, get_le(req + OFF_B, 8));
	return model_pressure(s->v == UV_SPILL, req, lanes, 1);
}

static void describe_unop(const void *spec, size_t off, char *buf, size_t cap)
{
	const struct unop_spec *s = spec;

	snprintf(buf, cap, "%s/%d %s lane %zu", op_name[s->op], s->w, uvariant_name[s->v], off / 8);
}

static void test_unop(struct tctx *t, const struct unop_spec *s)
{
	char name[64];
	struct prog p;
	uint8_t req[RESP_CAP];
	uint64_t lanes[NIMM + 3];
	size_t len;

	snprintf(name, sizeof(name), "%s/%d %s", op_name[s->op], s->w, uvariant_name[s->v]);
	if (!prog_open(t, unop_program(s), 0, name, &p)) {
		prog_close(t, &p);
		return;
	}
	for (int run = 0; run < t->runs; run++) {
		int n;

		ops_request(t, req, &len);
		put_le(req + OFF_B, rnd_operand(t), 8);
		n = unop_model(s, req, lanes);
		expect_lanes(t, &p, req, len, lanes, n, describe_unop, s);
	}
	prog_close(t, &p);
}

static void test_unops(struct tctx *t)
{
	static const struct { enum ir_op op; int w; } ops[] = {
		{ IR_MOV, 64 }, { IR_MOV, 32 }, { IR_NEG, 32 }, { IR_NEG, 64 },
		{ IR_BSWAP, 16 }, { IR_BSWAP, 32 }, { IR_BSWAP, 64 },
		{ IR_ZEXT, 8 }, { IR_ZEXT, 16 }, { IR_ZEXT, 32 },
		{ IR_SEXT, 8 }, { IR_SEXT, 16 }, { IR_SEXT, 32 },
	};

	for (size_t k = 0; k < KOFF_ARRAY_SIZE(ops); k++)
		for (int v = 0; v < UV__COUNT; v++) {
			struct unop_spec s = { .op = ops[k].op, .w = ops[k].w, .v = (enum uvariant)v };

			pick_imms(t, s.imm);
			test_unop(t, &s);
		}
}

/* ---- Conditions: SELECT and BR, all twelve conditions per program ---- */

enum cvariant { CV_REG, CV_IMM_B, CV_IMM_A, CV_CONST, CV_IMM_CD, CV_DST_D, CV_DST_A, CV_SPILL,
		CV__COUNT };
static const char *const cvariant_name[] = {
	"a,b", "a,imm", "imm,b", "imm,imm", "a,b ? imm : imm", "dst=d", "dst=a=d", "a,b spilled",
};

struct cond_spec {
	bool is_br;
	int w;
	enum cvariant v;
	bool f_next;		/* BR: the false block follows the branch */
	int64_t ka, kb, kc, kd;	/* immediates of the IMM variants */
};

static struct ir_val cond_a(const struct cond_spec *s, const struct operands *o)
{
	return s->v == CV_IMM_A || s->v == CV_CONST ? I(s->ka) : R(o->a);
}

static struct ir_val cond_b(const struct cond_spec *s, const struct operands *o)
{
	return s->v == CV_IMM_B || s->v == CV_CONST ? I(s->kb) : R(o->b);
}

/* lane c = cond_c(a, b) ? x : y, in all the variants' spellings. */
static void select_lane(struct irb *ib, const struct cond_spec *s, const struct operands *o,
			enum ir_cond c)
{
	struct ir_val a = cond_a(s, o), b = cond_b(s, o);
	int r;

	switch (s->v) {
	case CV_IMM_CD:
		r = sel(ib, c, s->w, -1, a, b, I(s->kc), I(s->kd));
		break;
	case CV_DST_D:
		r = alu(ib, IR_MOV, 64, -1, I(0), R(o->y));
		sel(ib, c, s->w, r, a, b, R(o->x), R(r));
		break;
	case CV_DST_A:	/* x86 cmov: r = cond(r, b) ? x : r */
		r = alu(ib, IR_MOV, 64, -1, I(0), R(o->a));
		sel(ib, c, s->w, r, R(r), b, R(o->x), R(r));
		break;
	default:
		r = sel(ib, c, s->w, -1, a, b, R(o->x), R(o->y));
	}
	store_resp64(ib, c, R(r));
}

static struct ir_func *select_program(const struct cond_spec *s)
{
	struct irb ib = new_func("select");
	struct operands o;

	load_operands(&ib, s->v == CV_SPILL, &o);
	for (int c = 0; c < NCONDS; c++)
		select_lane(&ib, s, &o, (enum ir_cond)c);
	finish_lanes(&ib, &o, NCONDS);
	return ib.fn;
}

#define BR_TAKEN(c) (0x100 + (c))
#define BR_NOT_TAKEN(c) (0x200 + (c))

/* One diamond per condition: head -> (taken | not taken) -> next head.
 * f_next puts the not-taken block right after the head (fall through). */
static struct ir_func *br_program(const struct cond_spec *s)
{
	struct irb ib = new_func("br");
	struct operands o;
	int head = 1;

	load_operands(&ib, s->v == CV_SPILL, &o);
	for (int b = 0; b < 3 * NCONDS + 1; b++)
		new_block(&ib);
	jmp(&ib, head);
	for (int c = 0; c < NCONDS; c++, head += 3) {
		int taken = s->f_next ? head + 2 : head + 1, not_taken = s->f_next ? head + 1 : head + 2;

		ib.blk = head;
		br(&ib, (enum ir_cond)c, s->w, cond_a(s, &o), cond_b(s, &o), taken, not_taken);
		ib.blk = taken;
		store_resp64(&ib, c, I(BR_TAKEN(c)));
		jmp(&ib, head + 3);
		ib.blk = not_taken;
		store_resp64(&ib, c, I(BR_NOT_TAKEN(c)));
		jmp(&ib, head + 3);
	}
	ib.blk = head;
	finish_lanes(&ib, &o, NCONDS);
	return ib.fn;
}

static int cond_model(const struct cond_spec *s, const uint8_t *req, uint64_t *lanes)
{
	uint64_t a = get_le(req + OFF_A, 8), b = get_le(req + OFF_B, 8);
	uint64_t x = get_le(req + OFF_X, 8), y = get_le(req + OFF_Y, 8);

	if (s->v == CV_IMM_A || s->v == CV_CONST)
		a = (uint64_t)s->ka;
	if (s->v == CV_IMM_B || s->v == CV_CONST)
		b = (uint64_t)s->kb;
	for (int c = 0; c < NCONDS; c++) {
		bool yes = ref_cond((enum ir_cond)c, s->w, a, b);

		if (s->is_br)
			lanes[c] = yes ? BR_TAKEN(c) : BR_NOT_TAKEN(c);
		else if (s->v == CV_IMM_CD)
			lanes[c] = (uint64_t)(yes ? s->kc : s->kd);
		else if (s->v == CV_DST_A)
			lanes[c] = yes ? x : a;
		else
			lanes[c] = yes ? x : y;
	}
	return model_pressure(s->v == CV_SPILL, req, lanes, NCONDS);
}

/* a and b at the boundaries of each other (and of the immediates). */
static void cond_operands(struct tctx *t, const struct cond_spec *s, uint8_t *req)
{
	uint64_t b = rnd_operand(t), a = rnd_near(t, b);

	if (s->v == CV_IMM_B)
		a = rnd_near(t, (uint64_t)s->kb);
	if (s->v == CV_IMM_A)
		b = rnd_near(t, (uint64_t)s->ka);
	put_le(req + OFF_A, a, 8);
	put_le(req + OFF_B, b, 8);
}

static void describe_cond(const void *spec, size_t off, char *buf, size_t cap)
{
	const struct cond_spec *s = spec;
	size_t lane = off / 8;

	snprintf(buf, cap, "%s %s/%d %s%s", s->is_br ? "br" : "select",
		 lane < NCONDS ? cond_name[lane] : "pressure lane", s->w, cvariant_name[s->v],
		 s->is_br && s->f_next ? ", false block next" : "");
}

static void test_cond(struct tctx *t, const struct cond_spec *s)
{
	char name[96];
	struct prog p;
	uint8_t req[RESP_CAP];
	uint64_t lanes[NCONDS + 3];
	size_t len;

	snprintf(name, sizeof(name), "%s/%d %s%s ka=%#" PRIx64 " kb=%#" PRIx64,
		 s->is_br ? "br" : "select", s->w, cvariant_name[s->v],
		 s->f_next ? " f-next" : "", (uint64_t)s->ka, (uint64_t)s->kb);
	if (!prog_open(t, s->is_br ? br_program(s) : select_program(s), 0, name, &p)) {
		prog_close(t, &p);
		return;
	}
	if (s->v == CV_SPILL)
		check_spilled(t, &p, IR_NFIXED + NEXTRA, IR_NFIXED + NEXTRA + 1);
	for (int run = 0; run < t->runs; run++) {
		int n;

		ops_request(t, req, &len);
		cond_operands(t, s, req);
		n = cond_model(s, req, lanes);
		expect_lanes(t, &p, req, len, lanes, n, describe_cond, s);
	}
	prog_close(t, &p);
}

static bool cvariant_for_br(enum cvariant v)
{
	return v == CV_REG || v == CV_IMM_B || v == CV_IMM_A || v == CV_CONST || v == CV_SPILL;
}

static void test_conds(struct tctx *t)
{
	/* Immediates for the IMM variants: signed/unsigned boundaries at both
	 * widths, one that does not fit 32 bits, and random ones. */
	static const uint64_t kvals[] = {
		0, 0x7fffffff, 0x80000000, 0xffffffff, 0x8000000000000000, 0xffffffffffffffff,
	};

	for (int is_br = 0; is_br <= 1; is_br++)
		for (int w = 32; w <= 64; w += 32)
			for (int v = 0; v < CV__COUNT; v++)
				for (int order = 0; order <= is_br; order++) {
					bool with_imm = v == CV_IMM_A || v == CV_IMM_B || v == CV_CONST;

					if (is_br && !cvariant_for_br((enum cvariant)v))
						continue;
					for (int k = 0; k < (with_imm ? 4 : 1); k++) {
						struct cond_spec s = {
							.is_br = is_br, .w = w, .v = (enum cvariant)v,
							.f_next = order,
							.ka = (int64_t)(k < 3 ? kvals[rnd_below(t, 6)] : rnd_operand(t)),
							.kb = (int64_t)(k < 3 ? kvals[rnd_below(t, 6)] : rnd_operand(t)),
							.kc = (int64_t)rnd_operand(t),
							.kd = (int64_t)0x8000000000000000ull,
						};

						test_cond(t, &s);
					}
				}
}

/* ---- Memory: loads from the request ------------------------------------------
 * Every size, at constant offsets through rdi, through absolute addresses
 * (a = IR_NONE, or a = an immediate base), through a pointer computed at
 * run time, with right and wrong region hints, and at the request's last
 * bytes (rdi + rsi - size). */

#define LOADS_REQ_MIN 160
#define NSIZES 4
static const int sizes[NSIZES] = { 1, 2, 4, 8 };
static const int load_offsets[] = { 1, 13, 72 };

enum amode { AM_REG, AM_ABS, AM_ABS_BASE, AM_DYN, AM_WRONG_HINT, AM__COUNT };
static const char *const amode_name[] = { "[reg+k]", "[abs]", "[imm+k]", "[ptr+k]", "[reg+k] bad hint" };

struct lane_note {
	char what[48];
};

static struct ir_val amode_base(struct irb *ib, enum amode m, int base_vreg, uint64_t base_va,
				int dyn_vreg, int64_t *imm)
{
	(void)ib;
	switch (m) {
	case AM_ABS: *imm += (int64_t)base_va; return I(0);
	case AM_ABS_BASE: return I((int64_t)base_va);
	case AM_DYN: return R(dyn_vreg);
	default: return R(base_vreg);
	}
}

static struct ir_func *req_loads_program(struct lane_note *notes, int *nlanes)
{
	struct irb ib = new_func("req_loads");
	int idx = alu(&ib, IR_AND, 64, -1, R(load(&ib, R(IR_RDI), 0, 1, IR_REG_REQ)), I(63));
	int ptr = alu(&ib, IR_ADD, 64, -1, R(IR_RDI), R(idx));
	int end = alu(&ib, IR_ADD, 64, -1, R(IR_RDI), R(IR_RSI));
	int lane = 0;

	for (int z = 0; z < NSIZES; z++) {
		for (size_t k = 0; k < KOFF_ARRAY_SIZE(load_offsets); k++)
			for (int m = 0; m < AM__COUNT; m++) {
				int64_t off = load_offsets[k];
				struct ir_val base = amode_base(&ib, (enum amode)m, IR_RDI, IR_REQ_VA, ptr, &off);
				enum ir_region hint = m == AM_WRONG_HINT ? (k ? IR_REG_STACK : IR_REG_RODATA) :
						      IR_REG_REQ;

				store_resp64(&ib, lane, R(load(&ib, base, off, sizes[z], hint)));
				snprintf(notes[lane++].what, sizeof(notes->what), "load%d %s k=%d",
					 sizes[z], amode_name[m], load_offsets[k]);
			}
		store_resp64(&ib, lane, R(load(&ib, R(end), -sizes[z], sizes[z], IR_REG_UNKNOWN)));
		snprintf(notes[lane++].what, sizeof(notes->what), "load%d [rdi+rsi-%d]", sizes[z], sizes[z]);
	}
	ret_const(&ib, 8 * lane);
	*nlanes = lane;
	return ib.fn;
}

static void req_loads_model(const uint8_t *req, size_t len, uint64_t *lanes)
{
	int idx = req[0] & 63, lane = 0;

	for (int z = 0; z < NSIZES; z++) {
		for (size_t k = 0; k < KOFF_ARRAY_SIZE(load_offsets); k++)
			for (int m = 0; m < AM__COUNT; m++)
				lanes[lane++] = get_le(req + load_offsets[k] + (m == AM_DYN ? idx : 0), sizes[z]);
		lanes[lane++] = get_le(req + len - (size_t)sizes[z], sizes[z]);
	}
}

static void describe_note(const void *spec, size_t off, char *buf, size_t cap)
{
	const struct lane_note *notes = spec;

	snprintf(buf, cap, "%s", notes[off / 8].what);
}

static void test_req_loads(struct tctx *t)
{
	struct lane_note notes[128];
	uint64_t lanes[128];
	uint8_t req[RESP_CAP];
	struct prog p;
	int n;

	if (!prog_open(t, req_loads_program(notes, &n), 0, "request loads", &p)) {
		prog_close(t, &p);
		return;
	}
	for (int run = 0; run < t->runs; run++) {
		size_t len = LOADS_REQ_MIN + rnd_below(t, 64);

		/* Now and then the whole request: loads at offset 2047 and 2040. */
		if (run % 50 == 7)
			len = IR_REQ_MAX;
		fill_random(t, req, len);
		req_loads_model(req, len, lanes);
		expect_lanes(t, &p, req, len, lanes, n, describe_note, notes);
	}
	prog_close(t, &p);
}

/* ---- Memory: store/load scripts on the reply buffer and the x86 stack ---------
 * A random sequence of stores (every size, value from a register or an
 * immediate that may not fit 32 bits) and loads, in every addressing mode,
 * on 64 bytes at `base_va`, replayed here on a byte array.  The reply is
 * resp[0..64) (zeroed first; it is the region itself when the region is
 * the reply buffer), then one lane per load, then the region read back. */

#define REGION 64
#define SCRIPT_STEPS 28
#define MEM_VALUES 4	/* request values stores can take, at req[8..40) */

struct mem_step {
	bool is_store;
	int size;
	enum amode mode;
	int off;		/* from the region start (plus idx in AM_DYN) */
	bool imm_value;
	int64_t value;		/* immediate, or index of the request value */
};

struct mem_script {
	const char *region;
	uint64_t base_va;	/* the region's address */
	int base_vreg;		/* rdx or rsp */
	uint64_t base_vreg_value;
	struct mem_step steps[SCRIPT_STEPS];
	struct lane_note notes[SCRIPT_STEPS + REGION / 8];
};

static void random_script(struct tctx *t, struct mem_script *s)
{
	for (int i = 0; i < SCRIPT_STEPS; i++) {
		struct mem_step *st = &s->steps[i];

		st->is_store = rnd_below(t, 3) != 0;
		st->size = sizes[rnd_below(t, NSIZES)];
		st->mode = (enum amode)rnd_below(t, AM__COUNT);
		/* AM_DYN adds idx in [0, 7]. */
		st->off = (int)rnd_below(t, (uint64_t)(REGION - st->size - (st->mode == AM_DYN ? 7 : 0) + 1));
		st->imm_value = rnd_below(t, 2);
		st->value = st->imm_value ? (int64_t)rnd_operand(t) : (int64_t)rnd_below(t, MEM_VALUES);
	}
}

static struct ir_func *script_program(struct mem_script *s)
{
	struct irb ib = new_func("mem_script");
	int idx = alu(&ib, IR_AND, 64, -1, R(load(&ib, R(IR_RDI), 0, 1, IR_REG_REQ)), I(7));
	int64_t delta = (int64_t)(s->base_va - s->base_vreg_value);
	int ptr = alu(&ib, IR_ADD, 64, -1, R(s->base_vreg), R(idx));
	int vals[MEM_VALUES], lane = REGION / 8;
	enum ir_region hint = s->base_vreg == IR_RDX ? IR_REG_RESP : IR_REG_STACK;

	for (int j = 0; j < MEM_VALUES; j++)
		vals[j] = load(&ib, R(IR_RDI), 8 + 8 * j, 8, IR_REG_REQ);
	for (int i = 0; i < REGION / 8; i++) {
		store_resp64(&ib, i, I(0));
		store(&ib, R(s->base_vreg), delta + 8 * i, I(0), 8, hint);
	}
	for (int i = 0; i < SCRIPT_STEPS; i++) {
		const struct mem_step *st = &s->steps[i];
		int64_t off = st->mode == AM_DYN ? delta + st->off : st->off;
		struct ir_val base = amode_base(&ib, st->mode, s->base_vreg, s->base_va, ptr, &off);

		if (st->mode == AM_REG || st->mode == AM_WRONG_HINT)
			off += delta;
		if (st->is_store) {
			store(&ib, base, off, st->imm_value ? I(st->value) : R(vals[st->value]), st->size,
			      st->mode == AM_WRONG_HINT ? IR_REG_REQ : hint);
			continue;
		}
		store_resp64(&ib, lane, R(load(&ib, base, off, st->size,
					       st->mode == AM_WRONG_HINT ? IR_REG_RODATA : hint)));
		snprintf(s->notes[lane - REGION / 8].what, sizeof(s->notes->what), "step %d: load%d %s +%d",
			 i, st->size, amode_name[st->mode], st->off);
		lane++;
	}
	for (int i = 0; i < REGION / 8; i++) {
		store_resp64(&ib, lane, R(load(&ib, R(s->base_vreg), delta + 8 * i, 8, hint)));
		snprintf(s->notes[lane - REGION / 8].what, sizeof(s->notes->what), "%s bytes %d..%d at the end",
			 s->region, 8 * i, 8 * i + 7);
		lane++;
	}
	ret_const(&ib, 8 * lane);
	return ib.fn;
}

/* The reply the script must produce; returns its length. */
static size_t script_model(const struct mem_script *s, const uint8_t *req, uint8_t *reply)
{
	uint8_t region[REGION] = { 0 };
	int idx = req[0] & 7;
	size_t n = REGION;

	memset(reply, 0, REGION);
	for (int i = 0; i < SCRIPT_STEPS; i++) {
		const struct mem_step *st = &s->steps[i];
		int off = st->off + (st->mode == AM_DYN ? idx : 0);

		if (st->is_store) {
			uint64_t v = st->imm_value ? (uint64_t)st->value : get_le(req + 8 + 8 * st->value, 8);

			put_le(region + off, v, st->size);
			if (s->base_va == IR_RESP_VA)
				put_le(reply + off, v, st->size);
		} else {
			put_le(reply + n, get_le(region + off, st->size), 8);
			n += 8;
		}
	}
	for (int i = 0; i < REGION / 8; i++, n += 8)
		memcpy(reply + n, region + 8 * i, 8);
	return n;
}

static void describe_script(const void *spec, size_t off, char *buf, size_t cap)
{
	const struct mem_script *s = spec;

	if (off < REGION)
		snprintf(buf, cap, "reply buffer byte %zu", off);
	else
		snprintf(buf, cap, "%s", s->notes[(off - REGION) / 8].what);
}

static void test_mem_scripts(struct tctx *t)
{
	static const struct { const char *region; uint64_t base_va; int vreg; uint64_t vreg_value; } regions[] = {
		{ "resp", IR_RESP_VA, IR_RDX, IR_RESP_VA },
		{ "resp end", IR_RESP_VA + IR_RESP_MAX - REGION, IR_RDX, IR_RESP_VA },
		{ "stack top", IR_STACK_ENTRY + 8 - REGION, IR_RSP, IR_STACK_ENTRY },
		{ "stack bottom", IR_STACK_VA, IR_RSP, IR_STACK_ENTRY },
	};
	struct mem_script s;

	for (size_t r = 0; r < KOFF_ARRAY_SIZE(regions); r++)
		for (int k = 0; k < 4; k++) {
			char name[64];
			uint8_t req[64], want[RESP_CAP];
			struct prog p;

			memset(&s, 0, sizeof(s));
			s.region = regions[r].region;
			s.base_va = regions[r].base_va;
			s.base_vreg = regions[r].vreg;
			s.base_vreg_value = regions[r].vreg_value;
			random_script(t, &s);
			snprintf(name, sizeof(name), "store/load script on %s #%d", s.region, k);
			if (!prog_open(t, script_program(&s), 0, name, &p)) {
				prog_close(t, &p);
				continue;
			}
			for (int run = 0; run < t->runs / 4 + 1; run++) {
				size_t len = 8 + 8 * MEM_VALUES + rnd_below(t, 16), n;

				fill_random(t, req, len);
				n = script_model(&s, req, want);
				expect_reply(t, &p, req, len, want, n, describe_script, &s);
			}
			prog_close(t, &p);
		}
}

/* ---- Memory: read-only data ------------------------------------------------------ */

#define RODATA_SIZE 256

static void attach_rodata(struct tctx *t, struct ir_func *fn)
{
	fn->rodata = malloc(RODATA_SIZE);
	if (!fn->rodata)
		die("out of memory");
	fn->rodata_size = RODATA_SIZE;
	fill_random(t, fn->rodata, RODATA_SIZE);
}

/* Absolute loads of every size at the start, middle and very end, and
 * loads through a pointer into .rodata (index from the request). */
static struct ir_func *rodata_program(struct tctx *t, struct lane_note *notes, int *nlanes)
{
	struct irb ib = new_func("rodata");
	int idx = alu(&ib, IR_AND, 64, -1, R(load(&ib, R(IR_RDI), 0, 1, IR_REG_REQ)), I(127));
	int base = alu(&ib, IR_MOV, 64, -1, I(0), I(IR_RODATA_VA));
	int ptr = alu(&ib, IR_ADD, 64, -1, R(base), R(idx));
	int lane = 0;

	attach_rodata(t, ib.fn);
	for (int z = 0; z < NSIZES; z++) {
		int offs[] = { 0, 77, RODATA_SIZE - sizes[z] };

		for (int k = 0; k < 3; k++) {
			store_resp64(&ib, lane, R(load(&ib, I(0), (int64_t)IR_RODATA_VA + offs[k], sizes[z],
						       IR_REG_RODATA)));
			snprintf(notes[lane++].what, sizeof(notes->what), "load%d [rodata+%d]", sizes[z], offs[k]);
		}
		store_resp64(&ib, lane, R(load(&ib, R(ptr), 120, sizes[z], IR_REG_RODATA)));
		snprintf(notes[lane++].what, sizeof(notes->what), "load%d [rodata+idx+120]", sizes[z]);
		store_resp64(&ib, lane, R(load(&ib, R(base), 3, sizes[z], IR_REG_UNKNOWN)));
		snprintf(notes[lane++].what, sizeof(notes->what), "load%d [base+3] no hint", sizes[z]);
	}
	ret_const(&ib, 8 * lane);
	*nlanes = lane;
	return ib.fn;
}

static void rodata_model(const uint8_t *ro, const uint8_t *req, uint64_t *lanes)
{
	int idx = req[0] & 127, lane = 0;

	for (int z = 0; z < NSIZES; z++) {
		int offs[] = { 0, 77, RODATA_SIZE - sizes[z] };

		for (int k = 0; k < 3; k++)
			lanes[lane++] = get_le(ro + offs[k], sizes[z]);
		lanes[lane++] = get_le(ro + idx + 120, sizes[z]);
		lanes[lane++] = get_le(ro + 3, sizes[z]);
	}
}

static void test_rodata(struct tctx *t)
{
	struct lane_note notes[64];
	uint64_t lanes[64];
	uint8_t req[64];
	struct prog p;
	int n;

	if (!prog_open(t, rodata_program(t, notes, &n), 0, "rodata loads", &p)) {
		prog_close(t, &p);
		return;
	}
	for (int run = 0; run < t->runs; run++) {
		size_t len = 1 + rnd_below(t, 40);

		fill_random(t, req, len);
		rodata_model(p.fn->rodata, req, lanes);
		expect_lanes(t, &p, req, len, lanes, n, describe_note, notes);
	}
	prog_close(t, &p);
}

/* ---- Fallbacks: accesses that must pass the packet untouched ----------------------- */

/* Writes the reply buffer first: a fallback must still leave no trace. */
static void scribble_resp(struct irb *ib)
{
	store_resp64(ib, 0, I(0x5555555555));
	store(ib, I(0), IR_RESP_VA + 8, I(-1), 4, IR_REG_RESP);
}

/* load `size` at req[idx + k] (idx = req[0] & 31, or 0 when absolute). */
struct req_end_spec {
	int size;
	enum amode mode;
	int k;
};

static struct ir_func *req_end_program(const struct req_end_spec *s)
{
	struct irb ib = new_func("req_end");
	int idx = alu(&ib, IR_AND, 64, -1, R(load(&ib, R(IR_RDI), 0, 1, IR_REG_REQ)), I(31));
	int ptr = alu(&ib, IR_ADD, 64, -1, R(IR_RDI), R(idx));
	int64_t off = s->k;
	struct ir_val base = amode_base(&ib, s->mode, IR_RDI, IR_REQ_VA, ptr, &off);

	scribble_resp(&ib);
	store_resp64(&ib, 0, R(load(&ib, base, off, s->size, IR_REG_REQ)));
	ret_const(&ib, 8);
	return ib.fn;
}

static void test_req_end(struct tctx *t)
{
	static const enum amode modes[] = { AM_REG, AM_ABS, AM_DYN };

	for (int z = 0; z < NSIZES; z++)
		for (size_t m = 0; m < KOFF_ARRAY_SIZE(modes); m++) {
			struct req_end_spec s = { .size = sizes[z], .mode = modes[m], .k = 40 };
			char name[64];
			struct prog p;

			snprintf(name, sizeof(name), "load%d %s past the request", s.size, amode_name[s.mode]);
			if (!prog_open(t, req_end_program(&s), 0, name, &p)) {
				prog_close(t, &p);
				continue;
			}
			for (int run = 0; run < t->runs / 4 + 4; run++) {
				uint8_t req[128];
				int idx, end;
				size_t len;

				fill_random(t, req, sizeof(req));
				idx = s.mode == AM_DYN ? req[0] & 31 : 0;
				end = idx + s.k + s.size;	/* one past the last byte read */
				if (run < 2)
					len = (size_t)run;
				else if (run % 3 == 0)	/* exactly at the edge, either side */
					len = (size_t)(end - (int)rnd_below(t, 2));
				else
					len = 30 + rnd_below(t, 60);
				if (len == 0) {
					expect_verdict(t, &p, req, len, KOFF_STAT_PASS_MEM, "empty request");
				} else if ((size_t)end <= len) {
					uint64_t want = get_le(req + end - s.size, s.size);

					expect_lanes(t, &p, req, len, &want, 1, describe_lane, NULL);
				} else {
					expect_verdict(t, &p, req, len, KOFF_STAT_PASS_MEM, "load past the request");
				}
			}
			prog_close(t, &p);
		}
}

/* Addresses no access may reach: outside every region, straddling a
 * region's end, the private part of the scratch map (loop counter), and
 * stores into read-only data.  Constant and run-time addresses. */
struct bad_access {
	const char *what;
	bool is_store;
	uint64_t addr;
	int size;
};

static const struct bad_access bad_accesses[] = {
	{ "load from address 0", false, 0, 8 },
	{ "load from .text", false, IR_TEXT_VA, 4 },
	{ "load from writable data", false, IR_DATA_VA, 8 },
	{ "load from an external symbol", false, IR_EXTERN_VA + 16, 8 },
	{ "load below the scratch area", false, IR_SCRATCH_VA - 8, 8 },
	{ "load from the private area", false, IR_SCRATCH_VA + IR_PRIV_OFF, 8 },
	{ "load straddling into the private area", false, IR_SCRATCH_VA + IR_PRIV_OFF - 4, 8 },
	{ "store into the private area (rsp + 8)", true, IR_STACK_ENTRY + 8, 8 },
	{ "store into the loop counter", true, IR_SCRATCH_VA + IR_PRIV_OFF, 1 },
	{ "load straddling the end of .rodata", false, IR_RODATA_VA + RODATA_SIZE - 2, 4 },
	{ "load just before .rodata", false, IR_RODATA_VA - 1, 2 },
	{ "store into .rodata", true, IR_RODATA_VA + 8, 4 },
	{ "store into .rodata, 1 byte", true, IR_RODATA_VA, 1 },
	{ "store into .rodata, last 8 bytes", true, IR_RODATA_VA + RODATA_SIZE - 8, 8 },
};

/* req[0] == 0xff: an 8-byte reply (so that a return path exists);
 * otherwise the bad access.  dyn: the address is req[1] (0 in the tests) +
 * addr, computed at run time. */
static struct ir_func *bad_access_program(struct tctx *t, const struct bad_access *b, bool dyn)
{
	struct irb ib = new_func("bad_access");
	int first = load(&ib, R(IR_RDI), 0, 1, IR_REG_REQ), bad = new_block(&ib), ok = new_block(&ib);
	struct ir_val base = I(0);
	int64_t off = (int64_t)b->addr;

	attach_rodata(t, ib.fn);
	br(&ib, IR_EQ, 64, R(first), I(0xff), ok, bad);
	ib.blk = ok;
	store_resp64(&ib, 0, R(first));
	ret_const(&ib, 8);
	ib.blk = bad;
	if (dyn) {
		int zero = load(&ib, R(IR_RDI), 1, 1, IR_REG_REQ);

		base = R(alu(&ib, IR_ADD, 64, -1, R(zero), I((int64_t)b->addr)));
		off = 0;
	}
	scribble_resp(&ib);
	if (b->is_store)
		store(&ib, base, off, R(IR_RSI), b->size, IR_REG_UNKNOWN);
	else
		store_resp64(&ib, 0, R(load(&ib, base, off, b->size, IR_REG_UNKNOWN)));
	ret_const(&ib, 8);
	return ib.fn;
}

static void test_bad_accesses(struct tctx *t)
{
	for (size_t i = 0; i < KOFF_ARRAY_SIZE(bad_accesses); i++)
		for (int dyn = 0; dyn <= 1; dyn++) {
			const struct bad_access *b = &bad_accesses[i];
			char name[96];
			struct prog p;

			snprintf(name, sizeof(name), "%s (%s)", b->what, dyn ? "run-time address" : "constant");
			if (!prog_open(t, bad_access_program(t, b, dyn), 0, name, &p)) {
				prog_close(t, &p);
				continue;
			}
			for (int run = 0; run < 6; run++) {
				uint8_t req[16] = { run % 3 == 2 ? 0xff : 0 };
				uint64_t want = 0xff;

				if (req[0] == 0xff)
					expect_lanes(t, &p, req, 2 + (size_t)run, &want, 1, describe_lane, NULL);
				else
					expect_verdict(t, &p, req, 2 + (size_t)run, KOFF_STAT_PASS_MEM, name);
			}
			prog_close(t, &p);
		}
}

/* ---- Control: fallback reasons, return values, arguments, switch -------------------- */

/* req[0] == 1: IR_FALLBACK with `reason` after writing the reply buffer;
 * else a normal 8-byte reply. */
static void test_fallback_reasons(struct tctx *t)
{
	for (int reason = KOFF_STAT_FIRST_FALLBACK; reason < KOFF_STAT__COUNT; reason++) {
		struct irb ib = new_func("fallback");
		int first = load(&ib, R(IR_RDI), 0, 1, IR_REG_REQ), give_up = new_block(&ib);
		int answer = new_block(&ib);
		char name[64];
		struct prog p;

		br(&ib, IR_EQ, 64, R(first), I(1), give_up, answer);
		ib.blk = give_up;
		scribble_resp(&ib);
		fallback(&ib, (enum koff_stat)reason);
		ib.blk = answer;
		store_resp64(&ib, 0, R(first));
		ret_const(&ib, 8);
		snprintf(name, sizeof(name), "IR_FALLBACK %s", koff_stat_name((unsigned)reason));
		if (!prog_open(t, ib.fn, 0, name, &p)) {
			prog_close(t, &p);
			continue;
		}
		for (int run = 0; run < 10; run++) {
			uint8_t req[4] = { (uint8_t)(run & 1 ? 1 : 2 + run) };
			uint64_t want = req[0];

			if (req[0] == 1)
				expect_verdict(t, &p, req, sizeof(req), (enum koff_stat)reason, name);
			else
				expect_lanes(t, &p, req, sizeof(req), &want, 1, describe_lane, NULL);
		}
		prog_close(t, &p);
	}
}

/* rax = the request's first 8 bytes; the reply buffer holds 8 known bytes. */
static void test_return_values(struct tctx *t)
{
	static const int64_t rets[] = {
		1, 5, 8, 0, -1, -8, INT64_MIN, RESP_CAP + 1, 0x100000000, 0x100000004, INT64_MAX,
	};
	struct irb ib = new_func("returns");
	struct prog p;

	store_resp64(&ib, 0, I(0x0123456789abcdef));
	alu(&ib, IR_MOV, 64, IR_RAX, I(0), R(load(&ib, R(IR_RDI), 0, 8, IR_REG_REQ)));
	emit(&ib, IR_RET);
	if (!prog_open(t, ib.fn, 0, "return values", &p)) {
		prog_close(t, &p);
		return;
	}
	for (size_t i = 0; i < KOFF_ARRAY_SIZE(rets); i++) {
		uint8_t req[8], want[8];
		char what[64];

		put_le(req, (uint64_t)rets[i], 8);
		put_le(want, 0x0123456789abcdef, 8);
		snprintf(what, sizeof(what), "return %" PRId64, rets[i]);
		if (rets[i] > 0 && rets[i] <= 8)
			expect_reply(t, &p, req, 8, want, (size_t)rets[i], describe_lane, NULL);
		else
			expect_verdict(t, &p, req, 8, rets[i] <= 0 ? KOFF_STAT_DROP : KOFF_STAT_PASS_REPLY, what);
	}
	prog_close(t, &p);
}

/* The SysV arguments the handler starts with. */
static void test_arguments(struct tctx *t)
{
	static const int args[] = { IR_RDI, IR_RSI, IR_RDX, IR_RCX, IR_RSP };
	struct irb ib = new_func("arguments");
	struct prog p;

	for (size_t i = 0; i < KOFF_ARRAY_SIZE(args); i++)
		store_resp64(&ib, (int)i, R(args[i]));
	ret_const(&ib, 8 * (int64_t)KOFF_ARRAY_SIZE(args));
	if (!prog_open(t, ib.fn, 0, "arguments", &p)) {
		prog_close(t, &p);
		return;
	}
	for (int run = 0; run < 20; run++) {
		size_t len = run == 0 ? 0 : rnd_below(t, IR_REQ_MAX + 1);
		uint64_t want[] = { IR_REQ_VA, len, IR_RESP_VA, RESP_CAP, IR_STACK_ENTRY };
		uint8_t req[IR_REQ_MAX];

		fill_random(t, req, len);
		expect_lanes(t, &p, req, len, want, 5, describe_lane, NULL);
	}
	prog_close(t, &p);
}

static const uint64_t switch_values[] = {
	0, 5, 7, 0x7fffffff, 0x80000000, 0xffffffff, 0x123456789abcdef0, 0xffffffffffffffff,
};
#define NSWITCH ((int)KOFF_ARRAY_SIZE(switch_values))

/* switch (8-byte req[0]): case i -> reply 0x1000 + target block; cases 1
 * and 2 (5 and 7) share a block.  No case: fall back with `reason`. */
static struct ir_func *switch_program(enum koff_stat reason)
{
	struct irb ib = new_func("switch");
	int sel = load(&ib, R(IR_RDI), 0, 8, IR_REG_REQ), first = ib.fn->nblocks;
	struct ir_insn *sw;

	for (int i = 0; i < NSWITCH; i++)
		new_block(&ib);
	sw = emit(&ib, IR_SWITCH);
	sw->a = R(sel);
	sw->imm = reason;
	sw->ncases = NSWITCH;
	sw->cases = calloc(NSWITCH, sizeof(*sw->cases));
	if (!sw->cases)
		die("out of memory");
	for (int i = 0; i < NSWITCH; i++) {
		sw->cases[i] = (struct ir_case){ switch_values[i], first + (i == 2 ? 1 : i) };
		ib.blk = first + i;
		store_resp64(&ib, 0, I(0x1000 + first + i));
		ret_const(&ib, 8);
	}
	return ib.fn;
}

static void test_switch(struct tctx *t)
{
	static const enum koff_stat reasons[] = { KOFF_STAT_PASS_JUMP, KOFF_STAT_PASS_INSN };

	for (size_t r = 0; r < KOFF_ARRAY_SIZE(reasons); r++) {
		struct prog p;
		char name[64];

		snprintf(name, sizeof(name), "switch, no case: %s", koff_stat_name(reasons[r]));
		if (!prog_open(t, switch_program(reasons[r]), 0, name, &p)) {
			prog_close(t, &p);
			continue;
		}
		for (int run = 0; run < t->runs / 2; run++) {
			int i = (int)rnd_below(t, NSWITCH);
			/* A miss that agrees in the low 32 bits, is off by one, or random. */
			uint64_t v = run % 2 ? switch_values[i] :
				     run % 4 == 0 ? switch_values[i] ^ 0x100000000ull :
				     rnd_below(t, 2) ? switch_values[i] + 1 : rnd(t);
			uint8_t req[8];
			int hit = -1;

			for (int k = 0; k < NSWITCH; k++)
				if (switch_values[k] == v)
					hit = k;
			put_le(req, v, 8);
			if (hit < 0) {
				expect_verdict(t, &p, req, 8, reasons[r], name);
			} else {
				uint64_t want = 0x1000 + 1 + (uint64_t)(hit == 2 ? 1 : hit);

				expect_lanes(t, &p, req, 8, &want, 1, describe_lane, NULL);
			}
		}
		prog_close(t, &p);
	}
}

/* ---- Loops ----------------------------------------------------------------------------
 * Two loops in sequence, guarded by loops_guard():
 *   for (i = 0; i != req[0]; i++) acc = acc * 31 + req[2 + i];
 *   for (j = 0; j != req[1]; j++) acc = acc * 7 + j;
 * Each pass through a loop head counts one iteration for the request
 * (ir.h: IR_LOOPGUARD); past loop_cap the request falls back. */

#define LOOP_CAP 100

/* heavy: NEXTRA more values live across both loops and used often
 * afterwards, so that loop-carried values live in stack slots too. */
#define HEAVY_VALUE(k) (0x0101010101010101ull * (uint64_t)((k) + 1))

static uint64_t heavy_model(void)
{
	uint64_t s = HEAVY_VALUE(0);

	for (int pass = 0; pass < NPASS; pass++)
		for (int k = pass ? 0 : 1; k < NEXTRA; k++)
			s = pass_op(pass) == IR_XOR ? (s * 31) ^ HEAVY_VALUE(k) : s * 31 + HEAVY_VALUE(k);
	return s;
}

static struct ir_func *loops_program(bool heavy)
{
	struct irb ib = new_func("loops");
	struct operands o = { .pressure = heavy };
	int n1 = load(&ib, R(IR_RDI), 0, 1, IR_REG_REQ), n2 = load(&ib, R(IR_RDI), 1, 1, IR_REG_REQ);
	int i = alu(&ib, IR_MOV, 64, -1, I(0), I(0)), acc = alu(&ib, IR_MOV, 64, -1, I(0), I(0));
	int head1 = new_block(&ib), body1 = new_block(&ib), mid = new_block(&ib);
	int head2 = new_block(&ib), body2 = new_block(&ib), done = new_block(&ib);
	int p;

	for (int k = 0; heavy && k < NEXTRA; k++)
		o.extra[k] = alu(&ib, IR_MOV, 64, -1, I(0), I((int64_t)HEAVY_VALUE(k)));
	o.a = n1;
	o.b = n2;
	jmp(&ib, head1);
	ib.blk = head1;
	br(&ib, IR_EQ, 64, R(i), R(n1), mid, body1);
	ib.blk = body1;
	p = alu(&ib, IR_ADD, 64, -1, R(IR_RDI), R(i));
	alu(&ib, IR_MUL, 64, acc, R(acc), I(31));
	alu(&ib, IR_ADD, 64, acc, R(acc), R(load(&ib, R(p), 2, 1, IR_REG_REQ)));
	alu(&ib, IR_ADD, 64, i, R(i), I(1));
	jmp(&ib, head1);
	ib.blk = mid;
	alu(&ib, IR_MOV, 64, i, I(0), I(0));
	jmp(&ib, head2);
	ib.blk = head2;
	br(&ib, IR_NE, 32, R(i), R(n2), body2, done);
	ib.blk = body2;
	alu(&ib, IR_MUL, 64, acc, R(acc), I(7));
	alu(&ib, IR_ADD, 64, acc, R(acc), R(i));
	alu(&ib, IR_ADD, 64, i, R(i), I(1));
	jmp(&ib, head1 + 3);
	ib.blk = done;
	store_resp64(&ib, 0, R(acc));
	store_resp64(&ib, 1, R(i));
	ret_const(&ib, 8 * store_pressure(&ib, &o, 2));
	return ib.fn;
}

/* Returns the stat the request ends with (TX: lanes filled). */
static enum koff_stat loops_model(const uint8_t *req, size_t len, uint32_t cap, uint64_t *lanes)
{
	uint64_t acc = 0, passes = 0, j;

	if (len < 2)
		return KOFF_STAT_PASS_MEM;
	for (uint64_t i = 0;; i++) {
		if (++passes > cap)
			return KOFF_STAT_PASS_LOOP;
		if (i == req[0])
			break;
		if (2 + i >= len)
			return KOFF_STAT_PASS_MEM;
		acc = acc * 31 + req[2 + i];
	}
	for (j = 0;; j++) {
		if (++passes > cap)
			return KOFF_STAT_PASS_LOOP;
		if (j == req[1])
			break;
		acc = acc * 7 + j;
	}
	lanes[0] = acc;
	lanes[1] = j;
	lanes[2] = heavy_model();
	lanes[3] = req[0];
	lanes[4] = req[1];
	return KOFF_STAT_TX;
}

static void test_loop_program(struct tctx *t, bool heavy)
{
	struct ir_func *fn = loops_program(heavy);
	struct koff_error err = { 0 };
	struct prog p;

	t->ncases++;
	if (loops_guard(fn, &err) || fn->nloops != 2 || fn->blocks[1].insns[0].op != IR_LOOPGUARD ||
	    fn->blocks[4].insns[0].op != IR_LOOPGUARD)
		fail(t, NULL, "loops_guard: %d guards, want one at each loop head (%s)", fn->nloops, err.msg);
	if (!prog_open(t, fn, LOOP_CAP, heavy ? "two guarded loops, values spilled" : "two guarded loops",
		       &p)) {
		prog_close(t, &p);
		return;
	}
	for (int run = 0; run < t->runs; run++) {
		uint8_t req[256];
		size_t len = rnd_below(t, 2 * LOOP_CAP);
		uint64_t lanes[5];
		enum koff_stat want;

		fill_random(t, req, sizeof(req));
		req[0] = (uint8_t)rnd_below(t, LOOP_CAP + 20);
		req[1] = (uint8_t)(rnd_below(t, 3) ? rnd_below(t, LOOP_CAP - req[0] % LOOP_CAP + 2) : 0);
		if (run % 5 == 0) {	/* exactly at the cap, either side */
			req[0] = (uint8_t)rnd_below(t, LOOP_CAP - 1);
			req[1] = (uint8_t)(LOOP_CAP - 2 - req[0] + rnd_below(t, 2));
			len = 2 + req[0] + rnd_below(t, 3);
		}
		want = loops_model(req, len, LOOP_CAP, lanes);
		if (want == KOFF_STAT_TX)
			expect_lanes(t, &p, req, len, lanes, heavy ? 5 : 2, describe_lane, NULL);
		else
			expect_verdict(t, &p, req, len, want, "loop");
	}
	prog_close(t, &p);
}

/* A loop the verifier can walk (lifter/walkable.c), nested in one it
 * cannot:
 *   for (r = 0; r != req[0]; r++)            data-bound: laundered
 *       for (i = 0; i < 16; i++)             counted: walked
 *           resp[i] ^= req[1 + i] + r;
 * loops_guard must mark the inner loop walkable and the outer one not
 * (holds_walks), and the program walked must give the model's answers. */
#define WALK_LANES 2

static struct ir_func *walk_program(void)
{
	struct irb ib = new_func("walked");
	int n = load(&ib, R(IR_RDI), 0, 1, IR_REG_REQ), r = alu(&ib, IR_MOV, 64, -1, I(0), I(0));
	int i = alu(&ib, IR_MOV, 64, -1, I(0), I(0));
	int outer = new_block(&ib), enter = new_block(&ib), inner = new_block(&ib), body = new_block(&ib);
	int next = new_block(&ib), done = new_block(&ib);
	int x, q;

	for (int k = 0; k < WALK_LANES; k++)
		store_resp64(&ib, k, I(0));
	jmp(&ib, outer);
	ib.blk = outer;
	br(&ib, IR_EQ, 64, R(r), R(n), done, enter);
	ib.blk = enter;
	alu(&ib, IR_MOV, 64, i, I(0), I(0));
	jmp(&ib, inner);
	ib.blk = inner;
	br(&ib, IR_UGE, 64, R(i), I(16), next, body);
	ib.blk = body;
	q = alu(&ib, IR_ADD, 64, -1, R(IR_RDI), R(i));
	x = alu(&ib, IR_ADD, 64, -1, R(load(&ib, R(q), 1, 1, IR_REG_REQ)), R(r));
	q = alu(&ib, IR_ADD, 64, -1, R(IR_RDX), R(i));
	alu(&ib, IR_XOR, 64, x, R(x), R(load(&ib, R(q), 0, 1, IR_REG_RESP)));
	store(&ib, R(q), 0, R(x), 1, IR_REG_RESP);
	alu(&ib, IR_ADD, 64, i, R(i), I(1));
	jmp(&ib, inner);
	ib.blk = next;
	alu(&ib, IR_ADD, 64, r, R(r), I(1));
	jmp(&ib, outer);
	ib.blk = done;
	ret_const(&ib, 8 * WALK_LANES);
	return ib.fn;
}

static enum koff_stat walk_model(const uint8_t *req, size_t len, uint64_t *lanes)
{
	uint8_t resp[8 * WALK_LANES] = { 0 };

	if (len < 1 || (req[0] && len < 17))
		return KOFF_STAT_PASS_MEM;
	if (req[0] + 1u > LOOP_CAP)
		return KOFF_STAT_PASS_LOOP;	/* the outer loop's passes (the inner is not counted) */
	for (unsigned r = 0; r != req[0]; r++)
		for (unsigned i = 0; i < 16; i++)
			resp[i] ^= (uint8_t)(req[1 + i] + r);
	memcpy(lanes, resp, sizeof(resp));
	return KOFF_STAT_TX;
}

static void test_walked_loop(struct tctx *t)
{
	struct ir_func *fn = walk_program();
	struct koff_error err = { 0 };
	struct prog p;
	bool was = t->walk;

	t->ncases++;
	if (loops_guard(fn, &err) || fn->nloops != 2 || !fn->blocks[3].insns[0].walkable ||
	    fn->blocks[1].insns[0].walkable || !fn->blocks[1].insns[0].holds_walks)
		fail(t, NULL, "loops_guard: the counted inner loop must be walkable, the outer one hold it (%s)",
		     err.msg);
	t->walk = true;
	if (!prog_open(t, fn, LOOP_CAP, "a walked loop in a laundered one", &p)) {
		t->walk = was;
		prog_close(t, &p);
		return;
	}
	t->walk = was;
	for (int run = 0; run < t->runs; run++) {
		uint8_t req[64];
		size_t len = rnd_below(t, 40);
		uint64_t lanes[WALK_LANES];
		enum koff_stat want;

		fill_random(t, req, sizeof(req));
		req[0] = (uint8_t)rnd_below(t, 8);
		want = walk_model(req, len, lanes);
		if (want == KOFF_STAT_TX)
			expect_lanes(t, &p, req, len, lanes, WALK_LANES, describe_lane, NULL);
		else
			expect_verdict(t, &p, req, len, want, "walked loop");
	}
	prog_close(t, &p);
}

static void test_loops(struct tctx *t)
{
	test_loop_program(t, false);
	test_loop_program(t, true);
	test_walked_loop(t);
}

/* ---- Register pressure ---------------------------------------------------------------
 * N values live at once (seven BPF registers hold vregs): all loaded (the
 * request's first PRESSURE_WORDS words, again and again), then combined in
 * order, then the last PRESSURE_STORED stored in reverse order.  No loop
 * writes them, so spills go to the BPF stack first, then to the scratch
 * map's spill area (384 slots): 40 fit the stack, 100 and 420 take map
 * slots too, 600 are more than both hold. */

#define MAX_LIVE 600
#define PRESSURE_WORDS 160
#define PRESSURE_STORED 100

static int pressure_stored(int nlive)
{
	return nlive < PRESSURE_STORED ? nlive : PRESSURE_STORED;
}

static struct ir_func *pressure_program(int nlive)
{
	struct irb ib = new_func("pressure");
	int v[MAX_LIVE], s;

	for (int i = 0; i < nlive; i++)
		v[i] = load(&ib, R(IR_RDI), 8 * (i % PRESSURE_WORDS), 8, IR_REG_REQ);
	s = alu(&ib, IR_MOV, 64, -1, I(0), R(v[0]));
	for (int i = 1; i < nlive; i++) {
		alu(&ib, IR_MUL, 64, s, R(s), I(31));
		alu(&ib, IR_ADD, 64, s, R(s), R(v[i]));
	}
	store_resp64(&ib, 0, R(s));
	for (int k = 1; k <= pressure_stored(nlive); k++)
		store_resp64(&ib, k, R(v[nlive - k]));
	ret_const(&ib, 8 * (pressure_stored(nlive) + 1));
	return ib.fn;
}

static void run_pressure(struct tctx *t, int nlive, const char *name)
{
	struct prog p;

	if (!prog_open(t, pressure_program(nlive), 0, name, &p)) {
		prog_close(t, &p);
	} else {
		int words = nlive < PRESSURE_WORDS ? nlive : PRESSURE_WORDS;

		for (int run = 0; run < t->runs; run++) {
			uint8_t req[8 * PRESSURE_WORDS + 16];
			uint64_t lanes[PRESSURE_STORED + 1], s;
			size_t len = 8 * (size_t)words + rnd_below(t, 16);

			fill_random(t, req, len);
			s = get_le(req, 8);
			for (int i = 1; i < nlive; i++)
				s = s * 31 + get_le(req + 8 * (i % PRESSURE_WORDS), 8);
			lanes[0] = s;
			for (int k = 1; k <= pressure_stored(nlive); k++)
				lanes[k] = get_le(req + 8 * ((nlive - k) % PRESSURE_WORDS), 8);
			expect_lanes(t, &p, req, len, lanes, (size_t)pressure_stored(nlive) + 1, describe_lane,
				     NULL);
		}
		prog_close(t, &p);
	}
}

/* nlive values take the scratch map's slots too, once the stack's are
 * taken (else run_pressure would not test both). */
static void stack_slots_used(struct tctx *t, int nlive)
{
	struct ir_func *fn = pressure_program(nlive);
	struct regalloc ra;
	struct koff_error err = { 0 };
	int in_map = 0, on_stack = 0;

	t->ncases++;
	if (regalloc_run(fn, XDP_WRAP_STACK, 512 - 8, false, &ra, &err)) {
		fail(t, NULL, "%d live values: regalloc_run: %s", nlive, err.msg);
	} else {
		for (int v = 0; v < fn->nvregs; v++) {
			in_map += ra.locs[v].kind == LOC_MAPSLOT;
			on_stack += ra.locs[v].kind == LOC_SLOT;
		}
		if (!in_map || !on_stack)
			fail(t, NULL, "%d live values: %d in the map's slots, %d on the stack: want both", nlive,
			     in_map, on_stack);
		regalloc_free(&ra);
	}
	ir_func_free(fn);
}

static void test_pressure(struct tctx *t)
{
	struct ir_func *too_many = pressure_program(MAX_LIVE);
	struct koff_error err = { 0 };
	struct codegen_opts o = { .udp_port = TEST_PORT, .resp_cap = RESP_CAP, .loop_cap = 1 };
	struct bpf_emit e;
	int rc;

	run_pressure(t, 40, "40 live values (BPF stack)");
	run_pressure(t, 100, "100 live values (BPF stack and spill area)");
	run_pressure(t, 420, "420 live values (BPF stack and spill area)");
	stack_slots_used(t, 420);
	/* More than both hold: a clean error, not a bad program. */
	t->ncases++;
	emit_init(&e);
	rc = codegen_program(too_many, &o, &e, &err);
	if (rc != -E2BIG || !strstr(err.msg, "too many values live"))
		fail(t, NULL, "%d live values: codegen_program returned %d (%s), want -E2BIG", MAX_LIVE,
		     rc, err.msg);
	else if (t->verbose)
		printf("%d live values: %s\n", MAX_LIVE, err.msg);
	emit_free(&e);
	ir_func_free(too_many);
}

/* ---- Long programs ---------------------------------------------------------------------
 * Thousands of checked request loads: fallback stubs must be reachable
 * from everywhere (islands), and a branch from the entry jumps over all
 * of it (more than the 16-bit offset of a conditional jump). */

#define LONG_LOADS 4000
#define LONG_SPAN 64

/* blocks: the loads split into that many blocks chained by jumps (1: one
 * huge basic block, as a long unrolled x86 block gives). */
static struct ir_func *long_program(int blocks)
{
	struct irb ib = new_func("long");
	int first = load(&ib, R(IR_RDI), 0, 1, IR_REG_REQ), acc = alu(&ib, IR_MOV, 64, -1, I(0), I(0));
	int body = new_block(&ib), far;

	for (int b = 1; b < blocks; b++)
		new_block(&ib);
	far = new_block(&ib);
	br(&ib, IR_EQ, 64, R(first), I(1), far, body);
	for (int k = 0; k < LONG_LOADS; k++) {
		int v;

		if (k % (LONG_LOADS / blocks) == 0 && k) {
			jmp(&ib, ib.blk + 1);
			ib.blk++;
		} else if (k == 0) {
			ib.blk = body;
		}
		v = load(&ib, I(0), (int64_t)IR_REQ_VA + k % LONG_SPAN, 1, IR_REG_REQ);
		alu(&ib, IR_MUL, 64, acc, R(acc), I(3));
		alu(&ib, IR_ADD, 64, acc, R(acc), R(v));
	}
	store_resp64(&ib, 0, R(acc));
	ret_const(&ib, 8);
	ib.blk = far;
	store_resp64(&ib, 0, I(0x4242));
	ret_const(&ib, 8);
	return ib.fn;
}

static void test_long_program(struct tctx *t, int blocks)
{
	char name[64];
	struct prog p;

	snprintf(name, sizeof(name), "%d checked loads in %d block%s", LONG_LOADS, blocks,
		 blocks > 1 ? "s" : "");
	if (!prog_open(t, long_program(blocks), 0, name, &p)) {
		prog_close(t, &p);
		return;
	}
	for (int run = 0; run < 40; run++) {
		uint8_t req[2 * LONG_SPAN];
		size_t len = run == 0 ? 0 : 1 + rnd_below(t, sizeof(req));
		uint64_t acc = 0;

		fill_random(t, req, sizeof(req));
		req[0] = (uint8_t)(run % 4 == 1 ? 1 : 2);
		for (int k = 0; k < LONG_LOADS; k++)
			acc = acc * 3 + req[k % LONG_SPAN];
		if (len > 0 && req[0] == 1)
			acc = 0x4242;
		if (len == 0 || (req[0] != 1 && len < LONG_SPAN))
			expect_verdict(t, &p, req, len, KOFF_STAT_PASS_MEM, "short request");
		else
			expect_lanes(t, &p, req, len, &acc, 1, describe_lane, NULL);
	}
	prog_close(t, &p);
}

static void test_long(struct tctx *t)
{
	test_long_program(t, 40);
	test_long_program(t, 1);
}

/* ---- Driver ------------------------------------------------------------------ */

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	/* The verifier log of a rejected program is worth seeing; chatter is not. */
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

struct test_group {
	const char *name;
	void (*run)(struct tctx *t);
};

int main(int argc, char **argv)
{
	static const struct test_group groups[] = {
		{ "binary ops", test_binops },
		{ "unary ops", test_unops },
		{ "conditions", test_conds },
		{ "request loads", test_req_loads },
		{ "store/load", test_mem_scripts },
		{ "rodata", test_rodata },
		{ "past request", test_req_end },
		{ "bad addresses", test_bad_accesses },
		{ "fallbacks", test_fallback_reasons },
		{ "returns", test_return_values },
		{ "arguments", test_arguments },
		{ "switch", test_switch },
		{ "loops", test_loops },
		{ "pressure", test_pressure },
		{ "long program", test_long },
	};
	struct tctx t = { .runs = 200, .rng = (uint64_t)time(NULL) * 2654435761u + (uint64_t)getpid() };
	const char *only = NULL;
	int opt;

	while ((opt = getopt(argc, argv, "n:s:g:k:v")) != -1) {
		switch (opt) {
		case 'k':
			if (!(t.target = target_find(optarg)))
				die("-k %s: no such kernel target", optarg);
			break;
		case 'n': t.runs = atoi(optarg); break;
		case 's': t.rng = strtoull(optarg, NULL, 0); break;
		case 'g': only = optarg; break;
		case 'v': t.verbose = true; break;
		default:
			fprintf(stderr, "usage: %s [-n RUNS] [-s SEED] [-g GROUP] [-k KERNEL] [-v]\n", argv[0]);
			return 2;
		}
	}
	if (!t.rng)
		t.rng = 1;
	/* Line by line: a sanitizer that ends the process must not eat the summary. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("bpfgen: seed %#" PRIx64 ", %d runs per program, kernel %s\n", t.rng, t.runs,
	       t.target ? t.target->name : "6.18");
	snprintf(t.dir, sizeof(t.dir), "/tmp/koff-bpfgen.XXXXXX");
	if (!mkdtemp(t.dir))
		die("mkdtemp: %s", strerror(errno));
	libbpf_set_print(libbpf_quiet);
	for (size_t g = 0; g < KOFF_ARRAY_SIZE(groups); g++) {
		long cases = t.ncases, fails = t.nfail;
		int progs = t.nprogs;
		struct timespec a, b;

		if (only && !strstr(groups[g].name, only))
			continue;
		clock_gettime(CLOCK_MONOTONIC, &a);
		groups[g].run(&t);
		clock_gettime(CLOCK_MONOTONIC, &b);
		printf("%-14s %4d programs %7ld cases %5ld failures  %.1fs\n", groups[g].name,
		       t.nprogs - progs, t.ncases - cases, t.nfail - fails,
		       (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9);
	}
	rmdir(t.dir);
	printf("bpfgen: %ld cases, %ld failures\n", t.ncases, t.nfail);
	return t.nfail ? 1 : 0;
}
