/* CF/OF after multiplies (imul with 1, 2 and 3 operands, mul, at 8/16/32/64
 * bits) and OF after add and inc, read by seto/setc/jo/jno: what compilers
 * emit for __builtin_*_overflow.  Request: a = req[0..7], b = req[8..15]. */
#include "handler.h"

#define FLAGS "seto bl\n setc bh\n OUT2 bx\n"

ASM_HANDLER(16,
	"push rbx\n"
	"mov rsi, [r9]\n mov rdi, [r9 + 8]\n"
	"mov rdx, rsi\n imul rdx, rdi\n" FLAGS "OUT8 rdx\n"
	"mov rdx, rsi\n imul edx, edi\n" FLAGS "OUT8 rdx\n"
	"mov rdx, rsi\n imul dx, di\n" FLAGS "OUT8 rdx\n"
	"imul rdx, rsi, 1000003\n" FLAGS "OUT8 rdx\n"
	"imul edx, esi, -7\n" FLAGS "OUT8 rdx\n"
	"mov rax, rsi\n imul rdi\n" FLAGS "OUT8 rax\n OUT8 rdx\n"
	"mov rax, rsi\n mov rdx, -1\n imul edi\n" FLAGS "OUT8 rax\n OUT8 rdx\n"
	"mov rax, rsi\n mov rdx, -1\n imul di\n" FLAGS "OUT8 rax\n OUT8 rdx\n"
	"mov rax, rsi\n imul dil\n" FLAGS "OUT8 rax\n"
	"mov rax, rsi\n mul rdi\n" FLAGS "OUT8 rax\n OUT8 rdx\n"
	"mov rax, rsi\n mov rdx, -1\n mul edi\n" FLAGS "OUT8 rax\n OUT8 rdx\n"
	"mov rax, rsi\n mov rdx, -1\n mul di\n" FLAGS "OUT8 rax\n OUT8 rdx\n"
	"mov rax, rsi\n mul dil\n" FLAGS "OUT8 rax\n"
	"mov rdx, rsi\n imul rdx, rdi\n jo 1f\n mov bl, 0x11\n jmp 2f\n 1: mov bl, 0x22\n 2: OUT1 bl\n"
	"mov rdx, rsi\n imul edx, edi\n jno 1f\n mov bl, 0x33\n jmp 2f\n 1: mov bl, 0x44\n 2: OUT1 bl\n"
	"mov rdx, rsi\n add rdx, rdi\n seto bl\n OUT1 bl\n"
	"mov rdx, rsi\n add edx, edi\n seto bl\n OUT1 bl\n"
	"mov rdx, rsi\n add dx, di\n seto bl\n OUT1 bl\n"
	"mov rdx, rsi\n add dl, dil\n jo 1f\n mov bl, 0x55\n jmp 2f\n 1: mov bl, 0x66\n 2: OUT1 bl\n"
	"mov rdx, rsi\n inc edx\n seto bl\n OUT1 bl\n"
	"mov rdx, rsi\n inc dl\n setno bl\n OUT1 bl\n"
	"pop rbx\n"
	"RETURN_OUT\n")
