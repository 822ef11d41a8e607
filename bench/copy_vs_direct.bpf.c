/* copy_vs_direct.bpf.c - the design question "bounded copy of the request
 * into a scratch buffer, or a data_end check before every packet load?",
 * measured: both programs read every payload byte once (a byte sum) and
 * differ only in how they reach the bytes.  Run by bench/copy_vs_direct.c. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define HDR 42
#define MAX 2048

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, unsigned char[MAX]);
	__uint(max_entries, 1);
} scratch SEC(".maps");

static __always_inline int payload_len(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;

	if (data + HDR > end)
		return -1;
	return ((data[38] << 8) | data[39]) - 8;	/* UDP length - header */
}

SEC("xdp") int sum_direct(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	int len = payload_len(ctx);
	unsigned int sum = 0;

	if (len < 0 || len > MAX)
		return XDP_ABORTED;
	for (int i = 0; i < len; i++) {
		unsigned char *p = data + HDR + i;

		/* Keep clang from turning the check into arithmetic on data_end. */
		asm volatile("" : "+r"(p));
		if (p + 1 > end)	/* the check koff would need before each load */
			return XDP_ABORTED;
		sum += *p;
	}
	return sum == 0xfffffff ? XDP_DROP : XDP_PASS;
}

SEC("xdp") int sum_copy(struct xdp_md *ctx)
{
	int slen = payload_len(ctx);
	unsigned int sum = 0, key = 0;
	unsigned long len;
	unsigned char *buf = bpf_map_lookup_elem(&scratch, &key);

	if (!buf || slen <= 0 || slen > MAX)
		return XDP_ABORTED;
	len = (unsigned long)slen;
	asm volatile("" : "+r"(len));	/* bound the register the helper gets */
	len &= 0xfff;
	if (len == 0 || len > MAX)
		return XDP_ABORTED;
	if (bpf_xdp_load_bytes(ctx, HDR, buf, len))
		return XDP_ABORTED;
	for (unsigned long i = 0; i < len && i < MAX; i++)
		sum += buf[i];
	return sum == 0xfffffff ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
