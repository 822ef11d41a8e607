/* vmagent.h - what koff-vmagent (kernel/vmagent.c, run inside the guest)
 * prints and kernel/vm.c reads back.  One record, line oriented:
 *
 *	koff-vmagent 1
 *	release 6.1.0-57-amd64
 *	rc -13
 *	loaded 0
 *	processed 1234
 *	prog_insns 567
 *	fail_insn 42
 *	hot 42 40 17
 *	features jmp32 bounded_loops ...      (probe only)
 *	msg /koff/obj.bpf.o: verifier rejected koff_xdp at insn 42: ...
 *	log 1873                               (byte count, then the bytes)
 *	...the verifier log tail...
 *	end
 *
 * Only `msg` and `log` carry free text: msg is one line, log is counted. */
#ifndef KOFF_VMAGENT_H
#define KOFF_VMAGENT_H

#define VMAGENT_NAME "koff-vmagent"
#define VMAGENT_MAGIC "koff-vmagent 1\n"
/* Where the host puts the agent and the object in the guest. */
#define VMAGENT_GUEST_PATH "/koff/koff-vmagent"
#define VMAGENT_GUEST_OBJ "/koff/obj.bpf.o"

#endif
