/* tlv_ref - bench/handlers/tlv.c's handle_request() itself (the table-driven parser),
 * compiled by clang -O2 -target bpf inside the reference wrapper
 * (ref_wrap.h): the clang reference from the same source. */
#define REF_DEFAULT_PORT 7013
#include "ref_wrap.h"

#define TLV_BPF_REF
/* The verifier's one addition (see tlv.c): positions widened to 0..1023
 * at the record and reply loops' heads.  tlv_zero is 0 at run time but,
 * in a writable map, unknown to the verifier: adding it makes a
 * position's exact value unknown (a mask alone would not: the verifier
 * folds a constant through it), and the mask keeps its range small.  A
 * no-op: positions and the seen mask stay below 1024. */
static volatile __u64 tlv_zero;
#define TLV_WIDEN(x) ((x) = ((x) + tlv_zero) & 0x3ff)
#define TLV_HANDLER static __always_inline
#include "../handlers/tlv.c"

static __always_inline long ref_handle(const __u8 *req, __u32 len, __u8 *resp, __u32 cap)
{
	return handle_request(req, len, resp, cap);
}

REF_XDP_PROGRAM
