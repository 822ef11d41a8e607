/* verify.c - load OUT.bpf.o into the running kernel at link time and read
 * the verifier's verdict, so that koff-link never ships a rejected program.
 *
 * Two passes, because a full verifier log (level 1) of a big program runs
 * to megabytes and the kernel fails a load whose log did not fit (-ENOSPC)
 * even when the program was fine:
 *   1. log level 4 (statistics only): a few lines, gives "processed N insns";
 *   2. only when pass 1 was rejected and the caller wants to know where:
 *      log level 1|4 into a large buffer.  Since 6.4 the kernel keeps the
 *      log's tail when it overflows, and the tail is what names the failing
 *      instruction.  This pass costs 3-8 times pass 1 (the kernel formats
 *      every instruction it walks), so a caller that will not answer the
 *      rejection with a fallback (a faster variant: dropped at its first
 *      rejection) skips it and gets pass 1's complaint alone.
 * Even pass 1 can fail with -ENOSPC on a program the verifier accepted: the
 * kernel compares the buffer with the log's high-water mark, which counts
 * text the verifier wrote and then took back (speculative paths), so a big
 * program overflows a small statistics buffer with three lines in it, and
 * every retry is a whole verification again (seconds, for a big program).
 * So pass 1's buffer starts large: pages the kernel never writes cost
 * nothing; it grows and retries only past that.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "koff_abi.h"
#include "verify.h"

#define STATS_LOG_SIZE (16u << 20)
#define STATS_LOG_SIZE_MAX (256u << 20)
#define FULL_LOG_SIZE (8u << 20)
#define LOG_TAIL_LINES 30
#define LOG_LEVEL_FULL 1u
#define LOG_LEVEL_STATS 4u

/* One verification: what libbpf and the kernel told us. */
struct verify_ctx {
	const char *path;
	struct bpf_verdict *v;
	struct koff_error *err;
	char *log;			/* kernel verifier log of the last pass */
	size_t log_size;
	char libbpf_msg[256];		/* libbpf's first warning: the root cause */
	int load_errno;			/* negative errno of pass 1's load */
	enum verify_detail detail;	/* whether pass 2 runs on a rejection */
};

/* libbpf's print callback takes no user pointer, so the context it reports
 * into has to be found through this thread-local slot.  It is set only for
 * the duration of one bpf_verify_object call on this thread. */
static _Thread_local struct verify_ctx *libbpf_listener;

static int collect_libbpf_message(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	struct verify_ctx *ctx = libbpf_listener;
	size_t len;

	if (!ctx || level != LIBBPF_WARN || ctx->libbpf_msg[0])
		return 0;
	vsnprintf(ctx->libbpf_msg, sizeof(ctx->libbpf_msg), fmt, ap);
	/* Keep one line: the error record holds one line. */
	len = strcspn(ctx->libbpf_msg, "\n");
	ctx->libbpf_msg[len] = '\0';
	return 0;
}

/* ---- Reading the verifier log --------------------------------------------- */

/* "12: (bf) r1 = r6": the verifier printing an instruction it checks. */
static bool parse_insn_line(const char *line, int *idx)
{
	char *end;
	long n = strtol(line, &end, 10);

	if (end == line || n < 0 || strncmp(end, ": (", 3) != 0)
		return false;
	end += 3;
	if (!isxdigit((unsigned char)end[0]) || !isxdigit((unsigned char)end[1]) || end[2] != ')')
		return false;
	*idx = (int)n;
	return true;
}

/* The lines print_verification_stats() appends after the verdict. */
static bool is_stats_line(const char *line)
{
	return !strncmp(line, "processed ", 10) || !strncmp(line, "verification time", 17) ||
	       !strncmp(line, "stack depth", 11);
}

struct log_facts {
	int last_insn;		/* last "N: (xx)" line, -1 */
	const char *after_insn;	/* the line after it: where the complaint starts */
	const char *first_line;	/* first line that is neither stats nor empty */
	const char *last_line;	/* last such line */
	bool has_processed;
	unsigned processed;
};

static void read_log_line(const char *line, size_t len, const char *next, struct log_facts *f)
{
	int idx;

	if (len == 0)
		return;
	if (parse_insn_line(line, &idx)) {
		f->last_insn = idx;
		f->after_insn = next;
	}
	if (sscanf(line, "processed %u insns", &f->processed) == 1)
		f->has_processed = true;
	if (!is_stats_line(line)) {
		if (!f->first_line)
			f->first_line = line;
		f->last_line = line;
	}
}

static const char *next_line(const char *line)
{
	line += strcspn(line, "\n");
	return *line == '\n' ? line + 1 : line;
}

static struct log_facts read_log(const char *log)
{
	struct log_facts f = { .last_insn = -1 };

	for (const char *line = log; *line; line = next_line(line))
		read_log_line(line, strcspn(line, "\n"), next_line(line), &f);
	return f;
}

/* The verifier's complaint from `line` up to the statistics ("invalid
 * access to map value, ...; R0 min value is ..."), joined into one line. */
static void complaint_from(const char *line, int err, char *buf, size_t size)
{
	size_t used = 0;

	snprintf(buf, size, "the kernel gave no reason (%s)", strerror(-err));
	for (; line && *line && !is_stats_line(line) && used + 1 < size; line = next_line(line)) {
		int len = (int)strcspn(line, "\n");

		if (len)
			used += snprintf(buf + used, size - used, "%s%.*s", used ? "; " : "", len, line);
	}
}

/* In a full log: the lines after the rejected instruction, or the last
 * line when no instruction was printed. */
static void rejection_reason(const struct log_facts *f, int err, char *buf, size_t size)
{
	complaint_from(f->after_insn ? f->after_insn : f->last_line, err, buf, size);
}

/* Errors found before the verifier walks the code ("unreachable insn 7",
 * "back-edge from insn 9 to 4") name the instruction in the message. */
static int insn_named_in(const char *reason)
{
	const char *p = strstr(reason, "insn ");

	return p ? atoi(p + 5) : -1;
}

/* Copy of the last `lines` lines of log. */
static char *log_tail(const char *log, int lines)
{
	const char *end = log + strlen(log);
	const char *p = end;

	while (p > log && (p[-1] == '\n'))
		p--;
	for (int seen = 0; p > log; p--)
		if (p[-1] == '\n' && ++seen == lines)
			break;
	return strdup(p);
}

/* ---- Loading -------------------------------------------------------------- */

enum load_stage { STAGE_OPEN, STAGE_FIND, STAGE_LOAD, STAGE_DONE };

/* Open and load the object once with the given kernel log level, then
 * close it (which unloads everything).  Returns the stage reached. */
static enum load_stage load_once(struct verify_ctx *ctx, unsigned level, size_t log_size,
				 int *result)
{
	struct bpf_object *obj;
	struct bpf_program *prog;
	enum load_stage stage = STAGE_OPEN;

	ctx->log[0] = '\0';
	LIBBPF_OPTS(bpf_object_open_opts, opts,
		    .kernel_log_buf = ctx->log, .kernel_log_size = log_size,
		    .kernel_log_level = level);
	obj = bpf_object__open_file(ctx->path, &opts);
	if (!obj) {
		*result = -errno;
		return stage;
	}
	stage = STAGE_FIND;
	prog = bpf_object__find_program_by_name(obj, KOFF_PROG_NAME);
	if (!prog) {
		*result = -ENOENT;
	} else {
		stage = STAGE_LOAD;
		*result = bpf_object__load(obj);
		if (*result == 0) {
			stage = STAGE_DONE;
			ctx->v->prog_insns = (unsigned)bpf_program__insn_cnt(prog);
		}
	}
	bpf_object__close(obj);
	return stage;
}

static int fail_before_verifier(struct verify_ctx *ctx, enum load_stage stage, int code)
{
	if (stage == STAGE_FIND)
		return koff_fail(ctx->err, -ENOENT, "%s: no program named %s", ctx->path, KOFF_PROG_NAME);
	return koff_fail(ctx->err, code, "%s: libbpf cannot %s it: %s", ctx->path,
			 stage == STAGE_OPEN ? "open" : "load",
			 ctx->libbpf_msg[0] ? ctx->libbpf_msg : strerror(-code));
}

/* The instructions the log shows most often: where a program the verifier
 * found too complex spent its budget. */
static void find_hot_insns(const char *log, struct bpf_verdict *v)
{
	int max = -1, idx, *count;

	v->nhot = 0;
	for (const char *line = log; *line; line = next_line(line))
		if (parse_insn_line(line, &idx) && idx > max)
			max = idx;
	if (max < 0 || !(count = calloc((size_t)max + 1, sizeof(int))))
		return;
	for (const char *line = log; *line; line = next_line(line))
		if (parse_insn_line(line, &idx))
			count[idx]++;
	while (v->nhot < (int)(sizeof(v->hot_insns) / sizeof(v->hot_insns[0]))) {
		int best = -1;

		for (int i = 0; i <= max; i++)
			if (count[i] > 0 && (best < 0 || count[i] > count[best]))
				best = i;
		if (best < 0)
			break;
		v->hot_insns[v->nhot++] = best;
		count[best] = 0;
	}
	free(count);
}

/* Pass 2: the full log of a rejected program, to say where and why. */
static int explain_rejection(struct verify_ctx *ctx)
{
	struct log_facts f;
	char reason[384];
	int result;
	char *full = realloc(ctx->log, FULL_LOG_SIZE);

	if (!full)
		return koff_fail(ctx->err, -ENOMEM, "%s: out of memory", ctx->path);
	ctx->log = full;
	load_once(ctx, LOG_LEVEL_FULL | LOG_LEVEL_STATS, FULL_LOG_SIZE, &result);
	f = read_log(ctx->log);
	rejection_reason(&f, ctx->load_errno, reason, sizeof(reason));
	ctx->v->fail_insn = f.last_insn >= 0 ? f.last_insn : insn_named_in(reason);
	find_hot_insns(ctx->log, ctx->v);
	if (f.has_processed)
		ctx->v->processed_insns = f.processed;
	ctx->v->log = log_tail(ctx->log, LOG_TAIL_LINES);
	return koff_fail(ctx->err, ctx->load_errno, "%s: verifier rejected %s at insn %d: %s",
			 ctx->path, KOFF_PROG_NAME, ctx->v->fail_insn, reason);
}

/* A rejection from pass 1's log alone, which holds nothing but the
 * complaint and the statistics: the complaint, not where. */
static int report_rejection(struct verify_ctx *ctx, const struct log_facts *f)
{
	char reason[384];

	complaint_from(f->first_line, ctx->load_errno, reason, sizeof(reason));
	return koff_fail(ctx->err, ctx->load_errno, "%s: verifier rejected %s: %s", ctx->path,
			 KOFF_PROG_NAME, reason);
}

static int verify_with_logs(struct verify_ctx *ctx)
{
	struct log_facts f;
	enum load_stage stage;
	int result;

	ctx->log = calloc(1, STATS_LOG_SIZE);
	if (!ctx->log)
		return koff_fail(ctx->err, -ENOMEM, "%s: out of memory", ctx->path);
	stage = load_once(ctx, LOG_LEVEL_STATS, STATS_LOG_SIZE, &result);
	for (size_t size = STATS_LOG_SIZE * 4;
	     stage == STAGE_LOAD && result == -ENOSPC && size <= STATS_LOG_SIZE_MAX; size *= 4) {
		char *bigger = realloc(ctx->log, size);

		if (!bigger)
			return koff_fail(ctx->err, -ENOMEM, "%s: out of memory", ctx->path);
		ctx->log = bigger;
		stage = load_once(ctx, LOG_LEVEL_STATS, size, &result);
	}
	f = read_log(ctx->log);
	if (stage == STAGE_DONE) {
		ctx->v->loaded = true;
		ctx->v->processed_insns = f.processed;
		ctx->v->log = log_tail(ctx->log, LOG_TAIL_LINES);
		return 0;
	}
	/* The statistics line is printed whenever the verifier ran. */
	if (stage != STAGE_LOAD || !f.has_processed)
		return fail_before_verifier(ctx, stage, result);
	ctx->load_errno = result;
	ctx->v->processed_insns = f.processed;
	ctx->v->log = log_tail(ctx->log, LOG_TAIL_LINES);
	if (ctx->detail == VERIFY_VERDICT_ONLY ||
	    (ctx->detail == VERIFY_LOCATE_UNLESS_TOO_COMPLEX && bpf_verdict_too_complex(ctx->v)))
		return report_rejection(ctx, &f);
	bpf_verdict_free(ctx->v);
	return explain_rejection(ctx);
}

/* ---- Public API ------------------------------------------------------------- */

/* XDP rather than a socket filter: unprivileged users may load socket
 * filters on some systems, but an XDP program needs what koff needs. */
static int probe_bpf_load(void)
{
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_PASS },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "koff_probe", "GPL", insns,
			       KOFF_ARRAY_SIZE(insns), NULL);

	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

bool bpf_can_load(void)
{
	return probe_bpf_load() == 0;
}

int bpf_verify_object(const char *path, enum verify_detail detail, struct bpf_verdict *v,
		      struct koff_error *err)
{
	struct verify_ctx ctx = { .path = path, .v = v, .err = err, .detail = detail };
	libbpf_print_fn_t previous;
	int ret;

	memset(v, 0, sizeof(*v));
	v->fail_insn = -1;
	ret = probe_bpf_load();
	if (ret)
		return koff_fail(err, ret, "cannot load BPF here: %s", strerror(-ret));

	previous = libbpf_set_print(collect_libbpf_message);
	libbpf_listener = &ctx;
	ret = verify_with_logs(&ctx);
	libbpf_listener = NULL;
	libbpf_set_print(previous);
	free(ctx.log);
	return ret;
}

void bpf_verdict_free(struct bpf_verdict *v)
{
	free(v->log);
	v->log = NULL;
}

bool bpf_verdict_too_complex(const struct bpf_verdict *v)
{
	return v->log && (strstr(v->log, "too large") || strstr(v->log, "too complex") ||
			  strstr(v->log, "processed 1000001") || v->processed_insns > 900000);
}
