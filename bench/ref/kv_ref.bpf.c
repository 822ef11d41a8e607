/* kv_ref - bench/handlers/kv.c's handle_request() itself, compiled by
 * clang -O2 -target bpf inside the reference wrapper (ref_wrap.h): the
 * clang reference from the same source. */
#define REF_DEFAULT_PORT 11211
#include "ref_wrap.h"

#define KV_BPF_REF
#define KV_HANDLER static __always_inline
#include "../handlers/kv.c"

static __always_inline long ref_handle(const __u8 *req, __u32 len, __u8 *resp, __u32 cap)
{
	return handle_request(req, len, resp, cap);
}

REF_XDP_PROGRAM
