/* sbb reg,reg after cmp (the -1/0 idiom), the neg + sbb "!= 0" idiom,
 * adc/sbb for 128-bit add and subtract, adc/sbb with immediates and at
 * 8/16/32 bits.  Request: a = req[0..7], b = req[8..15]. */
#include "handler.h"

#define RELOAD "mov rax, [r9]\n mov rbx, [r9 + 8]\n"

ASM_HANDLER(16,
	"push rbx\n"
	RELOAD "cmp rax, rbx\n sbb rcx, rcx\n OUT8 rcx\n"
	RELOAD "cmp ebx, eax\n sbb ecx, ecx\n OUT8 rcx\n"
	RELOAD "mov rcx, -1\n cmp bx, ax\n sbb cx, cx\n OUT8 rcx\n"
	RELOAD "mov rcx, rax\n cmp al, bl\n sbb cl, cl\n OUT8 rcx\n"
	RELOAD "mov rcx, rax\n neg rcx\n sbb rcx, rcx\n OUT8 rcx\n"
	RELOAD "cmp rax, rbx\n mov ecx, 7\n adc ecx, 0\n OUT8 rcx\n"
	RELOAD "cmp eax, 1\n adc rbx, rax\n OUT8 rbx\n"
	/* 128-bit add: (a:b) + (b:a) */
	RELOAD "mov rcx, rax\n mov rdx, rbx\n add rcx, rbx\n adc rdx, rax\n OUT8 rcx\n OUT8 rdx\n"
	/* 128-bit subtract */
	RELOAD "mov rcx, rax\n mov rdx, rbx\n sub rcx, rbx\n sbb rdx, rax\n OUT8 rcx\n OUT8 rdx\n"
	/* 64-bit add with carry out, 32-bit add with carry into a 64-bit counter */
	RELOAD "xor edx, edx\n add eax, ebx\n adc rdx, 0\n OUT8 rax\n OUT8 rdx\n"
	RELOAD "mov rcx, rax\n add cl, bl\n adc ch, 0\n OUT8 rcx\n"
	RELOAD "mov rcx, rbx\n sub cx, ax\n sbb rdx, rdx\n OUT8 rcx\n OUT8 rdx\n"
	RELOAD "mov rcx, rbx\n add rcx, rax\n setc dl\n setnc dh\n OUT2 dx\n"
	"pop rbx\n"
	"RETURN_OUT\n")
