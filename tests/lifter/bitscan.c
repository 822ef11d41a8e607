/* popcnt, lzcnt and tzcnt (0 included: the width), bsf/bsr at 64 bits (a
 * 0 source keeps the destination), then 16/32-bit bsf/bsr on sources made
 * nonzero (koff falls back on a 0 there: Intel and AMD differ; the .expect
 * requests check that).  ZF after each, read by setz and jz.
 * Request: a = req[0..7], op = req[8] (1: also the zero-source forms). */
#include "handler.h"

#define SCAN(OP, R)                                                            \
	"mov rcx, 0x5a5a5a5a5a5a5a5a\n " #OP " " #R ", rdx\n setz bl\n"      \
	" OUT8 rcx\n OUT1 bl\n"

ASM_HANDLER(9,
	"push rbx\n"
	"mov rax, [r9]\n"
	"mov rdx, rax\n mov rcx, -1\n popcnt rcx, rdx\n setz bl\n OUT8 rcx\n OUT1 bl\n"
	"mov rcx, -1\n popcnt ecx, edx\n setz bl\n setc bh\n OUT8 rcx\n OUT2 bx\n"
	"mov rcx, -1\n popcnt cx, dx\n setz bl\n OUT8 rcx\n OUT1 bl\n"
	"mov rcx, -1\n lzcnt rcx, rdx\n setz bl\n OUT8 rcx\n OUT1 bl\n"
	"mov rcx, -1\n lzcnt ecx, edx\n setz bl\n OUT8 rcx\n OUT1 bl\n"
	"mov rcx, -1\n lzcnt cx, dx\n OUT8 rcx\n"
	SCAN(bsf, rcx) SCAN(bsr, rcx) SCAN(tzcnt, rcx)
	"mov rcx, -1\n tzcnt ecx, edx\n setz bl\n OUT8 rcx\n OUT1 bl\n"
	"bsf rdx, rdx\n jz 1f\n mov bl, 1\n jmp 2f\n 1: mov bl, 2\n 2: OUT8 rdx\n OUT1 bl\n"
	"mov rdx, rax\n bts rdx, 63\n tzcnt rcx, rdx\n setz bl\n OUT8 rcx\n OUT1 bl\n"
	"mov rdx, rax\n or edx, 0x40000\n tzcnt ecx, edx\n setz bl\n OUT8 rcx\n OUT1 bl\n"
	"mov rdx, rax\n or dx, 0x100\n mov rcx, -1\n tzcnt cx, dx\n OUT8 rcx\n"
	"mov rdx, rax\n or edx, 0x40000\n mov rcx, -1\n bsf ecx, edx\n OUT8 rcx\n"
	"mov rdx, rax\n or edx, 0x40000\n mov rcx, -1\n bsr ecx, edx\n OUT8 rcx\n"
	"mov rdx, rax\n or dx, 0x100\n mov rcx, -1\n bsr cx, dx\n OUT8 rcx\n"
	"mov rdx, rax\n or dx, 0x100\n mov rcx, -1\n bsf cx, dx\n setz bl\n OUT8 rcx\n OUT1 bl\n"
	"mov qword ptr [r8 + out_off], 0\n mov qword ptr [r8 + out_off + 8], 0\n"
	"mov qword ptr [r8 + out_off + 16], 0\n mov qword ptr [r8 + out_off + 24], 0\n"
	"cmp byte ptr [r9 + 8], 1\n jne 3f\n"
	"mov rcx, -1\n tzcnt rcx, rax\n setz bl\n OUT8 rcx\n OUT1 bl\n"
	"mov rcx, -1\n tzcnt cx, ax\n OUT8 rcx\n"
	"mov rcx, -1\n bsf ecx, eax\n OUT8 rcx\n"
	"3:\n"
	"pop rbx\n"
	"RETURN_OUT\n")
