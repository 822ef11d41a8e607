/* echo_ref - samples/echo's handle_request() as a BPF expert would port it:
 * the same logic compiled by clang -target bpf, memcpy replaced by a bounded
 * 8-byte copy loop the verifier can follow.  The reference koff's lifted
 * program is measured against (bench/run.sh) and a known-good program for
 * koffdiff (tests/t-diff-harness.sh).
 *
 * Deliberately wrong variants that koffdiff must catch: -DREF_BREAK_REPLY
 * flips one bit of every reply, -DREF_BREAK_VERDICT drops 12-byte requests
 * the native handler answers. */
#define REF_DEFAULT_PORT 7007
#include "ref_wrap.h"

#define COMMENT_MARK '#'

/* Copies len bytes in 8-byte words; may copy up to 7 bytes past len, which
 * stays inside the scratch regions (len <= REF_CAP < REF_REQ_MAX - 8). */
static __always_inline void ref_copy(__u8 *dst, const __u8 *src, __u32 len)
{
	for (__u32 i = 0; i < len && i < REF_CAP; i += 8)
		*(__u64 *)(dst + i) = *(const __u64 *)(src + i);
}

static __always_inline long ref_handle(const __u8 *req, __u32 len, __u8 *resp, __u32 cap)
{
	if (len == 0)
		return 0;
	if (req[0] == COMMENT_MARK)
		return -1;
	if (len > cap)
		return -1;	/* cannot echo it whole: drop rather than truncate */
	ref_copy(resp, req, len);
#ifdef REF_BREAK_REPLY
	resp[len - 1 < REF_CAP ? len - 1 : 0] ^= 0x10;
#endif
#ifdef REF_BREAK_VERDICT
	if (len == 12)
		return 0;	/* drops what the native handler answers */
#endif
	return (long)len;
}

REF_XDP_PROGRAM
