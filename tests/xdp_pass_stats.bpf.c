/* A stand-in for an OUT.bpf.o from koff-link, for the loader test: the same
 * program name and counter map (include/koff_abi.h), counts every packet
 * as pass_other and passes it.  -DPROG_NAME=x builds a wrongly named one.
 * -DSHARED_PAGES=N adds a KOFF_MAP_SHARED map of N pages (t-shared-loader);
 * -DREJECTED (with SHARED_PAGES) one the verifier refuses (reads beyond the map value). */
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

#ifdef SHARED_PAGES
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__uint(value_size, SHARED_PAGES * KOFF_SHARED_PAGE);
} koff_shared SEC(".maps");
#endif

SEC("xdp")
int PROG_NAME(struct xdp_md *ctx)
{
	__u32 key = KOFF_STAT_PASS_OTHER;
	__u64 *count = bpf_map_lookup_elem(&koff_stats, &key);

	(void)ctx;
#ifdef SHARED_PAGES
	__u32 zero = 0;
	__u64 *shared = bpf_map_lookup_elem(&koff_shared, &zero);

	if (shared)
		key += (__u32)(shared[0] & 0);	/* the program uses the map */
#endif
#ifdef REJECTED
	if (shared)	/* beyond the value: the verifier refuses the program */
		key += ((volatile __u8 *)shared)[SHARED_PAGES * KOFF_SHARED_PAGE + 8];
#endif
	if (count)
		*count += 1;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
