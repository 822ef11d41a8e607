/* rep movsb / rep stosb / rep stosq / rep movsq with counts from the
 * request, bounded by len and cap; rdi/rsi/rcx after the loop are checked
 * too.  Request: n = req[0] (bytes to copy from req+8), m = req[1] (bytes
 * to fill), q = req[2] & 15 (qwords to fill), q' = req[2] >> 4 (qwords to copy
 * from req when 8 q' <= len), fill byte req[3]. */
#include "handler.h"

ASM_HANDLER(8,
	/* the reply is 832 bytes: clear them all first */
	"mov r10, rsi\n"
	"mov rdi, r8\n mov ecx, 104\n xor eax, eax\n rep stosq\n"
	"movzx ecx, byte ptr [r9]\n"
	"lea rax, [rcx + 8]\n cmp rax, rsi\n ja .Lshort_request\n"	/* n <= len - 8 */
	"lea rdi, [r8 + 64]\n lea rsi, [r9 + 8]\n"
	"rep movsb\n"
	"OUT8 rcx\n sub rdi, r8\n OUT8 rdi\n sub rsi, r9\n OUT8 rsi\n"
	"movzx ecx, byte ptr [r9 + 1]\n movzx eax, byte ptr [r9 + 3]\n"
	"lea rdi, [r8 + 320]\n rep stosb\n"
	"sub rdi, r8\n OUT8 rdi\n"
	"movzx ecx, byte ptr [r9 + 2]\n and ecx, 15\n"
	"mov rax, [r9]\n lea rdi, [r8 + 576]\n rep stosq\n"
	"sub rdi, r8\n OUT8 rdi\n OUT8 rcx\n"
	"movzx ecx, byte ptr [r9 + 2]\n shr ecx, 4\n"
	"lea rax, [rcx * 8]\n cmp rax, r10\n jbe 1f\n xor ecx, ecx\n 1:\n"	/* 8q <= len */
	"lea rdi, [r8 + 704]\n mov rsi, r9\n rep movsq\n"
	"sub rdi, r8\n OUT8 rdi\n sub rsi, r9\n OUT8 rsi\n"
	"mov eax, 832\n ret\n")
