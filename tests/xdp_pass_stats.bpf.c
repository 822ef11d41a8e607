/* A stand-in for an OUT.bpf.o from koff-link, for the loader test: the same
 * program name and counter map (include/koff_abi.h), counts every packet
 * as pass_other and passes it.  -DPROG_NAME=x builds a wrongly named one. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "koff_abi.h"

#ifndef PROG_NAME
#define PROG_NAME koff_xdp
#endif

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KOFF_STAT__COUNT);
	__type(key, __u32);
	__type(value, __u64);
} koff_stats SEC(".maps");

SEC("xdp")
int PROG_NAME(struct xdp_md *ctx)
{
	__u32 key = KOFF_STAT_PASS_OTHER;
	__u64 *count = bpf_map_lookup_elem(&koff_stats, &key);

	(void)ctx;
	if (count)
		*count += 1;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
