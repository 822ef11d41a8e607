/* The ctype family as glibc's headers expand it: isalpha() and friends read
 * the table *__ctype_b_loc() points to, tolower()/toupper() are calls (or
 * table reads through __ctype_tolower_loc()).  Every request byte, signed
 * and unsigned, is classified and mapped; the reply has one byte of class
 * bits and the mapped bytes per request byte. */
#include <ctype.h>

long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp,
		    unsigned long cap)
{
	unsigned long n = len < 64 ? len : 64;

	if (cap < 4 * n)
		return -1;
	for (unsigned long i = 0; i < n; i++) {
		int c = req[i], sc = (signed char)req[i];

		resp[4 * i] = (unsigned char)((isalpha(c) ? 1 : 0) | (isdigit(c) ? 2 : 0) |
					      (isspace(c) ? 4 : 0) | (isupper(c) ? 8 : 0) |
					      (ispunct(c) ? 16 : 0) | (isxdigit(c) ? 32 : 0) |
					      (isalnum(sc) ? 64 : 0) | (isprint(c) ? 128 : 0));
		resp[4 * i + 1] = (unsigned char)tolower(c);
		resp[4 * i + 2] = (unsigned char)toupper(c);
		resp[4 * i + 3] = (unsigned char)tolower(sc);
	}
	return (long)(4 * n);
}
