/* calc - an arithmetic service ("(12+30)*2/4 - 7%3"), lexed by a DFA whose
 * character classes and transitions are const tables, evaluated by an
 * operator-precedence stack machine.  Hard: 2-D table lookups indexed by
 * request bytes, signed 64-bit arithmetic with guarded division and
 * overflow checks (__builtin_*_overflow), local arrays as stacks. */
#include <stdint.h>

enum cls { C_OTHER, C_DIGIT, C_SPACE, C_OP, C_LPAREN, C_RPAREN, C_HEX_X, C_HEXLET, C_END, NCLS };
enum lstate { L_START, L_DEC, L_ZERO, L_HEX0, L_HEX, L_ERR, NSTATES };

static const uint8_t cls_of[256] = {
	['0'] = C_DIGIT, ['1'] = C_DIGIT, ['2'] = C_DIGIT, ['3'] = C_DIGIT, ['4'] = C_DIGIT,
	['5'] = C_DIGIT, ['6'] = C_DIGIT, ['7'] = C_DIGIT, ['8'] = C_DIGIT, ['9'] = C_DIGIT,
	[' '] = C_SPACE, ['\t'] = C_SPACE, ['\n'] = C_END, ['\r'] = C_SPACE, [0] = C_END,
	['+'] = C_OP, ['-'] = C_OP, ['*'] = C_OP, ['/'] = C_OP, ['%'] = C_OP, ['&'] = C_OP,
	['|'] = C_OP, ['^'] = C_OP, ['('] = C_LPAREN, [')'] = C_RPAREN, ['x'] = C_HEX_X,
	['a'] = C_HEXLET, ['b'] = C_HEXLET, ['c'] = C_HEXLET, ['d'] = C_HEXLET, ['e'] = C_HEXLET,
	['f'] = C_HEXLET, ['A'] = C_HEXLET, ['B'] = C_HEXLET, ['C'] = C_HEXLET, ['D'] = C_HEXLET,
	['E'] = C_HEXLET, ['F'] = C_HEXLET,
};

/* next[state][class]: where a number's characters lead; L_START on a
 * delimiter means "token complete". */
static const uint8_t next_state[NSTATES][NCLS] = {
	[L_START] = { L_ERR, L_DEC, L_START, L_START, L_START, L_START, L_ERR, L_ERR, L_START },
	[L_DEC] = { L_ERR, L_DEC, L_START, L_START, L_START, L_START, L_ERR, L_ERR, L_START },
	[L_ZERO] = { L_ERR, L_DEC, L_START, L_START, L_START, L_START, L_HEX0, L_ERR, L_START },
	[L_HEX0] = { L_ERR, L_HEX, L_ERR, L_ERR, L_ERR, L_ERR, L_ERR, L_HEX, L_ERR },
	[L_HEX] = { L_ERR, L_HEX, L_START, L_START, L_START, L_START, L_ERR, L_HEX, L_START },
	[L_ERR] = { L_ERR, L_ERR, L_ERR, L_ERR, L_ERR, L_ERR, L_ERR, L_ERR, L_ERR },
};

static const struct { char op; uint8_t prec; } ops[] = {
	{ '|', 1 }, { '^', 2 }, { '&', 3 }, { '+', 4 }, { '-', 4 }, { '*', 5 }, { '/', 5 }, { '%', 5 },
};

#define STACK 16

struct machine {
	int64_t vals[STACK];
	char opstk[STACK];
	int nv, no;
};

static int prec_of(char op)
{
	for (unsigned i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (ops[i].op == op)
			return ops[i].prec;
	return 0;
}

static int apply(struct machine *m)
{
	int64_t a, b, r;
	char op;

	if (m->nv < 2 || m->no < 1)
		return -1;
	b = m->vals[--m->nv];
	a = m->vals[--m->nv];
	op = m->opstk[--m->no];
	switch (op) {
	case '+': if (__builtin_add_overflow(a, b, &r)) return -2; break;
	case '-': if (__builtin_sub_overflow(a, b, &r)) return -2; break;
	case '*': if (__builtin_mul_overflow(a, b, &r)) return -2; break;
	case '/':
		if (b == 0 || (a == INT64_MIN && b == -1))
			return -3;
		r = a / b;
		break;
	case '%':
		if (b == 0 || (a == INT64_MIN && b == -1))
			return -3;
		r = a % b;
		break;
	case '&': r = a & b; break;
	case '|': r = a | b; break;
	case '^': r = a ^ b; break;
	default: return -1;
	}
	m->vals[m->nv++] = r;
	return 0;
}

static int digit_value(unsigned char c)
{
	if (c <= '9')
		return c - '0';
	return (c | 0x20) - 'a' + 10;
}

static int eval(const unsigned char *s, unsigned long len, int64_t *out)
{
	struct machine m;
	enum lstate st = L_START;
	uint64_t num = 0;
	int in_num = 0, expect_operand = 1, rc;

	m.nv = m.no = 0;
	for (unsigned long i = 0; i <= len; i++) {
		unsigned char c = i < len ? s[i] : 0;
		enum cls k = (enum cls)cls_of[c];
		enum lstate ns;

		if (st == L_START && k == C_DIGIT && c == '0')
			ns = L_ZERO;
		else
			ns = (enum lstate)next_state[st][k];
		if (ns == L_ERR)
			return -1;
		if (ns == L_DEC || ns == L_HEX || ns == L_ZERO) {
			unsigned base = ns == L_HEX ? 16 : 10;

			if (!expect_operand)
				return -1;
			if (num > (UINT64_MAX >> 4))
				return -2;
			num = num * base + (unsigned)digit_value(c);
			if (num > INT64_MAX)
				return -2;
			in_num = 1;
		}
		if (ns == L_START && in_num) {
			if (m.nv >= STACK)
				return -1;
			m.vals[m.nv++] = (int64_t)num;
			num = 0;
			in_num = 0;
			expect_operand = 0;
		}
		st = ns;
		if (st != L_START)
			continue;
		switch (k) {
		case C_OP:
			if (expect_operand) {
				if (c != '-')
					return -1;
				if (m.nv >= STACK || m.no >= STACK)
					return -1;
				m.vals[m.nv++] = 0;	/* unary minus: 0 - x */
			}
			while (m.no > 0 && m.opstk[m.no - 1] != '(' &&
			       prec_of(m.opstk[m.no - 1]) >= prec_of((char)c))
				if ((rc = apply(&m)) < 0)
					return rc;
			if (m.no >= STACK)
				return -1;
			m.opstk[m.no++] = (char)c;
			expect_operand = 1;
			break;
		case C_LPAREN:
			if (!expect_operand || m.no >= STACK)
				return -1;
			m.opstk[m.no++] = '(';
			break;
		case C_RPAREN:
			while (m.no > 0 && m.opstk[m.no - 1] != '(')
				if ((rc = apply(&m)) < 0)
					return rc;
			if (m.no == 0)
				return -1;
			m.no--;
			break;
		case C_END:
			while (m.no > 0)
				if (m.opstk[m.no - 1] == '(' || (rc = apply(&m)) < 0)
					return -1;
			if (m.nv != 1)
				return -1;
			*out = m.vals[0];
			return 0;
		default:
			break;
		}
	}
	return -1;
}

long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp,
		    unsigned long cap)
{
	static const char *const errors[] = { "", "ERR syntax\n", "ERR overflow\n", "ERR division\n" };
	char digits[24];
	int64_t v;
	uint64_t u;
	int rc, n = 0;
	unsigned long at = 0;

	if (len == 0 || len > 512 || cap < 32)
		return -1;
	rc = eval(req, len, &v);
	if (rc < 0) {
		const char *e = errors[-rc];

		while (*e)
			resp[at++] = (unsigned char)*e++;
		return (long)at;
	}
	resp[at++] = '=';
	resp[at++] = ' ';
	if (v < 0) {
		resp[at++] = '-';
		u = -(uint64_t)v;
	} else {
		u = (uint64_t)v;
	}
	do {
		digits[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	while (n)
		resp[at++] = (unsigned char)digits[--n];
	resp[at++] = '\n';
	return (long)at;
}
