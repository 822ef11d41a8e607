/* A length test combined with another without a branch between, as gcc
 * compiles `if (len < 12 || cap < 64) return -1` in a larger function:
 * setbe, setbe, or, test.  lifter/reqlen.c follows the flags (a 0 byte
 * says each test failed), so the reads of bytes 0..11 after it need no
 * run-time length check (reqflags.within); a request shorter than 12
 * bytes is dropped (reqflags.expect).  The reply: bytes 0, 5 and 11. */
#include "handler.h"

ASM_HANDLER(0,
	"cmp rsi, 11\n setbe al\n"
	"cmp rcx, 63\n setbe dl\n"
	"or al, dl\n test al, al\n jne .Lshort_request\n"
	"movzx eax, byte ptr [r9]\n OUT1 al\n"
	"movzx eax, byte ptr [r9 + 5]\n OUT1 al\n"
	"movzx eax, byte ptr [r9 + 11]\n OUT1 al\n"
	"RETURN_OUT\n")
