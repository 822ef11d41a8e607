/* Needs may_goto (6.9, clang 19 assembles it): 6.1 refuses the opcode
 * (0xe5) before its verifier walks the code, so the log names no
 * instruction, only "unknown opcode e5". */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp") int koff_xdp(struct xdp_md *ctx)
{
	asm volatile goto("may_goto %l[out]" :::: out);
	return XDP_PASS;
out:
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
