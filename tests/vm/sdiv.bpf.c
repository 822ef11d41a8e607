/* Needs cpu v4 (6.6): built with -mcpu=v4, the division is a signed one
 * (ALU64 DIV with off=1) that 6.1's verifier refuses at that instruction
 * ("BPF_ALU uses reserved fields"). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp") int koff_xdp(struct xdp_md *ctx)
{
	long len = ctx->data_end;
	long d = (long)ctx->rx_queue_index - 7;

	return len / d < -10 ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
