/* bts/btr/btc (and bt) on registers and memory, CF read by setc and jc.
 * Registers, and memory with an immediate bit number: the number is taken
 * mod the width (16/32/64).  Memory with a register bit number: a signed
 * offset into a bit string, so the word accessed lies up to 16 bytes before
 * or after the operand (a zone on the stack, dumped after each group).
 * Request: a = req[0..7], n = (signed) req[8]. */
#include "handler.h"

#define REG_OP(OP)                                                             \
	"mov rdx, rax\n " #OP " rdx, rbx\n setc cl\n OUT8 rdx\n OUT1 cl\n"     \
	"mov rdx, rax\n " #OP " edx, ebx\n setc cl\n OUT8 rdx\n OUT1 cl\n"     \
	"mov rdx, rax\n " #OP " dx, bx\n setc cl\n OUT8 rdx\n OUT1 cl\n"       \
	"mov rdx, rax\n " #OP " rdx, 45\n setc cl\n OUT8 rdx\n OUT1 cl\n"      \
	"mov rdx, rax\n " #OP " edx, 7\n setnc cl\n OUT8 rdx\n OUT1 cl\n"      \
	"mov rdx, rax\n " #OP " dx, 13\n jc 1f\n mov cl, 0x11\n jmp 2f\n"      \
	"1: mov cl, 0x22\n 2: OUT8 rdx\n OUT1 cl\n"

/* a zone of six qwords at rsp+16..rsp+64; the operand is at rsp+40 */
#define ZONE_INIT                                                              \
	"mov [rsp + 16], rax\n mov [rsp + 24], rsi\n mov [rsp + 32], rax\n"    \
	"mov [rsp + 40], rsi\n mov [rsp + 48], rax\n mov [rsp + 56], rsi\n"
#define ZONE_DUMP                                                              \
	"mov rdx, [rsp + 16]\n OUT8 rdx\n mov rdx, [rsp + 24]\n OUT8 rdx\n"    \
	"mov rdx, [rsp + 32]\n OUT8 rdx\n mov rdx, [rsp + 40]\n OUT8 rdx\n"    \
	"mov rdx, [rsp + 48]\n OUT8 rdx\n mov rdx, [rsp + 56]\n OUT8 rdx\n"
#define MEM_OP(OP)                                                             \
	ZONE_INIT                                                              \
	#OP " qword ptr [rsp + 40], rbx\n setc cl\n OUT1 cl\n"                 \
	#OP " dword ptr [rsp + 40], ebx\n setc cl\n OUT1 cl\n"                 \
	#OP " word ptr [rsp + 40], bx\n setc cl\n OUT1 cl\n"                   \
	#OP " qword ptr [rsp + 40], 50\n setc cl\n OUT1 cl\n"                  \
	#OP " dword ptr [rsp + 40], 33\n setc cl\n OUT1 cl\n"                  \
	#OP " word ptr [rsp + 40], 17\n setc cl\n OUT1 cl\n"                   \
	"lea rdi, [rsp + 40]\n " #OP " qword ptr [rdi], rbx\n jnc 1f\n"       \
	" mov cl, 0x33\n jmp 2f\n 1: mov cl, 0x44\n 2: OUT1 cl\n"              \
	ZONE_DUMP

ASM_HANDLER(9,
	"push rbx\n"
	"sub rsp, 64\n"
	"mov rax, [r9]\n"
	"movsx rbx, byte ptr [r9 + 8]\n"
	"mov rsi, rax\n not rsi\n"
	REG_OP(bt) REG_OP(bts) REG_OP(btr) REG_OP(btc)
	MEM_OP(bt) MEM_OP(bts) MEM_OP(btr) MEM_OP(btc)
	"add rsp, 64\n"
	"pop rbx\n"
	"RETURN_OUT\n")
