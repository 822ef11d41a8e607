/* xdp.h - the XDP entry and exit wrapped around the lifted handler.
 *
 * The entry parses Ethernet (untagged, 802.1Q, 802.1ad + 802.1Q), IPv4 or
 * IPv6, and UDP, copies the request payload into the
 * scratch map and falls through into the handler code; the exit turns the
 * handler's result into a verdict: an in-place reply sent with XDP_TX, a
 * drop, or a pass with the packet untouched.  Every verdict is counted in
 * koff_stats (include/koff_abi.h) by one shared piece of code.
 *
 * Program layout:   xdp_emit_entry | handler code | xdp_emit_exit
 */
#ifndef KOFF_XDP_H
#define KOFF_XDP_H

#include <stdint.h>

#include "emit.h"

struct xdp_wrap_opts {
	uint16_t udp_port;	/* host order; 0 = every UDP datagram goes to the handler */
	uint32_t resp_cap;	/* the `cap` argument the handler gets (<= IR_RESP_MAX) */
	/* Shared state (docs/shared-state.md): enum koff_shared_mode; NONE =
	 * no koff_shared map.  The region's globals end at data_size, the
	 * control block sits at value_size - KOFF_SHARED_CTL_SIZE. */
	int shared_mode;
	uint64_t shared_data_size, shared_value_size;
};

struct xdp_wrap {
	int lbl_return;		/* handler returned: R0 = its 64-bit return value (rax) */
	int lbl_fallback;	/* nothing to undo: R0 = a koff_stat index >= KOFF_STAT_FIRST_FALLBACK */
	/* The handler gave up (R0 = the reason): in LOCK mode its shared
	 * stores are undone and the lock released first; else lbl_fallback. */
	int lbl_handler_fallback;
};

/* Bytes in front of the payload: at least Ethernet + IPv4 without options
 * + UDP; at most two VLAN tags + IPv6 + UDP.  The entry stores the
 * packet's own figure in XDP_WRAP_SLOT_HDRLEN. */
#define XDP_WRAP_HDR_LEN (14 + 20 + 8)
#define XDP_WRAP_HDR_MAX (14 + 8 + 40 + 8)

/* Stack slots owned by the wrapper, as offsets from R10. */
#define XDP_WRAP_SLOT_CTX	(-8)	/* struct xdp_md * */
#define XDP_WRAP_SLOT_HDRLEN	(-16)	/* offset of the payload in the packet */
#define XDP_WRAP_SLOT_REQLEN	(-24)	/* request payload length */
#define XDP_WRAP_SLOT_KEY	(-32)	/* u32 key for map lookups */
#define XDP_WRAP_SLOT_SHARED	(-40)	/* the koff_shared value (shared state only) */
#define XDP_WRAP_STACK		40	/* the handler's stack starts below R10-40 */

/* Emits the program entry. On fall-through into the handler code:
 *   R9 = pointer to the koff_scratch map value (IR_SCRATCH_SIZE bytes), the request payload copied to
 *        its offset IR_REQ_OFF; R1 = payload length (a scalar the verifier knows is in [0, IR_REQ_MAX]).
 *   Stack slots [R10-8 .. R10-32] belong to the wrapper (ctx and what it needs later); the handler code
 *   may use R0-R8 and the stack below R10-32, and must keep R9.
 * Creates the two labels in *w; the handler code jumps to them.
 * Returns 0, -EINVAL for bad options, or the emitter's error. */
int xdp_emit_entry(struct bpf_emit *e, const struct xdp_wrap_opts *o, struct xdp_wrap *w);
/* Emits the code at the two labels (bind them). */
int xdp_emit_exit(struct bpf_emit *e, const struct xdp_wrap_opts *o, struct xdp_wrap *w);

#endif
