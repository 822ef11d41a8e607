/* calls_bench - what BPF-to-BPF calls cost against inlining: loads the
 * variants of bench/calls.bpf.c, reports what the verifier and the JIT made
 * of each, checks that all give the same verdicts, and times them side by
 * side (bench/calls.sh runs it; bench/CALLS.md has the results).
 *
 *   calls_bench [--runs N] [--repeat N] [--loads N] NAME=PROG.bpf.o ...
 *   calls_bench --probe PROG.bpf.o
 *
 * Bench mode: every object is loaded --loads times (log level 4: the
 * verifier's statistics) for the median verification time; then, --runs
 * times, every variant (and an empty XDP_PASS program, test_run's own cost)
 * runs each test packet with bpf_prog_test_run repeat = --repeat, variants
 * interleaved and their order rotated from run to run, so background load
 * hits all of them alike.  The figure is the median over runs of the
 * kernel's ns per repetition.  The programs never change the frame, so a
 * repeat measures the same request every time.
 * Prints one markdown table.
 *
 * Probe mode: loads each program of the object on its own and prints
 * "NAME accepted (N insns)" or "NAME rejected: the verifier's complaint". */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <getopt.h>
#include <linux/bpf.h>

#include "bench_common.h"

#define LOG_SIZE (16u << 20)
#define MAX_VARIANTS 24
#define CALLS_PORT 5353
#define KNOWN_NAMES 8	/* calls.bpf.c's known_hashes[] */

struct calls_opts {
	int runs, repeat, loads, probe;
	int nvariants;
	char *names[MAX_VARIANTS], *paths[MAX_VARIANTS];
};

/* One test packet: a DNS query for name, and the verdict every variant
 * must return for it. */
struct packet_spec {
	const char *what;
	const char *name;	/* dotted; NULL: a malformed name */
	int known;		/* goes into known_hashes[] */
	int timed;		/* a column of the table */
	int verdict;
	int calls;		/* label_step calls the walk makes (timed packets) */
};

struct test_packet {
	const struct packet_spec *spec;
	uint8_t frame[BENCH_HDRS + 512];
	size_t len;
};

static const struct packet_spec packet_specs[] = {
	{ "3 labels", "www.Example.TEST", 1, 1, XDP_TX, 4 },	/* 3 labels + the root */
	{ "8 labels", "api.Service-Discovery-Endpoint.us-east-1.Cluster.Internal.Example.co.TEST",
	  1, 1, XDP_TX, 8 },	/* the root is checked after the 8th call */
	{ "unknown", "nope.example.test", 0, 0, XDP_PASS, 4 },
	{ "9 labels", "a.b.c.d.e.f.g.h.i", 0, 0, XDP_DROP, 8 },	/* more than the walk takes */
	{ "malformed", NULL, 0, 0, XDP_DROP, 1 },
};
#define NPACKETS (int)(sizeof(packet_specs) / sizeof(packet_specs[0]))

/* What the verifier and the JIT said about one variant. */
struct variant_stats {
	int loaded;
	char reject[256];	/* the verifier's complaint when not loaded */
	long processed, total_states, peak_states;
	char stack[64];
	double verify_us, load_us;
	__u32 xlated_insns, jited_bytes, nr_funcs;
};

struct variant {
	const char *name, *path;
	struct bpf_object *obj;	/* NULL for the empty program */
	int prog_fd;
	struct variant_stats st;
	double *ns[4];		/* per timed packet, one per run */
};

struct calls_ctx {
	struct calls_opts o;
	char *log;
	struct variant v[MAX_VARIANTS + 1];
	int nv;
	struct test_packet pk[NPACKETS];
	int npk;
};

static int parse_opts(int argc, char **argv, struct calls_opts *o)
{
	static const struct option longopts[] = {
		{ "runs", required_argument, NULL, 'r' },
		{ "repeat", required_argument, NULL, 'R' },
		{ "loads", required_argument, NULL, 'l' },
		{ "probe", no_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	*o = (struct calls_opts){ .runs = 101, .repeat = 500, .loads = 5 };
	int ch;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'r': o->runs = atoi(optarg); break;
		case 'R': o->repeat = atoi(optarg); break;
		case 'l': o->loads = atoi(optarg); break;
		case 'p': o->probe = 1; break;
		default: return -EINVAL;
		}
	}
	if (o->runs < 1 || o->repeat < 1 || o->loads < 1)
		return -EINVAL;
	if (o->probe)
		return argc - optind == 1 ? (o->paths[0] = argv[optind], 0) : -EINVAL;
	for (int i = optind; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		if (!eq || o->nvariants == MAX_VARIANTS)
			return -EINVAL;
		*eq = 0;
		o->names[o->nvariants] = argv[i];
		o->paths[o->nvariants++] = eq + 1;
	}
	return o->nvariants ? 0 : -EINVAL;
}

/* ---- Packets ------------------------------------------------------------ */

static uint8_t ascii_lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + ('a' - 'A')) : c;
}

/* calls.bpf.c's hash: FNV-1a of the lowercased labels, '.' after each. */
static uint64_t name_hash(const char *dotted)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (const char *p = dotted; ; p++) {
		uint8_t c = *p && *p != '.' ? ascii_lower((uint8_t)*p) : '.';
		h = (h ^ c) * 0x100000001b3ULL;
		if (!*p)
			return h;
	}
}

/* A query (header, QNAME, QTYPE A, QCLASS IN) for dotted, or with a
 * compression pointer for a name when dotted is NULL.  Returns its length. */
static size_t build_query(uint8_t *q, const char *dotted)
{
	static const uint8_t header[12] = { 0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0 };
	size_t n = sizeof(header);
	memcpy(q, header, n);
	if (!dotted) {
		q[n++] = 0xc0;	/* a pointer: not allowed in a query */
		q[n++] = 0x0c;
	} else {
		for (const char *p = dotted; *p;) {
			size_t l = strcspn(p, ".");
			q[n++] = (uint8_t)l;
			memcpy(q + n, p, l);
			n += l;
			p += l + (p[l] == '.');
		}
		q[n++] = 0;
	}
	memcpy(q + n, (const uint8_t[]){ 0, 1, 0, 1 }, 4);
	return n + 4;
}

static void build_packets(struct calls_ctx *c)
{
	uint8_t q[512];
	c->npk = NPACKETS;
	for (int i = 0; i < c->npk; i++) {
		struct test_packet *p = &c->pk[i];
		p->spec = &packet_specs[i];
		p->len = bench_build_frame(p->frame, q, build_query(q, p->spec->name), CALLS_PORT);
	}
}

/* The known_hashes[] the programs look names up in: the known packets'
 * names and filler. */
static void known_hashes(const struct calls_ctx *c, uint64_t *h)
{
	int n = 0;
	for (int i = 0; i < c->npk; i++)
		if (c->pk[i].spec->known)
			h[n++] = name_hash(c->pk[i].spec->name);
	for (; n < KNOWN_NAMES; n++)
		h[n] = 0x5a5a5a5a00000000ULL + (uint64_t)n;	/* no name hashes to these */
}

/* ---- Loading ------------------------------------------------------------ */

static long log_number(const char *log, const char *key)
{
	const char *p = log ? strstr(log, key) : NULL;
	return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

/* The verifier's complaint: the last two lines before its statistics
 * ("verification time ..." or "processed N insns"), joined with " / ";
 * the first line alone often only says "caller passes invalid args". */
static void last_complaint(const char *log, char *out, size_t size)
{
	const char *end = strstr(log, "verification time ");
	if (!end)
		end = strstr(log, "processed ");
	if (!end)
		end = log + strlen(log);
	while (end > log && (end[-1] == '\n' || end[-1] == ' '))
		end--;
	const char *start = end;
	for (int lines = 0; start > log && lines < 2; lines += start[-1] == '\n', start--)
		if (start[-1] == '\n' && lines == 1)
			break;
	if (*start == '\n')
		start++;
	size_t n = 0;
	for (const char *p = start; p < end && n + 4 < size; p++)
		n += (size_t)snprintf(out + n, size - n, "%s", *p == '\n' ? " / " : (char[]){ *p, 0 });
	out[n] = 0;
}

static void read_log_stats(const char *log, struct variant_stats *st)
{
	st->processed = log_number(log, "processed ");
	st->total_states = log_number(log, "total_states ");
	st->peak_states = log_number(log, "peak_states ");
	const char *sd = strstr(log, "stack depth ");
	snprintf(st->stack, sizeof(st->stack), "%.*s", sd ? (int)strcspn(sd + 12, "\n") : 1,
		 sd ? sd + 12 : "?");
}

static void read_prog_info(int fd, struct variant_stats *st)
{
	struct bpf_prog_info info = { 0 };
	__u32 len = sizeof(info);
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return;
	st->xlated_insns = info.xlated_prog_len / 8;
	st->jited_bytes = info.jited_prog_len;
	st->nr_funcs = info.nr_func_info;
}

static int fill_known_hashes(const struct calls_ctx *c, struct bpf_object *obj)
{
	uint64_t h[KNOWN_NAMES];
	struct bpf_map *map;
	known_hashes(c, h);
	bpf_object__for_each_map(map, obj) {
		const char *name = bpf_map__name(map);
		size_t len = strlen(name);
		if (len < 4 || strcmp(name + len - 4, ".bss"))
			continue;
		if (bpf_map__value_size(map) != sizeof(h))
			return -EINVAL;
		__u32 zero = 0;
		return bpf_map_update_elem(bpf_map__fd(map), &zero, h, BPF_ANY) ? -errno : 0;
	}
	return -ENOENT;
}

/* Opens and loads path with the verifier's statistics in c->log; only the
 * program named only (when set) is loaded.  Returns the object or NULL. */
static struct bpf_object *open_and_load(struct calls_ctx *c, const char *path, const char *only,
					__u32 log_level, int *prog_fd)
{
	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	struct bpf_program *prog, *chosen = NULL;
	if (!obj) {
		snprintf(c->log, LOG_SIZE, "cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	bpf_object__for_each_program(prog, obj) {
		int mine = !chosen && (!only || !strcmp(bpf_program__name(prog), only));
		bpf_program__set_autoload(prog, mine);
		if (mine)
			chosen = prog;
	}
	c->log[0] = 0;
	if (chosen) {
		bpf_program__set_log_level(chosen, log_level);
		bpf_program__set_log_buf(chosen, c->log, LOG_SIZE);
	}
	if (!chosen || bpf_object__load(obj)) {
		bpf_object__close(obj);
		return NULL;
	}
	*prog_fd = bpf_program__fd(chosen);
	return obj;
}

static int load_empty(struct variant *v)
{
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_PASS },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	v->prog_fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "calls_empty", "GPL", insns, 2, NULL);
	if (v->prog_fd < 0)
		return -errno;
	v->st.loaded = 1;
	read_prog_info(v->prog_fd, &v->st);
	return 0;
}

/* Loads variant v --loads times for the median verification time, and
 * keeps the last load. */
static int load_variant(struct calls_ctx *c, struct variant *v)
{
	double *verify = calloc((size_t)c->o.loads, sizeof(double));
	double *wall = calloc((size_t)c->o.loads, sizeof(double));
	if (!verify || !wall)
		return -ENOMEM;
	for (int i = 0; i < c->o.loads; i++) {
		if (v->obj)
			bpf_object__close(v->obj);
		double t0 = bench_now_ns();
		v->obj = open_and_load(c, v->path, NULL, 4, &v->prog_fd);
		wall[i] = (bench_now_ns() - t0) / 1000;
		if (!v->obj) {
			/* Again at level 1, for the reason. */
			struct bpf_object *o = open_and_load(c, v->path, NULL, 1, &v->prog_fd);
			if (o)
				bpf_object__close(o);
			last_complaint(c->log, v->st.reject, sizeof(v->st.reject));
			read_log_stats(c->log, &v->st);
			free(verify);
			free(wall);
			return 0;
		}
		verify[i] = (double)log_number(c->log, "verification time ");
	}
	v->st.loaded = 1;
	read_log_stats(c->log, &v->st);
	v->st.verify_us = bench_median(verify, c->o.loads);
	v->st.load_us = bench_median(wall, c->o.loads);
	read_prog_info(v->prog_fd, &v->st);
	free(verify);
	free(wall);
	int err = fill_known_hashes(c, v->obj);
	if (err)
		fprintf(stderr, "calls_bench: %s: cannot fill known_hashes: %s\n", v->path,
			strerror(-err));
	return err;
}

/* ---- Running ------------------------------------------------------------ */

/* One test_run of v on packet p; its ns per repetition, or < 0. */
static double run_once(const struct variant *v, const struct test_packet *p, int repeat,
		       int *verdict)
{
	uint8_t out[BENCH_HDRS + 512];
	LIBBPF_OPTS(bpf_test_run_opts, run, .data_in = p->frame, .data_size_in = (__u32)p->len,
		    .data_out = out, .data_size_out = sizeof(out), .repeat = repeat);
	if (bpf_prog_test_run_opts(v->prog_fd, &run))
		return -1;
	*verdict = (int)run.retval;
	return run.duration;
}

/* Every loaded variant must give every packet its expected verdict. */
static int check_verdicts(const struct calls_ctx *c)
{
	int bad = 0;
	for (int i = 1; i < c->nv; i++) {
		if (!c->v[i].st.loaded)
			continue;
		for (int k = 0; k < c->npk; k++) {
			int verdict;
			if (run_once(&c->v[i], &c->pk[k], 1, &verdict) < 0 ||
			    verdict != c->pk[k].spec->verdict) {
				fprintf(stderr, "calls_bench: %s on %s: verdict %d, want %d\n",
					c->v[i].name, c->pk[k].spec->what, verdict, c->pk[k].spec->verdict);
				bad = 1;
			}
		}
	}
	return bad ? -EINVAL : 0;
}

static int time_all(struct calls_ctx *c)
{
	int ntimed = 0;
	for (int k = 0; k < c->npk; k++)
		ntimed += c->pk[k].spec->timed;
	for (int i = 0; i < c->nv; i++)
		for (int t = 0; t < ntimed; t++)
			if (!(c->v[i].ns[t] = calloc((size_t)c->o.runs, sizeof(double))))
				return -ENOMEM;
	for (int r = 0; r < c->o.runs; r++) {
		for (int k = 0, t = 0; k < c->npk; k++) {
			if (!c->pk[k].spec->timed)
				continue;
			for (int j = 0; j < c->nv; j++) {
				struct variant *v = &c->v[(j + r) % c->nv];	/* rotated */
				int verdict;
				if (!v->st.loaded)
					continue;
				double ns = run_once(v, &c->pk[k], c->o.repeat, &verdict);
				if (ns < 0) {
					fprintf(stderr, "calls_bench: test_run %s: %s\n", v->name,
						strerror(errno));
					return -errno;
				}
				v->ns[t][r] = ns;
			}
			t++;
		}
	}
	return ntimed;
}

/* ---- Report ------------------------------------------------------------- */

/* The inline variant of v ("mem-static-4" -> "mem-inline-4"), or NULL. */
static const struct variant *inline_twin(const struct calls_ctx *c, const struct variant *v)
{
	const char *kind = strstr(v->name, "static");
	if (!kind)
		kind = strstr(v->name, "global");
	if (!kind)
		return NULL;
	char want[128];
	snprintf(want, sizeof(want), "%.*sinline%s", (int)(kind - v->name), v->name, kind + 6);
	for (int i = 0; i < c->nv; i++)
		if (!strcmp(c->v[i].name, want) && c->v[i].st.loaded)
			return &c->v[i];
	return NULL;
}

static void print_table(struct calls_ctx *c, int ntimed)
{
	double med[MAX_VARIANTS + 1][4] = { { 0 } };
	int calls[4], t = 0;
	for (int k = 0; k < c->npk; k++)
		if (c->pk[k].spec->timed)
			calls[t++] = c->pk[k].spec->calls;
	for (int i = 0; i < c->nv; i++)
		for (int t = 0; t < ntimed && c->v[i].st.loaded; t++)
			med[i][t] = bench_median(c->v[i].ns[t], c->o.runs);
	printf("| variant | BPF funcs | xlated insns | JIT bytes | stack | verifier processed insns "
	       "| states total/peak | verification µs | load µs");
	for (int k = 0; k < c->npk; k++)
		if (c->pk[k].spec->timed)
			printf(" | ns/pkt %s (÷ inline, empty subtracted; ns more per call)",
			       c->pk[k].spec->what);
	printf(" |\n|---|---|---|---|---|---|---|---|---");
	for (int t = 0; t < ntimed; t++)
		printf("|---");
	printf("|\n");
	for (int i = 0; i < c->nv; i++) {
		const struct variant *v = &c->v[i];
		const struct variant_stats *s = &v->st;
		if (!s->loaded) {
			printf("| %s | rejected: `%s` (processed %ld) |\n", v->name, s->reject,
			       s->processed);
			continue;
		}
		printf("| %s | %u | %u | %u | %s | %ld | %ld/%ld | %.0f | %.0f", v->name, s->nr_funcs,
		       s->xlated_insns, s->jited_bytes, s->stack, s->processed, s->total_states,
		       s->peak_states, s->verify_us, s->load_us);
		const struct variant *twin = inline_twin(c, v);
		int twin_i = twin ? (int)(twin - c->v) : -1;
		for (int t = 0; t < ntimed; t++) {
			/* The ratio of the programs' own costs: test_run's (the
			 * empty program's) subtracted from both. */
			double own = med[i][t] - med[0][t];
			double twin_own = twin_i >= 0 ? med[twin_i][t] - med[0][t] : 0;
			if (twin_own > 0)
				printf(" | %.1f (%.2f; %+.1f)", med[i][t], own / twin_own,
				       (med[i][t] - med[twin_i][t]) / calls[t]);
			else
				printf(" | %.1f", med[i][t]);
		}
		printf(" |\n");
	}
}

static int bench(struct calls_ctx *c)
{
	c->v[0] = (struct variant){ .name = "empty", .prog_fd = -1 };
	c->v[0].st.processed = 2;
	c->v[0].st.total_states = c->v[0].st.peak_states = 0;
	snprintf(c->v[0].st.stack, sizeof(c->v[0].st.stack), "0");
	if (load_empty(&c->v[0])) {
		fprintf(stderr, "calls_bench: cannot load the empty program: %s\n", strerror(errno));
		return 1;
	}
	c->nv = 1;
	for (int i = 0; i < c->o.nvariants; i++, c->nv++) {
		c->v[c->nv] = (struct variant){ .name = c->o.names[i], .path = c->o.paths[i] };
		if (load_variant(c, &c->v[c->nv]))
			return 1;
	}
	if (check_verdicts(c))
		return 1;
	int ntimed = time_all(c);
	if (ntimed < 0)
		return 1;
	print_table(c, ntimed);
	return 0;
}

static int probe(struct calls_ctx *c, const char *path)
{
	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	struct bpf_program *prog;
	if (!obj) {
		fprintf(stderr, "calls_bench: %s: %s\n", path, strerror(errno));
		return 1;
	}
	bpf_object__for_each_program(prog, obj) {
		const char *name = bpf_program__name(prog);
		int fd;
		struct bpf_object *one = open_and_load(c, path, name, 1, &fd);
		if (one) {
			printf("%s accepted (%ld insns processed)\n", name,
			       log_number(c->log, "processed "));
			bpf_object__close(one);
		} else {
			char why[256];
			last_complaint(c->log, why, sizeof(why));
			printf("%s rejected: %s\n", name, why);
		}
	}
	bpf_object__close(obj);
	return 0;
}

static int quiet_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	return 0;	/* the verifier's complaint is printed from our own log buffer */
}

int main(int argc, char **argv)
{
	struct calls_ctx *c = calloc(1, sizeof(*c));
	if (!c)
		return 1;
	if (parse_opts(argc, argv, &c->o)) {
		fprintf(stderr, "usage: calls_bench [--runs N] [--repeat N] [--loads N] "
				"NAME=PROG.bpf.o ...\n       calls_bench --probe PROG.bpf.o\n");
		return 2;
	}
	c->log = calloc(1, LOG_SIZE);
	if (!c->log)
		return 1;
	libbpf_set_print(quiet_libbpf);
	build_packets(c);
	return c->o.probe ? probe(c, c->o.paths[0]) : bench(c);
}
