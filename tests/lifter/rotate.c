/* rol/ror by immediates at 8/16/32/64 bits (rol ax, 8 swaps the bytes of
 * ax and keeps the rest of rax), bswap at 32/64.  Request: a = req[0..7]. */
#include "handler.h"

#define ROT(OP, N)                                                             \
	"mov rdx, rax\n " #OP " dl, " #N "\n OUT8 rdx\n"                       \
	"mov rdx, rax\n " #OP " dx, " #N "\n OUT8 rdx\n"                       \
	"mov rdx, rax\n " #OP " edx, " #N "\n OUT8 rdx\n"                      \
	"mov rdx, rax\n " #OP " rdx, " #N "\n OUT8 rdx\n"

ASM_HANDLER(8,
	"mov rax, [r9]\n"
	ROT(rol, 1) ROT(ror, 1) ROT(rol, 3) ROT(ror, 5) ROT(rol, 8) ROT(ror, 8)
	ROT(rol, 13) ROT(ror, 16) ROT(rol, 31) ROT(ror, 31)
	"mov rdx, rax\n rol rdx, 32\n OUT8 rdx\n"
	"mov rdx, rax\n ror rdx, 63\n OUT8 rdx\n"
	"mov rdx, rax\n rol rdx, 47\n OUT8 rdx\n"
	"mov rdx, rax\n rol dh, 4\n OUT8 rdx\n"
	"mov rdx, rax\n rol ax, 8\n OUT8 rax\n mov rax, rdx\n"
	"mov qword ptr [r8 + 1024], rax\n rol word ptr [r8 + 1026], 8\n ror dword ptr [r8 + 1028], 12\n"
	"mov rdx, qword ptr [r8 + 1024]\n OUT8 rdx\n"
	"mov rdx, rax\n bswap edx\n OUT8 rdx\n"
	"mov rdx, rax\n bswap rdx\n OUT8 rdx\n"
	"mov r11, rax\n bswap r11d\n OUT8 r11\n"
	"RETURN_OUT\n")
