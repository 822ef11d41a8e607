/* tok - a label/tokenizer walk: the benchmark's fourth handler
 * (bench/quick.sh, BENCHMARKS.md).  A small text command protocol as a
 * metrics or config server might speak it, tokenized by hand with
 * hand-written number parsing, as a byte-at-a-time lexer (a state
 * machine: one loop over the line).  One source, two builds:
 * gcc -O2 -g -c for koff-link (with the userspace server below), and
 * clang -O2 -target bpf through bench/ref/tok_ref.bpf.c, which defines
 * TOK_BPF_REF and includes this file, so that the reference is the same C.
 *
 *   request  "CMD key=value key=value ...\n" (the newline optional), at
 *            most TOK_LINE_MAX bytes and TOK_PAIRS_MAX pairs; keys are 1..8
 *            letters, digits or '_', values signed decimal integers.
 *            CMD is one of
 *              sum   reply "sum=N\n"               (the values' sum)
 *              max   reply "max=KEY:N\n"           (the first largest)
 *              norm  reply "k=N k=N ...\n"         (every pair normalized)
 *            keys are case-insensitive: replies carry them lower-cased;
 *            numbers N are 16 hexadecimal digits, two's complement.
 *   reply    as above, or "ERR cmd\n" / "ERR token NN\n" / "ERR number NN\n"
 *            naming the 1-based token that did not parse (two digits);
 *            "ERR line" past TOK_LINE_MAX, "ERR empty" for max without pairs;
 *            a request starting with '#' is dropped. */
#ifndef TOK_HANDLER
#define TOK_HANDLER
#endif

#define TOK_LINE_MAX 48	/* the clang reference verifies up to here (bench/ref/tok_ref.bpf.c) */
#define TOK_PAIRS_MAX 8
#define TOK_KEY_MAX 8
#define TOK_DIGITS_MAX 18	/* keeps every value and their sum inside a long */


/* The reference build (bench/ref/tok_ref.bpf.c) defines TOK_WIDEN and
 * TOK_FORGET as no-ops the verifier cannot see through: at the end of each
 * turn of the lexer loop they make the BPF verifier forget what it knows
 * of a counter (kept in 0..1023) or a number, so that states reached with
 * different key lengths, digit counts or values match and prune instead of
 * multiplying.  Here they are nothing. */
#ifndef TOK_WIDEN
#define TOK_WIDEN(x) ((void)0)
#define TOK_FORGET(x) ((void)0)
#endif

/* The command word packed into an integer, as a lexer keeps a short keyword. */
#define TOK_WORD(a, b, c) (((unsigned)(a) << 16) | ((unsigned)(b) << 8) | (unsigned)(c))
#define TOK_SUM  TOK_WORD('s', 'u', 'm')
#define TOK_MAX  TOK_WORD('m', 'a', 'x')
#define TOK_NORM ((TOK_WORD('n', 'o', 'r') << 8) | 'm')

/* Where the lexer is: between tokens, in the command, in a key, right
 * after '=', in a value's digits. */
enum tok_state { TOK_SPACE, TOK_IN_CMD, TOK_IN_KEY, TOK_AT_VALUE, TOK_IN_DIGITS };

static inline int tok_is_key_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static inline unsigned char tok_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

/* Appends v as 16 hexadecimal digits (two's complement): the fixed-width
 * form replies carry, so a client parses them without scanning. */
static inline unsigned long tok_put_hex(unsigned char *resp, unsigned long at, long v)
{
	const char *hex = "0123456789abcdef";
	unsigned long u = (unsigned long)v;

	for (int k = 0; k < 16; k++)
		resp[at + k] = (unsigned char)hex[(u >> (60 - 4 * k)) & 15];
	return at + 16;
}

static inline unsigned long tok_put(unsigned char *resp, unsigned long at, const char *s, unsigned long n)
{
	for (unsigned long i = 0; i < n && i < 16; i++)
		resp[at + i] = (unsigned char)s[i];
	return at + n;
}

/* "ERR WHAT NN\n" for the token numbered `token` (0: no number). */
static inline long tok_error(unsigned char *resp, const char *what, unsigned long wlen, unsigned long token)
{
	unsigned long at = tok_put(resp, 0, "ERR ", 4);

	at = tok_put(resp, at, what, wlen);
	if (token) {	/* at most TOK_PAIRS_MAX + 2 */
		resp[at++] = ' ';
		resp[at++] = (unsigned char)('0' + token / 10);
		resp[at++] = (unsigned char)('0' + token % 10);
	}
	resp[at++] = '\n';
	return (long)at;
}

TOK_HANDLER long handle_request(const unsigned char *req, unsigned long len,
				unsigned char *resp, unsigned long cap)
{
	enum tok_state state = TOK_SPACE;
	unsigned long token = 0, npairs = 0, at = 0;
	unsigned long key = 0, klen = 0, digits = 0, best_key = 0, best_klen = 0;
	unsigned cmd = 0;
	long value = 0, sum = 0, best = 0;
	int neg = 0;

	if (len == 0 || req[0] == '#')
		return -1;
	if (cap < 512)
		return -1;
	if (len > TOK_LINE_MAX)
		return tok_error(resp, "line", 4, 0);
	if (req[len - 1] == '\n')
		len--;
	/* One byte per turn, and one more: a space past the end ends the last token. */
	for (unsigned long i = 0; i <= len && i <= TOK_LINE_MAX; i++) {
		unsigned char c = i < len ? req[i] : ' ';

		if (state == TOK_SPACE && c != ' ') {	/* a token starts */
			token++;
			if (token == 1) {
				state = TOK_IN_CMD;
			} else {
				if (npairs == TOK_PAIRS_MAX)
					return tok_error(resp, "token", 5, token);
				state = TOK_IN_KEY;
				key = i;
				klen = 0;
				if (cmd == TOK_NORM && npairs > 0)
					resp[at++] = ' ';
			}
		}
		if (state == TOK_IN_CMD) {
			if (c != ' ') {
				if (cmd >> 24)
					return tok_error(resp, "cmd", 3, 0);	/* longer than 4 bytes */
				cmd = (cmd << 8) | c;
			} else if (cmd != TOK_SUM && cmd != TOK_MAX && cmd != TOK_NORM) {
				return tok_error(resp, "cmd", 3, 0);
			} else {
				state = TOK_SPACE;
			}
		} else if (state == TOK_IN_KEY) {
			if (c == '=' && klen > 0) {
				state = TOK_AT_VALUE;
				value = 0;
				digits = 0;
				neg = 0;
			} else if (klen == TOK_KEY_MAX || !tok_is_key_byte(c)) {
				return tok_error(resp, "token", 5, token);
			} else {
				if (cmd == TOK_NORM)
					resp[at++] = tok_lower(c);
				klen++;
			}
		} else if (state == TOK_AT_VALUE && (c == '-' || c == '+')) {
			neg = c == '-';
			state = TOK_IN_DIGITS;
		} else if (state == TOK_AT_VALUE || state == TOK_IN_DIGITS) {
			state = TOK_IN_DIGITS;
			if (c != ' ') {
				if (c < '0' || c > '9' || ++digits > TOK_DIGITS_MAX)
					return tok_error(resp, "number", 6, token);
				value = value * 10 + (c - '0');
			} else if (digits == 0) {
				return tok_error(resp, "number", 6, token);
			} else {	/* the pair is whole: fold it into the reply */
				if (neg)
					value = -value;
				if (cmd == TOK_SUM) {
					sum += value;
				} else if (cmd == TOK_MAX) {
					if (npairs == 0 || value > best) {
						best = value;
						best_key = key;
						best_klen = klen;
					}
				} else {
					resp[at++] = '=';
					at = tok_put_hex(resp, at, value);
				}
				npairs++;
				state = TOK_SPACE;
			}
		}
		TOK_WIDEN(at);
		TOK_WIDEN(key);
		TOK_WIDEN(klen);
		TOK_WIDEN(digits);
		TOK_WIDEN(npairs);
		TOK_WIDEN(token);
		TOK_WIDEN(best_key);
		TOK_WIDEN(best_klen);
		TOK_FORGET(value);
		TOK_FORGET(sum);
		TOK_FORGET(best);
		TOK_FORGET(neg);
	}
	if (token == 0)
		return tok_error(resp, "cmd", 3, 0);
	if (cmd == TOK_SUM) {
		at = tok_put(resp, 0, "sum=", 4);
		at = tok_put_hex(resp, at, sum);
	} else if (cmd == TOK_MAX) {
		if (npairs == 0)
			return tok_error(resp, "empty", 5, 0);
		at = tok_put(resp, 0, "max=", 4);
		for (unsigned long k = 0; k < best_klen && k < TOK_KEY_MAX; k++)
			resp[at++] = tok_lower(req[best_key + k]);
		resp[at++] = ':';
		at = tok_put_hex(resp, at, best);
	}
	resp[at++] = '\n';
	return (long)at;
}

#ifndef TOK_BPF_REF
#include "../../samples/udp_server.h"

int main(int argc, char **argv)
{
	return udp_server_main(argc, argv, "tok", 7011);
}
#endif
