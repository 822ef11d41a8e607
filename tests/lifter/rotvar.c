/* rol/ror by cl at 8/16/32/64 bits (the count masked to 5/6 bits, then
 * taken mod the width), CF after rotates (setc), and the flags after a
 * shift or rotate by cl: a zero count leaves those of the cmp before it.
 * Request: a = req[0..7], b = req[8..15], count = req[16]. */
#include "handler.h"

#define RELOAD "mov rax, [r9]\n movzx ecx, byte ptr [r9 + 16]\n"
#define BY_CL(OP)                                                              \
	RELOAD "mov rdx, rax\n " #OP " dl, cl\n setc bl\n OUT8 rdx\n OUT1 bl\n" \
	RELOAD "mov rdx, rax\n " #OP " dh, cl\n OUT8 rdx\n"                    \
	RELOAD "mov rdx, rax\n " #OP " dx, cl\n setc bl\n OUT8 rdx\n OUT1 bl\n" \
	RELOAD "mov rdx, rax\n " #OP " edx, cl\n setc bl\n OUT8 rdx\n OUT1 bl\n" \
	RELOAD "mov rdx, rax\n " #OP " rdx, cl\n setc bl\n OUT8 rdx\n OUT1 bl\n" \
	RELOAD "mov [r8 + 1024], rax\n " #OP " dword ptr [r8 + 1024], cl\n"    \
	" mov rdx, [r8 + 1024]\n OUT8 rdx\n"

/* cmp, then OP by cl, then conditions both producers define */
#define KEEP(OP, R, ...)                                                      \
	RELOAD "mov rdx, rax\n cmp rax, [r9 + 8]\n " #OP " " #R ", cl\n"      \
	SETCC_EACH(__VA_ARGS__)

ASM_HANDLER(17,
	"push rbx\n"
	BY_CL(rol) BY_CL(ror)
	"mov rax, [r9]\n"
	"mov rdx, rax\n rol rdx, 1\n setc bl\n setnc bh\n OUT2 bx\n"
	"mov rdx, rax\n ror edx, 7\n setc bl\n OUT1 bl\n"
	"mov rdx, rax\n ror dl, 1\n jc 1f\n mov bl, 0x11\n jmp 2f\n 1: mov bl, 0x22\n 2: OUT1 bl\n"
	"mov rdx, rax\n rol dx, 16\n setc bl\n OUT8 rdx\n OUT1 bl\n"
	KEEP(shl, rdx, e, ne, s, ns) KEEP(shr, edx, e, ne, s, ns) KEEP(sar, dx, e, ne, s, ns)
	KEEP(rol, rdx, b, ae) KEEP(ror, edx, b, ae) KEEP(rol, dl, b, ae)
	"pop rbx\n"
	"RETURN_OUT\n")
