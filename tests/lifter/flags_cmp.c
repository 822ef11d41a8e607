/* cmp at widths 8/16/32/64 (registers, high bytes, immediates, memory),
 * each followed by setCC for every condition koff claims.
 * Request: a = req[0..7], b = req[8..15]. */
#include "handler.h"

ASM_HANDLER(16,
	"push rbx\n"
	"mov rax, [r9]\n"
	"mov rbx, [r9 + 8]\n"
	"cmp al, bl\n" SETCC_EACH(ALL_CC)
	"cmp ah, bh\n" SETCC_EACH(ALL_CC)
	"cmp ax, bx\n" SETCC_EACH(ALL_CC)
	"cmp eax, ebx\n" SETCC_EACH(ALL_CC)
	"cmp rax, rbx\n" SETCC_EACH(ALL_CC)
	"cmp al, 0x80\n" SETCC_EACH(ALL_CC)
	"cmp bx, 0x7fff\n" SETCC_EACH(ALL_CC)
	"cmp eax, -1\n" SETCC_EACH(ALL_CC)
	"cmp rbx, 0x7fffffff\n" SETCC_EACH(ALL_CC)
	"cmp rax, -0x80000000\n" SETCC_EACH(ALL_CC)
	"cmp byte ptr [r9 + 3], 0x7f\n" SETCC_EACH(ALL_CC)
	"cmp ebx, dword ptr [r9 + 4]\n" SETCC_EACH(ALL_CC)
	"cmp qword ptr [r9 + 8], rax\n" SETCC_EACH(ALL_CC)
	"cmp word ptr [r9 + 6], bx\n" SETCC_EACH(ALL_CC)
	"pop rbx\n"
	"RETURN_OUT\n")
