/* regalloc.h - where each IR vreg lives in the eBPF program: one of the
 * allocatable BPF registers, or an 8-byte slot: in the scratch map's
 * private area for a value a loop writes and needs at its head (no
 * laundering there), else on the BPF stack; either when the other is full.
 *
 * Linear scan over live intervals with lifetime holes, computed from a real
 * liveness analysis: vregs whose live ranges do not overlap share a
 * register (each vreg keeps one location: no splitting), slots go by
 * whole extents.  R0-R1 stay free for codegen's own temporaries, R9 holds the
 * scratch map value, R10 is the frame pointer. */
#ifndef KOFF_REGALLOC_H
#define KOFF_REGALLOC_H

#include <stdbool.h>

#include "ir.h"
#include "koff.h"

/* LOC_MAPSLOT: memory like a stack slot, but the verifier forgets what it
 * knew of a value stored there; every vreg is a plain number (addresses are
 * checked where they are used), so nothing depends on that knowledge. */
enum loc_kind { LOC_NONE, LOC_REG, LOC_SLOT, LOC_MAPSLOT };

struct loc {
	uint8_t kind;	/* enum loc_kind */
	int16_t where;	/* BPF register, offset from R10 (SLOT), or from the scratch value (MAPSLOT) */
};

struct regalloc {
	struct loc *locs;	/* per vreg */
	int nvregs;
	bool *live_at_entry;	/* per vreg: read before any write on some path */
	uint64_t *live_in;	/* per block, a bitset of the vregs live at its start */
	int nwords;		/* 64-bit words per bitset */
	int16_t frame_low;	/* lowest R10 offset used by slots (<= -frame_top) */
	int16_t spill_slot0;	/* R10 offset of spill slot 0 */
};

static inline bool regalloc_live_in(const struct regalloc *ra, int block, int vreg)
{
	return (ra->live_in[(size_t)block * ra->nwords + vreg / 64] >> (vreg % 64)) & 1;
}

/* frame_top: bytes of the BPF stack below R10 already taken (the XDP wrapper's);
 * frame_size: bytes of stack this frame may use in all (codegen knows what the
 * kernel takes for may_goto or what the caller's frame leaves);
 * walk: the loops marked walkable are walked; the values the others carry
 * are laundered at their heads, so they may as well live in the scratch
 * map, where the verifier does not follow them. */
int regalloc_run(const struct ir_func *fn, int frame_top, int frame_size, bool walk,
		 struct regalloc *ra, struct koff_error *err);
void regalloc_free(struct regalloc *ra);

#endif
