/* elfobj_good.c - input for tests/t-elfobj.sh.  Lines tagged MARKER-* are
 * found by the test with grep: keep each marker call on a line of its own. */
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

void hot_marker(unsigned long n);
__attribute__((cold, noinline)) void cold_marker(unsigned long n);
int printf(const char *fmt, ...);

/* A table in .rodata, reached rip-relative (R_X86_64_PC32). */
static const char greetings[5][8] = { "hello", "bonjour", "hallo", "ciao", "hola" };

/* A parser: int (const char *, size_t, ...). */
int parse_request(const char *buf, size_t len, int *kind)
{
	if (len < 2 || buf[0] != 'G')
		return -1;
	*kind = buf[1];
	return 0;
}

long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp, unsigned long cap) { /* MARKER-ENTRY */
	const char *g;
	unsigned long i;

	if (__builtin_expect(len > 1000, 0)) {
		cold_marker(len); /* MARKER-COLD */
		return -1;
	}
	if (len == 0 || cap < 16)
		return 0;
	hot_marker(len); /* MARKER-HOT */
	g = greetings[req[0] % 5];
	for (i = 0; g[i] && i < cap; i++)
		resp[i] = (unsigned char)g[i];
	return (long)i;
}

/* The same shape spelled with typedefs and qualifiers. */
ssize_t typedef_handler(const uint8_t *restrict req, size_t len, uint8_t *const resp, size_t cap)
{
	if (len > cap)
		return -1;
	for (size_t i = 0; i < len; i++)
		resp[i] = req[i] ^ 0x20;
	return (ssize_t)len;
}

/* Wrong: the reply buffer is const. */
long const_resp_handler(const unsigned char *req, unsigned long len, const unsigned char *resp, unsigned long cap)
{
	return (long)(len + cap) + req[0] + resp[0];
}

int main(int argc, char **argv)
{
	unsigned char out[64];
	int kind = 0;

	(void)argv;
	printf("%d %ld\n", parse_request("GX", 2, &kind), handle_request((const unsigned char *)"x", (unsigned long)argc, out, sizeof(out)));
	return kind;
}
