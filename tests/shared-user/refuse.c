/* refuse.c - programs whose userspace side koff-link must refuse
 * (tests/t-shared-refuse.sh), one per -DCASE_*:
 *   CASE_MAIN      main reaches the globals and never waits: no request to enclose
 *   CASE_WAIT      main waits (fgets) and writes a global itself
 *   CASE_VARIADIC  a root is variadic (the trampoline's return address would
 *                  shift its stack arguments)
 *   CASE_STACK     a root takes arguments on the stack
 *   CASE_LOOP      a root whose first bytes are a loop's head: refused at
 *                  the patch, after the link (OUT is linked again, plain)
 *   CASE_TABLE     a root whose jump table targets its first bytes (idem)
 *   CASE_SWITCH    not refused: a root with a switch (an indirect jump that
 *                  is no call) beside a pointer-called function that waits */
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
#elif defined(CASE_TABLE)
__attribute__((naked, noinline)) void table(__attribute__((unused)) long n)
{
	__asm__("1: addq $1, hits(%rip)\n\tdec %rdi\n\tjs 3f\n\tand $1, %rdi\n"
		"\tlea 2f(%rip), %rax\n\tmovslq (%rax,%rdi,4), %rdx\n\tadd %rax, %rdx\n\tjmp *%rdx\n"
		"\t.section .rodata\n\t.p2align 2\n2: .long 1b-2b\n\t.long 3f-2b\n\t.text\n3: ret");
}
#define EXTRA() table(3)
#elif defined(CASE_SWITCH)
#include <unistd.h>
__attribute__((noinline)) static long wait_byte(void)
{
	char c;

	return read(0, &c, 1);
}
/* In .data.rel.ro (a relocation: not shared): wait_byte's address is taken. */
static long (*const readers[])(void) = { wait_byte };
__attribute__((noinline)) long sw(long n)
{
	switch (n & 7) {
	case 0: return hits;
	case 1: return 7;
	case 2: return hits + 3;
	case 3: return 11;
	case 4: return 13;
	case 5: return hits * 2;
	case 6: return hits - 1;
	default: return 0;
	}
}
#define EXTRA() (line[0] == 'z' ? readers[0]() : sw((long)line[0]))
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
