/* handlergen - random handler-shaped C functions for the lifter's coverage.
 *
 *	handlergen SEED > f.c                 a translation unit with
 *	    long handle_request(const unsigned char *req, unsigned long len,
 *	                        unsigned char *resp, unsigned long cap);
 *	    plus 0-3 static helpers it calls, and no main
 *	handlergen SEED --requests K > r.txt  K requests (one hex line each) that
 *	    reach the same program's paths: its memcmp keys, small length bytes
 *
 * Everything follows from SEED.  The programs are free of undefined
 * behaviour by construction, because a program with UB may legally differ
 * between native code and its lift, and then a mismatch would prove nothing:
 *   - req[i] is read only under i < len (loop conditions or guards);
 *   - arithmetic that can wrap is unsigned; signed arithmetic works on values
 *     narrowed to char/short/int and widened before it could overflow;
 *   - shift counts are masked below the operand width, left shifts are
 *     unsigned;
 *   - every division and modulo is guarded by a nonzero test of its divisor;
 *   - replies write resp[0..n) only after n <= cap is checked.
 * Build: cc -std=c11 -D_GNU_SOURCE -O2 tests/gen/handlergen.c -o handlergen
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HELPERS 3
#define MAX_TABLES 4
#define MAX_STRUCTS 2
#define MAX_MAGICS 8
#define MAGIC_MAX_LEN 8
#define MAX_BODY_LINES 110	/* the handler stays a realistic size */
#define MIN_BODY_LINES 20
#define KOFF_N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- deterministic randomness ------------------------------------------- */

struct rng {
	uint64_t state;
};

/* splitmix64: every seed, including 0, gives a good stream. */
static uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static unsigned pick(struct rng *r, unsigned n)
{
	return n ? (unsigned)(rng_next(r) % n) : 0;
}

static unsigned pick_range(struct rng *r, unsigned lo, unsigned hi)
{
	return lo + pick(r, hi - lo + 1);
}

static bool chance(struct rng *r, unsigned percent)
{
	return pick(r, 100) < percent;
}

/* ---- text buffers --------------------------------------------------------- */

struct text {
	char *buf;
	size_t len, cap;
	int lines;
};

static void text_vappend(struct text *t, const char *fmt, va_list ap)
{
	va_list copy;
	va_copy(copy, ap);
	int need = vsnprintf(NULL, 0, fmt, copy);
	va_end(copy);
	if (need < 0)
		abort();
	if (t->len + (size_t)need + 1 > t->cap) {
		size_t cap = t->cap ? t->cap : 256;
		while (cap < t->len + (size_t)need + 1)
			cap *= 2;
		char *p = realloc(t->buf, cap);
		if (!p) {
			perror("handlergen");
			exit(2);
		}
		t->buf = p;
		t->cap = cap;
	}
	vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
	t->len += (size_t)need;
}

static void text_append(struct text *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void text_append(struct text *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	text_vappend(t, fmt, ap);
	va_end(ap);
}

static void text_append_text(struct text *t, const struct text *more)
{
	if (more->len)
		text_append(t, "%s", more->buf);
	t->lines += more->lines;
}

/* Moves the text out of *t, leaving it empty. */
static char *text_take(struct text *t)
{
	char *s = t->buf ? t->buf : strdup("");
	*t = (struct text){ 0 };
	return s;
}

/* ---- the generator's state ------------------------------------------------ */

struct table {
	const char *elem;	/* C element type */
	unsigned size;		/* a power of two: indexes are masked */
};

/* What a statement may refer to where it is generated. */
struct scope {
	bool in_handler;	/* resp/cap exist and returns are replies */
	int helper_limit;	/* helpers 0..helper_limit-1 may be called */
	const char *byte_var;	/* a request byte read under a bound, or NULL */
	const char *index_var;	/* the loop index it came from, or NULL */
	int loop_depth;
	int depth;		/* nesting of blocks: indentation and size */
};

struct gen {
	struct rng rng;
	struct text decls;	/* file-scope: tables, structs, helpers in order */
	struct text *out;	/* the function body being written */
	int uid;		/* fresh names */
	int nhelpers;
	bool helper_called[MAX_HELPERS];
	struct table tables[MAX_TABLES];
	int ntables;
	int nstructs;
	char magics[MAX_MAGICS][MAGIC_MAX_LEN + 1];
	int nmagics;
};

/* One line of C at the given indentation depth. */
static void vline(struct gen *g, int depth, const char *fmt, va_list ap)
{
	for (int i = 0; i < depth; i++)
		text_append(g->out, "\t");
	text_vappend(g->out, fmt, ap);
	text_append(g->out, "\n");
	g->out->lines++;
}

static void line(struct gen *g, const struct scope *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void line(struct gen *g, const struct scope *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vline(g, s->depth + 1, fmt, ap);
	va_end(ap);
}

static struct scope nested(const struct scope *s)
{
	struct scope n = *s;
	n.depth++;
	return n;
}

/* A line one level deeper than s: the body of an if or for without braces. */
static void line1(struct gen *g, const struct scope *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void line1(struct gen *g, const struct scope *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vline(g, s->depth + 2, fmt, ap);
	va_end(ap);
}

/* ---- expressions: every one has type unsigned long (or promotes to it) ---- */

static void gen_expr(struct gen *g, const struct scope *s, int depth, struct text *e);

static char *expr(struct gen *g, const struct scope *s, int depth)
{
	struct text e = { 0 };
	gen_expr(g, s, depth, &e);
	return text_take(&e);
}

static void gen_constant(struct gen *g, struct text *e)
{
	switch (pick(&g->rng, 4)) {
	case 0: text_append(e, "%uu", pick(&g->rng, 16)); break;
	case 1: text_append(e, "%uu", pick(&g->rng, 256)); break;
	case 2: text_append(e, "0x%xu", (unsigned)rng_next(&g->rng)); break;
	default: text_append(e, "0x%llxul", (unsigned long long)rng_next(&g->rng)); break;
	}
}

static void gen_leaf(struct gen *g, const struct scope *s, struct text *e)
{
	switch (pick(&g->rng, 7)) {
	case 0: text_append(e, "acc"); break;
	case 1: text_append(e, "h"); break;
	case 2: text_append(e, "len"); break;
	case 3: gen_constant(g, e); break;
	case 4: {
		unsigned k = pick(&g->rng, 16);
		text_append(e, "(len > %u ? req[%u] : %uu)", k, k, pick(&g->rng, 256));
		break;
	}
	default:
		if (s->byte_var && chance(&g->rng, 70))	/* not an int: products of ints overflow */
			text_append(e, "(unsigned long)%s", s->byte_var);
		else if (s->index_var)
			text_append(e, "%s", s->index_var);
		else
			text_append(e, "acc");
		break;
	}
}

static int new_table(struct gen *g)
{
	static const char *const elems[] = { "unsigned char", "unsigned short", "unsigned int",
					     "unsigned long", "signed char" };
	static const unsigned sizes[] = { 8, 16, 32, 64, 256 };
	struct table *t = &g->tables[g->ntables];
	t->elem = elems[pick(&g->rng, 5)];
	t->size = sizes[pick(&g->rng, 5)];
	text_append(&g->decls, "static const %s tab%d[%u] = {", t->elem, g->ntables, t->size);
	for (unsigned i = 0; i < t->size; i++) {
		uint64_t v = rng_next(&g->rng);
		if (i % 8 == 0)
			text_append(&g->decls, "\n\t");
		if (!strcmp(t->elem, "unsigned long"))
			text_append(&g->decls, "0x%llxul,", (unsigned long long)v);
		else if (!strcmp(t->elem, "unsigned int"))
			text_append(&g->decls, "0x%xu,", (unsigned)v);
		else if (!strcmp(t->elem, "unsigned short"))
			text_append(&g->decls, "%u,", (unsigned)(v & 0xffff));
		else if (!strcmp(t->elem, "signed char"))
			text_append(&g->decls, "%d,", (int)(v % 256) - 128);
		else
			text_append(&g->decls, "%u,", (unsigned)(v & 0xff));
	}
	text_append(&g->decls, "\n};\n\n");
	return g->ntables++;
}

/* A table to read: a new one while there is room and luck, else an old one. */
static int any_table(struct gen *g)
{
	if (g->ntables < MAX_TABLES && (g->ntables == 0 || chance(&g->rng, 40)))
		return new_table(g);
	return (int)pick(&g->rng, (unsigned)g->ntables);
}

/* A guarded division or modulo, unsigned 64/32-bit or signed. */
static void gen_division(struct gen *g, const struct scope *s, int depth, struct text *e)
{
	char *a = expr(g, s, depth - 1), *b = expr(g, s, depth - 1);
	const char *op = chance(&g->rng, 50) ? "/" : "%";
	unsigned dflt = pick(&g->rng, 100);
	switch (pick(&g->rng, 3)) {
	case 0:
		text_append(e, "((%s) != 0 ? (%s) %s (%s) : %uu)", b, a, op, b, dflt);
		break;
	case 1:
		text_append(e, "((unsigned int)(%s) != 0 ? (unsigned long)((unsigned int)(%s) %s (unsigned int)(%s)) : %uu)",
			    b, a, op, b, dflt);
		break;
	default:	/* int / signed char cannot overflow once widened to long */
		text_append(e, "((signed char)(%s) != 0 ? (unsigned long)((long)(int)(%s) %s (long)(signed char)(%s)) : %uu)",
			    b, a, op, b, dflt);
		break;
	}
	free(a);
	free(b);
}

static void gen_cast(struct gen *g, const char *a, struct text *e)
{
	static const char *const casts[] = {
		"(unsigned long)(unsigned char)", "(unsigned long)(unsigned short)",
		"(unsigned long)(unsigned int)", "(unsigned long)(long)(signed char)",
		"(unsigned long)(long)(short)", "(unsigned long)(long)(int)",
	};
	text_append(e, "%s(%s)", casts[pick(&g->rng, KOFF_N(casts))], a);
}

static void gen_signed_arith(struct gen *g, const char *a, const char *b, struct text *e)
{
	switch (pick(&g->rng, 4)) {
	case 0: text_append(e, "(unsigned long)((long)(short)(%s) * (long)(short)(%s))", a, b); break;
	case 1: text_append(e, "(unsigned long)((int)(signed char)(%s) - (int)(short)(%s))", a, b); break;
	case 2: text_append(e, "(unsigned long)((long)(int)(%s) + (long)(int)(%s))", a, b); break;
	default: text_append(e, "(unsigned long)((long)(%s) >> ((%s) & 63))", a, b); break;
	}
}

static void gen_compare(struct gen *g, const char *a, const char *b, struct text *e)
{
	static const char *const ops[] = { "<", "<=", ">", ">=", "==", "!=" };
	const char *op = ops[pick(&g->rng, KOFF_N(ops))];
	if (chance(&g->rng, 30))
		text_append(e, "(unsigned long)((long)(%s) %s (long)(%s))", a, op, b);
	else
		text_append(e, "(unsigned long)((%s) %s (%s))", a, op, b);
}

static void gen_call(struct gen *g, const struct scope *s, int depth, struct text *e)
{
	char *a = expr(g, s, depth - 1);
	unsigned k = pick(&g->rng, (unsigned)s->helper_limit);
	g->helper_called[k] = true;
	text_append(e, "helper%u(%s, req, len)", k, a);
	free(a);
}

static void gen_expr(struct gen *g, const struct scope *s, int depth, struct text *e)
{
	if (depth <= 0 || chance(&g->rng, 25)) {
		gen_leaf(g, s, e);
		return;
	}
	unsigned kind = pick(&g->rng, 14);
	if (kind == 13 && s->helper_limit == 0)
		kind = 0;
	if (kind == 6) {
		gen_division(g, s, depth, e);
		return;
	}
	if (kind == 13) {
		gen_call(g, s, depth, e);
		return;
	}
	/* b only where it is used: a discarded b could hold the only helper call */
	bool unary = kind == 7 || kind == 10 || kind >= 12;
	char *a = expr(g, s, depth - 1), *b = unary ? NULL : expr(g, s, depth - 1);
	switch (kind) {
	case 0: case 1: case 2: {
		static const char *const ops[] = { "+", "-", "*", "&", "|", "^" };
		text_append(e, "(%s %s %s)", a, ops[pick(&g->rng, KOFF_N(ops))], b);
		break;
	}
	/* widened first: h and req[K] leaves are 32 bits wide */
	case 3: text_append(e, "((unsigned long)(%s) << ((%s) & 63))", a, b); break;
	case 4: text_append(e, "((unsigned long)(%s) >> ((%s) & 63))", a, b); break;
	case 5: text_append(e, "(unsigned long)((unsigned int)(%s) << ((%s) & 31))", a, b); break;
	case 7: text_append(e, "~(%s)", a); break;
	case 8: gen_compare(g, a, b, e); break;
	case 9: {
		char *c = expr(g, s, depth - 1);
		text_append(e, "(");
		gen_compare(g, a, c, e);
		text_append(e, " ? (%s) : (%s))", b, a);
		free(c);
		break;
	}
	case 10: gen_cast(g, a, e); break;
	case 11: gen_signed_arith(g, a, b, e); break;
	default: {
		int t = any_table(g);
		text_append(e, "(unsigned long)tab%d[(%s) & %u]", t, a, g->tables[t].size - 1);
		break;
	}
	}
	free(a);
	free(b);
}

/* A condition, as a C expression that is true or false. */
static char *cond(struct gen *g, const struct scope *s)
{
	struct text e = { 0 };
	if (s->byte_var && chance(&g->rng, 50)) {
		static const char *const ops[] = { "==", "!=", "<", ">" };
		text_append(&e, "%s %s %uu", s->byte_var, ops[pick(&g->rng, 4)], pick(&g->rng, 256));
		return text_take(&e);
	}
	char *a = expr(g, s, 1);
	if (chance(&g->rng, 40)) {
		text_append(&e, "((%s) & %uu) == %uu", a, 1u << pick(&g->rng, 8), 0u);
	} else {
		char *b = expr(g, s, 1);
		gen_compare(g, a, b, &e);
		free(b);
	}
	free(a);
	return text_take(&e);
}

/* ---- statements ------------------------------------------------------------ */

static void gen_block(struct gen *g, const struct scope *s, int nstmts);

static void stmt_assign(struct gen *g, const struct scope *s)
{
	char *e = expr(g, s, pick_range(&g->rng, 1, 3));
	switch (pick(&g->rng, 5)) {
	case 0: line(g, s, "acc = %s;", e); break;
	case 1: line(g, s, "acc += %s;", e); break;
	case 2: line(g, s, "acc ^= %s;", e); break;
	case 3: line(g, s, "h ^= (unsigned int)(%s);", e); break;
	default: line(g, s, "h = h * 16777619u + (unsigned int)(%s);", e); break;
	}
	free(e);
}

/* A reply of n bytes, n derived from the state and checked against cap. */
static void stmt_reply(struct gen *g, const struct scope *s)
{
	int id = g->uid++;
	static const unsigned maxes[] = { 4, 16, 64, 200, 1000 };
	char *e = expr(g, s, 1);
	struct scope in = nested(s);
	line(g, s, "{");
	line(g, &in, "unsigned long n%d = (%s) %% %uu + 1;", id, e, maxes[pick(&g->rng, 5)]);
	if (chance(&g->rng, 50)) {
		line(g, &in, "if (n%d > cap)", id);
		line1(g, &in, "return -%u;", pick_range(&g->rng, 1, 9));
	} else {
		line(g, &in, "if (n%d > cap)", id);
		line1(g, &in, "n%d = cap;", id);
	}
	if (chance(&g->rng, 30)) {
		line(g, &in, "unsigned long m%d = len < n%d ? len : n%d;", id, id, id);
		line(g, &in, "memcpy(resp, req, m%d);", id);
		line(g, &in, "memset(resp + m%d, 0x%02x, n%d - m%d);", id, pick(&g->rng, 256), id, id);
		line(g, &in, "resp[0] = (unsigned char)(acc ^ h);");
	} else {
		line(g, &in, "for (unsigned long k%d = 0; k%d < n%d; k%d++)", id, id, id, id);
		line1(g, &in, "resp[k%d] = (unsigned char)((acc >> ((k%d & 7) * 8)) ^ h ^ (k%d < len ? req[k%d] : 0x%02xu));",
		     id, id, id, id, pick(&g->rng, 256));
	}
	line(g, &in, "return (long)n%d;", id);
	line(g, s, "}");
	free(e);
}

static void stmt_return(struct gen *g, const struct scope *s)
{
	char *c = cond(g, s);
	line(g, s, "if (%s)", c);
	if (!s->in_handler)
		line1(g, s, "return acc ^ 0x%xu;", pick(&g->rng, 65536));
	else if (chance(&g->rng, 60))
		line1(g, s, "return -%u;", pick_range(&g->rng, 1, 99));
	else
		line1(g, s, "return 0;");
	free(c);
}

static void stmt_if(struct gen *g, const struct scope *s)
{
	char *c = cond(g, s);
	struct scope in = nested(s);
	line(g, s, "if (%s) {", c);
	gen_block(g, &in, pick_range(&g->rng, 1, 3));
	if (chance(&g->rng, 50)) {
		line(g, s, "} else {");
		gen_block(g, &in, pick_range(&g->rng, 1, 2));
	}
	line(g, s, "}");
	free(c);
}

/* The body of a loop over the request: reads req[i] under i < len. */
static void loop_body(struct gen *g, const struct scope *s, const char *i, int id)
{
	char byte[32];
	snprintf(byte, sizeof(byte), "c%d", id);
	struct scope in = nested(s);
	in.byte_var = byte;
	in.index_var = i;
	in.loop_depth++;
	line(g, &in, "unsigned char c%d = req[%s];", id, i);
	gen_block(g, &in, pick_range(&g->rng, 1, 3));
	if (chance(&g->rng, 40))
		line(g, &in, "if (c%d == %uu)", id, pick(&g->rng, 256));
	else
		return;
	if (s->in_handler && chance(&g->rng, 40))
		line1(g, &in, "return -%u;", pick_range(&g->rng, 1, 99));
	else
		line1(g, &in, "break;");
}

static void stmt_for(struct gen *g, const struct scope *s)
{
	int id = g->uid++;
	char i[32];
	snprintf(i, sizeof(i), "i%d", id);
	line(g, s, "for (unsigned long %s = %u; %s < len; %s += %u) {", i, pick(&g->rng, 4), i, i,
	     pick_range(&g->rng, 1, 3));
	loop_body(g, s, i, id);
	line(g, s, "}");
}

static void stmt_while(struct gen *g, const struct scope *s)
{
	int id = g->uid++;
	char i[32];
	snprintf(i, sizeof(i), "i%d", id);
	line(g, s, "unsigned long %s = 0;", i);
	line(g, s, "while (%s < len && %s < %uu) {", i, i, pick_range(&g->rng, 8, 600));
	loop_body(g, s, i, id);
	line1(g, s, "%s++;", i);
	line(g, s, "}");
}

/* A window of at most K bytes from the enclosing loop's index. */
static void stmt_inner_loop(struct gen *g, const struct scope *s)
{
	int id = g->uid++;
	unsigned k = pick_range(&g->rng, 2, 8);
	line(g, s, "for (unsigned long j%d = %s; j%d < len && j%d < %s + %u; j%d++)", id, s->index_var,
	     id, id, s->index_var, k, id);
	line1(g, s, "acc = acc * %uu + req[j%d];", pick_range(&g->rng, 3, 257) | 1, id);
}

/* DNS-style labels: a length byte, then that many bytes. */
static void stmt_label_walk(struct gen *g, const struct scope *s)
{
	int id = g->uid++;
	unsigned maxlab = pick_range(&g->rng, 15, 63);
	struct scope in = nested(s);
	line(g, s, "unsigned long p%d = %u;", id, pick(&g->rng, 3));
	line(g, s, "while (p%d < len) {", id);
	line(g, &in, "unsigned long l%d = req[p%d];", id, id);
	line(g, &in, "if (l%d == 0)", id);
	line1(g, &in, "break;");
	line(g, &in, "if (l%d > %u)", id, maxlab);
	if (s->in_handler)
		line1(g, &in, "return -%u;", pick_range(&g->rng, 1, 99));
	else
		line1(g, &in, "return acc;");
	line(g, &in, "acc = acc * %uu + l%d;", pick_range(&g->rng, 3, 99), id);
	line(g, &in, "p%d += l%d + 1;", id, id);
	line(g, s, "}");
}

static void stmt_switch(struct gen *g, const struct scope *s)
{
	bool dense = chance(&g->rng, 60);
	unsigned ncases = pick_range(&g->rng, 3, 12), base = pick(&g->rng, 4);
	char *e = expr(g, s, 1);
	struct scope in = nested(s), body = nested(&in);
	if (dense)
		line(g, s, "switch ((%s) & 15) {", e);
	else
		line(g, s, "switch ((unsigned int)(%s) %% 5000u) {", e);
	unsigned value = base;
	for (unsigned c = 0; c < ncases; c++) {
		line(g, &in, "case %uu:", value);
		value += dense ? 1 : pick_range(&g->rng, 7, 400);
		switch (pick(&g->rng, 6)) {
		case 0: line(g, &body, "acc += 0x%xu;", (unsigned)rng_next(&g->rng)); break;
		case 1: line(g, &body, "h ^= 0x%xu;", (unsigned)rng_next(&g->rng)); break;
		case 2: stmt_assign(g, &body); break;
		case 3:
			if (s->in_handler)
				line(g, &body, "return -%u;", pick_range(&g->rng, 1, 99));
			else
				line(g, &body, "acc = 0x%xu;", pick(&g->rng, 1000));
			continue;	/* a return needs no break */
		case 4: continue;	/* fall through to the next case */
		default: line(g, &body, "acc = acc * %uu + %u;", pick_range(&g->rng, 2, 40), c); break;
		}
		line(g, &body, "break;");
	}
	line(g, &in, "default:");
	line(g, &body, "acc ^= %uu;", pick(&g->rng, 65536));
	line(g, &body, "break;");
	line(g, s, "}");
	free(e);
}

static void stmt_divide(struct gen *g, const struct scope *s)
{
	int id = g->uid++;
	char *e = expr(g, s, 2);
	struct scope in = nested(s);
	line(g, s, "{");
	switch (pick(&g->rng, 3)) {
	case 0:
		line(g, &in, "unsigned long d%d = %s;", id, e);
		line(g, &in, "if (d%d != 0) {", id);
		line1(g, &in, "h += (unsigned int)(acc %% d%d);", id);
		line1(g, &in, "acc = acc / d%d;", id);
		line(g, &in, "}");
		break;
	case 1:
		line(g, &in, "unsigned int d%d = (unsigned int)(%s);", id, e);
		line(g, &in, "if (d%d != 0)", id);
		line1(g, &in, "h = h / d%d + h %% d%d;", id, id);
		break;
	default:
		line(g, &in, "long d%d = (long)(short)(%s);", id, e);
		line(g, &in, "if (d%d != 0)", id);
		line1(g, &in, "acc += (unsigned long)((long)(int)acc / d%d - (long)(int)h %% d%d);", id, id);
		break;
	}
	line(g, s, "}");
	free(e);
}

static void stmt_local_array(struct gen *g, const struct scope *s)
{
	int id = g->uid++;
	struct scope in = nested(s);
	if (chance(&g->rng, 50)) {
		unsigned size = pick_range(&g->rng, 4, 48);
		line(g, s, "{");
		line(g, &in, "unsigned char b%d[%u];", id, size);
		line(g, &in, "unsigned long m%d = len < %uu ? len : %uu;", id, size, size);
		line(g, &in, "memset(b%d, 0x%02x, sizeof b%d);", id, pick(&g->rng, 256), id);
		line(g, &in, "memcpy(b%d, req, m%d);", id, id);
		line(g, &in, "for (unsigned long k%d = 0; k%d < %uu; k%d++)", id, id, size, id);
		line1(g, &in, "acc = (acc ^ b%d[k%d]) * %uu;", id, id, pick_range(&g->rng, 3, 1000) | 1);
		line(g, s, "}");
		return;
	}
	unsigned size = 1u << pick_range(&g->rng, 2, 4);
	char *e = expr(g, s, 1);
	line(g, s, "{");
	line(g, &in, "unsigned int w%d[%u];", id, size);
	line(g, &in, "for (unsigned int k%d = 0; k%d < %uu; k%d++)", id, id, size, id);
	line1(g, &in, "w%d[k%d] = (unsigned int)(acc >> k%d) + k%d * %uu;", id, id, id, id,
	     pick(&g->rng, 1000));
	line(g, &in, "w%d[(%s) & %u] ^= h;", id, e, size - 1);
	line(g, &in, "acc += w%d[(h >> 3) & %u] + w%d[%u];", id, size - 1, id, pick(&g->rng, size));
	line(g, s, "}");
	free(e);
}

static void stmt_struct_copy(struct gen *g, const struct scope *s)
{
	if (g->nstructs < MAX_STRUCTS && (g->nstructs == 0 || chance(&g->rng, 30))) {
		text_append(&g->decls,
			    "struct rec%d {\n\tunsigned int a;\n\tunsigned short b;\n\tunsigned char tag[%u];\n"
			    "\tunsigned long c;\n};\n\n",
			    g->nstructs, pick_range(&g->rng, 6, 24));
		g->nstructs++;
	}
	int st = (int)pick(&g->rng, (unsigned)g->nstructs), id = g->uid++;
	struct scope in = nested(s);
	char *e = expr(g, s, 1);
	line(g, s, "{");
	line(g, &in, "struct rec%d x%d = { 0x%xu, %u, { %u, %u }, 0x%llxul }, y%d;", st, id,
	     (unsigned)rng_next(&g->rng), pick(&g->rng, 65536), pick(&g->rng, 256), pick(&g->rng, 256),
	     (unsigned long long)rng_next(&g->rng), id);
	line(g, &in, "x%d.a ^= (unsigned int)(%s);", id, e);
	line(g, &in, "y%d = x%d;", id, id);
	line(g, &in, "if (len > sizeof y%d.tag)", id);
	line1(g, &in, "memcpy(y%d.tag, req, sizeof y%d.tag);", id, id);
	line(g, &in, "y%d.b = (unsigned short)(y%d.b + y%d.tag[%u]);", id, id, id, pick(&g->rng, 6));
	line(g, &in, "acc += y%d.a + y%d.b + y%d.c + y%d.tag[h & 3];", id, id, id, id);
	line(g, s, "}");
	free(e);
}

static void new_magic(struct gen *g, char *magic)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	unsigned n = pick_range(&g->rng, 2, MAGIC_MAX_LEN);
	for (unsigned i = 0; i < n; i++)
		magic[i] = alphabet[pick(&g->rng, sizeof(alphabet) - 1)];
	magic[n] = 0;
}

static void stmt_memcmp(struct gen *g, const struct scope *s)
{
	char *magic;
	if (g->nmagics < MAX_MAGICS && (g->nmagics == 0 || chance(&g->rng, 60))) {
		magic = g->magics[g->nmagics++];
		new_magic(g, magic);
	} else {
		magic = g->magics[pick(&g->rng, (unsigned)g->nmagics)];
	}
	size_t n = strlen(magic);
	line(g, s, "if (len >= %zu && memcmp(req, \"%s\", %zu) == 0) {", n, magic, n);
	struct scope in = nested(s);
	gen_block(g, &in, pick_range(&g->rng, 1, 3));
	line(g, s, "}");
}

static void stmt_strlen(struct gen *g, const struct scope *s)
{
	int id = g->uid++;
	unsigned size = pick_range(&g->rng, 4, 40);
	struct scope in = nested(s);
	line(g, s, "{");
	line(g, &in, "char s%d[%u];", id, size);
	line(g, &in, "unsigned long m%d = len < %uu ? len : %uu;", id, size - 1, size - 1);
	line(g, &in, "memcpy(s%d, req, m%d);", id, id);
	line(g, &in, "s%d[m%d] = 0;", id, id);
	line(g, &in, "acc = acc * 7 + strlen(s%d);", id);
	line(g, s, "}");
}

static void stmt_casts(struct gen *g, const struct scope *s)
{
	int id = g->uid++;
	char *e = expr(g, s, 2);
	struct scope in = nested(s);
	line(g, s, "{");
	line(g, &in, "short sv%d = (short)(%s);", id, e);
	line(g, &in, "int iv%d = (int)sv%d * %d;", id, id, (int)pick(&g->rng, 30000) - 15000);
	line(g, &in, "signed char cv%d = (signed char)iv%d;", id, id);
	line(g, &in, "acc += (unsigned long)(long)iv%d + (unsigned long)(long)cv%d;", id, id);
	line(g, &in, "h = (unsigned int)(unsigned short)sv%d * %uu;", id, pick_range(&g->rng, 1, 65535));
	line(g, s, "}");
	free(e);
}

static void stmt_call(struct gen *g, const struct scope *s)
{
	char *e = expr(g, s, 1);
	unsigned k = pick(&g->rng, (unsigned)s->helper_limit);
	g->helper_called[k] = true;
	line(g, s, "acc = helper%u(%s, req, len);", k, e);
	free(e);
}

enum stmt_kind {
	ST_ASSIGN, ST_IF, ST_FOR, ST_WHILE, ST_LABELS, ST_SWITCH, ST_DIVIDE, ST_ARRAY,
	ST_STRUCT, ST_MEMCMP, ST_STRLEN, ST_CASTS, ST_CALL, ST_RETURN, ST_REPLY, ST_INNER, ST_COUNT
};

/* Which statements fit here: loops only at the top two levels, whole-request
 * loops never inside another loop (a window instead), replies in the handler. */
static bool stmt_fits(enum stmt_kind k, const struct scope *s)
{
	switch (k) {
	case ST_FOR: case ST_WHILE: case ST_LABELS:
		return s->loop_depth == 0 && s->depth < 2;
	case ST_INNER: return s->index_var != NULL;
	case ST_IF: case ST_SWITCH: case ST_MEMCMP: return s->depth < 3;
	case ST_CALL: return s->helper_limit > 0;
	case ST_REPLY: return s->in_handler && s->depth > 0;
	default: return true;
	}
}

static void gen_stmt(struct gen *g, const struct scope *s)
{
	enum stmt_kind k;
	do
		k = (enum stmt_kind)pick(&g->rng, ST_COUNT);
	while (!stmt_fits(k, s));
	switch (k) {
	case ST_ASSIGN: stmt_assign(g, s); break;
	case ST_IF: stmt_if(g, s); break;
	case ST_FOR: stmt_for(g, s); break;
	case ST_WHILE: stmt_while(g, s); break;
	case ST_LABELS: stmt_label_walk(g, s); break;
	case ST_SWITCH: stmt_switch(g, s); break;
	case ST_DIVIDE: stmt_divide(g, s); break;
	case ST_ARRAY: stmt_local_array(g, s); break;
	case ST_STRUCT: stmt_struct_copy(g, s); break;
	case ST_MEMCMP: stmt_memcmp(g, s); break;
	case ST_STRLEN: stmt_strlen(g, s); break;
	case ST_CASTS: stmt_casts(g, s); break;
	case ST_CALL: stmt_call(g, s); break;
	case ST_RETURN: stmt_return(g, s); break;
	case ST_REPLY: stmt_reply(g, s); break;
	case ST_INNER: stmt_inner_loop(g, s); break;
	case ST_COUNT: break;
	}
}

static void gen_block(struct gen *g, const struct scope *s, int nstmts)
{
	for (int i = 0; i < nstmts; i++)
		gen_stmt(g, s);
}

/* ---- functions --------------------------------------------------------------- */

static void gen_prologue(struct gen *g, const struct scope *s)
{
	if (s->in_handler)
		line(g, s, "unsigned long acc = 0x%llxul;", (unsigned long long)rng_next(&g->rng));
	line(g, s, "unsigned int h = 0x%xu;", (unsigned)rng_next(&g->rng));
}

/* Adds statements until the body reaches its chosen size. */
static void gen_body(struct gen *g, const struct scope *s, int min_lines, int max_lines)
{
	int target = (int)pick_range(&g->rng, (unsigned)min_lines, (unsigned)max_lines);
	while (g->out->lines < target) {
		int before = g->out->lines;
		gen_stmt(g, s);
		if (g->out->lines > max_lines + 20 && g->out->lines - before > 10)
			break;	/* one big statement overshot: stop here */
	}
}

static void gen_helper(struct gen *g, int index)
{
	struct text body = { 0 };
	struct scope s = { .helper_limit = index };
	g->out = &body;
	gen_prologue(g, &s);
	gen_body(g, &s, 6, 30);
	line(g, &s, "return acc ^ h;");
	text_append(&g->decls, "%sstatic unsigned long helper%d(unsigned long acc, const unsigned char *req, unsigned long len)\n{\n",
		    chance(&g->rng, 50) ? "__attribute__((noinline)) " : "", index);
	text_append_text(&g->decls, &body);
	text_append(&g->decls, "}\n\n");
	free(text_take(&body));
}

static void gen_epilogue(struct gen *g, const struct scope *s)
{
	switch (pick(&g->rng, 5)) {
	case 0: line(g, s, "return 0;"); break;
	case 1: line(g, s, "return -(long)(acc & 7) - 1;"); break;
	default: {
		struct scope top = *s;
		top.depth = 0;
		stmt_reply(g, &top);
		break;
	}
	}
}

static char *gen_program(struct gen *g, uint64_t seed)
{
	struct text file = { 0 }, body = { 0 };
	int nhelpers = (int)pick(&g->rng, MAX_HELPERS + 1);
	for (int i = 0; i < nhelpers; i++)
		gen_helper(g, i);
	struct scope s = { .in_handler = true, .helper_limit = nhelpers };
	g->out = &body;
	gen_prologue(g, &s);
	gen_body(g, &s, MIN_BODY_LINES - 6, MAX_BODY_LINES - 20);
	for (int i = 0; i < nhelpers; i++)	/* every helper is used: no dead code */
		if (!g->helper_called[i])
			line(g, &s, "acc ^= helper%d(acc, req, len);", i);
	gen_epilogue(g, &s);
	text_append(&file, "/* generated by tests/gen/handlergen %llu: a handler free of undefined behaviour */\n"
			   "#include <string.h>\n\n", (unsigned long long)seed);
	text_append_text(&file, &g->decls);
	text_append(&file, "long handle_request(const unsigned char *req, unsigned long len,\n"
			   "\t\t    unsigned char *resp, unsigned long cap)\n{\n");
	text_append_text(&file, &body);
	text_append(&file, "}\n");
	free(text_take(&body));
	free(text_take(&g->decls));
	return text_take(&file);
}

/* ---- requests ---------------------------------------------------------------- */

static unsigned request_length(struct rng *r)
{
	unsigned p = pick(r, 100);
	if (p < 40)
		return pick_range(r, 1, 16);
	if (p < 70)
		return pick_range(r, 17, 64);
	if (p < 90)
		return pick_range(r, 65, 300);
	return pick_range(r, 301, 1400);
}

/* Bytes that reach the programs' branches: label lengths, zeros, magics. */
static unsigned char request_byte(struct rng *r, const struct gen *g)
{
	switch (pick(r, 8)) {
	case 0: return (unsigned char)pick(r, 8);
	case 1: return 0;
	case 2: return 0xff;
	case 3:
		if (g->nmagics) {
			const char *m = g->magics[pick(r, (unsigned)g->nmagics)];
			return (unsigned char)m[pick(r, (unsigned)strlen(m))];
		}
		return 'A';
	default: return (unsigned char)pick(r, 256);
	}
}

static void print_requests(const struct gen *g, uint64_t seed, unsigned count)
{
	struct rng r = { seed ^ 0x5eed5eed5eed5eedull };
	unsigned char buf[1400];
	printf("# %u requests for tests/gen/handlergen %llu\n", count, (unsigned long long)seed);
	for (unsigned n = 0; n < count; n++) {
		unsigned len = request_length(&r), at = 0;
		if (g->nmagics && chance(&r, 40)) {
			const char *m = g->magics[pick(&r, (unsigned)g->nmagics)];
			size_t ml = strlen(m);
			memcpy(buf, m, ml);
			at = (unsigned)ml;
			if (len < at)
				len = at;
		}
		for (; at < len; at++)
			buf[at] = request_byte(&r, g);
		for (unsigned i = 0; i < len; i++)
			printf("%02x", buf[i]);
		printf("\n");
	}
}

int main(int argc, char **argv)
{
	if (argc != 2 && !(argc == 4 && !strcmp(argv[2], "--requests"))) {
		fprintf(stderr, "usage: handlergen SEED [--requests COUNT]\n");
		return 2;
	}
	uint64_t seed = strtoull(argv[1], NULL, 0);
	struct gen g = { .rng = { seed } };
	char *program = gen_program(&g, seed);
	if (argc == 4)
		print_requests(&g, seed, (unsigned)strtoul(argv[3], NULL, 0));
	else
		fputs(program, stdout);
	free(program);
	return 0;
}
