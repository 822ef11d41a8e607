/* xdpshared.h - the kernel side of shared state (docs/shared-state.md):
 * the koff_shared map's control block checked at the XDP entry and before
 * the reply, the LOCK mode's lock and undo log.
 *
 * Register conventions are xdp.c's: R9 = the scratch value, R6 = ctx,
 * R7/R8 the wrapper's; the koff_shared value pointer lives in the stack
 * slot XDP_WRAP_SLOT_SHARED of whichever frame runs (the bpf_loop callback
 * copies it into its own). */
#ifndef KOFF_XDPSHARED_H
#define KOFF_XDPSHARED_H

#include "emit.h"
#include "xdp.h"

/* After the scratch lookup: look the map up, keep its value pointer, and
 * SEQ: fall back (pass_shared) unless magic is set and no userspace writer
 * is inside, remember seq; LOCK: fall back unless magic is set and the
 * lock goes 0 -> KERNEL, empty the undo log.  Clobbers R0-R5. */
void xdp_shared_enter(struct bpf_emit *e, const struct xdp_wrap_opts *o, int lbl_fallback);
/* SEQ, when the handler returned (R0 kept): fall back unless seq did not
 * move and no writer is inside.  Before anything touches the packet. */
void xdp_shared_check_seq(struct bpf_emit *e, const struct xdp_wrap_opts *o, int lbl_fallback);
/* LOCK: ctl.lock = 0 (a plain store: x86 keeps stores in order, so every
 * store of the run is visible before it).  Clobbers R1. */
void xdp_shared_release(struct bpf_emit *e, const struct xdp_wrap_opts *o);
/* LOCK, on a fallback after the lock was taken: restore every logged
 * window, newest first, then release.  R0 (the reason) is kept in R6,
 * which the fallback code overwrites anyway.  Clobbers R1-R6. */
void xdp_shared_undo_and_release(struct bpf_emit *e, const struct xdp_wrap_opts *o);
/* LOCK, before a store at region offset R1 (a scalar the verifier knows is
 * in [0, data_size - size]): append {window, its 8 old bytes} to the undo
 * log, or jump to lbl_full (nothing stored yet).  Keeps R1, clobbers R0,
 * uses three 8-byte stack slots of the caller. */
void xdp_shared_log_store(struct bpf_emit *e, const struct xdp_wrap_opts *o, const int16_t slots[3],
			  int lbl_full);
/* The largest window offset: a store at offset off logs the 8 bytes at
 * min(off, this), which lie inside the region and cover the store. */
uint64_t xdp_shared_window_max(const struct xdp_wrap_opts *o);

#endif
