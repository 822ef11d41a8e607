/* runtime/koff_rt.c as a NUL-terminated string, koff_rt_source
 * (src/trampoline.c compiles it for OUT at link time). */
	.section .rodata
	.globl koff_rt_source
	.type koff_rt_source, @object
koff_rt_source:
	.incbin "runtime/koff_rt.c"
	.byte 0
	.size koff_rt_source, . - koff_rt_source
	.section .note.GNU-stack, "", @progbits
