/* Calls to the libc functions koff lifts as builtins, with lengths and
 * contents from the request; the sign of memcmp, strcmp and strncmp
 * results goes into the reply (their exact values differ between glibc's
 * CPU-specific versions: cmpvalue.c checks that storing one falls back).  Request: op = req[0], n =
 * req[1], c = req[2], then two NUL-terminated strings s and t, copied
 * into bounded local buffers first (the request itself has no NUL). */
#include <string.h>

#define FIELD 48

static int sign(int v)
{
	return (v > 0) - (v < 0);
}

static size_t copy_field(char *dst, const unsigned char *src, size_t avail)
{
	size_t n = avail < FIELD - 1 ? avail : FIELD - 1;
	memcpy(dst, src, n);
	dst[n] = 0;
	return n;
}

long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp,
		    unsigned long cap)
{
	char s[FIELD], t[FIELD], buf[2 * FIELD];
	if (len < 3 || cap < 256)
		return -1;
	size_t n = req[1] & 31,	/* % 48 would be an 8-bit mul: see unsupported.c */
	        rest = len - 3;
	/* n may run past the strings: no byte of s or t may be uninitialised,
	 * or the native result would depend on stack garbage. */
	memset(s, 0, sizeof(s));
	memset(t, 0, sizeof(t));
	size_t ls = copy_field(s, req + 3, rest);
	size_t ts = rest > FIELD ? rest - FIELD : 0;
	copy_field(t, req + 3 + (rest > FIELD ? FIELD : rest), ts);
	int r[8];
	r[0] = sign(memcmp(s, t, n));
	r[1] = sign(strcmp(s, t));
	r[2] = sign(strncmp(s, t, n));
	r[3] = (int)strlen(s);
	r[4] = (int)strnlen(t, n);
	const char *hit = memchr(s, req[2], n < ls ? n : ls);
	r[5] = hit ? (int)(hit - s) : -1;
	r[6] = sign(memcmp(s, "GET ", 4));
	r[7] = sign(strcmp(t, "key"));
	memcpy(resp, r, sizeof(r));
	memset(buf, 0, sizeof(buf));
	memset(buf, req[2], n + 2);
	memcpy(buf + 1, s, n);
	memmove(buf + 3, buf, n);
	memmove(buf, buf + 5, n);
	memcpy(resp + sizeof(r), buf, sizeof(buf));
	return (long)(sizeof(r) + sizeof(buf));
}
