/* The SSE forms compilers emit for parsers and digit conversion beyond
 * sse.c/shuffle.c: punpckh{bw,wd,dq,qdq}, word and dword shifts by an
 * immediate (psraw/psrad sign-extend, counts past the lane), pcmpgtq
 * (signed, SSE4.2) and pshufb (SSSE3: a mask byte with its top bit set
 * gives 0, else its low four bits pick a source byte), packssdw/packsswb (signed
 * saturation), shufpd, pextrw, psadbw (sums of absolute byte differences:
 * what clang vectorizes popcount loops into) and psubusb.
 * Request: A = req[0..15], B = req[16..31]. */
#include "handler.h"

#define STORE(X) "movdqu [r8 + out_off], " #X "\n .set out_off, out_off + 16\n"
#define BIN(OP) "movdqa xmm2, xmm0\n " #OP " xmm2, xmm1\n" STORE(xmm2)
#define SHIFT(OP, N) "movdqa xmm2, xmm0\n " #OP " xmm2, " #N "\n" STORE(xmm2)

ASM_HANDLER(32,
	"movdqu xmm0, [r9]\n"
	"movdqu xmm1, [r9 + 16]\n"
	BIN(punpckhbw) BIN(punpckhwd) BIN(punpckhdq) BIN(punpckhqdq)
	SHIFT(psraw, 1) SHIFT(psraw, 15) SHIFT(psraw, 16) SHIFT(psraw, 40)
	SHIFT(psrad, 3) SHIFT(psrad, 16) SHIFT(psrad, 31) SHIFT(psrad, 33)
	SHIFT(psrlw, 4) SHIFT(psrlw, 16) SHIFT(psrld, 9) SHIFT(psrld, 32)
	SHIFT(psllw, 5) SHIFT(psllw, 17) SHIFT(pslld, 12) SHIFT(pslld, 31)
	BIN(pcmpgtq)
	"movdqa xmm2, xmm1\n pcmpgtq xmm2, xmm0\n" STORE(xmm2)
	BIN(pshufb)
	"movdqa xmm2, xmm1\n pshufb xmm2, xmm0\n" STORE(xmm2)
	"movdqa xmm2, xmm0\n pshufb xmm2, xmm2\n" STORE(xmm2)
	"movdqa xmm2, xmm0\n pshufb xmm2, [r9 + 16]\n" STORE(xmm2)
	BIN(psadbw) BIN(psubusb)
	"movdqa xmm2, xmm1\n psubusb xmm2, xmm0\n" STORE(xmm2)
	"pxor xmm3, xmm3\n movdqa xmm2, xmm0\n psadbw xmm2, xmm3\n" STORE(xmm2)
	BIN(packssdw) BIN(packsswb)
	"movdqa xmm2, xmm1\n packsswb xmm2, xmm0\n" STORE(xmm2)
	"movdqa xmm2, xmm1\n packssdw xmm2, xmm0\n" STORE(xmm2)
	"movdqa xmm2, xmm0\n shufpd xmm2, xmm1, 0\n" STORE(xmm2)
	"movdqa xmm2, xmm0\n shufpd xmm2, xmm1, 3\n" STORE(xmm2)
	"movdqa xmm2, xmm0\n shufpd xmm2, xmm1, 1\n" STORE(xmm2)
	"mov rax, -1\n pextrw eax, xmm0, 0\n OUT8 rax\n"
	"pextrw eax, xmm0, 5\n OUT4 eax\n pextrw ecx, xmm1, 7\n OUT4 ecx\n pextrw rdx, xmm1, 3\n OUT8 rdx\n"
	"RETURN_OUT\n")
