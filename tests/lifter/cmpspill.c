/* memcmp results that travel before their test, as compiled code moves
 * them: spilled to the stack around another call and reloaded (rsp- and
 * rbp-based slots, a push/pop in between), copied between registers, a
 * sete byte merged into a register whose upper bits still hold the result,
 * and a slot compared in memory (cmp dword [rbp-4], 0).  Only the sign or
 * zero is looked at: every path runs in XDP.  The last path stores the
 * reloaded value itself into the reply: that call falls back.
 * Request: op = req[0], then 8 bytes compared with "koffkoff". */
#include "handler.h"

#define CMP8 "lea rdi, [r9 + 1]\n lea rsi, [rip + key]\n mov edx, 8\n call memcmp@PLT\n"

__asm__(".section .rodata\n key: .ascii \"koffkoff\"\n .text\n");

ASM_HANDLER(9,
	"push rbp\n mov rbp, rsp\n push r12\n push r13\n sub rsp, 32\n"
	"mov r12, r9\n mov r13, r8\n"
	"movzx eax, byte ptr [r12]\n cmp al, 1\n je 10f\n cmp al, 2\n je 20f\n"
	"cmp al, 3\n je 30f\n cmp al, 4\n je 40f\n"
	/* op 0: spill to [rsp+8], memset the reply, reload, test */
	CMP8 "mov dword ptr [rsp + 8], eax\n"
	"mov rdi, r13\n xor esi, esi\n mov edx, 4\n call memset@PLT\n"
	"mov ecx, dword ptr [rsp + 8]\n test ecx, ecx\n sete byte ptr [r13]\n"
	"mov eax, 4\n jmp 90f\n"
	/* op 1: -O0 style local at [rbp-20], compared in memory, twice */
	"10:\n" CMP8 "mov dword ptr [rbp - 20], eax\n"
	"push r12\n pop rdx\n"
	"cmp dword ptr [rbp - 20], 0\n js 11f\n"
	"cmp dword ptr [rbp - 20], 0\n jne 12f\n mov byte ptr [r13], 'E'\n jmp 13f\n"
	"11: mov byte ptr [r13], 'L'\n jmp 13f\n 12: mov byte ptr [r13], 'G'\n"
	"13: mov eax, 1\n jmp 90f\n"
	/* op 2: copies, a sete into the low byte, a lea on that byte */
	"20:\n" CMP8 "mov r8d, eax\n mov edx, r8d\n test edx, edx\n sete dl\n"
	"lea ecx, [rdx + 0x30]\n mov byte ptr [r13], cl\n mov eax, 1\n jmp 90f\n"
	/* op 3: spilled, then overwritten by another value before a reload */
	"30:\n" CMP8 "mov dword ptr [rsp + 16], eax\n shr eax, 31\n mov byte ptr [r13], al\n"
	"mov dword ptr [rsp + 16], 7\n mov eax, dword ptr [rsp + 16]\n mov byte ptr [r13 + 1], al\n"
	"mov eax, 2\n jmp 90f\n"
	/* op 4: the reloaded value escapes into the reply */
	"40:\n" CMP8 "mov dword ptr [rsp + 8], eax\n mov ecx, dword ptr [rsp + 8]\n"
	"mov dword ptr [r13], ecx\n mov eax, 4\n"
	"90:\n add rsp, 32\n pop r13\n pop r12\n pop rbp\n ret\n")
