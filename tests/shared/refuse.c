/* refuse.c - programs whose userspace side koff-link must refuse
 * (tests/t-shared-refuse.sh), one per -DCASE_*:
 *   CASE_MAIN      main reaches the globals and never waits: no request to enclose
 *   CASE_WAIT      main waits (fgets) and writes a global itself
 *   CASE_VARIADIC  a root is variadic (the trampoline's return address would
 *                  shift its stack arguments)
 *   CASE_STACK     a root takes arguments on the stack
 *   CASE_LOOP      a root whose first bytes are a loop's head: refused at
 *                  the patch, after the link (OUT is linked again, plain) */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

long hits;

__attribute__((noinline)) long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp,
					      unsigned long cap)
{
	(void)req, (void)resp, (void)cap;
	hits += (long)len;
	return 0;
}

#if defined(CASE_MAIN)
int main(void)
{
	unsigned char r[8];

	for (int i = 0; i < 3; i++)
		handle_request((const unsigned char *)"ab", 2, r, sizeof(r));
	return 0;
}
#else
#if defined(CASE_VARIADIC)
__attribute__((noinline)) void note(int n, ...)
{
	va_list ap;

	va_start(ap, n);
	while (n-- > 0)
		hits += va_arg(ap, int);
	va_end(ap);
}
#define EXTRA() note(2, 1, 2)
#elif defined(CASE_STACK)
__attribute__((noinline)) void many(long a, long b, long c, long d, long e, long f, long g, long h)
{
	hits += a + b + c + d + e + f + g + h;
}
#define EXTRA() many(1, 2, 3, 4, 5, 6, 7, 8)
#elif defined(CASE_LOOP)
__attribute__((naked, noinline)) void spin(__attribute__((unused)) long n)
{
	__asm__("1: addq $1, hits(%rip)\n\tdec %rdi\n\tjnz 1b\n\tret");
}
#define EXTRA() spin(3)
#elif defined(CASE_WAIT)
#define EXTRA() (hits++)
#else
#define EXTRA() ((void)0)
#endif
int main(void)
{
	char line[64];
	unsigned char r[8];

	while (fgets(line, sizeof(line), stdin)) {
		handle_request((const unsigned char *)line, strlen(line), r, sizeof(r));
		EXTRA();
	}
	return 0;
}
#endif
