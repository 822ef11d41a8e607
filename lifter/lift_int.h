/* lift_int.h - state shared by the lifter's files (lift.c: blocks and
 * control flow; x86sem.c: instruction semantics; builtins.c: libc calls). */
#ifndef KOFF_LIFT_INT_H
#define KOFF_LIFT_INT_H

#include <stdbool.h>

#include "koff_abi.h"
#include "lift.h"

/* What the last flag-setting instruction was: enough to evaluate any
 * condition code exactly from IR_FA/IR_FB. */
enum fkind {
	FK_NONE,	/* flags unknown: any consumer falls back */
	FK_SUB,		/* cmp/sub/neg: FA - FB */
	FK_ADD,		/* add: FA + FB */
	FK_LOGIC,	/* and/or/xor/test: FA = result, CF = OF = 0 */
	FK_DEC,		/* dec: like FK_SUB with FB = 1, CF unknown */
	FK_INC,		/* inc: like FK_ADD with FB = 1, CF unknown */
	FK_ZS,		/* shifts: FA = result, only ZF and SF known */
	FK_BT,		/* bt/bts/btr/btc: CF = FA & 1, the rest unknown */
	FK_OVF,		/* imul/mul: CF = OF = FA (0 or 1), the rest unknown */
	FK_ZF,		/* bsf/bsr/tzcnt/lzcnt: ZF = (FA == 0), the rest unknown */
	FK_ROL,		/* rol: CF = FA & 1 (FA = result), the rest unknown */
	FK_ROR,		/* ror: CF = the top bit of the FA (the result), the rest unknown */
};

struct fstate {
	uint8_t kind;	/* enum fkind */
	uint8_t width;	/* operand width in bits */
};

struct instance {
	uint64_t func_va;	/* entry of the inlined function */
	uint64_t ret_va;	/* where its `ret` continues in the parent */
	int parent;		/* -1 for the handler itself */
	int depth;
};

struct blockkey {
	int inst;
	uint64_t va;
	struct fstate fs;
	int block;
	bool lifted;
};

struct lift_ctx {
	struct layout *lay;
	struct decoder *dec;
	struct ir_func *fn;
	struct koff_error *err;
	const struct lift_opts *opts;
	struct instance *insts;
	int ninsts, capinsts;
	struct blockkey *keys;
	int nkeys, capkeys;
	/* keys by (inst, va), open addressing: key index + 1, 0 = empty */
	int *key_slots;
	int nkey_slots;		/* a power of two, over twice nkeys */
	/* Direct jump targets of the functions scanned so far, sorted:
	 * lifting falls into one by a jump, never by a copy of its code
	 * (lift.c, falls_into_block). */
	uint64_t *targets;
	int ntargets, captargets;
	struct va_range { uint64_t start, end; } *scanned;	/* the functions scanned */
	int nscanned, capscanned;
	/* The block being lifted. */
	int blk;
	int inst;
	const cs_insn *in;
	struct fstate fs;
	bool flags_live;	/* does anything read the flags this insn sets? */
	bool ended;		/* the block has its terminator */
	/* `cmp x, imm` just before a ja/jb: the index bound of a jump table
	 * that the guarded block jumps through. */
	bool cmp_imm_valid;
	int64_t cmp_imm;
	struct table_bound { uint64_t va; uint64_t entries; } *bounds;
	int nbounds, capbounds;
	int rc;			/* sticky error (-ENOMEM) */
};

/* lift.c */
int lift_block_for(struct lift_ctx *c, int inst, uint64_t va, struct fstate fs);
struct ir_insn *lift_emit(struct lift_ctx *c, enum ir_op op);
int lift_temp(struct lift_ctx *c);
void lift_fallback(struct lift_ctx *c, enum koff_stat reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A new empty block in the current instance (for builtins' loops); returns index. */
int lift_new_block(struct lift_ctx *c);
void lift_set_block(struct lift_ctx *c, int block);
void lift_jump(struct lift_ctx *c, int inst, uint64_t va);	/* terminator: to a lifted address */
void lift_return(struct lift_ctx *c, int64_t extra_pop);	/* terminator: x86 `ret` */

bool lift_flags_live_at(struct lift_ctx *c, uint64_t va);

/* x86sem.c: lifts one non-control-flow instruction; control flow is lift.c's. */
void x86_lift_insn(struct lift_ctx *c);
/* The value of an operand: low `width` bits exact, upper bits unspecified
 * unless the operand is memory (loads zero-extend). */
struct ir_val x86_read_op(struct lift_ctx *c, const cs_x86_op *op, int width);
/* Condition code of a jcc/setcc/cmovcc as an IR condition on (a, b, w);
 * false when the current flag state cannot give it exactly. */
bool x86_cond(struct lift_ctx *c, x86_insn id, enum ir_cond *cond, struct ir_val *a,
	      struct ir_val *b, uint8_t *w);
bool x86_reads_flags(const cs_insn *in);
/* The general register (0-15, IR_RAX..IR_R15) a capstone register belongs
 * to, with its width in bits; -1 for other registers. */
int x86_reg_family(x86_reg r, int *width);
bool x86_writes_flags(const cs_insn *in);
/* A shift or rotate by a register count: with a zero count the flags
 * written before it live on through it. */
bool x86_count_may_be_zero(const cs_insn *in);
/* The number of set bits of a 64-bit value. */
struct ir_val x86_popcount(struct lift_ctx *c, struct ir_val v);

/* builtins.c: calls to the libc functions koff can run in the kernel. */
bool builtin_lift(struct lift_ctx *c, const char *name);
/* rep movs / rep stos as loops; false when the instruction is none of them. */
bool builtin_string_insn(struct lift_ctx *c);

#endif
