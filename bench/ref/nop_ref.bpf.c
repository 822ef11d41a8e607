/* nop_ref - bench/handlers/nop.c in the reference wrapper (ref_wrap.h): a
 * minimal hand-written XDP responder, the fixed part koff's entry and exit
 * are measured against. */
#define REF_DEFAULT_PORT 7009
#include "ref_wrap.h"

#define NOP_BPF_REF
#define NOP_HANDLER static __always_inline
#include "../handlers/nop.c"

static __always_inline long ref_handle(const __u8 *req, __u32 len, __u8 *resp, __u32 cap)
{
	return handle_request(req, len, resp, cap);
}

REF_XDP_PROGRAM
