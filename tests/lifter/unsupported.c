/* Instructions koff does not translate, on rarely taken paths: they must
 * fall back with the reason in the manifest while every other request is
 * served in XDP.  req[0] == 0xff: rdtsc; 0xfe: cpuid; 0xfd: jp after add
 * (PF is not modelled; OF of an addition is since); 0xfc: mul r/m8 (what gcc -O2 emits
 * for `unsigned char % 48`; translated since, so served in XDP and checked
 * against native by the random requests).  Request: op = req[0],
 * a = req[1..8]; every path replies with 8 bytes. */
#include "handler.h"

ASM_HANDLER(9,
	"push rbx\n"
	"mov rax, [r9 + 1]\n"
	"movzx ecx, byte ptr [r9]\n"
	"cmp ecx, 0xff\n je .Lrdtsc\n"
	"cmp ecx, 0xfe\n je .Lcpuid\n"
	"cmp ecx, 0xfd\n je .Ladd_jp\n"
	"cmp ecx, 0xfc\n je .Lmul8\n"
	"lea rdx, [rax + rax * 2]\n mov [r8], rdx\n"
	"jmp .Lout\n"
	".Lrdtsc: rdtsc\n xor eax, eax\n mov [r8], rax\n jmp .Lout\n"
	".Lcpuid: xor eax, eax\n cpuid\n xor eax, eax\n mov [r8], rax\n jmp .Lout\n"
	".Ladd_jp: add rax, rax\n jp 1f\n mov [r8], rax\n jmp .Lout\n 1: mov eax, 1\n mov [r8], rax\n jmp .Lout\n"
	".Lmul8: mov bl, 48\n mul bl\n mov [r8], rax\n"
	".Lout: pop rbx\n"
	"mov eax, 8\n ret\n")
