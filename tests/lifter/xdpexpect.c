/* xdpexpect - runs hand-picked requests through a koff XDP program and
 * checks the outcome each one must have, WITHOUT running the native
 * handler (which may trap on them: a division by zero raises SIGFPE).
 *
 * Each line of EXPECT.txt is a hex request followed by `# OUTCOME`, where
 * OUTCOME is a koff_stats counter name (include/koff_abi.h): `tx`, `drop`
 * or a fallback such as `pass_div`.  A request passes when the program's
 * verdict fits the outcome (XDP_TX, XDP_DROP, or XDP_PASS with the frame
 * untouched) and exactly that counter grew by one.
 *
 * Usage: xdpexpect --port N PROG.bpf.o EXPECT.txt
 * Exit: 0 all as expected; 1 some request not as expected; 3 setup error.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <ctype.h>
#include <errno.h>
#include <linux/bpf.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../include/koff_abi.h"

#define HDRS_LEN (14 + 20 + 8)
#define MAX_REQUEST 2048
#define FRAME_MAX (HDRS_LEN + MAX_REQUEST + 64)

struct expect_ctx {
	unsigned port;
	int prog_fd;
	struct bpf_map *stats;
	int ncpu;
	int failures;
};

struct one_case {
	uint8_t req[MAX_REQUEST];
	size_t len;
	char outcome[32];
	uint8_t frame[FRAME_MAX], out[FRAME_MAX + 8192];
	size_t frame_len;
	uint32_t out_len, verdict;
};

static void put16(uint8_t *p, unsigned v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

static uint32_t sum16(const uint8_t *p, size_t n, uint32_t sum)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
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

/* Ethernet + IPv4 + UDP (valid checksums) around the request, to `port`. */
static void build_frame(struct one_case *c, unsigned port)
{
	static const uint8_t macs[12] = { 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1 };
	uint8_t *ip = c->frame + 14, *udp = ip + 20;

	memcpy(c->frame, macs, 12);
	put16(c->frame + 12, 0x0800);
	memset(ip, 0, 20);
	ip[0] = 0x45;
	put16(ip + 2, (unsigned)(28 + c->len));
	put16(ip + 6, 0x4000);
	ip[8] = 64;
	ip[9] = 17;
	put16(ip + 12, 0x0a00);
	put16(ip + 14, 0x0001);
	put16(ip + 16, 0x0a00);
	put16(ip + 18, 0x0002);
	put16(ip + 10, (uint16_t)~fold(sum16(ip, 20, 0)));
	put16(udp, 40000);
	put16(udp + 2, port);
	put16(udp + 4, (unsigned)(8 + c->len));
	put16(udp + 6, 0);
	memcpy(udp + 8, c->req, c->len);
	uint32_t pseudo = sum16(ip + 12, 8, 0) + 17 + (uint32_t)(8 + c->len);
	uint16_t csum = (uint16_t)~fold(sum16(udp, 8 + c->len, pseudo));
	put16(udp + 6, csum ? csum : 0xffff);
	c->frame_len = HDRS_LEN + c->len;
}

static int stat_index(const char *name)
{
	for (unsigned i = 0; i < KOFF_STAT__COUNT; i++)
		if (!strcmp(koff_stat_name(i), name))
			return (int)i;
	return -1;
}

static int read_stats(struct expect_ctx *ctx, uint64_t sums[KOFF_STAT__COUNT])
{
	uint64_t values[ctx->ncpu];

	for (uint32_t i = 0; i < KOFF_STAT__COUNT; i++) {
		if (bpf_map__lookup_elem(ctx->stats, &i, sizeof(i), values, sizeof(values), 0))
			return -errno;
		sums[i] = 0;
		for (int cpu = 0; cpu < ctx->ncpu; cpu++)
			sums[i] += values[cpu];
	}
	return 0;
}

/* Parses "HEX # OUTCOME"; returns 1 for a case, 0 for a blank or comment
 * line, -EINVAL for a malformed one. */
static int parse_line(const char *line, struct one_case *c)
{
	const char *p = line, *hash = strchr(line, '#');
	int high = -1;

	c->len = 0;
	for (; *p && p != hash; p++) {
		if (isspace((unsigned char)*p))
			continue;
		if (!isxdigit((unsigned char)*p) || c->len >= MAX_REQUEST)
			return -EINVAL;
		int d = isdigit((unsigned char)*p) ? *p - '0' : tolower((unsigned char)*p) - 'a' + 10;
		if (high < 0) {
			high = d;
		} else {
			c->req[c->len++] = (uint8_t)(high << 4 | d);
			high = -1;
		}
	}
	if (high >= 0)
		return -EINVAL;
	if (!hash)
		return c->len ? -EINVAL : 0;	/* a request must say what it expects */
	if (sscanf(hash + 1, " %31s", c->outcome) != 1)
		return -EINVAL;
	if (!c->len && p == hash && hash == line + strspn(line, " \t"))
		return 0;	/* a comment line */
	return stat_index(c->outcome) < 0 ? -EINVAL : 1;
}

static const char *judge(const struct one_case *c, int stat)
{
	uint32_t want = stat == KOFF_STAT_TX ? XDP_TX : stat == KOFF_STAT_DROP ? XDP_DROP : XDP_PASS;

	if (c->verdict != want)
		return "wrong verdict";
	if (want == XDP_PASS && (c->out_len != c->frame_len || memcmp(c->out, c->frame, c->frame_len)))
		return "XDP_PASS but the frame was modified";
	return NULL;
}

static int run_case(struct expect_ctx *ctx, struct one_case *c, int lineno)
{
	uint64_t before[KOFF_STAT__COUNT], after[KOFF_STAT__COUNT];
	int stat = stat_index(c->outcome);

	build_frame(c, ctx->port);
	LIBBPF_OPTS(bpf_test_run_opts, run, .data_in = c->frame, .data_size_in = (uint32_t)c->frame_len,
		    .data_out = c->out, .data_size_out = sizeof(c->out), .repeat = 1);
	if (read_stats(ctx, before) || bpf_prog_test_run_opts(ctx->prog_fd, &run) ||
	    read_stats(ctx, after)) {
		fprintf(stderr, "xdpexpect: test run or stats lookup failed: %s\n", strerror(errno));
		return -EIO;
	}
	c->verdict = run.retval;
	c->out_len = run.data_size_out;
	const char *why = judge(c, stat);
	for (unsigned i = 0; !why && i < KOFF_STAT__COUNT; i++)
		if (after[i] - before[i] != (i == (unsigned)stat))
			why = "another koff_stats counter moved";
	if (why) {
		ctx->failures++;
		printf("UNEXPECTED line %d: want %s: %s (verdict %u); counters moved:", lineno,
		       c->outcome, why, c->verdict);
		for (unsigned i = 0; i < KOFF_STAT__COUNT; i++)
			if (after[i] != before[i])
				printf(" %s", koff_stat_name(i));
		printf("\n");
	}
	return 0;
}

static int run_file(struct expect_ctx *ctx, const char *path)
{
	static struct one_case c;
	char line[2 * MAX_REQUEST + 256];
	int lineno = 0, n = 0;
	FILE *f = fopen(path, "r");

	if (!f) {
		fprintf(stderr, "xdpexpect: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	while (fgets(line, sizeof(line), f)) {
		int r = parse_line(line, &c);

		lineno++;
		if (r < 0) {
			fprintf(stderr, "xdpexpect: %s:%d: want \"HEX # COUNTER\"\n", path, lineno);
			fclose(f);
			return r;
		}
		if (r && run_case(ctx, &c, lineno)) {
			fclose(f);
			return -EIO;
		}
		n += r;
	}
	fclose(f);
	printf("xdpexpect: %d requests, %d not as expected\n", n, ctx->failures);
	return 0;
}

int main(int argc, char **argv)
{
	struct expect_ctx ctx = { 0 };

	if (argc != 5 || strcmp(argv[1], "--port")) {
		fprintf(stderr, "usage: xdpexpect --port N PROG.bpf.o EXPECT.txt\n");
		return 3;
	}
	ctx.port = (unsigned)strtoul(argv[2], NULL, 0);
	ctx.ncpu = libbpf_num_possible_cpus();
	struct bpf_object *obj = bpf_object__open_file(argv[3], NULL);
	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "xdpexpect: %s: cannot open or load\n", argv[3]);
		return 3;
	}
	struct bpf_program *prog = bpf_object__find_program_by_name(obj, KOFF_PROG_NAME);
	ctx.stats = bpf_object__find_map_by_name(obj, KOFF_MAP_STATS);
	if (!prog || !ctx.stats || ctx.ncpu <= 0) {
		fprintf(stderr, "xdpexpect: %s: no %s program or %s map\n", argv[3], KOFF_PROG_NAME,
			KOFF_MAP_STATS);
		bpf_object__close(obj);
		return 3;
	}
	ctx.prog_fd = bpf_program__fd(prog);
	int err = run_file(&ctx, argv[4]);
	bpf_object__close(obj);
	return err ? 3 : ctx.failures ? 1 : 0;
}
