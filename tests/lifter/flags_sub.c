/* sub and neg at widths 8/16/32/64: the result and setCC for every
 * condition koff claims after a subtraction.
 * Operands are reloaded before each group: the verifier explores every
 * combination of earlier branch outcomes otherwise (see the report).
 * Request: a = req[0..7], b = req[8..15]. */
#include "handler.h"

ASM_HANDLER(16,
	"push rbx\n"
	"mov rax, [r9]\n"
	"mov rbx, [r9 + 8]\n"
	"mov rax, [r9]\n mov rbx, [r9 + 8]\n mov rcx, rax\n sub cl, bl\n" SETCC_EACH(ALL_CC) "OUT8 rcx\n"
	"mov rax, [r9]\n mov rbx, [r9 + 8]\n mov rcx, rax\n sub ch, bl\n" SETCC_EACH(ALL_CC) "OUT8 rcx\n"
	"mov rax, [r9]\n mov rbx, [r9 + 8]\n mov rcx, rax\n sub cx, bx\n" SETCC_EACH(ALL_CC) "OUT8 rcx\n"
	"mov rax, [r9]\n mov rbx, [r9 + 8]\n mov rcx, rax\n sub ecx, ebx\n" SETCC_EACH(ALL_CC) "OUT8 rcx\n"
	"mov rax, [r9]\n mov rbx, [r9 + 8]\n mov rcx, rax\n sub rcx, rbx\n" SETCC_EACH(ALL_CC) "OUT8 rcx\n"
	"mov rax, [r9]\n mov rbx, [r9 + 8]\n mov rcx, rax\n sub ecx, 0x7fffffff\n" SETCC_EACH(ALL_CC) "OUT8 rcx\n"
	"mov rax, [r9]\n mov rbx, [r9 + 8]\n mov rcx, rax\n sub rcx, -1\n" SETCC_EACH(ALL_CC) "OUT8 rcx\n"
	"mov rax, [r9]\n mov rbx, [r9 + 8]\n mov rcx, rax\n neg cl\n" SETCC_EACH(ALL_CC) "OUT8 rcx\n"
	"mov rax, [r9]\n mov rbx, [r9 + 8]\n mov rcx, rbx\n neg cx\n" SETCC_EACH(ALL_CC) "OUT8 rcx\n"
	"mov rax, [r9]\n mov rbx, [r9 + 8]\n mov rcx, rax\n neg ecx\n" SETCC_EACH(ALL_CC) "OUT8 rcx\n"
	"mov rax, [r9]\n mov rbx, [r9 + 8]\n mov rcx, rbx\n neg rcx\n" SETCC_EACH(ALL_CC) "OUT8 rcx\n"
	"mov qword ptr [r8 + 512], rax\n"
	"sub word ptr [r8 + 512], bx\n" SETCC_EACH(ALL_CC)
	"mov rcx, qword ptr [r8 + 512]\n OUT8 rcx\n"
	"pop rbx\n"
	"RETURN_OUT\n")
