/* cmp/sub/test/add/dec at widths 8/16/32/64 followed by a jCC for every
 * condition koff claims; each jCC ends a block, the next one reads the
 * same flags in a new block.  Request: a = req[0..7], b = req[8..15]. */
#include "handler.h"

#define RELOAD "mov rax, [r9]\n mov rbx, [r9 + 8]\n"

ASM_HANDLER(16,
	"push rbx\n"
	RELOAD "cmp al, bl\n" JCC_EACH(ALL_CC)
	RELOAD "cmp ax, bx\n" JCC_EACH(ALL_CC)
	RELOAD "cmp eax, ebx\n" JCC_EACH(ALL_CC)
	RELOAD "cmp rax, rbx\n" JCC_EACH(ALL_CC)
	RELOAD "sub ebx, eax\n" JCC_EACH(ALL_CC)
	RELOAD "test rax, rbx\n" JCC_EACH(ALL_CC)
	RELOAD "test bh, bh\n" JCC_EACH(ALL_CC)
	RELOAD "add eax, ebx\n" JCC_EACH(e, ne, s, ns, b, ae)
	RELOAD "add al, bl\n" JCC_EACH(e, ne, s, ns, b, ae)
	RELOAD "dec bx\n" JCC_EACH(e, ne, s, ns, l, ge, le, g, o, no)
	RELOAD "inc rax\n" JCC_EACH(e, ne, s, ns)
	"pop rbx\n"
	"RETURN_OUT\n")
