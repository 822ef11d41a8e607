/* A PIC jump table whose base is not the last .rodata address the block
 * loads: clang-19 loads another one (lea r8, [rip + other]) between the
 * entry load and `jmp reg`.  The table is the one the movslq reads through.
 * Request: k = req[0] (cases 0-3, the rest take the range check's exit). */
#include "handler.h"

__asm__(".section .rodata\n jt_other: .ascii \"ABCDEFGH\"\n .text\n");

ASM_HANDLER(1,
	"movzx edi, byte ptr [r9]\n"
	"cmp edi, 3\n ja 9f\n"
	"lea rdx, [rip + 5f]\n movsxd rdi, dword ptr [rdx + rdi * 4]\n add rdi, rdx\n"
	"lea r10, [rip + jt_other]\n xor edx, edx\n jmp rdi\n"
	"1: mov al, byte ptr [r10]\n jmp 8f\n"
	"2: mov al, byte ptr [r10 + 3]\n jmp 8f\n"
	"3: mov al, byte ptr [r10 + 5]\n jmp 8f\n"
	"4: mov al, dl\n jmp 8f\n"
	".section .rodata\n .p2align 2\n 5: .long 1b - 5b\n .long 2b - 5b\n .long 3b - 5b\n .long 4b - 5b\n .text\n"
	"9: mov al, 0x7e\n"
	"8: OUT1 al\n"
	"RETURN_OUT\n")
