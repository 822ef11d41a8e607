/* test/and/or/xor at widths 8/16/32/64: results and setCC for every
 * condition (CF = OF = 0 after logic ops).
 * Request: a = req[0..7], b = req[8..15]. */
#include "handler.h"

ASM_HANDLER(16,
	"push rbx\n"
	"mov rax, [r9]\n"
	"mov rbx, [r9 + 8]\n"
	"test al, bl\n" SETCC_EACH(ALL_CC)
	"test ah, ah\n" SETCC_EACH(ALL_CC)
	"test ax, bx\n" SETCC_EACH(ALL_CC)
	"test eax, ebx\n" SETCC_EACH(ALL_CC)
	"test rax, rbx\n" SETCC_EACH(ALL_CC)
	"test rax, rax\n" SETCC_EACH(ALL_CC)
	"test eax, 0x80000000\n" SETCC_EACH(ALL_CC)
	"test byte ptr [r9 + 9], 0x81\n" SETCC_EACH(ALL_CC)
	"mov rcx, rax\n and cl, bl\n" SETCC_EACH(ALL_CC) "OUT8 rcx\n"
	"mov rcx, rax\n and cx, bx\n" SETCC_EACH(ALL_CC) "OUT8 rcx\n"
	"mov rcx, rax\n and rcx, rbx\n" SETCC_EACH(ALL_CC) "OUT8 rcx\n"
	"mov rcx, rax\n or ecx, ebx\n" SETCC_EACH(ALL_CC) "OUT8 rcx\n"
	"mov rcx, rax\n or ch, bl\n" SETCC_EACH(ALL_CC) "OUT8 rcx\n"
	"mov rcx, rax\n xor rcx, rbx\n" SETCC_EACH(ALL_CC) "OUT8 rcx\n"
	"mov rcx, rax\n xor cx, bx\n" SETCC_EACH(ALL_CC) "OUT8 rcx\n"
	"mov rcx, rax\n xor ecx, ecx\n" SETCC_EACH(ALL_CC) "OUT8 rcx\n"
	"mov rcx, rax\n and ecx, -256\n" SETCC_EACH(ALL_CC) "OUT8 rcx\n"
	"pop rbx\n"
	"RETURN_OUT\n")
