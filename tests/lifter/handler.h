/* handler.h - a handle_request() written in assembly, with its C signature
 * in DWARF (koff-link checks it).  The function is naked: gcc emits no
 * prologue, the asm block is the whole body, so the instructions under test
 * reach the lifter exactly as written.
 *
 * ASM_HANDLER(MIN_LEN, BODY): requests shorter than MIN_LEN return -1.  On
 * entry to BODY: rdi = req, rsi = len, rdx = resp, rcx = cap and also
 * r9 = req, r8 = resp (copies that survive instructions clobbering rdx/rcx).
 * BODY stores results with the gas macros below, which append to resp, and
 * ends with RETURN_OUT (returns the number of bytes stored) or its own ret.
 *   OUT8 reg64 / OUT4 reg32 / OUT2 reg16 / OUT1 reg8: store at the next offset
 *   RETURN_OUT: mov eax, <bytes stored>; ret
 */
#ifndef LIFTER_HANDLER_H
#define LIFTER_HANDLER_H

#define ASM_MACROS                                                             \
	".set out_off, 0\n"                                                    \
	".macro OUT8 r\n mov qword ptr [r8 + out_off], \\r\n .set out_off, out_off + 8\n .endm\n" \
	".macro OUT4 r\n mov dword ptr [r8 + out_off], \\r\n .set out_off, out_off + 4\n .endm\n" \
	".macro OUT2 r\n mov word ptr [r8 + out_off], \\r\n .set out_off, out_off + 2\n .endm\n" \
	".macro OUT1 r\n mov byte ptr [r8 + out_off], \\r\n .set out_off, out_off + 1\n .endm\n" \
	".macro RETURN_OUT\n mov eax, out_off\n ret\n .endm\n"

#define ASM_HANDLER(MIN_LEN, BODY)                                             \
	__attribute__((naked)) long handle_request(const unsigned char *req,  \
						   unsigned long len,          \
						   unsigned char *resp,        \
						   unsigned long cap)          \
	{                                                                      \
		__asm__ volatile(".intel_syntax noprefix\n" ASM_MACROS        \
				 "cmp rsi, " #MIN_LEN "\n"                     \
				 "jb .Lshort_request\n"                        \
				 "mov r9, rdi\n"                               \
				 "mov r8, rdx\n" BODY                          \
				 ".Lshort_request:\n"                          \
				 "mov rax, -1\n"                               \
				 "ret\n"                                       \
				 ".purgem OUT8\n.purgem OUT4\n.purgem OUT2\n"  \
				 ".purgem OUT1\n.purgem RETURN_OUT\n"          \
				 ".att_syntax prefix\n");                      \
	}

#define LIFTER_STR(...) #__VA_ARGS__
#define LIFTER_XSTR(...) LIFTER_STR(__VA_ARGS__)

/* SETCC_EACH(e, ne, ...): one setCC byte per condition, appended to resp
 * (setcc leaves the flags alone, so all read the same producer). */
#define SETCC_EACH(...)                                                        \
	".irp cc, " LIFTER_XSTR(__VA_ARGS__) "\n set\\cc byte ptr [r8 + out_off]\n"     \
	" .set out_off, out_off + 1\n .endr\n"

/* Every condition koff claims after cmp/sub/neg (all but parity). */
#define ALL_CC e, ne, b, ae, be, a, l, ge, le, g, s, ns, o, no

/* JCC_EACH(e, ne, ...): one byte per condition, 1 when jCC is taken: each
 * jcc starts a new block, so the flags cross block boundaries. */
#define JCC_EACH(...)                                                          \
	".irp cc, " LIFTER_XSTR(__VA_ARGS__) "\n j\\cc 1f\n"                  \
	" mov byte ptr [r8 + out_off], 0\n jmp 2f\n"                          \
	"1: mov byte ptr [r8 + out_off], 1\n2:\n"                             \
	" .set out_off, out_off + 1\n .endr\n"

/* CMOV_EACH(dst, src, e, ne, ...): per condition, dst = rcx then cmovCC
 * dst, src, and the whole of rcx appended (a 32-bit cmov zeroes the upper
 * half even when the condition is false). */
#define CMOV_EACH(DST, SRC, ...)                                               \
	".irp cc, " LIFTER_XSTR(__VA_ARGS__) "\n mov rcx, r10\n"              \
	" cmov\\cc " #DST ", " #SRC "\n mov qword ptr [r8 + out_off], rcx\n" \
	" .set out_off, out_off + 8\n .endr\n"

#endif
