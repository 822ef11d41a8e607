/* bt with immediate and register bit numbers at 16/32/64 bits, consumed by
 * jc/jnc, setc/setnc, cmovc, sbb-free: bit numbers from the request are
 * masked to the width.  Request: a = req[0..7], n = req[8]. */
#include "handler.h"

ASM_HANDLER(9,
	"push rbx\n"
	"mov rax, [r9]\n"
	"movzx ebx, byte ptr [r9 + 8]\n"
	"bt rax, rbx\n setc cl\n setnc ch\n OUT2 cx\n"
	"bt eax, ebx\n setb cl\n setae ch\n OUT2 cx\n"
	"bt ax, bx\n setc cl\n OUT1 cl\n"
	"bt rax, 63\n setc cl\n OUT1 cl\n"
	"bt eax, 5\n setc cl\n OUT1 cl\n"
	"bt rax, 40\n jc 1f\n mov cl, 0x11\n jmp 2f\n 1: mov cl, 0x22\n 2: OUT1 cl\n"
	"bt rax, rbx\n jnc 1f\n mov cl, 0x33\n jmp 2f\n 1: mov cl, 0x44\n 2: OUT1 cl\n"
	"mov rcx, -1\n bt eax, ebx\n cmovc rcx, rax\n OUT8 rcx\n"
	"pop rbx\n"
	"RETURN_OUT\n")
