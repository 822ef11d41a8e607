/* xdpwrap_test.c - the XDP entry/exit of bpfgen/xdp.c around a tiny
 * hand-written handler, loaded into the kernel without an ELF file.
 *
 *   xdpwrap_test unit        bpf_prog_test_run on packets built here
 *   xdpwrap_test live PORT   attach to lo (generic XDP) of the current netns
 *                            and talk to it through real UDP sockets
 *
 * The handler (R1 = len, R9 = scratch):
 *   len == 0 -> return 0            '!' first -> return -1
 *   '?' first -> fallback PASS_INSN  '~' first -> fallback with a bogus index
 *   '>' first -> return cap + 1      '+' first -> min(100 * len, 1000)-byte reply
 *   else      -> min(len, SHORT_LEN)-byte reply: toupper(req[i])
 * The grow reply is all '#'.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <ctype.h>
#include <errno.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "emit.h"
#include "ir.h"
#include "koff_abi.h"
#include "xdp.h"
#include "xdpcopy.h"

#define TEST_PORT 7777
#define TEST_CAP 1024
#define GROW_PER_BYTE 100
#ifndef GROW_LEN
#define GROW_LEN 1000
#endif
/* Past XDP_COPY_DIRECT_MAX: the length sweep's replies are the whole
 * request, copied directly up to the maximum and by the helpers above it. */
#define SHORT_LEN (XDP_COPY_DIRECT_MAX + 8)
#define BOGUS_STAT 999
#define HDR XDP_WRAP_HDR_LEN

/* ---- The program under test ---------------------------------------------- */

struct loaded {
	int scratch_fd, stats_fd, prog_fd;
	int insns;		/* program length */
	long verified;		/* verifier's "processed N insns" */
};

/* "if R2 == ch: R0 = value, goto target". */
static void emit_on_first_byte(struct bpf_emit *e, char ch, int32_t value, int target)
{
	int next = emit_label(e);

	emit_jmp_imm(e, 0, BPF_JNE, BPF_REG_2, ch, next);
	emit_mov_imm(e, BPF_REG_0, value);
	emit_ja(e, target);
	emit_bind(e, next);
}

/* for (R2 = 0; R2 < n; R2++) resp[R2] = fill or toupper(req[R2]).  A
 * constant trip count keeps the verifier's work linear: bytes past the
 * request are stale scratch, but only the first min(len, n) are sent. */
static void emit_fill_loop(struct bpf_emit *e, int n, bool upper_copy)
{
	int loop = emit_label(e), store = emit_label(e), done = emit_label(e);

	emit_mov_imm(e, BPF_REG_2, 0);
	emit_bind(e, loop);
	emit_jmp_imm(e, 0, BPF_JGE, BPF_REG_2, n, done);
	emit_mov_imm(e, BPF_REG_4, '#');
	if (upper_copy) {
		emit_mov_reg(e, BPF_REG_5, BPF_REG_9);
		emit_alu_reg(e, 1, BPF_ADD, BPF_REG_5, BPF_REG_2);
		emit_ldx(e, BPF_B, BPF_REG_4, BPF_REG_5, IR_REQ_OFF);
		emit_jmp_imm(e, 0, BPF_JLT, BPF_REG_4, 'a', store);
		emit_jmp_imm(e, 0, BPF_JGT, BPF_REG_4, 'z', store);
		emit_alu_imm(e, 1, BPF_SUB, BPF_REG_4, 'a' - 'A');
	}
	emit_bind(e, store);
	emit_mov_reg(e, BPF_REG_5, BPF_REG_9);
	emit_alu_reg(e, 1, BPF_ADD, BPF_REG_5, BPF_REG_2);
	emit_stx(e, BPF_B, BPF_REG_5, IR_RESP_OFF, BPF_REG_4);
	emit_alu_imm(e, 1, BPF_ADD, BPF_REG_2, 1);
	emit_ja(e, loop);
	emit_bind(e, done);
}

/* '+' -> min(100 * len, GROW_LEN) bytes of '#';
 * else toupper of the first min(len, SHORT_LEN) bytes. */
static void emit_reply(struct bpf_emit *e, const struct xdp_wrap *w)
{
	int copy = emit_label(e), have_len = emit_label(e);

	emit_jmp_imm(e, 0, BPF_JNE, BPF_REG_2, '+', copy);
	emit_fill_loop(e, GROW_LEN, false);
	emit_ldx(e, BPF_DW, BPF_REG_0, BPF_REG_10, -XDP_WRAP_STACK - 8);
	emit_alu_imm(e, 1, BPF_MUL, BPF_REG_0, GROW_PER_BYTE);
	emit_jmp_imm(e, 0, BPF_JLE, BPF_REG_0, GROW_LEN, have_len);
	emit_mov_imm(e, BPF_REG_0, GROW_LEN);
	emit_ja(e, w->lbl_return);
	emit_bind(e, copy);
	emit_fill_loop(e, SHORT_LEN, true);
	emit_ldx(e, BPF_DW, BPF_REG_0, BPF_REG_10, -XDP_WRAP_STACK - 8);
	emit_jmp_imm(e, 0, BPF_JLE, BPF_REG_0, SHORT_LEN, have_len);
	emit_mov_imm(e, BPF_REG_0, SHORT_LEN);
	emit_bind(e, have_len);
	emit_ja(e, w->lbl_return);
}

static void emit_test_handler(struct bpf_emit *e, const struct xdp_wrap *w, uint32_t cap)
{
	int nonempty = emit_label(e);

	/* The handler's own stack lies below the wrapper's slots. */
	emit_stx(e, BPF_DW, BPF_REG_10, -XDP_WRAP_STACK - 8, BPF_REG_1);
	emit_jmp_imm(e, 0, BPF_JNE, BPF_REG_1, 0, nonempty);
	emit_mov_imm(e, BPF_REG_0, 0);
	emit_ja(e, w->lbl_return);
	emit_bind(e, nonempty);
	emit_ldx(e, BPF_B, BPF_REG_2, BPF_REG_9, IR_REQ_OFF);
	emit_on_first_byte(e, '!', -1, w->lbl_return);
	emit_on_first_byte(e, '?', KOFF_STAT_PASS_INSN, w->lbl_fallback);
	emit_on_first_byte(e, '~', BOGUS_STAT, w->lbl_fallback);
	emit_on_first_byte(e, '>', (int32_t)cap + 1, w->lbl_return);
	emit_reply(e, w);
}

static int build_program(struct bpf_emit *e, uint16_t port)
{
	struct xdp_wrap_opts o = { .udp_port = port, .resp_cap = TEST_CAP };
	struct xdp_wrap w;
	int err;

	emit_init(e);
	err = xdp_emit_entry(e, &o, &w);
	if (err)
		return err;
	emit_test_handler(e, &w, o.resp_cap);
	err = xdp_emit_exit(e, &o, &w);
	return err ? err : emit_finish(e);
}

static long processed_insns(const char *log)
{
	const char *p = strstr(log, "processed ");

	return p ? strtol(p + strlen("processed "), NULL, 10) : -1;
}

static int load_insns(struct bpf_emit *e, struct loaded *l)
{
	static char log[1 << 20];
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .log_buf = log, .log_size = sizeof(log),
		    .log_level = 4);

	for (int i = 0; i < e->nmaprefs; i++) {
		struct bpf_insn *ld = &e->insns[e->maprefs[i].insn];

		ld->src_reg = BPF_PSEUDO_MAP_FD;
		ld->imm = e->maprefs[i].map == KOFF_MAPID_SCRATCH ? l->scratch_fd : l->stats_fd;
	}
	l->prog_fd = bpf_prog_load(BPF_PROG_TYPE_XDP, KOFF_PROG_NAME, "GPL", e->insns,
				   (size_t)e->n, &opts);
	if (l->prog_fd < 0) {
		/* Level 4 only keeps statistics: load again for the full log. */
		opts.log_level = 1;
		log[0] = 0;
		bpf_prog_load(BPF_PROG_TYPE_XDP, KOFF_PROG_NAME, "GPL", e->insns,
			      (size_t)e->n, &opts);
		fprintf(stderr, "verifier rejected the program (%d):\n%s\n", l->prog_fd, log);
		return -1;
	}
	l->insns = e->n;
	l->verified = processed_insns(log);
	return 0;
}

static int load_program(uint16_t port, struct loaded *l)
{
	struct bpf_emit e;
	int err;

	l->scratch_fd = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, KOFF_MAP_SCRATCH, 4,
				       IR_SCRATCH_SIZE, 1, NULL);
	l->stats_fd = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, KOFF_MAP_STATS, 4, 8,
				     KOFF_STAT__COUNT, NULL);
	if (l->scratch_fd < 0 || l->stats_fd < 0) {
		fprintf(stderr, "bpf_map_create: %s\n", strerror(errno));
		return -1;
	}
	err = build_program(&e, port);
	if (err) {
		fprintf(stderr, "emitting the program failed: %s\n", strerror(-err));
		emit_free(&e);
		return -1;
	}
	err = load_insns(&e, l);
	emit_free(&e);
	if (!err)
		printf("port %u: %d insns, verifier processed %ld insns\n", port, l->insns,
		       l->verified);
	return err;
}

static unsigned long long read_stat(int stats_fd, unsigned int stat)
{
	int ncpu = libbpf_num_possible_cpus();
	unsigned long long sum = 0, *vals = calloc((size_t)ncpu, sizeof(*vals));

	if (vals && bpf_map_lookup_elem(stats_fd, &stat, vals) == 0)
		for (int i = 0; i < ncpu; i++)
			sum += vals[i];
	free(vals);
	return sum;
}

/* ---- Packets -------------------------------------------------------------- */

struct pkt_spec {
	const char *payload;
	size_t len;
	uint16_t dport;
	uint16_t ethertype;	/* 0 = IPv4 */
	uint8_t proto;		/* 0 = UDP */
	uint8_t vihl;		/* 0 = 0x45 */
	uint16_t frag;		/* host order frag_off field */
	int udp_len_delta;	/* added to the correct UDP length */
	int tot_len_delta;	/* added to the correct IP total length */
	size_t pad_to;		/* frame padded with zeros to this size */
	size_t cut_to;		/* frame truncated to this size (0 = no) */
};

static uint16_t ipv4_csum(const uint8_t *ip)
{
	uint32_t sum = 0;

	for (int i = 0; i < 20; i += 2)
		sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static size_t build_packet(const struct pkt_spec *s, uint8_t *buf)
{
	static const uint8_t dst_mac[6] = { 0x02, 0, 0, 0, 0, 0x01 };
	static const uint8_t src_mac[6] = { 0x02, 0, 0, 0, 0, 0x02 };
	static const uint8_t saddr[4] = { 10, 0, 0, 2 }, daddr[4] = { 10, 0, 0, 1 };
	size_t n = HDR + s->len;

	memset(buf, 0, 4096);
	memcpy(buf, dst_mac, 6);
	memcpy(buf + 6, src_mac, 6);
	put16(buf + 12, s->ethertype ? s->ethertype : 0x0800);
	buf[14] = s->vihl ? s->vihl : 0x45;
	put16(buf + 16, (uint16_t)(20 + 8 + s->len + (size_t)s->tot_len_delta));
	put16(buf + 18, 0x1234);
	put16(buf + 20, s->frag);
	buf[22] = 17;	/* a TTL the reply must replace */
	buf[23] = s->proto ? s->proto : 17;
	memcpy(buf + 26, saddr, 4);
	memcpy(buf + 30, daddr, 4);
	put16(buf + 24, ipv4_csum(buf + 14));
	put16(buf + 34, 40000);
	put16(buf + 36, s->dport ? s->dport : TEST_PORT);
	put16(buf + 38, (uint16_t)(8 + s->len + (size_t)s->udp_len_delta));
	put16(buf + 40, 0xbeef);	/* any UDP checksum: the reply sets 0 */
	memcpy(buf + HDR, s->payload, s->len);
	if (s->pad_to > n)
		n = s->pad_to;
	if (s->cut_to)
		n = s->cut_to;
	return n;
}

/* The handler's reply in C: returns its return value, fills out. */
static long model_handler(const uint8_t *req, size_t len, uint8_t *out)
{
	size_t n;

	if (len == 0)
		return 0;
	switch (req[0]) {
	case '!': return -1;
	case '>': return TEST_CAP + 1;
	case '+': n = len * GROW_PER_BYTE < GROW_LEN ? len * GROW_PER_BYTE : GROW_LEN; break;
	default: n = len < SHORT_LEN ? len : SHORT_LEN;
	}
	for (size_t i = 0; i < n; i++)
		out[i] = req[0] == '+' ? '#' : (uint8_t)toupper(req[i]);
	return (long)n;
}

/* The reply packet the wrapper must produce for request packet `req`. */
static size_t expected_reply(const uint8_t *req, const uint8_t *reply, size_t rlen, uint8_t *out)
{
	memcpy(out, req + 6, 6);
	memcpy(out + 6, req, 6);
	memcpy(out + 12, req + 12, 22);
	memcpy(out + 26, req + 30, 4);
	memcpy(out + 30, req + 26, 4);
	put16(out + 16, (uint16_t)(28 + rlen));
	out[22] = 64;
	put16(out + 24, 0);
	put16(out + 24, ipv4_csum(out + 14));
	memcpy(out + 34, req + 36, 2);
	memcpy(out + 36, req + 34, 2);
	put16(out + 38, (uint16_t)(8 + rlen));
	put16(out + 40, 0);
	memcpy(out + HDR, reply, rlen);
	return HDR + rlen;
}

/* ---- Unit cases ---------------------------------------------------------- */

struct unit_ctx {
	struct loaded *prog;
	unsigned long long want[KOFF_STAT__COUNT];
	int failures;
};

static const char *verdict_name(unsigned int v)
{
	static const char *const names[] = { "ABORTED", "DROP", "PASS", "TX", "REDIRECT" };
	return v < 5 ? names[v] : "?";
}

static int run_packet(struct loaded *p, const uint8_t *in, size_t n, uint8_t *out,
		      uint32_t *out_len, uint32_t *verdict)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_size_in = (uint32_t)n,
		    .data_out = out, .data_size_out = 4096, .repeat = 1);
	int err = bpf_prog_test_run_opts(p->prog_fd, &opts);

	*out_len = opts.data_size_out;
	*verdict = opts.retval;
	return err;
}

static bool check_reply(const char *name, const uint8_t *in, const struct pkt_spec *s,
			const uint8_t *out, uint32_t out_len)
{
	uint8_t reply[4096], want[4096];
	long rlen = model_handler((const uint8_t *)s->payload, s->len, reply);
	size_t wlen = expected_reply(in, reply, (size_t)rlen, want);

	if (out_len != wlen || memcmp(out, want, wlen) != 0) {
		fprintf(stderr, "FAIL %s: reply differs (got %u bytes, want %zu)\n", name, out_len,
			wlen);
		return false;
	}
	if (ipv4_csum(out + 14) != 0) {	/* a correct header sums to 0xffff */
		fprintf(stderr, "FAIL %s: reply IPv4 checksum does not verify\n", name);
		return false;
	}
	return true;
}

/* Send one packet, check verdict, bytes and the stat it must bump. */
static void expect(struct unit_ctx *u, const char *name, const struct pkt_spec *s,
		   uint32_t want_verdict, enum koff_stat stat)
{
	uint8_t in[4096], out[4096];
	size_t n = build_packet(s, in);
	uint32_t out_len, verdict;
	bool ok = true;

	if (run_packet(u->prog, in, n, out, &out_len, &verdict)) {
		fprintf(stderr, "FAIL %s: bpf_prog_test_run: %s\n", name, strerror(errno));
		u->failures++;
		return;
	}
	u->want[stat]++;
	if (verdict != want_verdict) {
		fprintf(stderr, "FAIL %s: verdict %s, want %s\n", name, verdict_name(verdict),
			verdict_name(want_verdict));
		ok = false;
	} else if (verdict == XDP_PASS && (out_len != n || memcmp(in, out, n) != 0)) {
		fprintf(stderr, "FAIL %s: passed packet was modified\n", name);
		ok = false;
	} else if (verdict == XDP_TX) {
		ok = check_reply(name, in, s, out, out_len);
	}
	printf("%s %s: %s, %u bytes out\n", ok ? "ok  " : "FAIL", name, verdict_name(verdict),
	       out_len);
	u->failures += !ok;
}

static bool check_stats(struct unit_ctx *u)
{
	bool ok = true;

	for (unsigned int i = 0; i < KOFF_STAT__COUNT; i++) {
		unsigned long long got = read_stat(u->prog->stats_fd, i);

		if (got != u->want[i]) {
			fprintf(stderr, "FAIL stats: %s = %llu, want %llu\n", koff_stat_name(i),
				got, u->want[i]);
			ok = false;
		}
	}
	if (ok)
		printf("ok   stats: tx %llu drop %llu pass_other %llu pass_too_big %llu "
		       "pass_insn %llu pass_reply %llu\n",
		       u->want[KOFF_STAT_TX], u->want[KOFF_STAT_DROP],
		       u->want[KOFF_STAT_PASS_OTHER], u->want[KOFF_STAT_PASS_TOO_BIG],
		       u->want[KOFF_STAT_PASS_INSN], u->want[KOFF_STAT_PASS_REPLY]);
	return ok;
}

#define P(str) .payload = (str), .len = sizeof(str) - 1

static void handler_cases(struct unit_ctx *u)
{
	static char big[IR_REQ_MAX + 1], hundred[200];

	memset(big, 'q', sizeof(big));
	memset(hundred, 'x', sizeof(hundred));
	expect(u, "reply", &(struct pkt_spec){ P("hello, World") }, XDP_TX, KOFF_STAT_TX);
	expect(u, "empty request", &(struct pkt_spec){ P("") }, XDP_DROP, KOFF_STAT_DROP);
	expect(u, "handler -1", &(struct pkt_spec){ P("!bad") }, XDP_DROP, KOFF_STAT_DROP);
	expect(u, "fallback", &(struct pkt_spec){ P("?what") }, XDP_PASS, KOFF_STAT_PASS_INSN);
	expect(u, "bogus fallback index", &(struct pkt_spec){ P("~x") }, XDP_PASS,
	       KOFF_STAT_PASS_INSN);
	expect(u, "reply > cap", &(struct pkt_spec){ P(">x") }, XDP_PASS, KOFF_STAT_PASS_REPLY);
	expect(u, "grow 2 -> 200", &(struct pkt_spec){ P("+g") }, XDP_TX, KOFF_STAT_TX);
	expect(u, "grow 10 -> 1000", &(struct pkt_spec){ P("+123456789") }, XDP_TX, KOFF_STAT_TX);
	expect(u, "shrink 200 -> SHORT_LEN", &(struct pkt_spec){ .payload = hundred, .len = 200 },
	       XDP_TX, KOFF_STAT_TX);
	expect(u, "request of IR_REQ_MAX", &(struct pkt_spec){ .payload = big, .len = IR_REQ_MAX },
	       XDP_TX, KOFF_STAT_TX);
	expect(u, "request too big", &(struct pkt_spec){ .payload = big, .len = IR_REQ_MAX + 1 },
	       XDP_PASS, KOFF_STAT_PASS_TOO_BIG);
	expect(u, "padded to 60", &(struct pkt_spec){ P("abc"), .pad_to = 60 }, XDP_TX,
	       KOFF_STAT_TX);
	expect(u, "DF set", &(struct pkt_spec){ P("df"), .frag = 0x4000 }, XDP_TX, KOFF_STAT_TX);
}

/* Every request length of the direct copies (xdpcopy.h) and a few past
 * them, each reply as long as its request: every length class of both the
 * request copy and the reply copy, unpadded (as on lo) and padded to the
 * 60-byte minimum frame (as from a NIC), whose trailing zeros must not
 * reach the request. */
static void length_sweep(struct unit_ctx *u)
{
	static char payload[SHORT_LEN];
	char name[64];

	for (size_t len = 1; len <= SHORT_LEN; len++) {
		for (size_t i = 0; i < len; i++)
			payload[i] = (char)('a' + (i * 7 + len) % 26);
		for (int padded = 0; padded <= 1; padded++) {
			snprintf(name, sizeof(name), "length %zu%s", len, padded ? ", padded" : "");
			expect(u, name,
			       &(struct pkt_spec){ .payload = payload, .len = len,
						   .pad_to = padded ? 60 : 0 },
			       XDP_TX, KOFF_STAT_TX);
		}
	}
}

static void filter_cases(struct unit_ctx *u)
{
	enum koff_stat other = KOFF_STAT_PASS_OTHER;

	expect(u, "other port", &(struct pkt_spec){ P("hello"), .dport = 53 }, XDP_PASS, other);
	expect(u, "not UDP", &(struct pkt_spec){ P("hello"), .proto = 6 }, XDP_PASS, other);
	expect(u, "IPv6 ethertype", &(struct pkt_spec){ P("hello"), .ethertype = 0x86dd },
	       XDP_PASS, other);
	expect(u, "IP options", &(struct pkt_spec){ P("hello"), .vihl = 0x46 }, XDP_PASS, other);
	expect(u, "MF fragment", &(struct pkt_spec){ P("hello"), .frag = 0x2000 }, XDP_PASS,
	       other);
	expect(u, "fragment offset", &(struct pkt_spec){ P("hello"), .frag = 0x0010 }, XDP_PASS,
	       other);
	expect(u, "truncated payload", &(struct pkt_spec){ P("hello"), .cut_to = HDR + 3 },
	       XDP_PASS, other);
	expect(u, "truncated headers", &(struct pkt_spec){ P("hello"), .cut_to = 40 }, XDP_PASS,
	       other);
	expect(u, "UDP length < 8", &(struct pkt_spec){ P("hello"), .udp_len_delta = -6 },
	       XDP_PASS, other);
	expect(u, "UDP length past IP", &(struct pkt_spec){ P("hello"), .tot_len_delta = -1 },
	       XDP_PASS, other);
	expect(u, "UDP length past frame", &(struct pkt_spec){ P("hello"), .udp_len_delta = 4,
							       .tot_len_delta = 4 },
	       XDP_PASS, other);
}

static int run_unit(void)
{
	struct loaded prog, any_port;
	struct unit_ctx u = { .prog = &prog };
	struct unit_ctx any = { .prog = &any_port };

	if (load_program(TEST_PORT, &prog) || load_program(0, &any_port))
		return 1;
	handler_cases(&u);
	length_sweep(&u);
	filter_cases(&u);
	if (!check_stats(&u))
		u.failures++;
	expect(&any, "port 0 takes every port", &(struct pkt_spec){ P("dns?"), .dport = 53 },
	       XDP_TX, KOFF_STAT_TX);
	expect(&any, "port 0 still filters TCP", &(struct pkt_spec){ P("x"), .proto = 6 },
	       XDP_PASS, KOFF_STAT_PASS_OTHER);
	if (!check_stats(&any))
		any.failures++;
	printf("%d failures\n", u.failures + any.failures);
	return u.failures + any.failures ? 1 : 0;
}

/* ---- Live: generic XDP on lo --------------------------------------------- */

static int udp_socket(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 1 };
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv))) {
		perror("udp socket");
		return -1;
	}
	return fd;
}

/* Send `req` to 127.0.0.1:port; returns the reply length, or -1 on timeout.
 * *from_port is where the reply came from. */
static ssize_t exchange(int fd, uint16_t port, const char *req, size_t len, uint8_t *reply,
			uint16_t *from_port)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in from;
	socklen_t flen = sizeof(from);
	ssize_t n;

	if (sendto(fd, req, len, 0, (struct sockaddr *)&to, sizeof(to)) != (ssize_t)len)
		return -1;
	n = recvfrom(fd, reply, 4096, 0, (struct sockaddr *)&from, &flen);
	*from_port = ntohs(from.sin_port);
	return n;
}

struct live_ctx {
	struct loaded prog;
	int client, server;
	uint16_t port;
	int failures;
};

/* A request the XDP program must answer itself. */
static void live_expect_reply(struct live_ctx *c, const char *req)
{
	uint8_t reply[4096], want[4096];
	long wlen = model_handler((const uint8_t *)req, strlen(req), want);
	uint16_t from = 0;
	ssize_t n = exchange(c->client, c->port, req, strlen(req), reply, &from);
	bool ok = n == wlen && from == c->port && memcmp(reply, want, (size_t)wlen) == 0;

	printf("%s live \"%s\": %zd-byte reply from port %u (want %ld from %u)\n",
	       ok ? "ok  " : "FAIL", req, n, from, wlen, c->port);
	c->failures += !ok;
}

/* A request the program must pass: the server socket gets it unchanged. */
static void live_expect_pass(struct live_ctx *c, const char *req)
{
	uint8_t got[4096];
	uint16_t from;
	ssize_t n = exchange(c->server, c->port, req, strlen(req), got, &from);
	bool ok = n == (ssize_t)strlen(req) && memcmp(got, req, strlen(req)) == 0;

	printf("%s live \"%s\": passed to the server socket (%zd bytes)\n", ok ? "ok  " : "FAIL",
	       req, n);
	c->failures += !ok;
}

/* A reply larger than the request.  Generic XDP can grow the packet only
 * into the tailroom of the skb's head buffer, so bpf_xdp_adjust_tail may
 * refuse: then the wrapper must pass the request unchanged (PASS_REPLY) and
 * the server socket gets it.  Either outcome is checked exactly; which one
 * happened is printed. */
static void live_grow(struct live_ctx *c, const char *req)
{
	unsigned long long before = read_stat(c->prog.stats_fd, KOFF_STAT_PASS_REPLY);
	size_t len = strlen(req);
	uint8_t reply[4096], want[4096];
	long wlen = model_handler((const uint8_t *)req, len, want);
	uint16_t from = 0;
	ssize_t n = exchange(c->client, c->port, req, len, reply, &from);

	if (n == wlen && from == c->port && memcmp(reply, want, (size_t)wlen) == 0) {
		printf("ok   live grow %zu -> %ld bytes: answered in generic XDP\n", len, wlen);
		return;
	}
	n = recv(c->server, reply, sizeof(reply), 0);
	if (n == (ssize_t)len && memcmp(reply, req, len) == 0 &&
	    read_stat(c->prog.stats_fd, KOFF_STAT_PASS_REPLY) == before + 1) {
		printf("ok   live grow %zu -> %ld bytes: adjust_tail refused, PASS_REPLY, "
		       "the server socket got the request unchanged\n", len, wlen);
		return;
	}
	printf("FAIL live grow %zu -> %ld bytes: neither the reply nor a clean pass\n", len, wlen);
	c->failures++;
}

static int live_attach(struct live_ctx *c)
{
	int ifindex = (int)if_nametoindex("lo");
	int err;

	if (load_program(c->port, &c->prog))
		return -1;
	err = bpf_xdp_attach(ifindex, c->prog.prog_fd, XDP_FLAGS_SKB_MODE, NULL);
	if (err) {
		fprintf(stderr, "bpf_xdp_attach(lo, generic): %s\n", strerror(-err));
		return -1;
	}
	return 0;
}

static int run_live(uint16_t port)
{
	struct live_ctx c = { .port = port };
	unsigned long long tx, other;

	if (live_attach(&c))
		return 1;
	c.client = udp_socket(0);
	c.server = udp_socket(port);
	if (c.client < 0 || c.server < 0)
		return 1;
	live_expect_reply(&c, "hello live");
	live_expect_reply(&c, "a request of fifty-odd bytes: copied without helpers");
	live_expect_reply(&c, "a request that is longer than the reply the test handler makes, which is "
			      "SHORT_LEN bytes: the request copy and the reply copy both use the "
			      "helpers, and the reply shrinks the packet");
	live_expect_pass(&c, "?fallback");
	live_grow(&c, "+g");
	live_grow(&c, "+123456789");
	tx = read_stat(c.prog.stats_fd, KOFF_STAT_TX);
	other = read_stat(c.prog.stats_fd, KOFF_STAT_PASS_OTHER);
	/* Each reply crosses the hook again on lo, to the client's port: passed. */
	printf("%s live stats: tx %llu, pass_other %llu (replies seen again), pass_insn %llu\n",
	       tx >= 2 && other == tx ? "ok  " : "FAIL", tx, other,
	       read_stat(c.prog.stats_fd, KOFF_STAT_PASS_INSN));
	c.failures += !(tx >= 2 && other == tx);
	bpf_xdp_detach((int)if_nametoindex("lo"), XDP_FLAGS_SKB_MODE, NULL);
	printf("%d failures\n", c.failures);
	return c.failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "unit") == 0)
		return run_unit();
	if (argc >= 3 && strcmp(argv[1], "live") == 0)
		return run_live((uint16_t)atoi(argv[2]));
	fprintf(stderr, "usage: %s unit | live PORT\n", argv[0]);
	return 2;
}
