/* SSE as compilers use it on byte strings: movdqu/movups copies, pxor
 * zeroing, pcmpeqb + pmovmskb, paddb/psubb, pminub/pmaxub, pand/por/pandn,
 * movq/movd between xmm and general registers, punpcklqdq, and the lane
 * compares pcmpeq{b,w,d} and pcmpgt{b,w,d} (signed), pcmpeqd x, x (all ones).
 * Request: A = req[0..15], B = req[16..31]. */
#include "handler.h"

ASM_HANDLER(32,
	"movdqu xmm0, [r9]\n"
	"movups xmm1, [r9 + 16]\n"
	"movdqu [r8], xmm0\n .set out_off, out_off + 16\n"
	"movups [r8 + 16], xmm1\n .set out_off, out_off + 16\n"
	"pxor xmm2, xmm2\n movdqu [r8 + 32], xmm2\n .set out_off, out_off + 16\n"
	"movdqa xmm3, xmm0\n pcmpeqb xmm3, xmm1\n movdqu [r8 + 48], xmm3\n .set out_off, out_off + 16\n"
	"pmovmskb eax, xmm3\n OUT4 eax\n"
	"pxor xmm4, xmm4\n pcmpeqb xmm4, xmm0\n pmovmskb ecx, xmm4\n OUT4 ecx\n"
	"pmovmskb edx, xmm0\n OUT4 edx\n"
	"movdqa xmm3, xmm0\n paddb xmm3, xmm1\n movdqu [r8 + 76], xmm3\n .set out_off, out_off + 16\n"
	"movdqa xmm3, xmm0\n psubb xmm3, xmm1\n movdqu [r8 + 92], xmm3\n .set out_off, out_off + 16\n"
	"movdqa xmm3, xmm0\n pminub xmm3, xmm1\n movdqu [r8 + 108], xmm3\n .set out_off, out_off + 16\n"
	"movdqa xmm3, xmm0\n pmaxub xmm3, xmm1\n movdqu [r8 + 124], xmm3\n .set out_off, out_off + 16\n"
	"movdqa xmm3, xmm0\n pand xmm3, xmm1\n movdqu [r8 + 140], xmm3\n .set out_off, out_off + 16\n"
	"movdqa xmm3, xmm0\n por xmm3, xmm1\n movdqu [r8 + 156], xmm3\n .set out_off, out_off + 16\n"
	"movdqa xmm3, xmm0\n pandn xmm3, xmm1\n movdqu [r8 + 172], xmm3\n .set out_off, out_off + 16\n"
	"movq rax, xmm1\n OUT8 rax\n"
	"movd eax, xmm0\n mov rcx, -1\n mov ecx, eax\n OUT8 rcx\n"
	"mov rax, [r9 + 8]\n movq xmm5, rax\n movdqu [r8 + 204], xmm5\n .set out_off, out_off + 16\n"
	"mov eax, [r9 + 20]\n movd xmm6, eax\n movdqu [r8 + 220], xmm6\n .set out_off, out_off + 16\n"
	"movq xmm7, qword ptr [r9 + 3]\n movdqu [r8 + 236], xmm7\n .set out_off, out_off + 16\n"
	"movdqa xmm3, xmm0\n punpcklqdq xmm3, xmm1\n movdqu [r8 + 252], xmm3\n .set out_off, out_off + 16\n"
	"movdqa xmm3, xmm5\n punpcklqdq xmm3, xmm6\n movdqu [r8 + 268], xmm3\n .set out_off, out_off + 16\n"
	/* lowercase ASCII letters the way vectorized code does */
	"movdqu xmm3, [r9]\n movdqa xmm4, xmm3\n"
	"mov rax, 0x3f3f3f3f3f3f3f3f\n movq xmm5, rax\n punpcklqdq xmm5, xmm5\n paddb xmm4, xmm5\n"
	"mov rax, 0x1a1a1a1a1a1a1a1a\n movq xmm6, rax\n punpcklqdq xmm6, xmm6\n"
	"movdqa xmm7, xmm4\n pminub xmm7, xmm6\n pcmpeqb xmm7, xmm4\n"
	"mov rax, 0x2020202020202020\n movq xmm6, rax\n punpcklqdq xmm6, xmm6\n pand xmm7, xmm6\n por xmm3, xmm7\n"
	"movdqu [r8 + 284], xmm3\n .set out_off, out_off + 16\n"
	"movdqu xmm0, [r9]\n movdqu xmm1, [r9 + 16]\n"
	"movdqa xmm3, xmm0\n pcmpeqw xmm3, xmm1\n movdqu [r8 + out_off], xmm3\n .set out_off, out_off + 16\n"
	"movdqa xmm3, xmm0\n pcmpeqd xmm3, xmm1\n movdqu [r8 + out_off], xmm3\n .set out_off, out_off + 16\n"
	"movdqa xmm3, xmm0\n pcmpgtb xmm3, xmm1\n movdqu [r8 + out_off], xmm3\n .set out_off, out_off + 16\n"
	"movdqa xmm3, xmm1\n pcmpgtb xmm3, xmm0\n movdqu [r8 + out_off], xmm3\n .set out_off, out_off + 16\n"
	"movdqa xmm3, xmm0\n pcmpgtw xmm3, xmm1\n movdqu [r8 + out_off], xmm3\n .set out_off, out_off + 16\n"
	"movdqa xmm3, xmm1\n pcmpgtw xmm3, [r9]\n movdqu [r8 + out_off], xmm3\n .set out_off, out_off + 16\n"
	"movdqa xmm3, xmm0\n pcmpgtd xmm3, xmm1\n movdqu [r8 + out_off], xmm3\n .set out_off, out_off + 16\n"
	"movdqa xmm3, xmm1\n pcmpgtd xmm3, xmm0\n movdqu [r8 + out_off], xmm3\n .set out_off, out_off + 16\n"
	"pcmpeqd xmm2, xmm2\n movdqu [r8 + out_off], xmm2\n .set out_off, out_off + 16\n"
	"RETURN_OUT\n")
