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
	/* Walk the loops lifter/walkable.c marks walkable: they stay plain
	 * loops, which the verifier walks pass by pass with exact values
	 * (bounded loops, 5.3): no count, no laundering, no may_goto or
	 * bpf_loop, and whatever the walk proves in bounds loses its run-time
	 * check at load (the verifier removes branch sides no path takes).
	 * Whether the walk fits the verifier's budget is its to say:
	 * src/offload.c tries this first and answers a rejection without. */
	bool walk_loops;
	/* Let the verifier prove accesses in bounds where a range check
	 * only served it: a .rodata load adds its address to the map value's
	 * pointer and loads (3 instructions instead of 5, each pass of a
	 * walked table scan); a request read below the length
	 * (ir_insn.within_len) adds it to the scratch value's.  The
	 * verifier's bounds of those values are the regions', so what it
	 * accepts is what the check would pass; what it cannot prove it
	 * rejects, and src/offload.c answers that by listing the access's x86
	 * address in checked_again.  bpf_emit.left_to_verifier counts them. */
	bool bounds_by_verifier;
	const uint64_t *checked_again;
	int nchecked_again;
};

/* SEQ or LOCK for a handler with shared state of data_size bytes: LOCK
 * when some store may reach it (a constant address or displacement inside
 * it, or a store of unknown region in a handler that takes the address of
 * shared data); SEQ otherwise, where a store that reaches it at run time
 * falls back (pass_shared). */
enum koff_shared_mode codegen_shared_mode(const struct ir_func *fn, uint64_t data_size);

/* How a handler's loops are bounded. */
enum loop_shape {
	LOOP_SHAPE_NONE,	/* it has none */
	LOOP_SHAPE_WALKED,	/* codegen_opts.walk_loops */
	LOOP_SHAPE_MAY_GOTO,	/* laundered at each head, may_goto */
	LOOP_SHAPE_BPF_LOOP,	/* the handler is a bpf_loop callback */
};

/* The shape of fn's loops on target t with codegen_opts.walk_loops = walk:
 * WALKED when every loop is walked; else the target's laundering shape,
 * beside which (may_goto) or inside which (bpf_loop) the walkable loops
 * (lifter/walkable.c) are walked: codegen_loops_walked counts them. */
enum loop_shape codegen_loop_shape(const struct kernel_target *t, const struct ir_func *fn, bool walk);
int codegen_loops_walked(const struct ir_func *fn, bool walk);
/* "none", "walked", "may_goto", "bpf_loop" */
const char *loop_shape_name(enum loop_shape s);

/* Whether the handler runs as a bpf_loop callback on target t when its
 * loops are not walked (it has loops and t lacks may_goto with sound loop
 * pruning): the shape codegen_opts.loop_copies is for. */
bool codegen_loops_in_callback(const struct kernel_target *t, bool has_loops);

/* codegen_program with options o may have left the access lifted from
 * the x86 instruction at va to the verifier (bounds_by_verifier): the
 * place to answer its rejection with the check (src/offload.c). */
bool codegen_left_to_verifier_at(const struct ir_func *fn, const struct codegen_opts *o, uint64_t va);

int codegen_program(const struct ir_func *fn, const struct codegen_opts *o, struct bpf_emit *e,
		    struct koff_error *err);

#endif
