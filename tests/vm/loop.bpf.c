/* Accepted by every kernel koff targets: one bpf_loop call (5.17+). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

static long step(__u32 i, void *sum)
{
	*(long *)sum += i;
	return 0;
}

SEC("xdp") int koff_xdp(struct xdp_md *ctx)
{
	long sum = 0;

	bpf_loop(4, step, &sum, 0);
	return sum == 6 ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
