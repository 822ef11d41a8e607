/* div/idiv at 32 and 64 bits with divisors from the request.  Divisor 0,
 * INT_MIN / -1 and a dividend wider than rax (rdx not a plain extension:
 * the 128-bit case BPF cannot divide) must fall back: div.expect checks
 * those requests without running the native code, which would trap.
 * Natively, a trap resumes at lifter_trap_recover with rax > cap
 * (tests/lifter/trapguard.c), so koffdiff requires XDP_PASS there too.
 * Request: op = req[0] & 7, dividend = req[1..8], divisor = req[9..16];
 * op 7 takes rdx from req[17..24]. */
#include "handler.h"

ASM_HANDLER(17,
	"push rbx\n"
	"mov rax, [r9 + 1]\n"
	"mov rbx, [r9 + 9]\n"
	"movzx ecx, byte ptr [r9]\n"
	"and ecx, 7\n"
	"cmp ecx, 1\n je .Ldiv32\n"
	"cmp ecx, 2\n je .Lidiv64\n"
	"cmp ecx, 3\n je .Lidiv32\n"
	"cmp ecx, 4\n je .Lidiv64_sar\n"
	"cmp ecx, 5\n je .Ldiv32_mem\n"
	"cmp ecx, 6\n je .Ldiv64_mem\n"
	"cmp ecx, 7\n je .Lwide\n"
	"xor edx, edx\n div rbx\n jmp .Ldone\n"
	".Ldiv32: xor edx, edx\n div ebx\n jmp .Ldone\n"
	".Lidiv64: cqo\n idiv rbx\n jmp .Ldone\n"
	".Lidiv32: cdq\n idiv ebx\n jmp .Ldone\n"
	".Lidiv64_sar: mov rdx, rax\n sar rdx, 63\n idiv rbx\n jmp .Ldone\n"
	".Ldiv32_mem: mov edx, 0\n div dword ptr [r9 + 9]\n jmp .Ldone\n"
	".Ldiv64_mem: xor edx, edx\n div qword ptr [r9 + 9]\n jmp .Ldone\n"
	".Lwide: cmp rsi, 25\n jb .Lrefuse\n"
	"mov rdx, [r9 + 17]\n div rbx\n"
	".Ldone: OUT8 rax\n OUT8 rdx\n"
	"pop rbx\n"
	"RETURN_OUT\n"
	".Lrefuse: pop rbx\n xor eax, eax\n ret\n"
	/* never reached by a jump: trapguard.c resumes here after a SIGFPE */
	".globl lifter_trap_recover\n"
	"lifter_trap_recover: pop rbx\n ret\n")
