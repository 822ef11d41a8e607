/* reqlen.c - find the request reads that the handler's own comparisons
 * keep below the request's length.
 *
 * bpfgen checks every request access against the datagram's length at run
 * time (req_len_check: three instructions and a fallback), because the
 * bytes past it are whatever the previous packet left in the scratch map.
 * Parsers compare with the length themselves before they read:
 *     while (i < len && req[i] > ' ') i++;
 * so for most reads the check is decided already.  This pass marks those
 * reads (ir_insn.within_len) and bpfgen leaves their check out.
 *
 * A forward must-analysis over the blocks, iterated to a fixpoint.  Per
 * vreg it keeps
 *   - a linear form, v = root + off (mod 2^64): root is the vreg v was
 *     computed from by adding constants (a root itself has off 0), or
 *     ROOT_K (the constant 0: v is the constant off) or ROOT_L (the
 *     request's length);
 *   - a bound j: v + j <= len as integers.  len is at most IR_REQ_MAX
 *     (the XDP entry passes longer requests up), so such a v is small.
 * and, for the request's length, minlen: len >= minlen.
 *
 * A branch on `x < len` (or any form of it) bounds x, and every vreg of
 * x's root at or above it, on the edge where it holds; comparing len with
 * a constant raises minlen.  An access's offset in the request region,
 * R1 = address - IR_REQ_VA = root + o, is then covered by a vreg u of the
 * same root with bound j when e = o - off(u) has e + size <= j:
 *   - e >= 0: R1 = u + e exactly (u is small), so R1 + size <= len;
 *   - e < 0: R1 = u + e <= u - 1, or it wraps past 2^63, where the region
 *     check that bpfgen keeps (R1 <= IR_REQ_MAX - size) has sent the
 *     access down the full search, which checks the length itself.
 * The same argument covers R1 = len + o with o + size <= 0 (the request's
 * last bytes), and constant offsets below minlen.
 *
 * Only facts are dropped, never made up: a form or bound that is not the
 * same on every path into a block is forgotten there, and a bound that
 * keeps shrinking around a loop is widened: to the next bound below it
 * that some branch has taught, or to none. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"
#include "lift.h"

#define ROOT_K (-2)		/* the constant 0 */
#define ROOT_L (-3)		/* the request's length */
#define NO_BOUND INT32_MIN
#define SMALL ((int64_t)1 << 31)	/* offsets reasoned about */
#define BOUND_MAX ((int64_t)1 << 30)	/* bounds and minlen kept: no int32 overflow */
#define NARROW_MAX ((int64_t)1 << 20)	/* see narrow() */
#define WIDEN_AFTER 4		/* visits of a block before shrinking bounds are widened */
#define MAX_FORMS (2u << 20)	/* blocks x vregs kept at most (24 bytes each) */

struct form {
	int32_t root;
	int32_t bound;
	uint64_t off;
	int32_t len_minus;	/* v == len - the value of this vreg, or -1 */
	int32_t zero_minlen;	/* len >= this where v's low byte is 0 (a test's flag) */
};

/* The bounds and minlens the branches have taught: a bound that keeps
 * shrinking around a loop is widened to the next of these below it (the
 * loop's own test, i < len, usually), not to none. */
#define LADDER_MAX 64
struct ladder {
	int32_t rung[LADDER_MAX];
	int n;
};

struct state {
	bool reached;
	int32_t minlen;
	struct form *v;		/* nvregs forms */
	struct ladder *ladder;	/* where learned bounds are recorded (edges only) */
};

struct reqlen {
	struct ir_func *fn;
	int n;			/* vregs */
	struct state *in;	/* per block, at its start */
	int *visits;		/* per block: a shrinking bound is widened past WIDEN_AFTER */
	int *queue, qhead, qlen;	/* blocks whose start changed, to walk again */
	bool *queued;
	struct form *scratch;	/* 2 x n: a block's walk, an edge's */
	struct join_key *keys;	/* n, for join_forms */
	struct ladder ladder;
	struct ladder no_rungs;	/* past 4 x WIDEN_AFTER visits, shrinking bounds go */
};

static bool small(int64_t x)
{
	return x > -SMALL && x < SMALL;
}

/* A bound as kept: none past BOUND_MAX either way (a path where
 * len >= 2^30 cannot run anyway). */
static int32_t as_bound(int64_t b)
{
	return b > -BOUND_MAX && b < BOUND_MAX ? (int32_t)b : NO_BOUND;
}

static struct form own_root(int v)
{
	return (struct form){ .root = v, .bound = NO_BOUND, .off = 0, .len_minus = -1 };
}

static void state_entry(struct state *s, int n)
{
	s->reached = true;
	s->minlen = 0;
	for (int v = 0; v < n; v++) {
		uint64_t value;

		if (v == IR_RSI)
			s->v[v] = (struct form){ .root = ROOT_L, .bound = 0, .off = 0, .len_minus = -1 };
		else if (v < IR_NFIXED && ir_entry_constant(v, &value))
			s->v[v] = (struct form){ .root = ROOT_K, .bound = NO_BOUND, .off = value, .len_minus = -1 };
		else
			s->v[v] = own_root(v);
	}
}

/* The form of an operand: an immediate is ROOT_K + imm. */
static struct form operand(const struct state *s, struct ir_val x)
{
	if (x.reg == IR_NONE)
		return (struct form){ .root = ROOT_K, .bound = NO_BOUND, .off = (uint64_t)x.imm, .len_minus = -1 };
	return s->v[x.reg];
}

static bool is_len(struct form f)
{
	return f.root == ROOT_L && f.off == 0;
}

/* A form's bound, also where the form gives one: a constant c has
 * minlen - c; len + o has -o where it does not wrap (o >= 0, or minlen
 * >= -o). */
static int32_t form_bound(const struct state *s, struct form f)
{
	int64_t o = (int64_t)f.off, b = f.bound;

	if (f.root == ROOT_K && o >= 0 && o < SMALL)
		b = b > s->minlen - o ? b : s->minlen - o;
	else if (f.root == ROOT_L && ((o >= 0 && o < SMALL) || (o < 0 && -o <= s->minlen)))
		b = b > -o ? b : -o;
	return as_bound(b);
}

static int32_t bound_of(const struct state *s, int v)
{
	return form_bound(s, s->v[v]);
}

static void ladder_add(struct ladder *l, int32_t b)
{
	if (!l || b == NO_BOUND || l->n == LADDER_MAX)
		return;
	for (int i = 0; i < l->n; i++)
		if (l->rung[i] == b)
			return;
	l->rung[l->n++] = b;
}

/* The highest rung at or below b; none when there is none. */
static int32_t ladder_floor(const struct ladder *l, int32_t b)
{
	int32_t best = NO_BOUND;

	for (int i = 0; i < l->n; i++)
		if (l->rung[i] <= b && l->rung[i] > best)
			best = l->rung[i];
	return best;
}

/* The smaller of two bounds; with `widen` (a loop that has gone round
 * WIDEN_AFTER times), a shrinking one drops to a rung of the ladder (an
 * empty one past 4 x WIDEN_AFTER: the link's time stays linear). */
static int32_t meet_bound(int32_t old, int32_t in, const struct ladder *widen)
{
	if (old == NO_BOUND || in == NO_BOUND)
		return NO_BOUND;
	if (in < old)
		return widen ? ladder_floor(widen, in) : in;
	return old;
}

/* ---- Definitions -------------------------------------------------------- */

/* v is about to change: the vregs rooted at v get one of them as root. */
static void reroot_members(struct state *s, int n, int v)
{
	int m = -1;

	if (s->v[v].root != v)
		return;
	for (int w = 0; w < n; w++) {
		if (w == v || s->v[w].root != v)
			continue;
		if (m < 0)
			m = w;
		s->v[w].root = m;
		s->v[w].off -= s->v[m].off;	/* m's own off is read last: it becomes 0 */
	}
	if (m >= 0)
		s->v[m].off = 0;
}

/* A value below 2^32 with room to add NARROW_MAX: a bound no lower than
 * -NARROW_MAX puts it at most NARROW_MAX past len. */
static bool narrow(const struct state *s, struct form f)
{
	int32_t b = form_bound(s, f);

	return b != NO_BOUND && b >= -NARROW_MAX;
}

/* `in` computes src + add, mod 2^64, for a src form: true with them.
 * 32-bit operations (zero-extended) count where they cannot wrap: on a
 * narrow value, adding less than NARROW_MAX. */
static bool linear(const struct state *s, const struct ir_insn *in, struct form *src, uint64_t *add)
{
	struct form a = operand(s, in->a), b = operand(s, in->b);

	*add = 0;
	*src = b;
	if (in->op == IR_MOV && (in->w == 64 || narrow(s, b)))
		return true;
	if (in->op == IR_ZEXT && ((in->w >= 16 && is_len(b)) || (in->w == 32 && narrow(s, b))))
		return true;	/* len < 2^16 */
	if (in->op != IR_ADD && in->op != IR_SUB)
		return false;
	if (b.root == ROOT_K) {
		*src = a;
		*add = in->op == IR_ADD ? b.off : (uint64_t)0 - b.off;
	} else if (in->op != IR_ADD || a.root != ROOT_K) {
		return false;
	} else {
		*add = a.off;
	}
	if (in->w == 64)
		return true;
	return in->w == 32 && narrow(s, *src) && (int64_t)*add >= 0 && (int64_t)*add < NARROW_MAX;
}

/* d = len - x for a vreg x other than d: x, else -1. */
static int len_minus_of(const struct state *s, const struct ir_insn *in)
{
	if (in->op == IR_SUB && in->w == 64 && in->a.reg != IR_NONE && is_len(s->v[in->a.reg]) &&
	    in->b.reg != IR_NONE && in->b.reg != in->dst)
		return in->b.reg;
	if (in->op == IR_MOV && in->w == 64 && in->b.reg != IR_NONE && s->v[in->b.reg].len_minus != in->dst)
		return s->v[in->b.reg].len_minus;
	return -1;
}

static int32_t zero_minlen_of(const struct state *s, const struct ir_insn *in);

static void define(struct state *s, int n, const struct ir_insn *in)
{
	int d = in->dst, minus = len_minus_of(s, in);
	int32_t zero_minlen = zero_minlen_of(s, in);
	struct form src;
	uint64_t add;

	for (int w = 0; w < n; w++)
		if (s->v[w].len_minus == d)
			s->v[w].len_minus = -1;	/* len minus d's old value */
	if (!linear(s, in, &src, &add)) {
		int32_t bound = in->op == IR_SELECT ? meet_bound(form_bound(s, operand(s, in->c)),
								 form_bound(s, operand(s, in->d)), NULL)
						    : NO_BOUND;

		reroot_members(s, n, d);
		s->v[d] = own_root(d);
		s->v[d].bound = bound;	/* a select's is the smaller of its values' */
		s->v[d].len_minus = minus;
		s->v[d].zero_minlen = zero_minlen;
		return;
	}
	int64_t c = (int64_t)add;
	int32_t bound = src.bound != NO_BOUND && c >= 0 && c < SMALL ? as_bound(src.bound - c) : NO_BOUND;

	if (src.root == d) {
		/* d = d + c (or a member of d's class + c): d's members stay
		 * where they were, relative to d's new value. */
		for (int w = 0; w < n; w++)
			if (w != d && s->v[w].root == d)
				s->v[w].off -= src.off + add;
		s->v[d] = (struct form){ .root = d, .bound = bound, .off = 0, .len_minus = minus,
					 .zero_minlen = zero_minlen };
		return;
	}
	reroot_members(s, n, d);
	s->v[d] = (struct form){ .root = src.root, .bound = bound, .off = src.off + add, .len_minus = minus,
				 .zero_minlen = zero_minlen };
}

/* ---- Facts from branches ----------------------------------------------- */

static void set_minlen(struct state *s, int32_t minlen)
{
	s->minlen = minlen;
	ladder_add(s->ladder, minlen);
}

static bool nonneg_const(struct form f)
{
	return f.root == ROOT_K && (int64_t)f.off >= 0;
}

/* x + j <= len where x's form is f: every vreg u of f's root gets the
 * bound j - e, e = u - x, where u = x + e exactly: e >= 0 (x is small), or
 * u has a bound already (u is small).  A constant raises minlen. */
static void learn(struct state *s, int n, struct form f, int64_t j)
{
	if (f.root == ROOT_K) {
		int64_t c = (int64_t)f.off;

		if (c >= 0 && c < SMALL && as_bound(c + j) > s->minlen)
			set_minlen(s, as_bound(c + j));
		return;
	}
	if (f.root == ROOT_L)
		return;
	for (int u = 0; u < n; u++) {
		int64_t e = (int64_t)(s->v[u].off - f.off);

		if (s->v[u].root != f.root || !small(e) || (e < 0 && bound_of(s, u) == NO_BOUND))
			continue;
		if (s->v[u].bound < as_bound(j - e)) {
			s->v[u].bound = as_bound(j - e);
			ladder_add(s->ladder, s->v[u].bound);
		}
	}
}

/* len + o <= c (unsigned; o < 0, c a small constant): len + o did not
 * wrap, so len >= -o; len + o == c says len == c - o. */
static void learn_len_offset(struct state *s, enum ir_cond cond, struct form x, struct form c)
{
	int64_t o = (int64_t)x.off, k = (int64_t)c.off;

	if (x.root != ROOT_L || o >= 0 || o <= -SMALL || c.root != ROOT_K || k < 0 || k >= SMALL)
		return;
	if (cond == IR_EQ && as_bound(k - o) > s->minlen)
		set_minlen(s, as_bound(k - o));
	else if ((cond == IR_ULT || cond == IR_ULE) && as_bound(-o) > s->minlen)
		set_minlen(s, as_bound(-o));
}

/* v ? c for v = len - x, x <= len (so v = len - x does not wrap), c a
 * small constant: v >= c says x + c <= len. */
static void learn_len_left(struct state *s, int n, enum ir_cond cond, int v, struct form c)
{
	int x = s->v[v].len_minus;
	int64_t k = (int64_t)c.off;

	if (x < 0 || c.root != ROOT_K || k < 0 || k >= SMALL || bound_of(s, x) == NO_BOUND ||
	    bound_of(s, x) < 0)
		return;
	if (cond == IR_UGE || cond == IR_EQ)
		learn(s, n, s->v[x], k);
	else if (cond == IR_UGT || (cond == IR_NE && k == 0))
		learn(s, n, s->v[x], k + 1);
}

/* x == len, x = root + o: every vreg of the root is len + its offset from
 * x (mod 2^64, as the code computes it). */
static void len_relative(struct state *s, int n, struct form x)
{
	if (x.root < 0)
		return;
	for (int u = 0; u < n; u++) {
		if (s->v[u].root != x.root || u == x.root)
			continue;
		s->v[u].root = ROOT_L;
		s->v[u].off -= x.off;
	}
	s->v[x.root].root = ROOT_L;
	s->v[x.root].off = 0 - x.off;
}

/* cond(x, y) holds, y + b <= len: x < y gives x + 1 + b <= len, x <= y or
 * x == y gives x + b <= len.  Both are small and non-negative then (x a
 * constant that is, or a vreg with a bound), so a signed comparison says
 * the same.  x != y says x + 1 - o <= len where y is len + o (a
 * len-relative form: `p != req + len`, or len itself against a constant
 * at most minlen) and x <= y already.  (A request
 * pointer's bound is about -IR_REQ_VA: p - IR_REQ_VA + j <= len.) */
static void learn_below(struct state *s, int n, enum ir_cond cond, struct form x, struct form y)
{
	int32_t b = form_bound(s, y);
	bool small_x = nonneg_const(x) || form_bound(s, x) != NO_BOUND;
	int64_t oy = (int64_t)y.off;

	if (cond == IR_NE && y.root == ROOT_L && small(oy) && form_bound(s, x) != NO_BOUND &&
	    form_bound(s, x) >= -oy)
		learn(s, n, x, 1 - oy);	/* x <= len + oy = y, x != y */
	if (b == NO_BOUND)
		return;
	if (cond == IR_ULT || (cond == IR_SLT && small_x))
		learn(s, n, x, (int64_t)b + 1);
	else if (cond == IR_ULE || cond == IR_EQ || (cond == IR_SLE && small_x))
		learn(s, n, x, b);
	if (cond == IR_EQ && is_len(y))
		len_relative(s, n, x);	/* after learn(): it finds x's class by its root */
}

/* ---- Tests combined without branches ------------------------------------
 * gcc computes `if (len < 12 || cap < 64) return` as setbe, setbe, or, test:
 * each flag says, where it is 0, that its test failed, and an or of flags
 * is 0 only where each is.  zero_minlen keeps what a value's low byte
 * being 0 says of len. */

/* The least len that cond(a, b) holding implies, for len (or len + o)
 * against a constant; 0 for anything else. */
static int32_t implied_minlen(enum ir_cond cond, struct form a, struct form b)
{
	struct state t = { .minlen = 0 };

	if ((a.root != ROOT_K && a.root != ROOT_L) || (b.root != ROOT_K && b.root != ROOT_L))
		return 0;	/* learn_* below then touch no vreg */
	learn_len_offset(&t, cond, a, b);
	learn_len_offset(&t, ir_cond_mirror(cond), b, a);
	learn_below(&t, 0, cond, a, b);
	learn_below(&t, 0, ir_cond_mirror(cond), b, a);
	return t.minlen;
}

static int32_t zero_minlen_of_val(const struct state *s, struct ir_val x)
{
	return x.reg == IR_NONE ? 0 : s->v[x.reg].zero_minlen;
}

static int32_t zero_minlen_of(const struct state *s, const struct ir_insn *in)
{
	struct form c = operand(s, in->c), d = operand(s, in->d);
	int32_t za = zero_minlen_of_val(s, in->a), zb = zero_minlen_of_val(s, in->b);

	switch (in->op) {
	case IR_SELECT:	/* cond ? 1 : 0 is 0 where cond fails; cond ? 0 : 1 where it holds */
		if (c.root == ROOT_K && d.root == ROOT_K && c.off == 1 && d.off == 0)
			return implied_minlen(ir_cond_negate((enum ir_cond)in->cond), operand(s, in->a),
					      operand(s, in->b));
		if (c.root == ROOT_K && d.root == ROOT_K && c.off == 0 && d.off == 1)
			return implied_minlen((enum ir_cond)in->cond, operand(s, in->a), operand(s, in->b));
		return 0;
	case IR_OR:	/* a | b has a 0 low byte only where both have */
		return za > zb ? za : zb;
	case IR_MOV:
	case IR_ZEXT:	/* the low byte kept */
		return zb;
	default:
		return 0;
	}
}

/* x's low byte is 0 where cond(x, y) holds: x == 0, or x & m == 0 with m
 * covering the low byte. */
static void learn_zero_byte(struct state *s, enum ir_cond cond, struct ir_val x, struct form y)
{
	if (x.reg == IR_NONE || y.root != ROOT_K)
		return;
	if ((cond == IR_EQ && y.off == 0) || (cond == IR_TSTZ && (y.off & 0xff) == 0xff))
		if (s->v[x.reg].zero_minlen > s->minlen)
			set_minlen(s, s->v[x.reg].zero_minlen);
}

/* What cond(a, b) holding says about the request's length. */
static void learn_cond(struct state *s, int n, enum ir_cond cond, struct ir_val a, struct ir_val b)
{
	struct form fa = operand(s, a), fb = operand(s, b);

	learn_len_offset(s, cond, fa, fb);
	learn_len_offset(s, ir_cond_mirror(cond), fb, fa);
	if (a.reg != IR_NONE)
		learn_len_left(s, n, cond, a.reg, fb);
	if (b.reg != IR_NONE)
		learn_len_left(s, n, ir_cond_mirror(cond), b.reg, fa);
	learn_below(s, n, cond, fa, fb);
	learn_below(s, n, ir_cond_mirror(cond), fb, fa);
	learn_zero_byte(s, cond, a, fb);
	learn_zero_byte(s, ir_cond_mirror(cond), b, fa);
}

/* ---- Accesses ------------------------------------------------------------ */

/* Whether the request access `in` lies below the length (see the top). */
static bool covered(const struct state *s, int n, const struct ir_insn *in)
{
	struct form f = operand(s, in->a);
	uint64_t o = f.off + (uint64_t)in->imm - IR_REQ_VA;
	int64_t size = in->size;

	if (f.root == ROOT_K)
		return (int64_t)o >= 0 && (int64_t)o < SMALL && (int64_t)o + size <= s->minlen;
	if (f.root == ROOT_L)
		return small((int64_t)o) && (int64_t)o + size <= 0;
	for (int u = 0; u < n; u++) {
		int64_t e = (int64_t)(o - s->v[u].off);

		if (s->v[u].root == f.root && s->v[u].bound != NO_BOUND && small(e) &&
		    e + size <= s->v[u].bound)
			return true;
	}
	return false;
}

/* An access bpfgen checks against the length: hinted to the request, or
 * at a constant address (covered() only says yes for the request's). */
static bool request_access(const struct ir_insn *in)
{
	return (in->op == IR_LOAD || in->op == IR_STORE) &&
	       (in->region == IR_REG_REQ || in->a.reg == IR_NONE);
}

/* ---- The fixpoint ---------------------------------------------------------- */

/* A vreg at a join: its roots and offsets on the two sides. */
struct join_key {
	int32_t root_a, root_b;
	uint64_t delta;		/* off on side a - off on side b */
	int v;
};

static int cmp_join_key(const void *x, const void *y)
{
	const struct join_key *p = x, *q = y;

	if (p->root_a != q->root_a)
		return p->root_a < q->root_a ? -1 : 1;
	if (p->root_b != q->root_b)
		return p->root_b < q->root_b ? -1 : 1;
	if (p->delta != q->delta)
		return p->delta < q->delta ? -1 : 1;
	return p->v < q->v ? -1 : p->v > q->v;
}

static bool same_key(const struct join_key *p, const struct join_key *q)
{
	return p->root_a == q->root_a && p->root_b == q->root_b && p->delta == q->delta;
}

/* The forms at a join: vregs that were the same root plus offsets on
 * both sides and differ by the same amount on both (v - w = d on each
 * side: `i++, p++` around a loop) stay related, with one of them as the
 * root; a constant or len-relative value equal on both sides stays.
 * keys[] holds the vregs to regroup, sorted into groups.  True when a form
 * changed. */
static bool join_forms(struct state *to, const struct state *from, int n, struct join_key *keys)
{
	bool changed = false;
	int nk = 0;

	/* A form the same on both sides stays, and so does its root (a root
	 * of a form is a root on its side): only the others are grouped. */
	for (int v = 0; v < n; v++)
		if (to->v[v].root != from->v[v].root || to->v[v].off != from->v[v].off)
			keys[nk++] = (struct join_key){ .root_a = to->v[v].root, .root_b = from->v[v].root,
							.delta = to->v[v].off - from->v[v].off, .v = v };
	qsort(keys, (size_t)nk, sizeof(*keys), cmp_join_key);
	for (int g = 0, end; g < nk; g = end) {
		const struct join_key *k = &keys[g];
		int rep = k->v;

		for (end = g + 1; end < nk && same_key(&keys[end], k); end++)
			;
		uint64_t base = to->v[rep].off;

		for (int i = g; i < end; i++) {
			struct form *t = &to->v[keys[i].v];

			changed |= t->root != rep || base != 0;
			t->root = rep;
			t->off -= base;
		}
	}
	return changed;
}

/* Meets `from` into block b's start; true when that changed. */
static bool meet_into(struct reqlen *r, int b, const struct state *from)
{
	struct state *to = &r->in[b];
	const struct ladder *widen = r->visits[b] > 4 * WIDEN_AFTER ? &r->no_rungs
				   : r->visits[b] > WIDEN_AFTER ? &r->ladder : NULL;
	bool changed = false;

	if (!to->reached) {
		to->reached = true;
		to->minlen = from->minlen;
		memcpy(to->v, from->v, (size_t)r->n * sizeof(*to->v));
		return true;
	}
	for (int v = 0; v < r->n; v++) {
		struct form *t = &to->v[v];
		int32_t bound = meet_bound(bound_of(to, v), bound_of(from, v), widen);
		int32_t zero_minlen = t->zero_minlen < from->v[v].zero_minlen ? t->zero_minlen
									       : from->v[v].zero_minlen;

		if (bound != t->bound || zero_minlen != t->zero_minlen ||
		    (t->len_minus != from->v[v].len_minus && t->len_minus >= 0))
			changed = true;
		t->bound = bound;
		t->zero_minlen = zero_minlen;
		if (t->len_minus != from->v[v].len_minus)
			t->len_minus = -1;
	}
	changed |= join_forms(to, from, r->n, r->keys);
	if (from->minlen < to->minlen) {
		to->minlen = widen ? ladder_floor(widen, from->minlen) : from->minlen;
		if (to->minlen == NO_BOUND)
			to->minlen = 0;
		changed = true;
	}
	return changed;
}

/* Walks block b from its start; with `mark`, marks the covered accesses.
 * The state at its end, edges not yet applied, is in r->scratch. */
static struct state walk_block(struct reqlen *r, int b, bool mark)
{
	const struct ir_block *blk = &r->fn->blocks[b];
	struct state s = { .reached = true, .minlen = r->in[b].minlen, .v = r->scratch };

	memcpy(s.v, r->in[b].v, (size_t)r->n * sizeof(*s.v));
	for (int i = 0; i < blk->ninsns; i++) {
		struct ir_insn *in = &blk->insns[i];

		if (request_access(in) && mark)
			in->within_len = covered(&s, r->n, in);
		if (ir_insn_defines(in) && in->dst >= 0 && in->dst < r->n)
			define(&s, r->n, in);
	}
	return s;
}

static void enqueue(struct reqlen *r, int b)
{
	if (r->queued[b])
		return;
	r->queued[b] = true;
	r->queue[(r->qhead + r->qlen++) % r->fn->nblocks] = b;
}

/* The state at the end of a block, along one edge (a branch's, which
 * teaches its condition, or NULL), into its target. */
static void push_edge(struct reqlen *r, const struct state *end, int to, const struct ir_insn *br, bool taken)
{
	struct state s = { .reached = true, .minlen = end->minlen, .v = r->scratch + r->n, .ladder = &r->ladder };

	if (br) {
		memcpy(s.v, end->v, (size_t)r->n * sizeof(*s.v));
		learn_cond(&s, r->n, taken ? (enum ir_cond)br->cond : ir_cond_negate((enum ir_cond)br->cond),
			   br->a, br->b);
		end = &s;
	}
	if (meet_into(r, to, end))
		enqueue(r, to);
}

static void visit(struct reqlen *r, int b)
{
	const struct ir_block *blk = &r->fn->blocks[b];
	struct state s;
	const struct ir_insn *last;

	r->visits[b]++;
	s = walk_block(r, b, false);
	if (blk->ninsns == 0)
		return;
	last = &blk->insns[blk->ninsns - 1];
	if (last->op == IR_BR) {
		push_edge(r, &s, last->t, last, true);
		push_edge(r, &s, last->f, last, false);
	} else if (last->op == IR_JMP) {
		push_edge(r, &s, last->t, NULL, false);
	} else if (last->op == IR_SWITCH) {
		for (int k = 0; k < last->ncases; k++)
			push_edge(r, &s, last->cases[k].target, NULL, false);
	}
}

static int reqlen_alloc(struct reqlen *r, struct ir_func *fn)
{
	size_t nb = (size_t)fn->nblocks, n = (size_t)fn->nvregs;

	r->fn = fn;
	r->n = fn->nvregs;
	r->in = calloc(nb, sizeof(*r->in));
	r->visits = calloc(nb, sizeof(*r->visits));
	r->queue = calloc(nb, sizeof(*r->queue));
	r->queued = calloc(nb, sizeof(*r->queued));
	r->scratch = calloc(2 * n, sizeof(*r->scratch));
	r->keys = calloc(n, sizeof(*r->keys));
	struct form *all = calloc(nb * n, sizeof(*all));

	if (!r->in || !r->visits || !r->queue || !r->queued || !r->scratch || !r->keys || !all) {
		free(all);
		return -ENOMEM;
	}
	for (size_t b = 0; b < nb; b++)
		r->in[b].v = all + b * n;
	return 0;
}

static void reqlen_free(struct reqlen *r)
{
	if (r->in)
		free(r->in[0].v);
	free(r->in);
	free(r->visits);
	free(r->queue);
	free(r->queued);
	free(r->scratch);
	free(r->keys);
}

int reqlen_prove(struct ir_func *fn)
{
	struct reqlen r = { 0 };
	int marked = 0, rc;

	if (fn->nblocks == 0 || fn->nvregs == 0 || (size_t)fn->nblocks * (size_t)fn->nvregs > MAX_FORMS)
		return 0;	/* too big to keep: every access keeps its check */
	if ((rc = reqlen_alloc(&r, fn))) {
		reqlen_free(&r);
		return rc;
	}
	state_entry(&r.in[0], r.n);
	enqueue(&r, 0);
	while (r.qlen > 0) {
		int b = r.queue[r.qhead];

		r.qhead = (r.qhead + 1) % fn->nblocks;
		r.qlen--;
		r.queued[b] = false;
		visit(&r, b);
	}
	for (int b = 0; b < fn->nblocks; b++) {
		if (!r.in[b].reached)
			continue;
		walk_block(&r, b, true);
		for (int i = 0; i < fn->blocks[b].ninsns; i++)
			marked += fn->blocks[b].insns[i].within_len;
	}
	reqlen_free(&r);
	return marked;
}
