/* codegen.h - IR -> eBPF: the lifted handler between the XDP entry and
 * exit (bpfgen/xdp.h), as one program the verifier accepts by construction:
 * every memory access is checked against the region it may touch, every
 * loop is capped, every x86 fault becomes a fallback. */
#ifndef KOFF_CODEGEN_H
#define KOFF_CODEGEN_H

#include "emit.h"
#include "ir.h"
#include "koff.h"
#include "koff_abi.h"
#include "target.h"

struct codegen_opts {
	uint16_t udp_port;	/* host order; 0 = every UDP datagram */
	uint32_t resp_cap;	/* `cap` passed to the handler */
	uint32_t loop_cap;	/* loop-head passes allowed per request (all loops, first entries included) */
	const struct kernel_target *target; /* the kernel it must run on; NULL = the newest series */
	/* Shared state (docs/shared-state.md): with a mode other than NONE,
	 * [IR_DATA_VA, IR_DATA_VA + shared_data_size) is the koff_shared map's
	 * value; else every writable-data access falls back. */
	enum koff_shared_mode shared_mode;
	uint64_t shared_data_size, shared_value_size;
	/* Launder every value live into a join (a block with two or more
	 * predecessors): a shape for programs too complex to verify, whose
	 * paths then meet in one verifier state (src/offload.c). */
	bool launder_joins;
	/* The bpf_loop shape: copies of the handler's body one callback call
	 * runs through before it yields (0 or 1: yield at every loop-head
	 * pass).  Each copy costs its size in instructions and verification;
	 * each saves a yield per pass (docs/internals.md, "Body copies"). */
	unsigned loop_copies;
};

/* SEQ or LOCK for a handler with shared state of data_size bytes: LOCK
 * when some store may reach it (a constant address or displacement inside
 * it, or a store of unknown region in a handler that takes the address of
 * shared data); SEQ otherwise, where a store that reaches it at run time
 * falls back (pass_shared). */
enum koff_shared_mode codegen_shared_mode(const struct ir_func *fn, uint64_t data_size);

/* How the handler's loops are bounded on target t: "may_goto", "bpf_loop"
 * (the handler is a bpf_loop callback) or "none" (no loops). */
const char *codegen_loop_shape(const struct kernel_target *t, bool has_loops);

/* Whether the handler runs as a bpf_loop callback on target t (it has
 * loops and t lacks may_goto): the shape codegen_opts.loop_copies is for. */
bool codegen_loops_in_callback(const struct kernel_target *t, bool has_loops);

int codegen_program(const struct ir_func *fn, const struct codegen_opts *o, struct bpf_emit *e,
		    struct koff_error *err);

#endif
