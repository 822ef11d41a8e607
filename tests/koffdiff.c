/* koffdiff - translation validation: the native handler against an XDP program.
 *
 * Linked with a sample's object (its main() localized), so it calls the real
 * native handle_request().  For every request - the request file's, mutations
 * of them, random byte strings, and a few packets that are not requests at
 * all - it runs the native handler and the XDP program (bpf_prog_test_run on
 * a frame built around the request: Ethernet+IPv4+UDP, or with --frames any
 * of IPv4/IPv6 untagged, with an 802.1Q tag, or 802.1ad + 802.1Q) and
 * checks that they agree:
 *   native > 0  -> XDP_TX, reply bytes as UDP payload, swapped MACs/IPs/ports,
 *                  tags unchanged, right lengths, valid checksums (IPv6: a
 *                  UDP checksum is required);
 *   native <= 0 -> XDP_DROP;
 *   XDP_PASS is always allowed (a fallback) but the frame must be untouched.
 * Anything else is a MISMATCH, printed with both sides' bytes.
 *
 * A program linked with koff-link --record-path also records its path: a mismatch
 * is then explained by the x86 instruction where the native and the lifted
 * paths part, with its source line (see "tracing both sides" below).
 *
 * Build: objcopy --localize-symbol=main samples/dns/dns.o dns_nomain.o
 *        cc -O2 tests/koffdiff.c dns_nomain.o -lbpf -lelf -lz -o koffdiff-dns
 * Exit: 0 agree; 1 mismatch or inconsistent counters; 2 too many fallbacks on
 * the file's requests; 3 usage or setup error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* REG_RIP */
#endif
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <getopt.h>
#include <libelf.h>
#include <linux/bpf.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

#include "../include/koff_abi.h"
#include "../include/koff_packet.h"

long handle_request(const unsigned char *req, unsigned long len,
		    unsigned char *resp, unsigned long cap);

#define ETH_LEN 14
#define IP_LEN 20
#define IP6_LEN 40
#define UDP_LEN 8
#define VLAN_LEN 4
#define HDRS_LEN (ETH_LEN + IP_LEN + UDP_LEN)	/* the smallest: untagged IPv4 */
#define HDRS_MAX (ETH_LEN + 2 * VLAN_LEN + IP6_LEN + UDP_LEN)
#define MAX_PAYLOAD 1472	/* what fits a 1500-byte MTU: random requests */
#define MAX_REQUEST 2048	/* file requests and mutations may go beyond it */
#define MIN_FRAME 60		/* Ethernet pads shorter frames to this */
#define OUT_MAX 8192		/* room for whatever the program grows to */
#define DEFAULT_CAP 1472	/* the samples' RESP_CAP = koff-link --resp-cap default */
#define MAX_SHOWN 8		/* mismatches printed in full */
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const uint8_t mac_client[6] = { 0x02, 0, 0, 0, 0, 0x01 };
static const uint8_t mac_server[6] = { 0x02, 0, 0, 0, 0, 0x02 };
#define IP_CLIENT 0x0a000001u	/* 10.0.0.1 */
#define IP_SERVER 0x0a000002u	/* 10.0.0.2 */
static const uint8_t ip6_client[16] = { 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
static const uint8_t ip6_server[16] = { 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2 };
#define TCI_OUTER 0x0064	/* 802.1ad service VLAN 100 */
#define TCI_INNER 0x2007	/* 802.1Q priority 1, VLAN 7 */

/* The frames a request travels in (--frames): IPv4 or IPv6, with no VLAN
 * tag, one 802.1Q tag, or 802.1ad + 802.1Q. */
struct frame_kind {
	const char *name;
	int tags;
	bool ipv6;
};

static const struct frame_kind frame_kinds[] = {
	{ "v4", 0, false }, { "v6", 0, true }, { "vlan4", 1, false },
	{ "vlan6", 1, true }, { "qinq4", 2, false }, { "qinq6", 2, true },
};
#define NKINDS (sizeof(frame_kinds) / sizeof(frame_kinds[0]))

static size_t l2_len(const struct frame_kind *k) { return ETH_LEN + (size_t)k->tags * VLAN_LEN; }
static size_t l3_len(const struct frame_kind *k) { return k->ipv6 ? IP6_LEN : IP_LEN; }
static size_t hdrs_len(const struct frame_kind *k) { return l2_len(k) + l3_len(k) + UDP_LEN; }

struct options {
	unsigned port, cap, nrandom, nmutate;
	uint64_t seed;
	double max_fallback_percent;
	const char *prog_path, *requests_path;
	const struct frame_kind *kinds[NKINDS];	/* --frames, default v4 */
	int nkinds;
};

struct request {
	uint8_t *bytes;
	size_t len;
};

struct request_list {
	struct request *items;
	int n, cap;
};

/* Outcome counts of one phase (file, mutate, random, foreign). */
struct tally {
	const char *phase;
	long requests, tx, drop, pass, mismatches;
};

/* One case: the request, the frame built around it, both sides' results. */
struct diff_case {
	const char *origin;		/* "file:3", "mutate:bitflip", ... */
	const uint8_t *req;
	size_t len;
	const struct frame_kind *kind;
	uint8_t frame[HDRS_MAX + MAX_REQUEST + 64];
	size_t frame_len;
	uint16_t client_port;
	long native;
	uint8_t *reply;			/* opts.cap bytes */
	uint8_t out[OUT_MAX];
	uint32_t out_len, verdict;
};

#define NATIVE_TRACE_MAX (1u << 20)

struct traced_func {
	uint64_t va, size, sec_off;	/* koff-link's layout; offset in its section */
	char section[64], name[128];
	uint64_t native;		/* where it is in this executable, 0 = not found */
};

struct traced_line {
	uint64_t va;
	char where[96];			/* "file.c:12" */
};

struct trace_table {
	struct traced_func *funcs;
	int nfuncs;
	uint64_t **block_insns;		/* per block number: its x86 addresses */
	int *block_len;
	int nblocks;
	struct traced_line *lines;	/* sorted by va */
	int nlines;
	struct bpf_map *map;
};

struct diff_ctx {
	struct options opts;
	struct bpf_object *obj;
	int prog_fd;
	struct bpf_map *stats_map;
	uint64_t rng;
	long shown;
	struct tally total;
	bool traced;			/* a --record-path build: mismatches are explained */
	struct trace_table trace;
};

/* ---- small helpers ------------------------------------------------------- */

static uint64_t rng_next(struct diff_ctx *ctx)
{
	/* xorshift64*: reproducible from --seed, good enough to fuzz. */
	ctx->rng ^= ctx->rng >> 12;
	ctx->rng ^= ctx->rng << 25;
	ctx->rng ^= ctx->rng >> 27;
	return ctx->rng * 0x2545F4914F6CDD1Dull;
}

static size_t rng_below(struct diff_ctx *ctx, size_t n)
{
	return n ? rng_next(ctx) % n : 0;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xff; }
static void put32(uint8_t *p, uint32_t v) { put16(p, v >> 16); put16(p + 2, v & 0xffff); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static uint32_t sum16(const uint8_t *p, size_t n, uint32_t sum)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += get16(p + i);
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* The UDP checksum over the pseudo header of the IPv4 or IPv6 header at
 * ip; 0 when the datagram's checksum field holds the right value. */
static uint16_t udp_checksum(bool ipv6, const uint8_t *ip, const uint8_t *udp, size_t udp_len)
{
	uint32_t sum = ipv6 ? sum16(ip + 8, 32, 0) : sum16(ip + 12, 8, 0);	/* saddr, daddr */
	sum += 17 + (uint32_t)udp_len;
	return (uint16_t)~fold(sum16(udp, udp_len, sum));
}

static void print_hex(const char *label, const uint8_t *p, size_t n)
{
	printf("  %s (%zu bytes):", label, n);
	for (size_t i = 0; i < n; i++)
		printf("%s%02x", i % 32 ? "" : "\n    ", p[i]);
	printf("\n");
}

static const char *verdict_name(uint32_t v)
{
	static const char *const names[] = { "XDP_ABORTED", "XDP_DROP", "XDP_PASS",
					     "XDP_TX", "XDP_REDIRECT" };
	return v < ARRAY_SIZE(names) ? names[v] : "XDP_?";
}

/* ---- the request file ---------------------------------------------------- */


static int list_add(struct request_list *list, const uint8_t *bytes, size_t len)
{
	if (list->n == list->cap) {
		int cap = list->cap ? list->cap * 2 : 64;
		struct request *items = realloc(list->items, cap * sizeof(*items));
		if (!items)
			return -ENOMEM;
		list->items = items;
		list->cap = cap;
	}
	struct request *r = &list->items[list->n];
	r->bytes = malloc(len ? len : 1);
	if (!r->bytes)
		return -ENOMEM;
	memcpy(r->bytes, bytes, len);
	r->len = len;
	list->n++;
	return 0;
}


static int load_requests(const char *path, struct request_list *list)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "koffdiff: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	char line[2 * MAX_REQUEST + 1024];
	uint8_t buf[MAX_REQUEST];
	int lineno = 0, err = 0;
	while (!err && fgets(line, sizeof(line), f)) {
		lineno++;
		long n = koff_parse_hex_line(line, buf, sizeof(buf));
		if (!strchr(line, '\n') && !feof(f))
			n = -EINVAL;	/* longer than line[]: too long a request */
		if (n == -EINVAL) {
			fprintf(stderr, "koffdiff: %s:%d: not a hex request of at most %d bytes\n",
				path, lineno, MAX_REQUEST);
			err = -EINVAL;
		} else if (n >= 0) {
			err = list_add(list, buf, (size_t)n);
		}
	}
	fclose(f);
	return err;
}

/* ---- loading the XDP program --------------------------------------------- */

/* koff programs take their UDP port from a .rodata variable when they have
 * one (the reference programs do); set it before load so --port rules. */
static void set_rodata_port(struct bpf_object *obj, unsigned port)
{
	struct btf *btf = bpf_object__btf(obj);
	struct bpf_map *map;
	bpf_object__for_each_map(map, obj) {
		const char *name = bpf_map__name(map);
		size_t len = strlen(name);
		if (!btf || len < 7 || strcmp(name + len - 7, ".rodata"))
			continue;
		int sec_id = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
		if (sec_id < 0)
			return;
		const struct btf_type *sec = btf__type_by_id(btf, sec_id);
		const struct btf_var_secinfo *vs = btf_var_secinfos(sec);
		for (int i = 0; i < btf_vlen(sec); i++, vs++) {
			const struct btf_type *var = btf__type_by_id(btf, vs->type);
			if (strcmp(btf__name_by_offset(btf, var->name_off), "koff_udp_port")
			    || vs->size != 2)
				continue;
			size_t size;
			const void *init = bpf_map__initial_value(map, &size);
			uint8_t *copy = malloc(size);
			if (!init || !copy)
				return free(copy);
			memcpy(copy, init, size);
			uint16_t v = (uint16_t)port;
			memcpy(copy + vs->offset, &v, 2);
			bpf_map__set_initial_value(map, copy, size);
			free(copy);
			return;
		}
	}
}

static int load_program(struct diff_ctx *ctx)
{
	ctx->obj = bpf_object__open_file(ctx->opts.prog_path, NULL);
	if (!ctx->obj) {
		fprintf(stderr, "koffdiff: %s: cannot open: %s\n", ctx->opts.prog_path,
			strerror(errno));
		return -errno;
	}
	set_rodata_port(ctx->obj, ctx->opts.port);
	int err = bpf_object__load(ctx->obj);
	if (err) {
		fprintf(stderr, "koffdiff: %s: load failed: %s\n", ctx->opts.prog_path,
			strerror(-err));
		return err;
	}
	struct bpf_program *prog = bpf_object__find_program_by_name(ctx->obj, KOFF_PROG_NAME);
	if (!prog) {	/* not koff's name: take the first XDP program */
		struct bpf_program *p;
		bpf_object__for_each_program(p, ctx->obj)
			if (!prog && bpf_program__type(p) == BPF_PROG_TYPE_XDP)
				prog = p;
	}
	if (!prog) {
		fprintf(stderr, "koffdiff: %s: no XDP program\n", ctx->opts.prog_path);
		return -ENOENT;
	}
	ctx->prog_fd = bpf_program__fd(prog);
	ctx->stats_map = bpf_object__find_map_by_name(ctx->obj, KOFF_MAP_STATS);
	return 0;
}

/* ---- building frames and running both sides ------------------------------ */

/* The Ethernet header and tags of c's kind; returns the L3 header. */
static uint8_t *build_l2(struct diff_case *c)
{
	uint8_t *p = c->frame + 12;
	memcpy(c->frame, mac_server, 6);
	memcpy(c->frame + 6, mac_client, 6);
	if (c->kind->tags == 2) {
		put16(p, 0x88a8);
		put16(p + 2, TCI_OUTER);
		p += VLAN_LEN;
	}
	if (c->kind->tags >= 1) {
		put16(p, 0x8100);
		put16(p + 2, TCI_INNER);
		p += VLAN_LEN;
	}
	put16(p, c->kind->ipv6 ? 0x86dd : 0x0800);
	return p + 2;
}

static void build_ipv4(uint8_t *ip, size_t udp_len)
{
	memset(ip, 0, IP_LEN);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(IP_LEN + udp_len));
	put16(ip + 4, 0x1234);
	put16(ip + 6, 0x4000);	/* DF */
	ip[8] = 64;
	ip[9] = 17;
	put32(ip + 12, IP_CLIENT);
	put32(ip + 16, IP_SERVER);
	put16(ip + 10, (uint16_t)~fold(sum16(ip, IP_LEN, 0)));
}

static void build_ipv6(uint8_t *ip, size_t udp_len)
{
	put32(ip, 0x6a012345);	/* version 6, traffic class 0xa0, a flow label */
	put16(ip + 4, (uint16_t)udp_len);
	ip[6] = 17;
	ip[7] = 64;
	memcpy(ip + 8, ip6_client, 16);
	memcpy(ip + 24, ip6_server, 16);
}

/* c->frame: c->req in a UDP datagram from c->client_port to port, in a
 * frame of c->kind, zero-padded to pad_to bytes like a NIC pads. */
static void build_frame(struct diff_case *c, unsigned port, size_t pad_to)
{
	uint8_t *ip = build_l2(c), *udp = ip + l3_len(c->kind);
	size_t udp_len = UDP_LEN + c->len;
	if (c->kind->ipv6)
		build_ipv6(ip, udp_len);
	else
		build_ipv4(ip, udp_len);
	put16(udp, c->client_port);
	put16(udp + 2, (uint16_t)port);
	put16(udp + 4, (uint16_t)udp_len);
	put16(udp + 6, 0);
	memcpy(udp + UDP_LEN, c->req, c->len);
	uint16_t csum = udp_checksum(c->kind->ipv6, ip, udp, udp_len);
	put16(udp + 6, csum ? csum : 0xffff);
	c->frame_len = hdrs_len(c->kind) + c->len;
	if (c->frame_len < pad_to) {	/* the NIC's zero padding */
		memset(c->frame + c->frame_len, 0, pad_to - c->frame_len);
		c->frame_len = pad_to;
	}
}

static int run_xdp(struct diff_ctx *ctx, struct diff_case *c)
{
	LIBBPF_OPTS(bpf_test_run_opts, run,
		    .data_in = c->frame, .data_size_in = (uint32_t)c->frame_len,
		    .data_out = c->out, .data_size_out = sizeof(c->out), .repeat = 1);
	int err = bpf_prog_test_run_opts(ctx->prog_fd, &run);
	if (err) {
		fprintf(stderr, "koffdiff: bpf_prog_test_run: %s\n", strerror(errno));
		return -errno;
	}
	c->verdict = run.retval;
	c->out_len = run.data_size_out;
	return 0;
}

/* ---- tracing both sides: where the paths part (--record-path builds) ----
 *
 * When PROG.bpf.o was linked with koff-link --record-path, it records the blocks
 * it runs in the koff_trace map and carries KOFF_TRACE_SECTION, which turns
 * them into x86 addresses of koff-link's layout.  On a mismatch the native
 * handler is run again one instruction at a time (the x86 trap flag, with a
 * SIGTRAP handler reading the instruction pointer), its addresses mapped
 * into the same layout through the functions' names, and the two paths are
 * compared: the report names the last x86 instruction both ran before they
 * part, with its source line; when they never part, the instruction that
 * wrote the first wrong reply byte natively. */

/* A path: x86 addresses, each run of one address counted once (an x86 `rep`
 * traps once per iteration natively, the lifted program records it once). */
struct path {
	uint64_t *va;
	size_t n, cap;
	bool truncated;
};

static void path_add(struct path *p, uint64_t va)
{
	if (p->n && p->va[p->n - 1] == va)
		return;
	if (p->n == p->cap) {
		p->truncated = true;
		return;
	}
	p->va[p->n++] = va;
}

/* The single-stepper's state; a signal handler can only reach it through a
 * static slot, set only while one native run is being stepped. */
struct stepper {
	const struct trace_table *table;
	struct path path;
	uint64_t executing;		/* layout address of the instruction under way, 0 = elsewhere */
	uint64_t last_ours;		/* last instruction of the object that ran */
	const uint8_t *watch;		/* a reply byte to watch, or NULL */
	uint8_t watch_value;
	uint64_t watch_writer;		/* layout address that last changed it */
};

static struct stepper *active_stepper;

static uint64_t layout_address(const struct trace_table *t, uint64_t rip)
{
	for (int i = 0; i < t->nfuncs; i++) {
		const struct traced_func *f = &t->funcs[i];
		if (f->native && rip >= f->native && rip < f->native + (f->size ? f->size : 1))
			return f->va + (rip - f->native);
	}
	return 0;
}

static void on_single_step(int sig, siginfo_t *si, void *ucontext)
{
	struct stepper *s = active_stepper;
	const ucontext_t *uc = ucontext;
	(void)sig;
	(void)si;
	if (!s)
		return;
	/* The trap comes after an instruction: the one that just ran is the
	 * one the previous trap pointed at. */
	if (s->watch && *s->watch != s->watch_value) {
		s->watch_value = *s->watch;
		s->watch_writer = s->executing ? s->executing : s->last_ours;
	}
	if (s->executing)
		s->last_ours = s->executing;
	s->executing = layout_address(s->table, (uint64_t)uc->uc_mcontext.gregs[REG_RIP]);
	if (s->executing)
		path_add(&s->path, s->executing);
}

/* The native handler under the trap flag.  noinline, so that the flag is
 * set and cleared around exactly this call. */
static __attribute__((noinline)) long stepped_handle_request(const uint8_t *req, size_t len,
							      uint8_t *reply, size_t cap)
{
	long r;
	__asm__ volatile("pushfq; orq $0x100, (%%rsp); popfq" ::: "memory", "cc");
	r = handle_request(req, len, reply, cap);
	__asm__ volatile("pushfq; andq $~0x100, (%%rsp); popfq" ::: "memory", "cc");
	return r;
}

static long native_path(const struct trace_table *t, const struct diff_case *c, size_t cap,
			long watch_at, struct stepper *s)
{
	struct sigaction sa = { .sa_sigaction = on_single_step, .sa_flags = SA_SIGINFO }, old;
	long r;
	memset(c->reply, 0xa5, cap);
	s->table = t;
	s->watch = watch_at >= 0 ? c->reply + watch_at : NULL;
	s->watch_value = s->watch ? *s->watch : 0;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTRAP, &sa, &old);
	active_stepper = s;
	r = stepped_handle_request(c->req, c->len, c->reply, cap);
	active_stepper = NULL;
	sigaction(SIGTRAP, &old, NULL);
	return r;
}

/* Runs c's frame again through the program and reads the blocks it ran;
 * -E2BIG when it entered more blocks than the map keeps (the ring then
 * holds the last ones, not the path from its start). */
static int lifted_path(struct diff_ctx *ctx, struct diff_case *c, struct path *p)
{
	const struct trace_table *t = &ctx->trace;
	size_t size = sizeof(uint64_t) * (KOFF_TRACE_SLOTS + 1);
	uint64_t *slots = calloc(1, size);
	uint32_t key = 0;
	int err = slots ? 0 : -ENOMEM;
	if (!err && (bpf_map__update_elem(t->map, &key, sizeof(key), slots, size, 0) ||
		     run_xdp(ctx, c) ||
		     bpf_map__lookup_elem(t->map, &key, sizeof(key), slots, size, 0)))
		err = -EIO;
	uint64_t n = err ? 0 : slots[0];
	if (n > KOFF_TRACE_SLOTS)
		err = -E2BIG;
	for (uint64_t k = 0; !err && k < n; k++) {
		uint64_t b = slots[1 + k];
		for (int i = 0; b < (uint64_t)t->nblocks && i < t->block_len[b]; i++)
			path_add(p, t->block_insns[b][i]);
	}
	free(slots);
	return err;
}

static const char *source_line(const struct trace_table *t, uint64_t va)
{
	int lo = 0, hi = t->nlines - 1;
	while (lo <= hi) {
		int mid = (lo + hi) / 2;
		if (t->lines[mid].va == va)
			return t->lines[mid].where;
		if (t->lines[mid].va < va)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return "?";
}

/* "handle_request+0x4f (.text+0x11f, f.c:37)" */
static void describe(const struct trace_table *t, uint64_t va, char *buf, size_t len)
{
	for (int i = 0; i < t->nfuncs; i++) {
		const struct traced_func *f = &t->funcs[i];
		if (va >= f->va && va < f->va + (f->size ? f->size : 1)) {
			snprintf(buf, len, "%s+%#llx (%s+%#llx, %s)", f->name,
				 (unsigned long long)(va - f->va), f->section,
				 (unsigned long long)(f->sec_off + va - f->va), source_line(t, va));
			return;
		}
	}
	snprintf(buf, len, "%#llx (no function)", (unsigned long long)va);
}

static void print_place(const struct trace_table *t, const char *label, const struct path *p,
			size_t i)
{
	char where[320];
	if (i < p->n) {
		describe(t, p->va[i], where, sizeof(where));
		printf("    %s %s\n", label, where);
	} else {
		printf("    %s (returns)\n", label);
	}
}

static void compare_paths(const struct trace_table *t, const struct path *native,
			  const struct path *lifted, const struct stepper *s, long watch_at)
{
	char where[320];
	size_t i = 0;
	while (i < native->n && i < lifted->n && native->va[i] == lifted->va[i])
		i++;
	if (native->truncated || lifted->truncated)
		printf("  trace: a path is longer than %u instructions; compared its first ones\n",
		       NATIVE_TRACE_MAX);
	if (i == native->n && i == lifted->n) {
		printf("  trace: native and lifted run the same %zu x86 instructions\n", i);
		if (watch_at >= 0 && s->watch_writer) {
			describe(t, s->watch_writer, where, sizeof(where));
			printf("  first difference: reply byte %ld, written natively by x86 %s\n",
			       watch_at, where);
		} else if (i) {
			describe(t, native->va[i - 1], where, sizeof(where));
			printf("  first difference: the result of the path ending at x86 %s\n", where);
		}
		return;
	}
	printf("  trace: native and lifted run the same first %zu x86 instructions, then part:\n", i);
	if (i)
		print_place(t, "last common:", native, i - 1);
	print_place(t, "native next:", native, i);
	print_place(t, "lifted next:", lifted, i);
	if (i) {
		describe(t, native->va[i - 1], where, sizeof(where));
		printf("  first difference at x86 %s\n", where);
	}
}

/* On a mismatch in a --record-path build: both paths, and where they part. */
static void explain_with_trace(struct diff_ctx *ctx, struct diff_case *c, long watch_at)
{
	const struct trace_table *t = &ctx->trace;
	struct stepper s = { 0 };
	struct path lifted = { 0 };
	int err;
	s.path.cap = lifted.cap = NATIVE_TRACE_MAX;
	s.path.va = malloc(sizeof(uint64_t) * NATIVE_TRACE_MAX);
	lifted.va = malloc(sizeof(uint64_t) * NATIVE_TRACE_MAX);
	if (!s.path.va || !lifted.va) {
		printf("  trace: out of memory\n");
	} else if ((err = lifted_path(ctx, c, &lifted)) == -E2BIG) {
		printf("  trace: the lifted program entered more than %u blocks; not compared\n",
		       KOFF_TRACE_SLOTS);
	} else if (err) {
		printf("  trace: cannot read %s: %s\n", KOFF_MAP_TRACE, strerror(errno));
	} else {
		long again = native_path(t, c, ctx->opts.cap, watch_at, &s);
		if (again != c->native)
			printf("  trace: the native handler returned %ld when stepped, %ld before\n",
			       again, c->native);
		compare_paths(t, &s.path, &lifted, &s, watch_at);
	}
	free(s.path.va);
	free(lifted.va);
}

/* ---- reading KOFF_TRACE_SECTION and this executable's symbols ------------ */

static char *read_trace_section(const char *path, size_t *size)
{
	char *text = NULL;
	int fd = open(path, O_RDONLY);
	Elf *elf = fd >= 0 ? elf_begin(fd, ELF_C_READ, NULL) : NULL;
	size_t shstrndx;
	if (elf && !elf_getshdrstrndx(elf, &shstrndx)) {
		for (Elf_Scn *scn = elf_nextscn(elf, NULL); scn && !text; scn = elf_nextscn(elf, scn)) {
			GElf_Shdr sh;
			Elf_Data *d;
			const char *name;
			if (!gelf_getshdr(scn, &sh) || !(name = elf_strptr(elf, shstrndx, sh.sh_name)) ||
			    strcmp(name, KOFF_TRACE_SECTION) || !(d = elf_getdata(scn, NULL)))
				continue;
			text = malloc(d->d_size + 1);
			if (text) {
				memcpy(text, d->d_buf, d->d_size);
				text[d->d_size] = '\0';
				*size = d->d_size;
			}
		}
	}
	if (elf)
		elf_end(elf);
	if (fd >= 0)
		close(fd);
	return text;
}

static int compare_lines(const void *a, const void *b)
{
	uint64_t x = ((const struct traced_line *)a)->va, y = ((const struct traced_line *)b)->va;
	return x < y ? -1 : x > y;
}

static int add_block(struct trace_table *t, const char *line)
{
	char *end;
	long b = strtol(line, &end, 10);
	int n = 0;
	if (b < 0 || b > 10000000)
		return -EINVAL;
	if (b >= t->nblocks) {
		int nb = (int)b + 1;
		uint64_t **bi = realloc(t->block_insns, sizeof(*bi) * (size_t)nb);
		int *bl = bi ? realloc(t->block_len, sizeof(*bl) * (size_t)nb) : NULL;
		if (bi)
			t->block_insns = bi;
		if (!bl)
			return -ENOMEM;
		t->block_len = bl;
		for (int i = t->nblocks; i < nb; i++) {
			t->block_insns[i] = NULL;
			t->block_len[i] = 0;
		}
		t->nblocks = nb;
	}
	for (const char *p = end; *p && *p != '\n'; p++)
		n += *p == ' ';
	t->block_insns[b] = calloc((size_t)n + 1, sizeof(uint64_t));
	if (!t->block_insns[b])
		return -ENOMEM;
	for (int i = 0; i < n; i++)
		t->block_insns[b][i] = strtoull(end, &end, 16);
	t->block_len[b] = n;
	return 0;
}

/* Room for one more of *n items of `size` bytes in *items (capacity *cap). */
static int room_for_one(void **items, int n, int *cap, size_t size)
{
	if (n < *cap)
		return 0;
	int bigger = *cap ? 2 * *cap : 64;
	void *m = realloc(*items, size * (size_t)bigger);
	if (!m)
		return -ENOMEM;
	*items = m;
	*cap = bigger;
	return 0;
}

static int parse_trace_line(struct trace_table *t, const char *line, int *caps)
{
	if (line[0] == 'F') {
		struct traced_func f = { 0 };
		unsigned long long va, size, off;
		if (sscanf(line, "F %llx %llx %llx %63s %127s", &va, &size, &off, f.section, f.name) != 5)
			return -EINVAL;
		f.va = va, f.size = size, f.sec_off = off;
		if (room_for_one((void **)&t->funcs, t->nfuncs, &caps[0], sizeof(f)))
			return -ENOMEM;
		t->funcs[t->nfuncs++] = f;
	} else if (line[0] == 'L') {
		struct traced_line l = { 0 };
		unsigned long long va;
		if (sscanf(line, "L %llx %95s", &va, l.where) != 2)
			return -EINVAL;
		l.va = va;
		if (room_for_one((void **)&t->lines, t->nlines, &caps[1], sizeof(l)))
			return -ENOMEM;
		t->lines[t->nlines++] = l;
	} else if (line[0] == 'B') {
		return add_block(t, line + 2);
	}
	return 0;
}

/* This executable's address of every traced function, by name and size. */
static void find_native_functions(struct trace_table *t)
{
	int fd = open("/proc/self/exe", O_RDONLY);
	Elf *elf = fd >= 0 ? elf_begin(fd, ELF_C_READ, NULL) : NULL;
	uint64_t handler_value = 0;
	for (Elf_Scn *scn = elf ? elf_nextscn(elf, NULL) : NULL; scn; scn = elf_nextscn(elf, scn)) {
		GElf_Shdr sh;
		Elf_Data *d;
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB || !(d = elf_getdata(scn, NULL)))
			continue;
		for (size_t k = 0; k < sh.sh_size / sizeof(Elf64_Sym); k++) {
			GElf_Sym sym;
			const char *name;
			if (!gelf_getsym(d, (int)k, &sym) || GELF_ST_TYPE(sym.st_info) != STT_FUNC ||
			    !(name = elf_strptr(elf, sh.sh_link, sym.st_name)))
				continue;
			if (!strcmp(name, "handle_request"))
				handler_value = sym.st_value;
			for (int i = 0; i < t->nfuncs; i++)
				if (!t->funcs[i].native && sym.st_size == t->funcs[i].size &&
				    !strcmp(name, t->funcs[i].name))
					t->funcs[i].native = sym.st_value;
		}
	}
	/* A PIE runs at a bias from its symbol values. */
	uint64_t bias = handler_value ? (uint64_t)(uintptr_t)&handle_request - handler_value : 0;
	for (int i = 0; i < t->nfuncs; i++)
		if (t->funcs[i].native)
			t->funcs[i].native += bias;
	if (elf)
		elf_end(elf);
	if (fd >= 0)
		close(fd);
}

/* Returns 1 when the program is a --record-path build (table loaded), 0 when it
 * is not, negative on a malformed table. */
static int load_trace_table(struct diff_ctx *ctx)
{
	struct trace_table *t = &ctx->trace;
	size_t size = 0;
	int caps[2] = { 0, 0 }, err = 0;
	t->map = bpf_object__find_map_by_name(ctx->obj, KOFF_MAP_TRACE);
	if (!t->map)
		return 0;
	elf_version(EV_CURRENT);
	char *text = read_trace_section(ctx->opts.prog_path, &size);
	if (!text) {
		fprintf(stderr, "koffdiff: %s has %s but no %s section\n", ctx->opts.prog_path,
			KOFF_MAP_TRACE, KOFF_TRACE_SECTION);
		return -EINVAL;
	}
	for (char *line = text; *line && !err; line += strcspn(line, "\n") + (line[strcspn(line, "\n")] != 0))
		err = parse_trace_line(t, line, caps);
	free(text);
	if (err) {
		fprintf(stderr, "koffdiff: %s: malformed %s section\n", ctx->opts.prog_path,
			KOFF_TRACE_SECTION);
		return err;
	}
	qsort(t->lines, (size_t)t->nlines, sizeof(*t->lines), compare_lines);
	find_native_functions(t);
	int found = 0;
	for (int i = 0; i < t->nfuncs; i++)
		found += t->funcs[i].native != 0;
	printf("trace: on (%d blocks, %d of %d functions found in this executable)\n", t->nblocks,
	       found, t->nfuncs);
	return 1;
}

static void free_trace_table(struct trace_table *t)
{
	for (int b = 0; b < t->nblocks; b++)
		free(t->block_insns[b]);
	free(t->block_insns);
	free(t->block_len);
	free(t->funcs);
	free(t->lines);
}

static size_t first_difference(const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
	size_t n = na < nb ? na : nb, i = 0;
	while (i < n && a[i] == b[i])
		i++;
	return i;
}

static const char *check_tx_ipv4(const uint8_t *in_ip, const uint8_t *ip, size_t rlen)
{
	if (ip[0] != 0x45 || ip[9] != 17)
		return "not an IPv4/UDP frame";
	if (get16(ip + 2) != IP_LEN + UDP_LEN + rlen)
		return "IPv4 total length wrong";
	if (get16(ip + 6) & 0x3fff)
		return "IPv4 fragment bits set";
	if (fold(sum16(ip, IP_LEN, 0)) != 0xffff)
		return "IPv4 header checksum invalid";
	if (memcmp(ip + 12, in_ip + 16, 4) || memcmp(ip + 16, in_ip + 12, 4))
		return "IP addresses not swapped";
	return NULL;
}

static const char *check_tx_ipv6(const uint8_t *in_ip, const uint8_t *ip, size_t rlen)
{
	if (memcmp(ip, in_ip, 4))
		return "IPv6 version, traffic class or flow label changed";
	if (ip[6] != 17)
		return "not an IPv6/UDP frame";
	if (get16(ip + 4) != UDP_LEN + rlen)
		return "IPv6 payload length wrong";
	if (ip[7] == 0)
		return "IPv6 hop limit 0";
	if (memcmp(ip + 8, in_ip + 24, 16) || memcmp(ip + 24, in_ip + 8, 16))
		return "IPv6 addresses not swapped";
	return NULL;
}

/* Checks a XDP_TX frame against the native reply; returns NULL when it is
 * right, else the first problem found. */
static const char *check_tx_frame(const struct diff_case *c, unsigned port)
{
	const struct frame_kind *k = c->kind;
	size_t l2 = l2_len(k), hdrs = hdrs_len(k);
	const uint8_t *in = c->frame, *out = c->out, *ip = out + l2, *udp = ip + l3_len(k);
	size_t rlen = (size_t)c->native, want = hdrs + rlen;
	/* A frame the NIC padded may come back with its padding. */
	bool padded_ok = c->frame_len > hdrs + c->len && c->out_len <= c->frame_len;
	if (c->out_len < want || (c->out_len != want && !padded_ok))
		return "frame length is not headers + reply";
	if (memcmp(out, in + 6, 6) || memcmp(out + 6, in, 6))
		return "MAC addresses not swapped";
	if (memcmp(out + 12, in + 12, l2 - 12))
		return "VLAN tags or ethertype changed";
	const char *why = k->ipv6 ? check_tx_ipv6(in + l2, ip, rlen) : check_tx_ipv4(in + l2, ip, rlen);
	if (why)
		return why;
	if (get16(udp) != port || get16(udp + 2) != c->client_port)
		return "UDP ports not swapped";
	if (get16(udp + 4) != UDP_LEN + rlen)
		return "UDP length wrong";
	if (k->ipv6 && get16(udp + 6) == 0)
		return "UDP checksum 0 (none) in IPv6";
	if (get16(udp + 6) && udp_checksum(k->ipv6, ip, udp, UDP_LEN + rlen))
		return "UDP checksum invalid";
	if (memcmp(udp + UDP_LEN, c->reply, rlen))
		return "reply bytes differ";
	return NULL;
}

/* Applies the verdict rules; returns NULL when the sides agree. */
static const char *judge(const struct diff_case *c, const struct options *opts, bool foreign)
{
	if (c->verdict == XDP_PASS) {
		if (c->out_len != c->frame_len || memcmp(c->out, c->frame, c->frame_len))
			return "XDP_PASS but the frame was modified";
		return NULL;
	}
	if (foreign)
		return "a packet that is not a request must pass (for a koff program: "
		       "was it linked with --udp-port?)";
	if (c->native > (long)opts->cap)
		return "native returned more than cap: only XDP_PASS agrees";
	if (c->native > 0)
		return c->verdict == XDP_TX ? check_tx_frame(c, opts->port)
					    : "native replies, XDP does not transmit";
	return c->verdict == XDP_DROP ? NULL : "native drops, XDP does not";
}

/* The reply frame a correct program produces from c (IPv4 id, TTL or hop
 * limit and an IPv4 UDP checksum's presence copied from what the program
 * sent, as they may legitimately vary); returns its length. */
static size_t expected_reply_frame(const struct diff_case *c, unsigned port, uint8_t *want)
{
	const struct frame_kind *k = c->kind;
	size_t rlen = (size_t)c->native, l2 = l2_len(k), l3 = l3_len(k), hdrs = hdrs_len(k);
	const uint8_t *in_ip = c->frame + l2, *out_ip = c->out + l2;
	uint8_t *ip = want + l2, *udp = ip + l3;
	bool have_ip = c->out_len >= l2 + l3;
	memcpy(want, c->frame + 6, 6);
	memcpy(want + 6, c->frame, 6);
	memcpy(want + 12, c->frame + 12, l2 - 12);
	memcpy(ip, in_ip, l3);
	if (k->ipv6) {
		if (have_ip)
			ip[7] = out_ip[7];	/* hop limit */
		put16(ip + 4, (uint16_t)(UDP_LEN + rlen));
		memcpy(ip + 8, in_ip + 24, 16);
		memcpy(ip + 24, in_ip + 8, 16);
	} else {
		if (have_ip) {
			memcpy(ip + 4, out_ip + 4, 2);	/* id */
			ip[8] = out_ip[8];		/* ttl */
		}
		put16(ip + 2, (uint16_t)(IP_LEN + UDP_LEN + rlen));
		memcpy(ip + 12, in_ip + 16, 4);
		memcpy(ip + 16, in_ip + 12, 4);
		put16(ip + 10, 0);
		put16(ip + 10, (uint16_t)~fold(sum16(ip, IP_LEN, 0)));
	}
	put16(udp, (uint16_t)port);
	put16(udp + 2, c->client_port);
	put16(udp + 4, (uint16_t)(UDP_LEN + rlen));
	put16(udp + 6, 0);
	memcpy(udp + UDP_LEN, c->reply, rlen);
	bool zero_csum = !k->ipv6 && c->out_len >= hdrs && get16(c->out + l2 + l3 + 6) == 0;
	if (!zero_csum) {
		uint16_t csum = udp_checksum(k->ipv6, ip, udp, UDP_LEN + rlen);
		put16(udp + 6, csum ? csum : 0xffff);
	}
	return hdrs + rlen;
}

static void report_mismatch(struct diff_ctx *ctx, struct diff_case *c, const char *why)
{
	if (ctx->shown++ >= MAX_SHOWN) {
		if (ctx->shown == MAX_SHOWN + 1)
			printf("(further mismatches counted, not shown)\n");
		return;
	}
	printf("MISMATCH [%s, %s frame]: %s\n", c->origin, c->kind->name, why);
	print_hex("request", c->req, c->len);
	printf("  native: %ld\n", c->native);
	if (c->native > 0 && c->native <= (long)ctx->opts.cap)
		print_hex("native reply", c->reply, (size_t)c->native);
	printf("  xdp: %s (%u), frame out %u bytes\n", verdict_name(c->verdict), c->verdict,
	       c->out_len);
	print_hex("frame in", c->frame, c->frame_len);
	print_hex("frame out", c->out, c->out_len);
	long watch_at = -1;	/* the first wrong reply byte, when the verdicts agree */
	if (c->native > 0 && c->native <= (long)ctx->opts.cap) {
		uint8_t want[HDRS_MAX + MAX_REQUEST];
		size_t want_len = expected_reply_frame(c, ctx->opts.port, want), hdrs = hdrs_len(c->kind);
		printf("  first offset where frame out differs from the expected reply frame: %zu\n",
		       first_difference(want, want_len, c->out, c->out_len));
		size_t have = c->out_len > hdrs ? c->out_len - hdrs : 0;
		size_t at = first_difference(c->out + hdrs, have, c->reply, (size_t)c->native);
		printf("  first offset where UDP payload differs from native reply: %zu\n", at);
		if (c->verdict == XDP_TX && at < (size_t)c->native)
			watch_at = (long)at;
	} else {
		printf("  first offset where frame out differs from frame in: %zu\n",
		       first_difference(c->frame, c->frame_len, c->out, c->out_len));
	}
	if (ctx->traced)
		explain_with_trace(ctx, c, watch_at);
	else
		printf("  (link with koff-link --record-path to see where the paths part)\n");
}

static void count(struct tally *t, const struct diff_case *c, bool mismatch)
{
	t->requests++;
	t->tx += c->verdict == XDP_TX;
	t->drop += c->verdict == XDP_DROP;
	t->pass += c->verdict == XDP_PASS;
	t->mismatches += mismatch;
}

/* Runs one built frame through the program, judges and counts it. */
static int diff_frame(struct diff_ctx *ctx, struct tally *t, struct diff_case *c, bool foreign)
{
	int err = run_xdp(ctx, c);
	if (err)
		return err;
	const char *why = judge(c, &ctx->opts, foreign);
	if (why)
		report_mismatch(ctx, c, why);
	count(t, c, why != NULL);
	return 0;
}

/* Runs one request natively, then in a frame of every --frames kind
 * through the program, and counts each. */
static int diff_one(struct diff_ctx *ctx, struct tally *t, struct diff_case *c, size_t pad_to)
{
	c->client_port = (uint16_t)(1024 + rng_below(ctx, 64000));
	if (c->client_port == ctx->opts.port)
		c->client_port++;
	memset(c->reply, 0xa5, ctx->opts.cap);
	c->native = handle_request(c->req, c->len, c->reply, ctx->opts.cap);
	for (int i = 0; i < ctx->opts.nkinds; i++) {
		c->kind = ctx->opts.kinds[i];
		build_frame(c, ctx->opts.port, pad_to);
		int err = diff_frame(ctx, t, c, false);
		if (err)
			return err;
	}
	return 0;
}

/* ---- the phases ----------------------------------------------------------- */

static int run_file(struct diff_ctx *ctx, struct tally *t, const struct request_list *reqs,
		    struct diff_case *c)
{
	char origin[32];
	for (int i = 0; i < reqs->n; i++) {
		snprintf(origin, sizeof(origin), "file request %d", i + 1);
		c->origin = origin;
		c->req = reqs->items[i].bytes;
		c->len = reqs->items[i].len;
		int err = diff_one(ctx, t, c, 0);
		if (err)
			return err;
	}
	return 0;
}

/* One random edit of buf (length *len, room MAX_REQUEST); returns its name. */
static const char *mutate_once(struct diff_ctx *ctx, uint8_t *buf, size_t *len)
{
	static const uint8_t interesting[] = { 0x00, 0x01, 0x3f, 0x40, 0x7f, 0x80,
					       0xc0, 0xfe, 0xff, '#', '.' };
	size_t n = *len;
	switch (rng_below(ctx, 7)) {
	case 0:
		if (!n)
			break;
		buf[rng_below(ctx, n)] ^= (uint8_t)(1u << rng_below(ctx, 8));
		return "bitflip";
	case 1:
		if (!n)
			break;
		buf[rng_below(ctx, n)] = interesting[rng_below(ctx, sizeof(interesting))];
		return "byteset";
	case 2:
		*len = rng_below(ctx, n + 1);
		return "truncate";
	case 3: {
		if (n >= MAX_REQUEST)
			break;
		size_t at = rng_below(ctx, n + 1);
		memmove(buf + at + 1, buf + at, n - at);
		buf[at] = (uint8_t)rng_next(ctx);
		*len = n + 1;
		return "insert";
	}
	case 4: {
		if (!n)
			break;
		size_t at = rng_below(ctx, n);
		memmove(buf + at, buf + at + 1, n - at - 1);
		*len = n - 1;
		return "delete";
	}
	case 5: {
		size_t add = 1 + rng_below(ctx, 64);
		if (n + add > MAX_REQUEST)
			add = MAX_REQUEST - n;
		for (size_t i = 0; i < add; i++)
			buf[n + i] = (uint8_t)rng_next(ctx);
		*len = n + add;
		return "extend";
	}
	default: {
		size_t to = rng_below(ctx, MAX_PAYLOAD + 1);
		if (to > n)
			memset(buf + n, 0, to - n);
		*len = to;
		return "setlen";
	}
	}
	return "none";
}

static int run_mutations(struct diff_ctx *ctx, struct tally *t,
			 const struct request_list *reqs, struct diff_case *c)
{
	uint8_t buf[MAX_REQUEST];
	char origin[96];
	for (unsigned i = 0; i < ctx->opts.nmutate && reqs->n; i++) {
		int base = (int)rng_below(ctx, (size_t)reqs->n);
		size_t len = reqs->items[base].len;
		memcpy(buf, reqs->items[base].bytes, len);
		int edits = 1 + (int)rng_below(ctx, 3);
		int used = snprintf(origin, sizeof(origin), "mutation %u of file request %d:",
				    i + 1, base + 1);
		for (int e = 0; e < edits; e++)
			used += snprintf(origin + used, sizeof(origin) - (size_t)used, " %s",
					 mutate_once(ctx, buf, &len));
		c->origin = origin;
		c->req = buf;
		c->len = len;
		int err = diff_one(ctx, t, c, 0);
		if (err)
			return err;
	}
	/* Short requests once more in a frame padded to 60 bytes, as real NICs
	 * deliver them: the program must take the length from the UDP header. */
	for (int i = 0; i < reqs->n; i++) {
		if (HDRS_LEN + reqs->items[i].len >= MIN_FRAME)
			continue;
		snprintf(origin, sizeof(origin), "file request %d padded to %d bytes", i + 1,
			 MIN_FRAME);
		c->origin = origin;
		c->req = reqs->items[i].bytes;
		c->len = reqs->items[i].len;
		int err = diff_one(ctx, t, c, MIN_FRAME);
		if (err)
			return err;
	}
	return 0;
}

static int run_random(struct diff_ctx *ctx, struct tally *t, struct diff_case *c)
{
	uint8_t buf[MAX_PAYLOAD];
	char origin[48];
	for (unsigned i = 0; i < ctx->opts.nrandom; i++) {
		size_t len = rng_below(ctx, MAX_PAYLOAD + 1);
		for (size_t k = 0; k < len; k++)
			buf[k] = (uint8_t)rng_next(ctx);
		snprintf(origin, sizeof(origin), "random %u", i + 1);
		c->origin = origin;
		c->req = buf;
		c->len = len;
		int err = diff_one(ctx, t, c, 0);
		if (err)
			return err;
	}
	return 0;
}

/* Foreign variant `variant` of a request frame of c->kind (already built);
 * returns its name, or NULL when the variant does not apply to the kind. */
static const char *make_foreign(struct diff_case *c, unsigned port, int variant)
{
	const struct frame_kind *k = c->kind;
	uint8_t *ip = c->frame + l2_len(k), *udp = ip + l3_len(k);
	switch (variant) {
	case 0:
		put16(udp + 2, (uint16_t)(port + 1));
		return "UDP to another port";
	case 1:
		ip[k->ipv6 ? 6 : 9] = 6;
		return "TCP to the port";
	case 2:
		if (k->ipv6) {	/* a hop-by-hop options header before UDP */
			ip[6] = 0;
			return "IPv6 extension header";
		}
		put16(ip + 6, 0x2000);
		return "IPv4 fragment (more fragments)";
	case 3:
		if (k->ipv6) {	/* two more bytes in the payload than in the datagram */
			put16(ip + 4, (uint16_t)(get16(ip + 4) + 2));
			memset(c->frame + c->frame_len, 0, 2);
			c->frame_len += 2;
			return "IPv6 payload length != UDP length";
		}
		put16(ip + 6, 0x0010);
		return "IPv4 fragment (offset)";
	case 4:
		put16(ip - 2, 0x0806);
		return "ARP frame";
	case 5:
		put16(udp, (uint16_t)port);
		put16(udp + 2, 40000);
		return "reply-shaped (from the port, on lo it comes back)";
	case 6:
		c->frame_len = l2_len(k);
		return "runt frame (Ethernet header and tags only)";
	case 7:
		if (!k->tags)
			return NULL;
		put16(ip - 2, 0x8100);	/* a further 802.1Q tag: more than koff parses */
		return "one VLAN tag too many";
	default:
		if (k->tags != 2)
			return NULL;
		put16(c->frame + 16, 0x0800);	/* 802.1ad, then no 802.1Q */
		return "802.1ad tag without an 802.1Q tag inside";
	}
}

/* Packets the handler must never see: each must pass untouched. */
static int run_foreign(struct diff_ctx *ctx, struct tally *t,
		       const struct request_list *reqs, struct diff_case *c)
{
	static const uint8_t payload[] = "not for the handler";
	char origin[96];
	c->req = reqs->n ? reqs->items[0].bytes : payload;
	c->len = reqs->n ? reqs->items[0].len : sizeof(payload);
	c->client_port = 40000;
	c->origin = origin;
	int err = 0;
	for (int i = 0; i < ctx->opts.nkinds && !err; i++) {
		c->kind = ctx->opts.kinds[i];
		for (int variant = 0; variant < 9; variant++) {
			build_frame(c, ctx->opts.port, 0);
			const char *what = make_foreign(c, ctx->opts.port, variant);
			if (!what)
				continue;
			snprintf(origin, sizeof(origin), "foreign: %s", what);
			if (!c->kind->ipv6 && variant != 4 && variant != 6) {	/* keep the IP checksum right */
				uint8_t *ip = c->frame + l2_len(c->kind);
				put16(ip + 10, 0);
				put16(ip + 10, (uint16_t)~fold(sum16(ip, IP_LEN, 0)));
			}
			err = diff_frame(ctx, t, c, true);
			if (err)
				break;
		}
	}
	c->origin = "foreign";	/* origin[] ends with this function */
	return err;
}

/* ---- summary and counters -------------------------------------------------- */

static void print_tally(const struct tally *t)
{
	double fb = t->requests ? 100.0 * (double)t->pass / (double)t->requests : 0;
	printf("%-8s requests %ld, tx %ld, drop %ld, pass %ld (fallback %.1f%%), mismatches %ld\n",
	       t->phase, t->requests, t->tx, t->drop, t->pass, fb, t->mismatches);
}

static void add_tally(struct tally *sum, const struct tally *t)
{
	sum->requests += t->requests;
	sum->tx += t->tx;
	sum->drop += t->drop;
	sum->pass += t->pass;
	sum->mismatches += t->mismatches;
}

/* Prints koff_stats and checks it against the verdicts seen; returns false
 * when the counters disagree with what the program returned. */
static bool check_stats(struct diff_ctx *ctx)
{
	if (!ctx->stats_map) {
		printf("koff_stats: no such map in %s\n", ctx->opts.prog_path);
		return false;
	}
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *values = calloc((size_t)(ncpu > 0 ? ncpu : 1), sizeof(uint64_t));
	uint64_t sums[KOFF_STAT__COUNT] = { 0 };
	bool ok = values && ncpu > 0;
	for (uint32_t i = 0; ok && i < KOFF_STAT__COUNT; i++) {
		if (bpf_map__lookup_elem(ctx->stats_map, &i, sizeof(i), values,
					 sizeof(uint64_t) * (size_t)ncpu, 0)) {
			printf("koff_stats: lookup of %s failed: %s\n", koff_stat_name(i),
			       strerror(errno));
			ok = false;
		}
		for (int cpu = 0; ok && cpu < ncpu; cpu++)
			sums[i] += values[cpu];
	}
	free(values);
	if (!ok)
		return false;
	uint64_t passes = 0;
	printf("koff_stats:");
	for (int i = 0; i < KOFF_STAT__COUNT; i++) {
		printf(" %s=%llu", koff_stat_name((unsigned)i), (unsigned long long)sums[i]);
		passes += i >= KOFF_STAT_PASS_OTHER ? sums[i] : 0;
	}
	printf("\n");
	const struct tally *t = &ctx->total;
	if (sums[KOFF_STAT_TX] != (uint64_t)t->tx || sums[KOFF_STAT_DROP] != (uint64_t)t->drop ||
	    passes != (uint64_t)t->pass) {
		printf("koff_stats DISAGREE with the verdicts: tx %ld, drop %ld, pass %ld seen\n",
		       t->tx, t->drop, t->pass);
		return false;
	}
	return true;
}

/* ---- main ------------------------------------------------------------------ */

static void usage(void)
{
	fprintf(stderr,
		"usage: koffdiff [--port N] [--cap N] [--random N] [--mutate N] [--seed S]\n"
		"                [--max-fallback-percent P] [--frames KINDS] PROG.bpf.o REQUESTS.txt\n"
		"KINDS: comma-separated v4 v6 vlan4 vlan6 qinq4 qinq6, or all (default v4)\n");
}

/* Adds kind k to --frames unless it is there already. */
static void add_kind(struct options *o, const struct frame_kind *k)
{
	for (int j = 0; j < o->nkinds; j++)
		if (o->kinds[j] == k)
			return;
	o->kinds[o->nkinds++] = k;
}

/* --frames v4,v6,... or all: each kind once, in the order given. */
static int parse_frames(const char *list, struct options *o)
{
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", list);
	o->nkinds = 0;
	for (char *save, *name = strtok_r(buf, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
		bool all = !strcmp(name, "all"), found = all;
		for (size_t i = 0; i < NKINDS; i++) {
			if (all || !strcmp(name, frame_kinds[i].name)) {
				add_kind(o, &frame_kinds[i]);
				found = true;
			}
		}
		if (!found) {
			fprintf(stderr, "koffdiff: --frames: unknown frame kind '%s'\n", name);
			return -EINVAL;
		}
	}
	return o->nkinds ? 0 : -EINVAL;
}

static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "cap", required_argument, NULL, 'c' },
		{ "random", required_argument, NULL, 'r' },
		{ "mutate", required_argument, NULL, 'm' },
		{ "seed", required_argument, NULL, 's' },
		{ "max-fallback-percent", required_argument, NULL, 'f' },
		{ "frames", required_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 },
	};
	*o = (struct options){ .port = 5353, .cap = DEFAULT_CAP, .seed = 1,
			       .max_fallback_percent = 100 };
	int ch;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'p': o->port = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'c': o->cap = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'r': o->nrandom = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'm': o->nmutate = (unsigned)strtoul(optarg, NULL, 0); break;
		case 's': o->seed = strtoull(optarg, NULL, 0); break;
		case 'f': o->max_fallback_percent = strtod(optarg, NULL); break;
		case 'k':
			if (parse_frames(optarg, o))
				return -EINVAL;
			break;
		default: return -EINVAL;
		}
	}
	if (argc - optind != 2 || !o->port || o->port > 65535 || !o->cap)
		return -EINVAL;
	if (!o->nkinds)
		o->kinds[o->nkinds++] = &frame_kinds[0];
	o->prog_path = argv[optind];
	o->requests_path = argv[optind + 1];
	return 0;
}

static int run_phases(struct diff_ctx *ctx, const struct request_list *reqs,
		      struct tally *file)
{
	struct diff_case *c = calloc(1, sizeof(*c));
	uint8_t *reply = malloc(ctx->opts.cap);
	struct tally mutate = { .phase = "mutate:" }, random = { .phase = "random:" },
		     foreign = { .phase = "foreign:" };
	int err = c && reply ? 0 : -ENOMEM;
	if (!err) {
		c->reply = reply;
		err = run_file(ctx, file, reqs, c);
	}
	if (!err)
		err = run_mutations(ctx, &mutate, reqs, c);
	if (!err)
		err = run_random(ctx, &random, c);
	if (!err)
		err = run_foreign(ctx, &foreign, reqs, c);
	free(reply);
	free(c);
	if (err)
		return err;
	const struct tally *phases[] = { file, &mutate, &random, &foreign };
	for (size_t i = 0; i < ARRAY_SIZE(phases); i++) {
		print_tally(phases[i]);
		add_tally(&ctx->total, phases[i]);
	}
	print_tally(&ctx->total);
	return 0;
}

int main(int argc, char **argv)
{
	struct diff_ctx ctx = { .total = { .phase = "total:" } };
	struct request_list reqs = { 0 };
	struct tally file = { .phase = "file:" };
	if (parse_options(argc, argv, &ctx.opts)) {
		usage();
		return 3;
	}
	ctx.rng = ctx.opts.seed ? ctx.opts.seed : 0x9e3779b97f4a7c15ull;
	if (load_requests(ctx.opts.requests_path, &reqs) || load_program(&ctx))
		return 3;
	int traced = load_trace_table(&ctx);
	if (traced < 0)
		return 3;
	ctx.traced = traced;
	int err = run_phases(&ctx, &reqs, &file);
	bool stats_ok = !err && check_stats(&ctx);
	bpf_object__close(ctx.obj);
	free_trace_table(&ctx.trace);
	for (int i = 0; i < reqs.n; i++)
		free(reqs.items[i].bytes);
	free(reqs.items);
	if (err)
		return 3;
	double fb = file.requests ? 100.0 * (double)file.pass / (double)file.requests : 0;
	if (ctx.total.mismatches || !stats_ok)
		return 1;
	if (fb > ctx.opts.max_fallback_percent) {
		printf("too many fallbacks on the file's requests: %.1f%% > %.1f%%\n", fb,
		       ctx.opts.max_fallback_percent);
		return 2;
	}
	return 0;
}
