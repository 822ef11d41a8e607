/* memcmp results that travel before their test, as compiled code moves
 * them: spilled to the stack around another call and reloaded (rsp- and
 * rbp-based slots, a push/pop in between), copied between registers, a
 * sete byte merged into a register whose upper bits still hold the result,
 * a slot compared in memory (cmp dword [rbp-4], 0), a switch through a
 * jump table while the upper bits still hold the result, and a path that
 * cannot be taken (xor edx, edx; test dl, dl; jne: clang leaves these after
 * inlining), a copy used as the 0 it must be where the test found zero and
 * gcc's cmp 1; sbb r, r (gcc -Os emits both), a sete byte stored in a
 * local (clang -O0).  Only the sign or zero is
 * looked at: every path runs in XDP.  The last path stores the
 * reloaded value itself into the reply: that call falls back.
 * Request: op = req[0], then 8 bytes compared with "koffkoff". */
#include "handler.h"

#define CMP8 "lea rdi, [r9 + 1]\n lea rsi, [rip + key]\n mov edx, 8\n call memcmp@PLT\n"

__asm__(".section .rodata\n key: .ascii \"koffkoff\"\n .text\n");

ASM_HANDLER(9,
	"push rbp\n mov rbp, rsp\n push r12\n push r13\n sub rsp, 32\n"
	"mov r12, r9\n mov r13, r8\n"
	"movzx eax, byte ptr [r12]\n cmp al, 1\n je 10f\n cmp al, 2\n je 20f\n"
	"cmp al, 3\n je 30f\n cmp al, 4\n je 40f\n cmp al, 5\n je 50f\n cmp al, 6\n je 60f\n"
	"cmp al, 7\n je 70f\n cmp al, 8\n je 80f\n"
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
	/* op 5: a switch on the sete byte; rax's upper bits are the result */
	"50:\n" CMP8 "test eax, eax\n sete al\n movzx ecx, al\n lea rdx, [rip + 58f]\n"
	"movsxd rcx, dword ptr [rdx + rcx * 4]\n add rcx, rdx\n jmp rcx\n"
	"51: mov byte ptr [r13], 'N'\n mov eax, 1\n jmp 90f\n"
	"52: mov byte ptr [r13], 'Y'\n mov eax, 1\n jmp 90f\n"
	".section .rodata\n .p2align 2\n 58: .long 51b - 58b\n .long 52b - 58b\n .text\n"
	/* op 6: the branch that would store the value is never taken */
	"60:\n" CMP8 "test eax, eax\n sete cl\n xor edx, edx\n test dl, dl\n jne 61f\n"
	"mov byte ptr [r13], cl\n mov eax, 1\n jmp 90f\n"
	"61: mov dword ptr [r13], eax\n mov eax, 4\n jmp 90f\n"
	/* op 7: ecx is 0 where the test found zero; sbb makes a fresh value */
	"70:\n" CMP8 "mov ecx, eax\n test eax, eax\n jne 71f\n lea edx, [rcx + 0x30]\n"
	"mov byte ptr [r13], dl\n mov eax, 1\n jmp 90f\n"
	"71: cmp eax, 1\n sbb eax, eax\n mov byte ptr [r13], al\n mov eax, 1\n jmp 90f\n"
	/* op 8: clang -O0 keeps the sete byte in a local, not the result */
	"80:\n" CMP8 "cmp eax, 0\n sete al\n mov byte ptr [rbp - 21], al\n mov al, byte ptr [rbp - 21]\n"
	"and al, 1\n movzx eax, al\n mov byte ptr [r13], al\n mov eax, 1\n jmp 90f\n"
	"90:\n add rsp, 32\n pop r13\n pop r12\n pop rbp\n ret\n")
