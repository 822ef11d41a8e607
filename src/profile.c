/* profile.c - --profile FILE: how much time a profile shows in each
 * candidate.  Two formats, told apart by their shape:
 *   folded stacks (stackcollapse-perf.pl, bpftrace, ...): one line per
 *     stack, "main;serve;handle_request;parse_name 137";
 *   `perf script` output: one block per sample, a header line then one
 *     indented line per frame, "\t  401136 handle_request+0x16 (/srv/dns)",
 *     blocks separated by blank lines.
 * A function counts every sample whose stack holds it (inclusive time): a
 * handler is as hot as everything it calls. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workload.h"

/* The function name of a frame: "dns`handle_request" and
 * "handle_request+0x16" and "handle_request_[k]" give "handle_request". */
static void frame_name(const char *frame, size_t len, char *out, size_t cap)
{
	const char *tick = memchr(frame, '`', len);
	size_t n;

	if (tick) {
		len -= (size_t)(tick + 1 - frame);
		frame = tick + 1;
	}
	for (n = 0; n < len && n + 1 < cap && frame[n] != '+' && !isspace((unsigned char)frame[n]); n++)
		out[n] = frame[n];
	out[n] = 0;
	if (n > 4 && !strcmp(out + n - 4, "_[k]"))
		out[n - 4] = 0;
}

/* A sample (weight w) whose stack holds `names`: each candidate in it,
 * once. */
struct stack {
	bool seen[4096];
};

static void count_frame(struct candidates *c, struct stack *s, const char *name, double w)
{
	for (int i = 0; i < c->n && i < (int)KOFF_ARRAY_SIZE(s->seen); i++) {
		if (!s->seen[i] && !strcmp(c->v[i].name, name)) {
			s->seen[i] = true;
			c->v[i].samples += w;
		}
	}
}

/* "a;b;c 12": true when the line has that shape. */
static bool folded_line(const char *line, struct candidates *c, struct stack *s)
{
	const char *sp = strrchr(line, ' ');
	char *end, name[256];
	double w;

	if (!sp || isspace((unsigned char)line[0]))
		return false;
	w = strtod(sp + 1, &end);
	if (end == sp + 1 || (*end && *end != '\n' && *end != '\r') || w < 0)
		return false;
	memset(s->seen, 0, sizeof(s->seen));
	for (const char *p = line; p < sp;) {
		const char *semi = memchr(p, ';', (size_t)(sp - p));
		size_t len = semi ? (size_t)(semi - p) : (size_t)(sp - p);

		frame_name(p, len, name, sizeof(name));
		count_frame(c, s, name, w);
		p += len + 1;
	}
	c->total_samples += w;
	return true;
}

/* "\t  401136 handle_request+0x16 (/srv/dns)": the symbol after the address. */
static void perf_frame(const char *line, struct candidates *c, struct stack *s)
{
	char name[256];
	const char *p = line;

	while (isspace((unsigned char)*p))
		p++;
	while (*p && !isspace((unsigned char)*p))
		p++;	/* the address */
	while (isspace((unsigned char)*p))
		p++;
	frame_name(p, strcspn(p, " \t\n("), name, sizeof(name));
	count_frame(c, s, name, 1);
}

int profile_read(const char *path, struct candidates *c, struct koff_error *err)
{
	FILE *f = fopen(path, "r");
	struct stack *s = calloc(1, sizeof(*s));
	char *line = NULL;
	size_t cap = 0;
	int perf = 0;
	bool in_sample = false;

	if (!f || !s) {
		free(s);
		if (f)
			fclose(f);
		return koff_fail(err, -errno, "%s: cannot read the profile: %s", path, strerror(errno));
	}
	while (getline(&line, &cap, f) >= 0) {
		if (line[0] == '#' || line[0] == '\n') {
			in_sample = false;
		} else if (isspace((unsigned char)line[0])) {
			if (in_sample)
				perf_frame(line, c, s);
		} else if (!perf && folded_line(line, c, s)) {
			continue;
		} else {
			in_sample = true;	/* a perf script header: a new sample */
			memset(s->seen, 0, sizeof(s->seen));
			c->total_samples += 1;
			perf++;
		}
	}
	free(line);
	free(s);
	fclose(f);
	if (!c->total_samples)
		return koff_fail(err, -EINVAL, "%s: no samples (expected `perf script` output or folded stacks)",
				 path);
	c->profile_format = perf ? "perf script" : "folded stacks";
	return 0;
}
