/* add at widths 8/16/32/64: the result and the conditions koff claims
 * after an addition (ZF, SF and the carry).
 * Request: a = req[0..7], b = req[8..15]. */
#include "handler.h"

#define ADD_CC e, ne, s, ns, b, ae, c, nc

ASM_HANDLER(16,
	"push rbx\n"
	"mov rax, [r9]\n"
	"mov rbx, [r9 + 8]\n"
	"mov rcx, rax\n add cl, bl\n" SETCC_EACH(ADD_CC) "OUT8 rcx\n"
	"mov rcx, rax\n add ch, bh\n" SETCC_EACH(ADD_CC) "OUT8 rcx\n"
	"mov rcx, rax\n add cx, bx\n" SETCC_EACH(ADD_CC) "OUT8 rcx\n"
	"mov rcx, rax\n add ecx, ebx\n" SETCC_EACH(ADD_CC) "OUT8 rcx\n"
	"mov rcx, rax\n add rcx, rbx\n" SETCC_EACH(ADD_CC) "OUT8 rcx\n"
	"mov rcx, rax\n add rcx, rcx\n" SETCC_EACH(ADD_CC) "OUT8 rcx\n"
	"mov rcx, rax\n add ecx, 0x80000000\n" SETCC_EACH(ADD_CC) "OUT8 rcx\n"
	"mov rcx, rbx\n add rcx, -1\n" SETCC_EACH(ADD_CC) "OUT8 rcx\n"
	"mov rcx, rbx\n add cl, 0x80\n" SETCC_EACH(ADD_CC) "OUT8 rcx\n"
	"mov qword ptr [r8 + 512], rax\n"
	"add word ptr [r8 + 512], bx\n" SETCC_EACH(ADD_CC)
	"mov rcx, qword ptr [r8 + 512]\n OUT8 rcx\n"
	"pop rbx\n"
	"RETURN_OUT\n")
