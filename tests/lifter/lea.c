/* lea as arithmetic: base + index * scale + displacement at 64 and 32
 * bits, index-only forms, rip-relative addresses not used as memory.
 * Request: a = req[0..7], b = req[8..15]. */
#include "handler.h"

ASM_HANDLER(16,
	"push rbx\n"
	"mov rax, [r9]\n"
	"mov rbx, [r9 + 8]\n"
	"lea rcx, [rax + rbx]\n OUT8 rcx\n"
	"lea rcx, [rax + rbx * 2]\n OUT8 rcx\n"
	"lea rcx, [rax + rbx * 4 + 7]\n OUT8 rcx\n"
	"lea rcx, [rax + rbx * 8 - 0x80000000]\n OUT8 rcx\n"
	"lea rcx, [rbx * 8 + 3]\n OUT8 rcx\n"
	"lea rcx, [rax + rax * 4]\n OUT8 rcx\n"
	"lea rcx, [rax - 1]\n OUT8 rcx\n"
	"mov rcx, -1\n lea ecx, [rax + rbx * 2 + 1]\n OUT8 rcx\n"
	"mov rcx, -1\n lea ecx, [rax + 0x7fffffff]\n OUT8 rcx\n"
	"mov rcx, -1\n lea cx, [rax + rbx]\n OUT8 rcx\n"
	"lea r11, [r9 + 4]\n sub r11, r9\n OUT8 r11\n"
	"lea r10, [rbx + rbx * 2]\n lea r10, [r10 * 4 + r10]\n OUT8 r10\n"
	"pop rbx\n"
	"RETURN_OUT\n")
