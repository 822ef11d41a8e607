/* Flags consumed in a different block than their producer: cmp; ja; je;
 * jl chains, a consumer reached through a jmp, one consumer reached from
 * two producers of different kinds and widths, and a dec/jnz loop.
 * Request: a = req[0..7], b = req[8..15]. */
#include "handler.h"

ASM_HANDLER(16,
	"push rbx\n"
	"mov rax, [r9]\n"
	"mov rbx, [r9 + 8]\n"
	/* a three-way split on one cmp */
	"cmp rax, rbx\n"
	"ja .La_above\n"
	"je .La_equal\n"
	"jl .La_less\n"
	"mov ecx, 4\n jmp .La_done\n"
	".La_above: mov ecx, 1\n jg .La_done\n mov ecx, 5\n jmp .La_done\n"
	".La_equal: mov ecx, 2\n jmp .La_done\n"
	".La_less: mov ecx, 3\n"
	".La_done: OUT1 cl\n"
	/* the flags flow through an unconditional jump */
	"cmp bl, al\n"
	"jmp .Lb_use\n"
	".Lb_back: OUT1 cl\n jmp .Lb_done\n"
	".Lb_use: setle cl\n jmp .Lb_back\n"
	".Lb_done:\n"
	/* one consumer, two producers: test at 32 bits or cmp at 16 bits */
	"test al, 1\n"
	"jz .Lc_cmp\n"
	"test eax, ebx\n"
	"jmp .Lc_join\n"
	".Lc_cmp: cmp bx, ax\n"
	".Lc_join:\n" SETCC_EACH(ALL_CC)
	/* and two producers of the same kind, different widths */
	"test bl, 2\n"
	"jnz .Ld_sub8\n"
	"mov rcx, rbx\n sub rcx, rax\n jmp .Ld_join\n"
	".Ld_sub8: mov rcx, rbx\n sub cl, al\n"
	".Ld_join:\n" SETCC_EACH(ALL_CC) "OUT8 rcx\n"
	/* a counted loop: dec + jnz, count from the request, 0 skips it */
	"movzx ecx, byte ptr [r9 + 2]\n"
	"mov rdx, rbx\n"
	"test ecx, ecx\n"
	"jz .Le_done\n"
	".Le_loop: add rdx, rax\n rol rdx, 7\n dec ecx\n jnz .Le_loop\n"
	".Le_done: OUT8 rdx\n"
	/* a do-while on cmp at the bottom */
	"xor ecx, ecx\n mov rdx, rax\n"
	".Lf_loop: inc ecx\n shr rdx, 3\n cmp rdx, rbx\n ja .Lf_loop\n"
	"OUT4 ecx\n"
	"pop rbx\n"
	"RETURN_OUT\n")
