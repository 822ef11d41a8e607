/* tok_ref - bench/handlers/tok.c's handle_request() itself (the label/tokenizer walk),
 * compiled by clang -O2 -target bpf inside the reference wrapper
 * (ref_wrap.h): the clang reference from the same source. */
#define REF_DEFAULT_PORT 7011
#include "ref_wrap.h"

#define TOK_BPF_REF
/* The verifier's one addition (see tok.c): what it knows of the lexer's
 * counters and numbers forgotten at the end of each turn.  tok_zero is 0
 * at run time but, in a writable map, unknown to the verifier: adding it
 * makes a value unknown (a mask alone would not: the verifier folds a
 * constant through it); counters, all below 1024, are masked back to
 * 0..1023 so that they still index the scratch buffers.  No-ops at run
 * time. */
static volatile __u64 tok_zero;
#define TOK_WIDEN(x) ((x) = ((x) + tok_zero) & 0x3ff)
#define TOK_FORGET(x) ((x) += (__typeof__(x))tok_zero)
#define TOK_HANDLER static __always_inline
#include "../handlers/tok.c"

static __always_inline long ref_handle(const __u8 *req, __u32 len, __u8 *resp, __u32 cap)
{
	return handle_request(req, len, resp, cap);
}

REF_XDP_PROGRAM
