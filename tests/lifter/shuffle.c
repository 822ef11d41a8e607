/* Lane shuffles compilers emit when they vectorize: pshufd (dwords picked
 * by an immediate, from a register or memory), pshuflw/pshufhw (words of one
 * half), punpckl{bw,wd,dq} (the low lanes of two registers interleaved),
 * psrldq/pslldq (byte shifts of the whole register), packuswb (words
 * saturated to unsigned bytes), pmuludq, and 8-bit mul/div/idiv with cbw.
 * Request: A = req[0..15], B = req[16..31], then two divisor bytes. */
#include "handler.h"

ASM_HANDLER(34,
	"push rbx\n"		/* callee-saved: the 8-bit ops below use bl */
	"movdqu xmm0, [r9]\n"
	"movdqu xmm1, [r9 + 16]\n"
	"pshufd xmm2, xmm0, 0x1b\n movdqu [r8], xmm2\n .set out_off, out_off + 16\n"
	"pshufd xmm2, xmm0, 0x44\n movdqu [r8 + 16], xmm2\n .set out_off, out_off + 16\n"
	"pshufd xmm2, [r9 + 16], 0xe4\n movdqu [r8 + 32], xmm2\n .set out_off, out_off + 16\n"
	"pshufd xmm0, xmm0, 0x00\n movdqu [r8 + 48], xmm0\n .set out_off, out_off + 16\n"
	"movdqu xmm0, [r9]\n"
	"movdqa xmm3, xmm0\n punpcklbw xmm3, xmm1\n movdqu [r8 + 64], xmm3\n .set out_off, out_off + 16\n"
	"movdqa xmm3, xmm0\n punpcklwd xmm3, xmm1\n movdqu [r8 + 80], xmm3\n .set out_off, out_off + 16\n"
	"movdqa xmm3, xmm0\n punpckldq xmm3, xmm1\n movdqu [r8 + 96], xmm3\n .set out_off, out_off + 16\n"
	"pxor xmm4, xmm4\n movdqa xmm3, xmm0\n punpcklbw xmm3, xmm4\n movdqu [r8 + 112], xmm3\n .set out_off, out_off + 16\n"
	/* shifts of both quadwords by a register count (0..255: past 63 gives 0) */
	"movzx eax, byte ptr [r9 + 17]\n movq xmm4, rax\n"
	"movdqa xmm3, xmm0\n psrlq xmm3, xmm4\n movdqu [r8 + out_off], xmm3\n .set out_off, out_off + 16\n"
	"movdqa xmm3, xmm0\n psllq xmm3, xmm4\n movdqu [r8 + out_off], xmm3\n .set out_off, out_off + 16\n"
	"movdqa xmm3, xmm0\n psrlq xmm3, 7\n movdqu [r8 + out_off], xmm3\n .set out_off, out_off + 16\n"
	"pshuflw xmm2, xmm0, 0x1b\n movdqu [r8 + out_off], xmm2\n .set out_off, out_off + 16\n"
	"pshufhw xmm2, [r9 + 16], 0xb1\n movdqu [r8 + out_off], xmm2\n .set out_off, out_off + 16\n"
	"movdqa xmm3, xmm0\n psrldq xmm3, 3\n movdqu [r8 + out_off], xmm3\n .set out_off, out_off + 16\n"
	"movdqa xmm3, xmm0\n psrldq xmm3, 9\n movdqu [r8 + out_off], xmm3\n .set out_off, out_off + 16\n"
	"movdqa xmm3, xmm0\n pslldq xmm3, 5\n movdqu [r8 + out_off], xmm3\n .set out_off, out_off + 16\n"
	"movdqa xmm3, xmm0\n pslldq xmm3, 12\n movdqu [r8 + out_off], xmm3\n .set out_off, out_off + 16\n"
	"movdqa xmm3, xmm0\n pslldq xmm3, 8\n movdqu [r8 + out_off], xmm3\n .set out_off, out_off + 16\n"
	"movdqa xmm3, xmm0\n packuswb xmm3, xmm1\n movdqu [r8 + out_off], xmm3\n .set out_off, out_off + 16\n"
	"movdqa xmm3, xmm1\n packuswb xmm3, [r9]\n movdqu [r8 + out_off], xmm3\n .set out_off, out_off + 16\n"
	"movdqa xmm3, xmm0\n pmuludq xmm3, xmm1\n movdqu [r8 + out_off], xmm3\n .set out_off, out_off + 16\n"
	/* 8-bit arithmetic: ax = al * bl; al, ah = ax / cl unsigned and signed */
	"mov rax, [r9]\n mov bl, [r9 + 16]\n mul bl\n OUT8 rax\n"
	"mov rax, [r9]\n mov bl, [r9 + 16]\n imul bl\n OUT8 rax\n"
	"mov rax, [r9]\n cbw\n OUT8 rax\n"
	/* the division results' slots start zeroed: a skipped division leaves them so */
	"mov qword ptr [r8 + out_off], 0\n mov qword ptr [r8 + out_off + 8], 0\n"
	"mov cl, [r9 + 32]\n test cl, cl\n jz 1f\n"
	"movzx eax, byte ptr [r9 + 1]\n div cl\n OUT8 rax\n"
	"1:\n"
	"mov cl, [r9 + 33]\n cmp cl, 0\n je 2f\n cmp cl, 0xff\n je 2f\n"
	"movsx eax, byte ptr [r9 + 2]\n cbw\n idiv cl\n OUT8 rax\n"
	"2:\n"
	/* 16-bit: dx:ax / cx (dx below cx, so the quotient fits) and dx:ax / cx signed (0 and -1 skipped) */
	"mov qword ptr [r8 + out_off], 0\n mov qword ptr [r8 + out_off + 8], 0\n"
	"mov qword ptr [r8 + out_off + 16], 0\n mov qword ptr [r8 + out_off + 24], 0\n"
	"movzx ecx, word ptr [r9 + 20]\n or cx, 0x80\n"	/* > dx: the quotient fits */
	"mov rax, [r9]\n mov rdx, [r9 + 8]\n and edx, 0x7f\n div cx\n OUT8 rax\n OUT8 rdx\n"
	"3:\n"
	"movzx ecx, word ptr [r9 + 22]\n test cx, cx\n jz 4f\n cmp cx, 0xffff\n je 4f\n"
	"movsx eax, word ptr [r9 + 4]\n cwd\n idiv cx\n OUT8 rax\n OUT8 rdx\n"
	"4:\n"
	"pop rbx\n"
	"RETURN_OUT\n")
