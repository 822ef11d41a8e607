/* xdpcopy.h - small copies between the packet and the scratch map with
 * direct loads and stores, for the XDP entry (the request) and exit (the
 * reply).
 *
 * Why: bpf_xdp_load_bytes and bpf_xdp_store_bytes are helper calls, and a
 * call costs ~20 ns under the return-stack mitigations of current CPUs
 * (SRSO's safe RET on the AMD build host), more than copying a few dozen
 * bytes a word at a time.  Above XDP_COPY_DIRECT_MAX bytes the helpers
 * stay: the unrolled code would grow, and the copy itself dominates.
 *
 * The copy moves exactly `len` bytes, like a small memcpy: pieces from the
 * start and as many that end at `len`, overlapping (xdpcopy.c).  Nothing
 * past `len` is written, as with the helpers.
 */
#ifndef KOFF_XDPCOPY_H
#define KOFF_XDPCOPY_H

#include <stdbool.h>
#include <stdint.h>

#include "emit.h"

/* The longest copy done with direct loads and stores. */
#define XDP_COPY_DIRECT_MAX 128

struct xdp_copy {
	bool to_packet;		/* reply: scratch -> packet; request: packet -> scratch */
	int pkt;		/* packet pointer to the payload, not R0, R1, R3, R4, R5 */
	int16_t scratch_off;	/* the payload's place in the scratch value (R9) */
	int lbl_slow;		/* len > XDP_COPY_DIRECT_MAX, or a bounds check failed */
};

/* Copies R5 = len bytes (R3 = data_end, R9 = the scratch value) and falls
 * through; a length of 0 copies nothing.  Only R5 is branched on: a
 * register linked to a value the program keeps would be narrowed once
 * per length class.  Clobbers R0, R1, R4, R5.  Every access is checked
 * against data_end (the verifier requires it); the callers have made sure
 * that the packet holds `len` bytes, so only a length above the maximum
 * reaches lbl_slow. */
void xdp_emit_direct_copy(struct bpf_emit *e, const struct xdp_copy *c);

#endif
