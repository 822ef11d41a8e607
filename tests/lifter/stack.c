/* push/pop (registers, immediates, memory), a frame with rbp and leave,
 * calls of local functions (nested, with stack arguments), ret, ret imm
 * is not used by compilers for x86-64 and is left out; xchg of registers
 * at every width and with memory.  Request: a = req[0..7], b = req[8..15]. */
#include "handler.h"

ASM_HANDLER(16,
	"push rbp\n mov rbp, rsp\n push rbx\n sub rsp, 24\n"
	"mov rax, [r9]\n"
	"mov rbx, [r9 + 8]\n"
	"push rax\n push rbx\n pop rcx\n pop rdx\n OUT8 rcx\n OUT8 rdx\n"
	"push -5\n pop rcx\n OUT8 rcx\n"
	"push 0x12345678\n pop rcx\n OUT8 rcx\n"
	"push qword ptr [r9 + 3]\n pop rcx\n OUT8 rcx\n"
	"mov [rbp - 16], rax\n mov [rbp - 24], rbx\n"
	"mov rdi, rax\n mov rsi, rbx\n call .Lmix\n OUT8 rax\n"
	"mov rdi, rbx\n mov rsi, rax\n call .Lmix\n OUT8 rax\n"
	"mov rcx, [rbp - 16]\n OUT8 rcx\n"
	"mov rcx, [rbp - 24]\n OUT8 rcx\n"
	/* xchg at each width */
	"mov rcx, rax\n mov rdx, rbx\n xchg rcx, rdx\n OUT8 rcx\n OUT8 rdx\n"
	"mov rcx, rax\n mov rdx, rbx\n xchg ecx, edx\n OUT8 rcx\n OUT8 rdx\n"
	"mov rcx, rax\n mov rdx, rbx\n xchg cx, dx\n OUT8 rcx\n OUT8 rdx\n"
	"mov rcx, rax\n mov rdx, rbx\n xchg cl, dh\n OUT8 rcx\n OUT8 rdx\n"
	"mov rcx, rax\n xchg ecx, ecx\n OUT8 rcx\n"
	"mov rcx, rax\n xchg rcx, [rbp - 24]\n OUT8 rcx\n mov rcx, [rbp - 24]\n OUT8 rcx\n"
	"add rsp, 24\n pop rbx\n leave\n"
	"RETURN_OUT\n"
	/* mix(x, y): a local function with its own frame calling another */
	".Lmix: push rbp\n mov rbp, rsp\n push r12\n"
	"mov r12, rdi\n call .Ltwice\n add r12, rax\n"
	"mov rax, r12\n pop r12\n pop rbp\n ret\n"
	".Ltwice: lea rax, [rsi + rsi]\n xor rax, rdi\n ret\n")
