/* koffstate - stateful translation validation: a handler with shared
 * state (docs/shared-state.md) against its XDP program, request after
 * request.
 *
 * Linked with the handler's object, its main() localized and each shared
 * section renamed to koffsh_I (I = its line in the program's .koff.shared
 * section, in order), so that the linker gives it __start_koffsh_I: the
 * native globals of section I, with the object's own internal layout.
 * The XDP program's koff_shared map (libbpf creates it; koffstate checks
 * it is an mmapable one-entry array of the right size and maps it) starts
 * with the same initial bytes (this process's, i.e. the object's) and
 * ctl.magic set.  Then every request, in order, goes to both sides:
 *   XDP_TX / XDP_DROP  the native handler's verdict and reply bytes, and
 *                      afterwards the map's globals byte for byte equal to
 *                      the native ones;
 *   XDP_PASS           (a fallback) the frame untouched and the map's
 *                      globals exactly as before the request (a LOCK
 *                      program undid its stores); then userspace serves
 *                      it: the native state after the request is copied
 *                      into the map, as OUT would have written it there.
 * After every run ctl.lock must be free again and seq/writers untouched.
 * With --protocol it first checks the control block's refusals on
 * crafted states (magic unset; SEQ: a writer inside; LOCK: the lock
 * held): XDP_PASS, pass_shared counted, the region untouched.
 *
 * Build (tests/t-shared-diff.sh does this):
 *   objcopy --localize-symbol=main --rename-section .bss=koffsh_0 app.o app_state.o
 *   cc tests/koffstate.c app_state.o -lbpf -lelf -o koffstate
 * Usage: koffstate [--port P] [--rounds N] [--random N] [--seed S] [--protocol]
 *                  [--expect-mode seq|lock] [--time N] PROG.bpf.o REQUESTS
 * (--time N: afterwards, the mean kernel time of the first request over N runs.)
 * Exit: 0 agree; 1 mismatch; 3 usage or setup error. */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
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
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../include/koff_abi.h"

long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp,
		    unsigned long cap);

#define MAX_SECS 8
#define HDRS 42			/* Ethernet + IPv4 + UDP */
#define MAX_REQ 1400
#define CAP 1472		/* koff-link's --resp-cap default */
#define MAX_SHOWN 6

/* The renamed sections: weak, so that absent ones are NULL. */
#define SEC_BOUNDS(i) extern char __start_koffsh_##i[] __attribute__((weak)), \
			      __stop_koffsh_##i[] __attribute__((weak));
SEC_BOUNDS(0) SEC_BOUNDS(1) SEC_BOUNDS(2) SEC_BOUNDS(3)
SEC_BOUNDS(4) SEC_BOUNDS(5) SEC_BOUNDS(6) SEC_BOUNDS(7)
static char *const sec_start[MAX_SECS] = { __start_koffsh_0, __start_koffsh_1, __start_koffsh_2,
					   __start_koffsh_3, __start_koffsh_4, __start_koffsh_5,
					   __start_koffsh_6, __start_koffsh_7 };
static char *const sec_stop[MAX_SECS] = { __stop_koffsh_0, __stop_koffsh_1, __stop_koffsh_2,
					  __stop_koffsh_3, __stop_koffsh_4, __stop_koffsh_5,
					  __stop_koffsh_6, __stop_koffsh_7 };

struct shared_sec {
	char name[64];
	uint64_t off, size;
	uint8_t *native;	/* __start_koffsh_I */
};

struct state {
	unsigned port, rounds, nrandom, shown, time_repeat;
	uint64_t seed;
	bool protocol;
	const char *expect_mode, *prog_path, *req_path;
	struct bpf_object *obj;
	int prog_fd, stats_fd;
	char mode[16];
	uint64_t value_size, data_size;
	struct shared_sec secs[MAX_SECS];
	int nsecs;
	uint8_t *region;	/* the map's value, mmapped */
	struct koff_shared_ctl *ctl;
	long tx, drop, pass, mismatches;
};

static int setup_fail(const char *what, const char *why)
{
	fprintf(stderr, "koffstate: %s: %s\n", what, why);
	return -1;
}

/* ---- .koff.shared: mode, sizes, the sections ------------------------------ */

static int parse_shared_text(struct state *s, char *text)
{
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		unsigned long long a, b;
		char name[64];

		if (sscanf(line, "mode %15s", s->mode) == 1)
			continue;
		if (sscanf(line, "size %llu", &a) == 1) {
			s->value_size = a;
		} else if (sscanf(line, "data %llu", &a) == 1) {
			s->data_size = a;
		} else if (sscanf(line, "section %63s %llu %llu", name, &a, &b) == 3) {
			struct shared_sec *sec = &s->secs[s->nsecs];

			if (s->nsecs == MAX_SECS)
				return setup_fail(s->prog_path, "too many shared sections");
			snprintf(sec->name, sizeof(sec->name), "%s", name);
			sec->off = a;
			sec->size = b;
			s->nsecs++;
		} else {
			return setup_fail(s->prog_path, "unreadable " KOFF_SHARED_SECTION " line");
		}
	}
	return s->value_size && s->mode[0] ? 0 : setup_fail(s->prog_path, "incomplete " KOFF_SHARED_SECTION);
}

static int read_shared_section(struct state *s)
{
	int fd = open(s->prog_path, O_RDONLY), rc = 1;
	Elf *elf;
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	elf_version(EV_CURRENT);
	elf = fd >= 0 ? elf_begin(fd, ELF_C_READ, NULL) : NULL;
	if (!elf || elf_getshdrstrndx(elf, &shstrndx))
		goto out;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;
		char *text;

		if (!gelf_getshdr(scn, &sh) || strcmp(elf_strptr(elf, shstrndx, sh.sh_name), KOFF_SHARED_SECTION))
			continue;
		d = elf_getdata(scn, NULL);
		text = d ? strndup(d->d_buf, d->d_size) : NULL;
		rc = text ? parse_shared_text(s, text) : -1;
		free(text);
		break;
	}
out:
	if (elf)
		elf_end(elf);
	if (fd >= 0)
		close(fd);
	return rc > 0 ? setup_fail(s->prog_path, "no " KOFF_SHARED_SECTION " section") : rc;
}

/* ---- the program and its map ---------------------------------------------- */

static int map_region(struct state *s)
{
	struct bpf_map *map = bpf_object__find_map_by_name(s->obj, KOFF_MAP_SHARED);
	struct bpf_map_info info = { 0 };
	uint32_t len = sizeof(info);
	int fd;

	if (!map)
		return setup_fail(s->prog_path, "no " KOFF_MAP_SHARED " map");
	fd = bpf_map__fd(map);
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return setup_fail(KOFF_MAP_SHARED, strerror(errno));
	if (info.type != BPF_MAP_TYPE_ARRAY || info.max_entries != 1 || info.key_size != 4 ||
	    !(info.map_flags & BPF_F_MMAPABLE) || info.value_size != s->value_size)
		return setup_fail(KOFF_MAP_SHARED, "not a one-entry mmapable array of the announced size");
	s->region = mmap(NULL, s->value_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (s->region == MAP_FAILED)
		return setup_fail("mmap " KOFF_MAP_SHARED, strerror(errno));
	s->ctl = (struct koff_shared_ctl *)(s->region + s->value_size - KOFF_SHARED_CTL_SIZE);
	return 0;
}

static int load(struct state *s)
{
	struct bpf_program *prog;
	struct bpf_map *stats;

	s->obj = bpf_object__open_file(s->prog_path, NULL);
	if (!s->obj || bpf_object__load(s->obj))
		return setup_fail(s->prog_path, "cannot open or load");
	prog = bpf_object__find_program_by_name(s->obj, KOFF_PROG_NAME);
	stats = bpf_object__find_map_by_name(s->obj, KOFF_MAP_STATS);
	if (!prog || !stats)
		return setup_fail(s->prog_path, "no " KOFF_PROG_NAME " or " KOFF_MAP_STATS);
	s->prog_fd = bpf_program__fd(prog);
	s->stats_fd = bpf_map__fd(stats);
	return map_region(s);
}

/* The native sections, checked against the announced sizes. */
static int find_native(struct state *s)
{
	for (int i = 0; i < s->nsecs; i++) {
		if (!sec_start[i] || (uint64_t)(sec_stop[i] - sec_start[i]) != s->secs[i].size)
			return setup_fail(s->secs[i].name, "not linked in as koffsh_I of the announced size");
		if (s->secs[i].off + s->secs[i].size > s->data_size)
			return setup_fail(s->secs[i].name, "outside the region");
		s->secs[i].native = (uint8_t *)sec_start[i];
	}
	return 0;
}

static uint64_t stat_sum(struct state *s, uint32_t key)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t v[ncpu > 0 ? ncpu : 1], sum = 0;

	if (ncpu <= 0 || bpf_map_lookup_elem(s->stats_fd, &key, v))
		return 0;
	for (int i = 0; i < ncpu; i++)
		sum += v[i];
	return sum;
}

/* ---- both sides ---------------------------------------------------------- */

static void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xff; }

static size_t build_frame(const struct state *s, const uint8_t *req, size_t len, uint8_t *f)
{
	static const uint8_t head[26] = { 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00, 0x45, 0, 0, 0,
					  0x12, 0x34, 0x40, 0, 64, 17, 0, 0 };
	uint32_t sum = 0;

	memcpy(f, head, sizeof(head));
	put16(f + 16, (uint16_t)(20 + 8 + len));
	memcpy(f + 26, (uint8_t[]){ 10, 0, 0, 1, 10, 0, 0, 2 }, 8);
	for (int i = 14; i < 34; i += 2)
		sum += (uint32_t)(f[i] << 8 | f[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	put16(f + 24, (uint16_t)~sum);
	put16(f + 34, 40000);
	put16(f + 36, (uint16_t)s->port);
	put16(f + 38, (uint16_t)(8 + len));
	put16(f + 40, 0);
	memcpy(f + HDRS, req, len);
	return HDRS + len;
}

static bool globals_equal_native(const struct state *s, uint64_t *where)
{
	for (int i = 0; i < s->nsecs; i++)
		for (uint64_t k = 0; k < s->secs[i].size; k++)
			if (s->region[s->secs[i].off + k] != s->secs[i].native[k]) {
				*where = s->secs[i].off + k;
				return false;
			}
	return true;
}

static void native_into_map(struct state *s)
{
	for (int i = 0; i < s->nsecs; i++)
		memcpy(s->region + s->secs[i].off, s->secs[i].native, s->secs[i].size);
}

static void mismatch(struct state *s, const char *origin, const char *what, uint64_t at)
{
	s->mismatches++;
	if (s->shown++ < MAX_SHOWN)
		fprintf(stderr, "MISMATCH %s: %s (region offset %llu)\n", origin, what, (unsigned long long)at);
}

static bool ctl_clean(const struct state *s, const struct koff_shared_ctl *before)
{
	return s->ctl->lock == 0 && s->ctl->seq == before->seq && s->ctl->writers == before->writers &&
	       s->ctl->magic == before->magic;
}

/* One request through XDP, then natively; judged as the header says. */
static int one_request(struct state *s, const uint8_t *req, size_t len, const char *origin)
{
	static uint8_t frame[HDRS + MAX_REQ + 64], out[8192], before[1 << 20], reply[CAP];
	struct koff_shared_ctl ctl_before = *s->ctl;
	size_t flen = build_frame(s, req, len, frame);
	LIBBPF_OPTS(bpf_test_run_opts, run, .data_in = frame, .data_size_in = (uint32_t)flen,
		    .data_out = out, .data_size_out = sizeof(out), .repeat = 1);
	uint64_t at = 0;
	long ret;

	if (s->data_size > sizeof(before))
		return setup_fail("region", "too large for koffstate");
	memcpy(before, s->region, s->data_size);
	if (bpf_prog_test_run_opts(s->prog_fd, &run))
		return setup_fail("bpf_prog_test_run", strerror(errno));
	ret = handle_request(req, len, reply, CAP);
	if (!ctl_clean(s, &ctl_before))
		mismatch(s, origin, "control block not as before (lock not released?)", 0);
	if (run.retval == XDP_PASS) {
		s->pass++;
		if (run.data_size_out != flen || memcmp(out, frame, flen))
			mismatch(s, origin, "XDP_PASS with a modified frame", 0);
		for (uint64_t k = 0; k < s->data_size; k++)
			if (s->region[k] != before[k]) {
				mismatch(s, origin, "XDP_PASS left shared state changed (not undone)", k);
				break;
			}
		native_into_map(s);	/* userspace serves it on the shared copy */
		return 0;
	}
	if (run.retval == XDP_TX) {
		s->tx++;
		if (ret <= 0)
			mismatch(s, origin, "XDP_TX where the native handler returned <= 0", 0);
		else if (run.data_size_out != HDRS + (uint32_t)ret || memcmp(out + HDRS, reply, (size_t)ret))
			mismatch(s, origin, "reply differs from the native one", 0);
	} else if (run.retval == XDP_DROP) {
		s->drop++;
		if (ret > 0)
			mismatch(s, origin, "XDP_DROP where the native handler replied", 0);
	} else {
		mismatch(s, origin, "unexpected XDP verdict", run.retval);
	}
	if (!globals_equal_native(s, &at)) {
		mismatch(s, origin, "shared bytes differ from the native globals after the request", at);
		native_into_map(s);	/* report each difference once */
	}
	return 0;
}

/* ---- --protocol: crafted control blocks ------------------------------------ */

static int refused(struct state *s, const uint8_t *req, size_t len, const char *what)
{
	static uint8_t frame[HDRS + MAX_REQ + 64], out[8192], before[1 << 20];
	size_t flen = build_frame(s, req, len, frame);
	LIBBPF_OPTS(bpf_test_run_opts, run, .data_in = frame, .data_size_in = (uint32_t)flen,
		    .data_out = out, .data_size_out = sizeof(out), .repeat = 1);
	uint64_t passes = stat_sum(s, KOFF_STAT_PASS_SHARED);

	memcpy(before, s->region, s->value_size);
	if (bpf_prog_test_run_opts(s->prog_fd, &run))
		return setup_fail("bpf_prog_test_run", strerror(errno));
	if (run.retval != XDP_PASS || stat_sum(s, KOFF_STAT_PASS_SHARED) != passes + 1)
		mismatch(s, what, "not refused with pass_shared", run.retval);
	else if (memcmp(before, s->region, s->value_size))
		mismatch(s, what, "refused, but the region (or its control block) changed", 0);
	else
		printf("protocol: %s: pass_shared, region untouched\n", what);
	return 0;
}

static int protocol_checks(struct state *s, const uint8_t *req, size_t len)
{
	bool lock = !strcmp(s->mode, "lock");
	int rc;

	s->ctl->magic = 0;
	rc = refused(s, req, len, "magic unset");
	s->ctl->magic = KOFF_SHARED_MAGIC;
	if (!rc && !lock) {
		s->ctl->writers = 1;
		rc = refused(s, req, len, "a userspace writer inside");
		s->ctl->writers = 0;
	}
	if (!rc && lock) {
		s->ctl->lock = KOFF_SHARED_LOCK_USER;
		rc = refused(s, req, len, "lock held by userspace");
		s->ctl->lock = KOFF_SHARED_LOCK_KERNEL;
		if (!rc)
			rc = refused(s, req, len, "lock held by another CPU's run");
		s->ctl->lock = 0;
	}
	return rc;
}

/* --time N: the kernel's mean ns per run of one request over N single
 * runs (a repeated test run would answer the frame it rewrote; the state
 * moves on in LOCK mode, the verdict of the last run is printed). */
static int time_request(struct state *s, const uint8_t *req, size_t len)
{
	static uint8_t frame[HDRS + MAX_REQ + 64], out[8192];
	size_t flen = build_frame(s, req, len, frame);
	unsigned long long total = 0;
	uint32_t verdict = 0;

	for (unsigned i = 0; i < s->time_repeat; i++) {
		LIBBPF_OPTS(bpf_test_run_opts, run, .data_in = frame, .data_size_in = (uint32_t)flen,
			    .data_out = out, .data_size_out = sizeof(out), .repeat = 1);

		if (bpf_prog_test_run_opts(s->prog_fd, &run))
			return setup_fail("bpf_prog_test_run", strerror(errno));
		total += run.duration;
		verdict = run.retval;
	}
	printf("koffstate: time: %.1f ns per run (verdict %u, %u runs)\n",
	       s->time_repeat ? (double)total / s->time_repeat : 0.0, verdict, s->time_repeat);
	return 0;
}

/* ---- requests -------------------------------------------------------------- */

struct requests {
	uint8_t (*bytes)[MAX_REQ];
	size_t *len;
	int n;
};

static int read_requests(const char *path, struct requests *r)
{
	FILE *f = fopen(path, "r");
	char line[2 * MAX_REQ + 8];

	if (!f)
		return setup_fail(path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		size_t n = 0;

		if (line[0] == '#' || line[0] == '\n')
			continue;
		r->bytes = realloc(r->bytes, sizeof(*r->bytes) * (size_t)(r->n + 1));
		r->len = realloc(r->len, sizeof(size_t) * (size_t)(r->n + 1));
		if (!r->bytes || !r->len)
			return setup_fail(path, "out of memory");
		for (char *p = line; p[0] && p[1] && p[0] != '\n' && n < MAX_REQ; p += 2) {
			unsigned v;

			if (sscanf(p, "%2x", &v) != 1)
				break;
			r->bytes[r->n][n++] = (uint8_t)v;
		}
		r->len[r->n++] = n;
	}
	fclose(f);
	return r->n ? 0 : setup_fail(path, "no requests");
}

static uint64_t rng(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* A file request with a few bytes changed, or random bytes of random length. */
static size_t random_request(struct state *s, const struct requests *r, uint8_t *buf)
{
	size_t len;

	if (rng(&s->seed) % 2) {
		int i = (int)(rng(&s->seed) % (uint64_t)r->n);

		len = r->len[i];
		memcpy(buf, r->bytes[i], len);
		for (int k = 0; len && k < 2; k++)
			buf[rng(&s->seed) % len] = (uint8_t)rng(&s->seed);
		return len;
	}
	len = 1 + rng(&s->seed) % 300;
	for (size_t k = 0; k < len; k++)
		buf[k] = (uint8_t)rng(&s->seed);
	return len;
}

static int run_all(struct state *s)
{
	struct requests r = { 0 };
	uint8_t buf[MAX_REQ];
	char origin[64];
	uint64_t at = 0;
	int rc = read_requests(s->req_path, &r);

	native_into_map(s);		/* the initial values */
	memset(s->ctl, 0, sizeof(*s->ctl));
	s->ctl->magic = KOFF_SHARED_MAGIC;
	if (!rc && s->protocol)
		rc = protocol_checks(s, r.bytes[0], r.len[0]);
	for (unsigned round = 0; !rc && round < s->rounds; round++)
		for (int i = 0; !rc && i < r.n; i++) {
			snprintf(origin, sizeof(origin), "round %u, request %d", round, i + 1);
			rc = one_request(s, r.bytes[i], r.len[i], origin);
		}
	for (unsigned i = 0; !rc && i < s->nrandom; i++) {
		size_t len = random_request(s, &r, buf);

		snprintf(origin, sizeof(origin), "random %u", i + 1);
		rc = one_request(s, buf, len, origin);
	}
	if (!rc && !globals_equal_native(s, &at))
		mismatch(s, "end", "final shared bytes differ from the native globals", at);
	if (!rc && s->time_repeat)
		rc = time_request(s, r.bytes[0], r.len[0]);
	free(r.bytes);
	free(r.len);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "port", 1, 0, 'p' }, { "rounds", 1, 0, 'r' }, { "random", 1, 0, 'n' },
		{ "seed", 1, 0, 's' }, { "protocol", 0, 0, 'P' }, { "expect-mode", 1, 0, 'm' },
		{ "time", 1, 0, 't' }, { 0 }
	};
	struct state s = { .port = 9999, .rounds = 1, .seed = 20261130 };
	int c;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'p': s.port = (unsigned)atoi(optarg); break;
		case 'r': s.rounds = (unsigned)atoi(optarg); break;
		case 'n': s.nrandom = (unsigned)atoi(optarg); break;
		case 's': s.seed = strtoull(optarg, NULL, 0) | 1; break;
		case 'P': s.protocol = true; break;
		case 'm': s.expect_mode = optarg; break;
		case 't': s.time_repeat = (unsigned)atoi(optarg); break;
		default: return 3;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "usage: koffstate [--port P] [--rounds N] [--random N] [--seed S] "
				"[--protocol] [--expect-mode seq|lock] PROG.bpf.o REQUESTS\n");
		return 3;
	}
	s.prog_path = argv[optind];
	s.req_path = argv[optind + 1];
	if (read_shared_section(&s) || load(&s) || find_native(&s))
		return 3;
	if (s.expect_mode && strcmp(s.expect_mode, s.mode)) {
		fprintf(stderr, "MISMATCH: the program's mode is %s, expected %s\n", s.mode, s.expect_mode);
		return 1;
	}
	if (run_all(&s))
		return 3;
	for (uint32_t k = 0; k < KOFF_STAT__COUNT; k++)
		if (stat_sum(&s, k))
			printf("koffstate: %s %llu\n", koff_stat_name(k), (unsigned long long)stat_sum(&s, k));
	printf("koffstate: mode %s, %d shared sections (%llu bytes): %ld tx, %ld drop, %ld pass, "
	       "%ld mismatches\n", s.mode, s.nsecs, (unsigned long long)s.data_size, s.tx, s.drop, s.pass,
	       s.mismatches);
	return s.mismatches ? 1 : 0;
}
