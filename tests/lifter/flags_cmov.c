/* cmovCC at 64/32/16 bits (register and memory sources) for every
 * condition, after cmp at each width and after test.
 * Request: a = req[0..7], b = req[8..15]. */
#include "handler.h"

#define RELOAD "mov rax, [r9]\n mov rbx, [r9 + 8]\n mov r10, 0x1122334455667788\n"

ASM_HANDLER(16,
	"push rbx\n"
	RELOAD "cmp al, bl\n" CMOV_EACH(rcx, rax, ALL_CC)
	RELOAD "cmp ax, bx\n" CMOV_EACH(ecx, ebx, ALL_CC)
	RELOAD "cmp eax, ebx\n" CMOV_EACH(cx, bx, ALL_CC)
	RELOAD "cmp rax, rbx\n" CMOV_EACH(rcx, qword ptr [r9 + 8], ALL_CC)
	RELOAD "cmp rbx, rax\n" CMOV_EACH(ecx, dword ptr [r9 + 2], ALL_CC)
	RELOAD "test eax, ebx\n" CMOV_EACH(rcx, rbx, ALL_CC)
	"pop rbx\n"
	"RETURN_OUT\n")
