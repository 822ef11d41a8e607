/* lift.h - x86-64 machine code of a handler -> IR (include/ir.h).
 *
 * The handler and every local function it calls are lifted into one IR
 * function: each call site gets its own inlined copy of the callee (an
 * "instance"), with the return address pushed on the x86 stack exactly as
 * the hardware would.  Blocks are keyed by (instance, address, flag state),
 * so x86 flags that live across a block boundary stay exact.  Anything that
 * cannot be lifted exactly becomes an IR_FALLBACK. */
#ifndef KOFF_LIFT_H
#define KOFF_LIFT_H

#include "decode.h"
#include "ir.h"
#include "layout.h"

struct lift_opts {
	int max_depth;		/* nested calls inlined at most */
	int max_blocks;		/* IR blocks at most, before refusing */
	const uint64_t *forced;	/* addresses to lift as fallbacks (the verifier */
	int nforced;		/* rejected the code made for them) */
	bool trace;		/* an IR_TRACE before every x86 instruction */
	/* [IR_DATA_VA, IR_DATA_VA + shared_data_size) is shared state the XDP
	 * program reaches (src/shared.c); other writable data falls back. */
	uint64_t shared_data_size;
	/* The builtins' word rounds (builtins.c) in the form the verifier can
	 * walk: for a walked variant nothing else would give one
	 * (src/variants.c, setup_walked; docs/internals.md "Walked loops"). */
	bool walkable_builtins;
};

int lift_handler(struct layout *lay, struct decoder *dec, uint64_t entry_va, const char *name,
		 const struct lift_opts *opts, struct ir_func **out, struct koff_error *err);

/* loops.c: a LOOPGUARD on every back edge, so that every cycle is bounded;
 * each says whether the verifier can walk its loop (walkable.c). */
int loops_guard(struct ir_func *fn, struct koff_error *err);

/* walkable.c: the passes a verifier's walk of the loop headed by `head`
 * (the blocks in_loop, writing loop_vregs) takes at most, when it can walk
 * it within WALK_MAX_PASSES; 0 when it cannot; -ENOMEM.  pred_start and
 * preds: every block's predecessors (CSR). */
#define WALK_MAX_PASSES 2048
int64_t loop_walk_passes(const struct ir_func *fn, int head, const bool *in_loop, const int *loop_vregs,
			 int nloop_vregs, const uint64_t *live_at_head, const int *pred_start,
			 const int *preds);

/* constprop.c: constant addresses become absolute, the rest get region hints. */
int constprop_run(struct ir_func *fn, struct koff_error *err);

/* simplify.c: dead code and copies out. */
int simplify_run(struct ir_func *fn, struct koff_error *err);

/* bits.c: operations the known-zero bits decide become moves; returns how
 * many, or -ENOMEM. */
int bits_simplify(struct ir_func *fn);

/* roles.c: a parser's returns become the XDP verdicts of an early-drop
 * filter: negative -> drop (return 0), otherwise pass (fallback
 * KOFF_STAT_PASS_ACCEPTED).  Returns 0 or a negative errno. */
int roles_parser_exits(struct ir_func *fn, struct koff_error *err);

/* reqlen.c: marks the request accesses that the handler's own comparisons
 * with the length keep below it (ir_insn.within_len); returns how many, or
 * -ENOMEM. */
int reqlen_prove(struct ir_func *fn);

/* earlyfb.c: a block from which every path falls back (for one reason)
 * becomes that fallback; returns how many blocks, or a negative errno. */
int earlyfb_run(struct ir_func *fn, struct koff_error *err);

#endif
