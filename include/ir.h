/* ir.h - koff's intermediate representation: the contract between the
 * lifter (x86-64 -> IR) and bpfgen (IR -> eBPF).
 *
 * The IR is a register machine over 64-bit values, close to eBPF so that
 * bpfgen stays a straightforward translator, but with the x86 program's
 * exact semantics spelled out:
 *   - virtual registers (vregs) hold 64-bit integers; vregs 0..15 are the
 *     x86 general-purpose registers (IR_RAX..IR_R15), IR_FA/IR_FB hold the
 *     operands of the last flag-setting instruction, higher vregs are
 *     temporaries made by the lifter;
 *   - partial-register writes, sign/zero extension and flags are lowered to
 *     explicit IR by the lifter: bpfgen never needs to know x86;
 *   - pointers are plain integers in a fake address space (below): every
 *     load and store names the region the lifter believes it reaches, and
 *     bpfgen checks at run time that the address really lies in a region
 *     the program may touch, falling back otherwise.  A wrong guess costs
 *     speed, never correctness.
 *   - anything the lifter cannot translate exactly becomes IR_FALLBACK: the
 *     XDP program then passes the packet to userspace untouched.
 */
#ifndef KOFF_IR_H
#define KOFF_IR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- The fake address space the lifted code computes in ----------------
 * Below 2 GiB so that non-PIC code (R_X86_64_32S) and rip-relative code
 * (PC32 between .text and .rodata) both relocate exactly. */
#define IR_TEXT_VA    0x00400000ull /* executable sections, concatenated */
#define IR_RODATA_VA  0x10000000ull /* read-only data image (koff .rodata) */
#define IR_SCRATCH_VA 0x20000000ull /* per-CPU scratch map value */
#define IR_DATA_VA    0x30000000ull /* writable data: the koff_shared map's value when shared */
#define IR_EXTERN_VA  0x38000000ull /* undefined symbols, 16 bytes apart */

/* Scratch layout: request copy, reply buffer, x86 stack (grows down), and
 * a private area the x86 code cannot reach: the loop counter and the
 * laundering slots that make values opaque to the verifier at loop heads
 * (first KiB), then spill slots for when the 512-byte BPF stack is full. */
#define IR_REQ_OFF    0u
#define IR_REQ_MAX    2048u
#define IR_RESP_OFF   2048u
#define IR_RESP_MAX   2048u
#define IR_STACK_OFF  4096u
#define IR_STACK_SIZE 4096u
#define IR_PRIV_OFF   8192u	/* end of what x86 addresses may reach */
#define IR_SPILL_OFF  (IR_PRIV_OFF + 1024u)	/* after the laundering slots */
#define IR_SPILL_END  (IR_PRIV_OFF + 4096u)
/* Shared state (docs/shared-state.md): the LOCK mode's undo log, after the
 * spill slots: a count, the seq the SEQ mode saw at entry, then
 * IR_UNDO_MAX records {u64 offset in the shared region, u64 old bytes}. */
#define IR_UNDO_OFF   IR_SPILL_END
#define IR_UNDO_COUNT_OFF IR_UNDO_OFF
#define IR_SEQ_SAVED_OFF (IR_UNDO_OFF + 8u)
#define IR_UNDO_REC_OFF (IR_UNDO_OFF + 16u)
#define IR_UNDO_MAX   127u
#define IR_UNDO_SIZE  (16u + 16u * IR_UNDO_MAX)
/* The x86 address of the fallback site a request last left from (an
 * IR_FALLBACK writes it): koff-link's --trace measurement reads it to say
 * how many requests each site costs.  Not read by the program. */
#define IR_SITE_OFF   (IR_UNDO_OFF + IR_UNDO_SIZE)
/* The XDP wrapper's word (bpfgen/xdp.c): the payload's offset in the
 * packet (a byte) and a request's or reply's length (16 bits) are stored
 * here and loaded back, so the verifier sees values it cannot tell apart
 * across frame layouts and lengths. */
#define IR_WRAP_OFF   (IR_SITE_OFF + 8u)
#define IR_WRAP_HDR_OFF IR_WRAP_OFF
#define IR_WRAP_LEN_OFF (IR_WRAP_OFF + 2u)
#define IR_PRIV_SIZE  (IR_SPILL_END - IR_PRIV_OFF + IR_UNDO_SIZE + 16u)
#define IR_SCRATCH_SIZE (IR_PRIV_OFF + IR_PRIV_SIZE)

#define IR_REQ_VA   (IR_SCRATCH_VA + IR_REQ_OFF)
#define IR_RESP_VA  (IR_SCRATCH_VA + IR_RESP_OFF)
#define IR_STACK_VA (IR_SCRATCH_VA + IR_STACK_OFF)
/* rsp at handler entry: the return address has been pushed. */
#define IR_STACK_ENTRY (IR_STACK_VA + IR_STACK_SIZE - 8)

/* ---- Virtual registers --------------------------------------------------- */
enum {
	IR_RAX, IR_RCX, IR_RDX, IR_RBX, IR_RSP, IR_RBP, IR_RSI, IR_RDI,
	IR_R8, IR_R9, IR_R10, IR_R11, IR_R12, IR_R13, IR_R14, IR_R15,
	IR_FA,		/* first operand of the last flag producer */
	IR_FB,		/* second operand (or result, see ir_flagkind) */
	IR_XMM0,	/* xmm0..xmm15 as (low, high) 64-bit halves: xmm i */
	IR_NFIXED = IR_XMM0 + 32	/* is IR_XMM0 + 2i, IR_XMM0 + 2i + 1; first temporary */
};

/* ---- Operations ------------------------------------------------------------ */
enum ir_op {
	/* dst = a OP b.  w is 64 (full) or 32 (operate on the low 32 bits,
	 * zero the upper half: eBPF ALU32 = x86 32-bit op semantics). */
	IR_MOV,		/* dst = b (a unused) */
	IR_ADD, IR_SUB, IR_MUL, IR_AND, IR_OR, IR_XOR,
	IR_SHL, IR_LSHR, IR_ASHR,	/* shift count already masked by lifter */
	IR_NEG,		/* dst = -b */
	IR_UDIV, IR_UMOD, IR_SDIV, IR_SMOD, /* divisor known nonzero, no overflow */
	IR_MULHU, IR_MULHS,	/* high 64 bits of the 128-bit product (w=64) */
	IR_BSWAP,	/* byte swap of the low w bits (w = 16/32/64), zero-extended */
	IR_ZEXT,	/* dst = b zero-extended from w bits (8/16/32) */
	IR_SEXT,	/* dst = b sign-extended from w bits (8/16/32) */
	IR_SELECT,	/* dst = cond(a, b) ? c : d   (cmov, setcc) */

	/* Memory.  Address = a + imm (a may be IR_NONE: absolute).
	 * size in bytes 1/2/4/8; loads zero-extend into dst. */
	IR_LOAD, IR_STORE,	/* store: value is b */

	/* Terminators (last instruction of a block). */
	IR_BR,		/* if cond(a, b) goto t else goto f */
	IR_JMP,		/* goto t */
	IR_RET,		/* return from the handler: result in IR_RAX */
	IR_FALLBACK,	/* give up: pass the packet (reason = koff_stat) */
	IR_SWITCH,	/* goto the case whose value equals a, else fallback */

	/* Loop head: counts one more loop iteration for this request and
	 * falls back with KOFF_STAT_PASS_LOOP past the cap.  loops.c puts one
	 * first in every block a DFS back edge enters, so every cycle passes
	 * one.  bpfgen also makes the loop verifiable there (may_goto). */
	IR_LOOPGUARD,

	/* Diagnostic builds only (koff-link --record-path): the x86 instruction
	 * at x86_addr starts here.  No operands, no result; the lifter puts one
	 * before each x86 instruction, and codegen records every block that
	 * holds one in the koff_trace map, so that tests/koffdiff.c can follow
	 * the lifted program's path through the x86 code. */
	IR_TRACE,
};

/* Conditions for IR_BR / IR_SELECT, on the full 64-bit values of a and b
 * (the lifter extends narrower operands first). */
enum ir_cond {
	IR_EQ, IR_NE,
	IR_ULT, IR_ULE, IR_UGT, IR_UGE,
	IR_SLT, IR_SLE, IR_SGT, IR_SGE,
	IR_TSTZ,	/* (a & b) == 0 */
	IR_TSTNZ,	/* (a & b) != 0 */
};

/* Where the lifter believes an address points.  A hint: bpfgen checks. */
enum ir_region {
	IR_REG_UNKNOWN, IR_REG_REQ, IR_REG_RESP, IR_REG_STACK, IR_REG_RODATA,
};

#define IR_NONE (-1)	/* "no register": operand is the immediate */

/* An operand: a vreg, or (reg == IR_NONE) the 64-bit immediate imm. */
struct ir_val {
	int reg;
	int64_t imm;
};

struct ir_case {
	uint64_t value;
	int target;	/* block index */
};

struct ir_insn {
	enum ir_op op;
	uint8_t w;		/* ALU width 32/64; extension width for ZEXT/SEXT/BSWAP */
	uint8_t size;		/* memory access size for LOAD/STORE */
	uint8_t region;		/* enum ir_region: LOAD/STORE hint */
	uint8_t cond;		/* enum ir_cond: BR/SELECT */
	int dst;
	struct ir_val a, b, c, d; /* c, d: SELECT's values */
	int64_t imm;		/* LOAD/STORE displacement, LOOPGUARD id, FALLBACK reason */
	int t, f;		/* BR/JMP targets (block indices) */
	struct ir_case *cases;	/* SWITCH */
	int ncases;
	int *loop_vregs;	/* LOOPGUARD: vregs the loop writes (owned) */
	int nloop_vregs;
	bool walkable;		/* LOOPGUARD: the verifier can walk the loop (lifter/walkable.c) */
	bool holds_walks;	/* LOOPGUARD, not walkable: a walkable loop is nested in it */
	bool within_len;	/* LOAD/STORE to the request: below its length (lifter/reqlen.c) */
	uint64_t x86_addr;	/* IR_TEXT_VA-based address of the source insn */
	const char *why;	/* FALLBACK: human-readable reason (static or owned by the ir_func) */
};

struct ir_block {
	struct ir_insn *insns;
	int ninsns, cap;
	uint64_t x86_addr;	/* address of the first x86 instruction */
	int loop_depth;		/* nesting depth estimate, for register priority */
	bool in_walkable_loop;	/* in a loop whose guard is walkable (loops.c) */
	/* Values a walkable loop leaves pass-dependent at one of its exits,
	 * which leads here: laundered here (loops.c, mark_walk_exit; owned). */
	int *walk_exit_vregs;
	int nwalk_exit_vregs;
};

/* A whole lifted handler: local callees are inlined, so one function. */
struct ir_func {
	const char *name;
	struct ir_block *blocks;	/* block 0 is the entry */
	int nblocks, cap;
	int nvregs;			/* vregs in use: IR_NFIXED + temporaries */
	int nloops;			/* loop heads (LOOPGUARDs) */
	uint32_t loop_cap;		/* loop iterations allowed per request */
	/* The read-only image the code reads through IR_RODATA_VA. */
	uint8_t *rodata;
	size_t rodata_size;
	char **owned_strings;		/* `why` strings to free with the func */
	int nowned;
};

/* ir.c: construction helpers shared by the lifter and the tests. */
struct ir_func *ir_func_new(const char *name);
void ir_func_free(struct ir_func *fn);
int ir_block_new(struct ir_func *fn, uint64_t x86_addr);	/* returns index or -ENOMEM */
struct ir_insn *ir_emit(struct ir_func *fn, int block, enum ir_op op); /* NULL on ENOMEM */
int ir_new_vreg(struct ir_func *fn);
const char *ir_own_string(struct ir_func *fn, const char *s);	/* copy kept until free */
void ir_dump(const struct ir_func *fn, void *FILE_stream);
/* liveness.c: vregs live at each block's start (in) and end (out), as
 * bitsets of `nwords` 64-bit words per block. */
struct ir_liveness {
	int nwords;
	uint64_t *in, *out;
};
int ir_liveness_run(const struct ir_func *fn, struct ir_liveness *lv);
void ir_liveness_free(struct ir_liveness *lv);
bool ir_bit(const uint64_t *set, int i);
int ir_insn_uses(const struct ir_insn *in, int out[5]);	/* vregs read; returns count */
bool ir_insn_defines(const struct ir_insn *in);		/* writes in->dst */
void ir_count_defs(const struct ir_func *fn, int *defs);	/* defs[v] += v's definitions */
int ir_succs(const struct ir_block *b, int *out, int max);	/* successor blocks */
bool ir_has_op(const struct ir_func *fn, enum ir_op op);	/* any instruction does op */
/* cond(a, b) as a condition on (b, a), and the condition that holds when
 * cond does not. */
enum ir_cond ir_cond_mirror(enum ir_cond c);
enum ir_cond ir_cond_negate(enum ir_cond c);
/* x86's zeroing idioms, `xor r, r` and `sub r, r`: 0 whatever r holds. */
bool ir_zeroing_idiom(const struct ir_insn *in);

/* The handler's entry, as bpfgen's prologue sets it up and the lifter's
 * analyses assume: true with *value for a register that holds a constant
 * there (rdi the request, rdx the reply, rsp the stack; every register but
 * the arguments 0: what the caller left there cannot matter to a handler
 * that only saves and restores it); false for rsi (the request's length)
 * and rcx (the reply's capacity), which vary.  For x86 registers only. */
bool ir_entry_constant(int vreg, uint64_t *value);

static inline struct ir_val ir_reg(int r) { return (struct ir_val){ .reg = r, .imm = 0 }; }
static inline struct ir_val ir_imm(int64_t v) { return (struct ir_val){ .reg = IR_NONE, .imm = v }; }
static inline bool ir_is_terminator(enum ir_op op) { return op >= IR_BR && op <= IR_SWITCH; }

#endif
