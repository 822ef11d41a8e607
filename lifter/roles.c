/* roles.c - what the program does with the entry's result, by role.
 *
 * A handler's result is already what the XDP exit expects (> 0 reply,
 * <= 0 drop).  A parser, int f(const char *buf, size_t len, ...), says
 * only whether a request is well formed: negative means malformed.  As
 * an early-drop filter the kernel drops what the parser rejects, before it
 * costs the server anything, and passes everything else up unchanged for
 * the server to parse and serve again.  So every IR_RET becomes
 *     t = sext32(eax); if t < 0 { rax = 0; ret }  else fallback(PASS_ACCEPTED)
 * (a return of 0 is the XDP exit's "drop").
 *
 * The parser's further arguments get what a handler's get: the third
 * points at the reply buffer of the scratch map, the fourth is the reply
 * capacity, later ones are 0.  A parser that only writes through its
 * output arguments (fills a result struct) is translated exactly; one that
 * reads an output argument before writing it would read the scratch
 * buffer's stale bytes: do not choose such a function as an entry. */
#include "ir.h"
#include "koff.h"
#include "koff_abi.h"
#include "lift.h"

static const char accepted_why[] = "the parser accepted the request: the server serves it";

/* The two shared exits; returns 0 or -ENOMEM. */
static int add_exits(struct ir_func *fn, uint64_t addr, int *drop, int *pass)
{
	struct ir_insn *in;

	*drop = ir_block_new(fn, addr);
	*pass = ir_block_new(fn, addr);
	if (*drop < 0 || *pass < 0)
		return -ENOMEM;
	if (!(in = ir_emit(fn, *drop, IR_MOV)))
		return -ENOMEM;
	in->w = 64, in->dst = IR_RAX, in->b = ir_imm(0);
	if (!(in = ir_emit(fn, *drop, IR_RET)))
		return -ENOMEM;
	in->x86_addr = addr;
	if (!(in = ir_emit(fn, *pass, IR_FALLBACK)))
		return -ENOMEM;
	in->imm = KOFF_STAT_PASS_ACCEPTED;
	in->why = accepted_why;
	in->x86_addr = addr;
	return 0;
}

/* Block b's IR_RET becomes the test of the sign of eax. */
static int rewrite_return(struct ir_func *fn, int b, int drop, int pass)
{
	struct ir_block *blk = &fn->blocks[b];
	struct ir_insn *ret = &blk->insns[blk->ninsns - 1], *in;
	uint64_t addr = ret->x86_addr;
	int sign = ir_new_vreg(fn);

	blk->ninsns--;	/* the RET goes */
	if (sign < 0 || !(in = ir_emit(fn, b, IR_SEXT)))
		return -ENOMEM;
	in->w = 32, in->dst = sign, in->b = ir_reg(IR_RAX), in->x86_addr = addr;
	if (!(in = ir_emit(fn, b, IR_BR)))
		return -ENOMEM;
	in->cond = IR_SLT, in->a = ir_reg(sign), in->b = ir_imm(0), in->w = 64;
	in->t = drop, in->f = pass, in->x86_addr = addr;
	return 0;
}

int roles_parser_exits(struct ir_func *fn, struct koff_error *err)
{
	int nblocks = fn->nblocks, drop = -1, pass = -1;

	for (int b = 0; b < nblocks; b++) {
		const struct ir_block *blk = &fn->blocks[b];

		if (!blk->ninsns || blk->insns[blk->ninsns - 1].op != IR_RET)
			continue;
		if (drop < 0 && add_exits(fn, blk->insns[blk->ninsns - 1].x86_addr, &drop, &pass))
			return koff_fail(err, -ENOMEM, "out of memory");
		if (rewrite_return(fn, b, drop, pass))
			return koff_fail(err, -ENOMEM, "out of memory");
	}
	return 0;
}
