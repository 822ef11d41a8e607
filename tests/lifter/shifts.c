/* shl/shr/sar by immediates and by cl at widths 8/16/32/64, counts from
 * the request (x86 masks them to 5 or 6 bits; counts >= the width clear or
 * sign-fill the 8/16-bit forms), sar of negative values, flags after a
 * shift by an immediate.  Request: a = req[0..7], counts req[8..10]. */
#include "handler.h"

#define RELOAD "mov rax, [r9]\n movzx ecx, byte ptr [r9 + 8]\n"
#define BY_CL(OP)                                                              \
	RELOAD "mov rdx, rax\n " #OP " dl, cl\n OUT8 rdx\n"                    \
	RELOAD "mov rdx, rax\n " #OP " dh, cl\n OUT8 rdx\n"                    \
	RELOAD "mov rdx, rax\n " #OP " dx, cl\n OUT8 rdx\n"                    \
	RELOAD "mov rdx, rax\n " #OP " edx, cl\n OUT8 rdx\n"                   \
	RELOAD "mov rdx, rax\n " #OP " rdx, cl\n OUT8 rdx\n"
#define BY_IMM(OP, N)                                                          \
	"mov rdx, rax\n " #OP " dl, " #N "\n OUT8 rdx\n"                       \
	"mov rdx, rax\n " #OP " dx, " #N "\n OUT8 rdx\n"                       \
	"mov rdx, rax\n " #OP " edx, " #N "\n OUT8 rdx\n"                      \
	"mov rdx, rax\n " #OP " rdx, " #N "\n OUT8 rdx\n"

ASM_HANDLER(11,
	BY_CL(shl) BY_CL(shr) BY_CL(sar)
	"mov rax, [r9]\n"
	BY_IMM(shl, 1) BY_IMM(shr, 1) BY_IMM(sar, 1)
	BY_IMM(shl, 7) BY_IMM(shr, 7) BY_IMM(sar, 7)
	BY_IMM(shl, 15) BY_IMM(shr, 15) BY_IMM(sar, 15)
	BY_IMM(shl, 31) BY_IMM(shr, 31) BY_IMM(sar, 31)
	"mov rdx, rax\n shl rdx, 63\n OUT8 rdx\n"
	"mov rdx, rax\n sar rdx, 63\n OUT8 rdx\n"
	"mov rdx, rax\n shr rdx, 40\n OUT8 rdx\n"
	"mov rdx, rax\n sar rdx, 33\n OUT8 rdx\n"
	"mov rdx, rax\n sal edx, 3\n OUT8 rdx\n"
	"mov rdx, rax\n shl dl, 9\n OUT8 rdx\n"
	"mov rdx, rax\n sar dx, 20\n OUT8 rdx\n"
	"mov rdx, rax\n shr dh, 5\n OUT8 rdx\n"
	/* flags after shifts by immediates (ZF, SF) */
	"mov rdx, rax\n shl edx, 4\n" SETCC_EACH(e, ne, s, ns)
	"mov rdx, rax\n shr rdx, 60\n" SETCC_EACH(e, ne, s, ns)
	"mov rdx, rax\n sar dl, 2\n" SETCC_EACH(e, ne, s, ns)
	"mov rdx, rax\n shl dx, 1\n" SETCC_EACH(e, ne, s, ns)
	/* memory destination, count from the request */
	"movzx ecx, byte ptr [r9 + 9]\n mov qword ptr [r8 + 1024], rax\n"
	"sar dword ptr [r8 + 1024], cl\n mov rdx, qword ptr [r8 + 1024]\n OUT8 rdx\n"
	"movzx ecx, byte ptr [r9 + 10]\n mov rdx, rax\n shr rdx, cl\n shl edx, cl\n OUT8 rdx\n"
	"RETURN_OUT\n")
