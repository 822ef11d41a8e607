/* imul with two and three operands at 16/32/64 bits, one-operand imul and
 * mul at 32/64 bits (the high half in rdx).  Request: a = req[0..7],
 * b = req[8..15]. */
#include "handler.h"

#define RELOAD "mov rax, [r9]\n mov rbx, [r9 + 8]\n"

ASM_HANDLER(16,
	"push rbx\n"
	RELOAD "mov rcx, rax\n imul rcx, rbx\n OUT8 rcx\n"
	RELOAD "mov rcx, rax\n imul ecx, ebx\n OUT8 rcx\n"
	RELOAD "mov rcx, rax\n imul cx, bx\n OUT8 rcx\n"
	RELOAD "imul rcx, rbx, -7\n OUT8 rcx\n"
	RELOAD "imul ecx, ebx, 1000003\n OUT8 rcx\n"
	RELOAD "mov rcx, rax\n imul cx, bx, 0x7fff\n OUT8 rcx\n"
	RELOAD "imul rcx, qword ptr [r9 + 4], 3\n OUT8 rcx\n"
	RELOAD "mov rcx, rax\n imul ecx, dword ptr [r9 + 10]\n OUT8 rcx\n"
	/* one-operand: rdx:rax = rax * src */
	RELOAD "imul rbx\n OUT8 rax\n OUT8 rdx\n"
	RELOAD "mul rbx\n OUT8 rax\n OUT8 rdx\n"
	RELOAD "mov rdx, -1\n imul ebx\n OUT8 rax\n OUT8 rdx\n"
	RELOAD "mov rdx, -1\n mul ebx\n OUT8 rax\n OUT8 rdx\n"
	RELOAD "mul qword ptr [r9 + 3]\n OUT8 rax\n OUT8 rdx\n"
	RELOAD "imul qword ptr [r9 + 5]\n OUT8 rax\n OUT8 rdx\n"
	RELOAD "mul rax\n OUT8 rax\n OUT8 rdx\n"
	RELOAD "imul rax\n OUT8 rax\n OUT8 rdx\n"
	RELOAD "mov rdx, rbx\n mul rdx\n OUT8 rax\n OUT8 rdx\n"
	/* the magic-constant division gcc emits for unsigned x / 10 */
	RELOAD "mov rdx, 0xcccccccccccccccd\n mul rdx\n shr rdx, 3\n OUT8 rdx\n"
	"pop rbx\n"
	"RETURN_OUT\n")
