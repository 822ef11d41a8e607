/* inc/dec at widths 8/16/32/64 and the conditions koff claims after them
 * (inc: ZF/SF; dec: ZF/SF/OF and the signed ones; CF is not changed by
 * either, so nothing reads it here).
 * Request: a = req[0..7], b = req[8..15]. */
#include "handler.h"

#define INC_CC e, ne, s, ns
#define DEC_CC e, ne, s, ns, l, ge, le, g, o, no

ASM_HANDLER(16,
	"push rbx\n"
	"mov rax, [r9]\n"
	"mov rbx, [r9 + 8]\n"
	"mov rcx, rax\n inc cl\n" SETCC_EACH(INC_CC) "OUT8 rcx\n"
	"mov rcx, rbx\n inc cx\n" SETCC_EACH(INC_CC) "OUT8 rcx\n"
	"mov rcx, rax\n inc ecx\n" SETCC_EACH(INC_CC) "OUT8 rcx\n"
	"mov rcx, rbx\n inc rcx\n" SETCC_EACH(INC_CC) "OUT8 rcx\n"
	"mov rcx, rbx\n inc ch\n" SETCC_EACH(INC_CC) "OUT8 rcx\n"
	"mov rcx, rax\n dec cl\n" SETCC_EACH(DEC_CC) "OUT8 rcx\n"
	"mov rcx, rbx\n dec cx\n" SETCC_EACH(DEC_CC) "OUT8 rcx\n"
	"mov rcx, rax\n dec ecx\n" SETCC_EACH(DEC_CC) "OUT8 rcx\n"
	"mov rcx, rbx\n dec rcx\n" SETCC_EACH(DEC_CC) "OUT8 rcx\n"
	"mov rcx, rax\n dec ch\n" SETCC_EACH(DEC_CC) "OUT8 rcx\n"
	"mov qword ptr [r8 + 512], rbx\n"
	"dec dword ptr [r8 + 512]\n" SETCC_EACH(DEC_CC)
	"inc byte ptr [r8 + 512]\n" SETCC_EACH(INC_CC)
	"mov rcx, qword ptr [r8 + 512]\n OUT8 rcx\n"
	"pop rbx\n"
	"RETURN_OUT\n")
