/* lift.c - the lifter's driver: instances (inlined calls), blocks keyed by
 * (instance, address, flag state), control-flow instructions.  The
 * semantics of ordinary instructions are in x86sem.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lift_int.h"

struct ir_insn *lift_emit(struct lift_ctx *c, enum ir_op op)
{
	struct ir_insn *in = ir_emit(c->fn, c->blk, op);

	if (!in) {
		c->rc = -ENOMEM;	/* callers skip a NULL; rc stops the lift */
		return NULL;
	}
	in->x86_addr = c->in ? c->in->address : c->fn->blocks[c->blk].x86_addr;
	return in;
}

int lift_temp(struct lift_ctx *c)
{
	return ir_new_vreg(c->fn);
}

void lift_fallback(struct lift_ctx *c, enum koff_stat reason, const char *fmt, ...)
{
	char why[256];
	struct ir_insn *in;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	in = lift_emit(c, IR_FALLBACK);
	if (in) {
		in->imm = reason;
		in->why = ir_own_string(c->fn, why);
	}
	c->ended = true;
}

int lift_new_block(struct lift_ctx *c)
{
	int b = ir_block_new(c->fn, c->in ? c->in->address : 0);

	if (b < 0)
		c->rc = b;
	return b < 0 ? 0 : b;
}

void lift_set_block(struct lift_ctx *c, int block)
{
	c->blk = block;
	c->ended = false;
}

/* Does the code at va read the flags before it writes them?  Decides
 * whether a block's key must carry the incoming flag state, and whether a
 * flag producer must save its operands.  Follows direct jumps; calls and
 * returns end the flags' life (the ABI leaves them undefined there). */
bool lift_flags_live_at(struct lift_ctx *c, uint64_t va)
{
	for (int n = 0; n < 64; n++) {
		const cs_insn *in = decode_at(c->dec, va);

		if (!in)
			return false;
		if (x86_reads_flags(in))
			return true;
		if (x86_writes_flags(in) && !x86_count_may_be_zero(in))
			return false;
		if (in->id == X86_INS_JMP && in->detail->x86.operands[0].type == X86_OP_IMM) {
			va = (uint64_t)in->detail->x86.operands[0].imm;
			continue;
		}
		if (cs_insn_group(c->dec->cs, in, CS_GRP_JUMP) || cs_insn_group(c->dec->cs, in, CS_GRP_CALL) ||
		    cs_insn_group(c->dec->cs, in, CS_GRP_RET))
			return false;
		va += in->size;
	}
	return true;
}

static size_t key_slot(const struct lift_ctx *c, int inst, uint64_t va)
{
	uint64_t h = (va * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)(unsigned)inst * 0xc2b2ae3d27d4eb4full);

	return (size_t)(h >> 20) & (size_t)(c->nkey_slots - 1);
}

/* The key of (inst, va, fs), or -1.  fs is as given (not normalized). */
static int find_key(const struct lift_ctx *c, int inst, uint64_t va, const struct fstate *fs)
{
	if (!c->nkey_slots)
		return -1;
	for (size_t s = key_slot(c, inst, va); c->key_slots[s]; s = (s + 1) & (size_t)(c->nkey_slots - 1)) {
		const struct blockkey *k = &c->keys[c->key_slots[s] - 1];

		if (k->inst == inst && k->va == va &&
		    (!fs || (k->fs.kind == fs->kind && k->fs.width == fs->width)))
			return c->key_slots[s] - 1;
	}
	return -1;
}

static void index_key(struct lift_ctx *c, int key)
{
	const struct blockkey *k = &c->keys[key];
	size_t s = key_slot(c, k->inst, k->va);

	while (c->key_slots[s])
		s = (s + 1) & (size_t)(c->nkey_slots - 1);
	c->key_slots[s] = key + 1;
}

/* Room in the index for one more key: it stays at most half full. */
static int grow_key_index(struct lift_ctx *c)
{
	int n = c->nkey_slots ? 2 * c->nkey_slots : 256;

	if (2 * (c->nkeys + 1) <= c->nkey_slots)
		return 0;
	free(c->key_slots);
	c->key_slots = calloc((size_t)n, sizeof(int));
	if (!c->key_slots)
		return -ENOMEM;
	c->nkey_slots = n;
	for (int i = 0; i < c->nkeys; i++)
		index_key(c, i);
	return 0;
}

int lift_block_for(struct lift_ctx *c, int inst, uint64_t va, struct fstate fs)
{
	int b, key;

	if (!lift_flags_live_at(c, va))
		fs = (struct fstate){ FK_NONE, 0 };
	key = find_key(c, inst, va, &fs);
	if (key >= 0)
		return c->keys[key].block;
	if (c->fn->nblocks >= c->opts->max_blocks) {
		c->rc = koff_fail(c->err, -E2BIG, "%s: more than %d IR blocks after inlining",
				  c->fn->name, c->opts->max_blocks);
		return 0;
	}
	b = ir_block_new(c->fn, va);
	if (b < 0 || koff_grow(&c->keys, &c->capkeys, c->nkeys, sizeof(*c->keys)) || grow_key_index(c)) {
		c->rc = -ENOMEM;
		return 0;
	}
	c->keys[c->nkeys] = (struct blockkey){ .inst = inst, .va = va, .fs = fs, .block = b };
	index_key(c, c->nkeys++);
	return b;
}

static int cmp_va(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static bool is_jump_target(const struct lift_ctx *c, uint64_t va)
{
	return c->ntargets && bsearch(&va, c->targets, (size_t)c->ntargets, sizeof(*c->targets), cmp_va);
}

/* The function symbol holding va was scanned already. */
static bool scanned(const struct lift_ctx *c, uint64_t va)
{
	for (int i = 0; i < c->nscanned; i++)
		if (va >= c->scanned[i].start && va < c->scanned[i].end)
			return true;
	return false;
}

/* Note the direct jump targets of the function holding va, once: a linear
 * sweep of its symbol's extent (a wrong decode only splits a block), into
 * c->targets, kept sorted. */
static int scan_jump_targets(struct lift_ctx *c, uint64_t va)
{
	uint64_t start, end;

	if (scanned(c, va))
		return 0;
	start = layout_function_start(c->lay, va);
	end = layout_function_end(c->lay, va);
	if (!start || !end)
		return 0;	/* no symbol, or no size: no sweep */
	if (koff_grow(&c->scanned, &c->capscanned, c->nscanned, sizeof(*c->scanned)))
		return -ENOMEM;
	c->scanned[c->nscanned++] = (struct va_range){ start, end };
	for (uint64_t at = start; at < end;) {
		const cs_insn *in = decode_at(c->dec, at);

		if (!in) {
			at++;
			continue;
		}
		if (cs_insn_group(c->dec->cs, in, CS_GRP_JUMP) && in->detail->x86.op_count &&
		    in->detail->x86.operands[0].type == X86_OP_IMM) {
			if (koff_grow(&c->targets, &c->captargets, c->ntargets, sizeof(*c->targets)))
				return -ENOMEM;
			c->targets[c->ntargets++] = (uint64_t)in->detail->x86.operands[0].imm;
		}
		at += in->size;
	}
	qsort(c->targets, (size_t)c->ntargets, sizeof(*c->targets), cmp_va);
	return 0;
}

/* Whether the code at va, reached by falling through in the block being
 * lifted, is where some jump goes, or a block of its own already (with the
 * same flag state): then the block jumps there rather than lift a copy.  A
 * copy of a loop's head in the block before the loop (lifted before the
 * jump back to it was seen) would give the loop a second entry: every join
 * in its body could become a loop head of its own (lifter/loops.c), and
 * the value the head's copy computes would be carried into the loop. */
static bool falls_into_block(struct lift_ctx *c, uint64_t va)
{
	struct fstate fs = c->fs;

	if (is_jump_target(c, va))
		return true;
	if (find_key(c, c->inst, va, NULL) < 0)
		return false;
	if (!lift_flags_live_at(c, va))
		fs = (struct fstate){ FK_NONE, 0 };
	return find_key(c, c->inst, va, &fs) >= 0;
}

void lift_jump(struct lift_ctx *c, int inst, uint64_t va)
{
	int target = lift_block_for(c, inst, va, c->fs);
	struct ir_insn *in = lift_emit(c, IR_JMP);

	if (in)
		in->t = target;
	c->ended = true;
}

static void add_rsp(struct lift_ctx *c, int64_t delta)
{
	struct ir_insn *in = lift_emit(c, IR_ADD);

	if (in) {
		in->dst = IR_RSP;
		in->a = ir_reg(IR_RSP);
		in->b = ir_imm(delta);
	}
}

void lift_return(struct lift_ctx *c, int64_t extra_pop)
{
	const struct instance *me = &c->insts[c->inst];

	if (me->parent < 0) {
		/* The handler's own return: rsp is not needed any more. */
		lift_emit(c, IR_RET);
		c->ended = true;
		return;
	}
	add_rsp(c, 8 + extra_pop);
	c->fs = (struct fstate){ FK_NONE, 0 };
	lift_jump(c, me->parent, me->ret_va);
}

static int new_instance(struct lift_ctx *c, uint64_t func_va, uint64_t ret_va)
{
	const struct instance *me = &c->insts[c->inst];

	if (koff_grow(&c->insts, &c->capinsts, c->ninsts, sizeof(*c->insts))) {
		c->rc = -ENOMEM;
		return -1;
	}
	me = &c->insts[c->inst];
	c->insts[c->ninsts] = (struct instance){ .func_va = func_va, .ret_va = ret_va,
						 .parent = c->inst, .depth = me->depth + 1 };
	return c->ninsts++;
}

static bool on_call_chain(struct lift_ctx *c, uint64_t func_va)
{
	for (int i = c->inst; i >= 0; i = c->insts[i].parent)
		if (c->insts[i].func_va == func_va)
			return true;
	return false;
}

/* call: a local function is inlined behind a pushed return address; a libc
 * function koff knows is lifted as a builtin; anything else falls back. */
static void lift_call(struct lift_ctx *c, const cs_x86_op *op)
{
	uint64_t next = c->in->address + c->in->size;
	const char *ext;
	struct ir_insn *st;
	uint64_t target;
	int callee;

	if (op->type != X86_OP_IMM) {
		lift_fallback(c, KOFF_STAT_PASS_CALL, "indirect call");
		return;
	}
	target = (uint64_t)op->imm;
	ext = layout_extern_name(c->lay, target);
	if (ext) {
		if (!builtin_lift(c, ext))
			lift_fallback(c, KOFF_STAT_PASS_CALL, "call to %s", ext);
		else if (!c->ended)
			lift_jump(c, c->inst, next);
		return;
	}
	if (!layout_in_text(c->lay, target)) {
		lift_fallback(c, KOFF_STAT_PASS_CALL, "call outside the code");
		return;
	}
	if (on_call_chain(c, target)) {
		lift_fallback(c, KOFF_STAT_PASS_CALL, "recursive call to %s",
			      layout_function_at(c->lay, target));
		return;
	}
	if (c->insts[c->inst].depth >= c->opts->max_depth) {
		lift_fallback(c, KOFF_STAT_PASS_CALL, "calls nested deeper than %d", c->opts->max_depth);
		return;
	}
	callee = new_instance(c, target, next);
	if (callee < 0)
		return;
	add_rsp(c, -8);
	st = lift_emit(c, IR_STORE);
	if (st) {
		st->a = ir_reg(IR_RSP);
		st->b = ir_imm((int64_t)next);
		st->size = 8;
		st->region = IR_REG_STACK;
	}
	c->fs = (struct fstate){ FK_NONE, 0 };
	lift_jump(c, callee, target);
}

/* jmp to another address, or a tail call to an external function. */
static void lift_jmp_direct(struct lift_ctx *c, uint64_t target)
{
	const char *ext = layout_extern_name(c->lay, target);

	if (ext) {
		if (!builtin_lift(c, ext))
			lift_fallback(c, KOFF_STAT_PASS_CALL, "tail call to %s", ext);
		else if (!c->ended)
			lift_return(c, 0);
		return;
	}
	if (!layout_in_text(c->lay, target)) {
		lift_fallback(c, KOFF_STAT_PASS_JUMP, "jump outside the code");
		return;
	}
	lift_jump(c, c->inst, target);
}

/* After `cmp idx, imm`, the side of ja/jae/jb/jbe where idx is in range
 * may jump through a table of that many entries. */
static void note_table_bound(struct lift_ctx *c, x86_insn id, uint64_t taken, uint64_t next)
{
	uint64_t va, entries;

	if (!c->cmp_imm_valid)
		return;
	switch (id) {
	case X86_INS_JA: va = next; entries = (uint64_t)c->cmp_imm + 1; break;
	case X86_INS_JAE: va = next; entries = (uint64_t)c->cmp_imm; break;
	case X86_INS_JBE: va = taken; entries = (uint64_t)c->cmp_imm + 1; break;
	case X86_INS_JB: va = taken; entries = (uint64_t)c->cmp_imm; break;
	default: return;
	}
	if (koff_grow(&c->bounds, &c->capbounds, c->nbounds, sizeof(*c->bounds))) {
		c->rc = -ENOMEM;
		return;
	}
	c->bounds[c->nbounds++] = (struct table_bound){ va, entries };
}

/* The number of entries a table jumped through from the block at va may
 * have: the range check that guards the block, or 1024 when none is known. */
static uint64_t table_entries(const struct lift_ctx *c, uint64_t block_va)
{
	uint64_t n = 1024;

	for (int i = 0; i < c->nbounds; i++)
		if (c->bounds[i].va == block_va && c->bounds[i].entries < n)
			n = c->bounds[i].entries;
	return n;
}

/* The address of the most recent rodata reference before the indirect
 * jump in this block: the jump table's base (both the absolute form
 * `jmp [table + idx*8]` and the PIC form `lea table; movslq; add; jmp`). */
/* The rodata address an operand names (rip-relative, absolute or an
 * immediate), or 0. */
static uint64_t rodata_operand(const struct lift_ctx *c, const cs_insn *in, const cs_x86_op *op)
{
	uint64_t a = 0;

	if (op->type == X86_OP_MEM && op->mem.base == X86_REG_RIP)
		a = in->address + in->size + (uint64_t)op->mem.disp;
	else if (op->type == X86_OP_MEM && op->mem.base == X86_REG_INVALID)
		a = (uint64_t)op->mem.disp;
	else if (op->type == X86_OP_IMM)
		a = (uint64_t)op->imm;
	return layout_in_rodata(c->lay, a) ? a : 0;
}

/* The table base loaded into `reg` before the jump, anywhere earlier in the
 * function (compilers hoist the `lea reg, [table]` out of loops): the last
 * such load in address order. */
static uint64_t hoisted_table_base(struct lift_ctx *c, x86_reg reg)
{
	uint64_t start = layout_function_start(c->lay, c->in->address), found = 0;

	for (uint64_t va = start; start && va < c->in->address;) {
		const cs_insn *in = decode_at(c->dec, va);

		if (!in)
			break;
		if (in->id == X86_INS_LEA && in->detail->x86.operands[0].type == X86_OP_REG &&
		    in->detail->x86.operands[0].reg == reg) {
			uint64_t a = rodata_operand(c, in, &in->detail->x86.operands[1]);

			if (a)
				found = a;
		}
		va += in->size;
	}
	return found;
}

static uint64_t find_table_base(struct lift_ctx *c, uint64_t block_va)
{
	struct table_lea { x86_reg reg; uint64_t va; } leas[8];
	int nleas = 0;
	uint64_t found = 0, via_reg = 0;
	x86_reg table_reg = X86_REG_INVALID;

	for (uint64_t va = block_va; va < c->in->address;) {
		const cs_insn *in = decode_at(c->dec, va);

		if (!in)
			break;
		for (int i = 0; i < in->detail->x86.op_count; i++) {
			const cs_x86_op *op = &in->detail->x86.operands[i];
			uint64_t a = rodata_operand(c, in, op);

			if (a)
				found = a;
			if (a && in->id == X86_INS_LEA && in->detail->x86.operands[0].type == X86_OP_REG)
				leas[nleas++ % 8] = (struct table_lea){ in->detail->x86.operands[0].reg, a };
			/* movslq (base, idx, 4): the table is at `base`, loaded by the
			 * last lea into it (clang may load another .rodata address
			 * between the entry load and the jump) */
			if (op->type == X86_OP_MEM && op->mem.scale == 4 && op->mem.base != X86_REG_RIP &&
			    op->mem.base != X86_REG_INVALID && op->mem.index != X86_REG_INVALID) {
				table_reg = op->mem.base;
				via_reg = 0;
				for (int k = 0; k < nleas && k < 8; k++)
					if (leas[(nleas - 1 - k) % 8].reg == table_reg) {
						via_reg = leas[(nleas - 1 - k) % 8].va;
						break;
					}
			}
		}
		va += in->size;
	}
	if (via_reg)
		return via_reg;
	if (!found && table_reg != X86_REG_INVALID)
		found = hoisted_table_base(c, table_reg);
	return found;
}

/* Does a jump-table entry land in the function that jumps through the
 * table (or its split-off cold part)?  Tables are followed by other data;
 * this stops the scan at the first entry that is not one. */
static bool same_function(const struct lift_ctx *c, uint64_t target)
{
	const char *f = layout_function_at(c->lay, c->in->address);
	const char *g = layout_function_at(c->lay, target);
	size_t nf = strlen(f), ng = strlen(g);

	if (!strcmp(f, "?") || !strcmp(g, "?") || !strcmp(f, g))
		return true;
	return (ng > nf && !strncmp(f, g, nf) && g[nf] == '.') ||
	       (nf > ng && !strncmp(f, g, ng) && f[ng] == '.');
}

static int add_case(struct ir_insn *sw, uint64_t value, int target)
{
	struct ir_case *n;

	for (int i = 0; i < sw->ncases; i++)
		if (sw->cases[i].value == value)
			return 0;
	n = realloc(sw->cases, (size_t)(sw->ncases + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	sw->cases = n;
	sw->cases[sw->ncases++] = (struct ir_case){ value, target };
	return 0;
}

/* Every entry of the table at `base` whose target lies in the code: 8-byte
 * absolute entries, or 4-byte entries relative to the table. The value the
 * code jumps through is exact (the table is in the rodata image), so extra
 * candidates cost a compare, never correctness. */
static void lift_jump_table(struct lift_ctx *c, struct ir_val target, uint64_t base,
			    uint64_t max_entries)
{
	const uint8_t *img = c->lay->rodata;
	uint64_t off = base - IR_RODATA_VA;
	struct ir_insn *sw;

	if (!base) {
		lift_fallback(c, KOFF_STAT_PASS_JUMP, "indirect jump without a jump table");
		return;
	}
	sw = lift_emit(c, IR_SWITCH);
	if (!sw)
		return;
	sw->a = target;
	sw->imm = KOFF_STAT_PASS_JUMP;
	for (uint64_t i = 0; i < max_entries; i++) {
		uint64_t abs8 = 0, rel4;
		int32_t r4 = 0;
		bool hit = false;

		if (off + (i + 1) * 4 <= c->lay->rodata_size) {
			memcpy(&r4, img + off + i * 4, 4);
			rel4 = base + (uint64_t)(int64_t)r4;
			if (layout_in_text(c->lay, rel4) && same_function(c, rel4) && decode_at(c->dec, rel4)) {
				hit = true;
				if (add_case(sw, rel4, lift_block_for(c, c->inst, rel4, c->fs)))
					c->rc = -ENOMEM;
			}
		}
		if (off + (i + 1) * 8 <= c->lay->rodata_size) {
			memcpy(&abs8, img + off + i * 8, 8);
			if (layout_in_text(c->lay, abs8) && same_function(c, abs8) && decode_at(c->dec, abs8)) {
				hit = true;
				if (add_case(sw, abs8, lift_block_for(c, c->inst, abs8, c->fs)))
					c->rc = -ENOMEM;
			}
		}
		if (!hit)
			break;
	}
	c->ended = true;
}

static void lift_indirect_jmp(struct lift_ctx *c, const cs_x86_op *op, uint64_t block_va)
{
	if (op->type == X86_OP_REG && op->size == 8) {
		lift_jump_table(c, x86_read_op(c, op, 64), find_table_base(c, block_va),
				table_entries(c, block_va));
		return;
	}
	/* jmp [table + idx*8]: load the entry, then dispatch on it. */
	if (op->type == X86_OP_MEM && op->mem.base == X86_REG_INVALID &&
	    layout_in_rodata(c->lay, (uint64_t)op->mem.disp)) {
		lift_jump_table(c, x86_read_op(c, op, 64), (uint64_t)op->mem.disp,
				table_entries(c, block_va));
		return;
	}
	lift_fallback(c, KOFF_STAT_PASS_JUMP, "indirect jump");
}

/* Control flow: returns true when it handled the instruction. */
static bool lift_control(struct lift_ctx *c, uint64_t block_va)
{
	const cs_insn *in = c->in;
	const cs_x86 *x = &in->detail->x86;
	uint64_t next = in->address + in->size;

	switch (in->id) {
	case X86_INS_JMP:
		if (x->operands[0].type == X86_OP_IMM)
			lift_jmp_direct(c, (uint64_t)x->operands[0].imm);
		else
			lift_indirect_jmp(c, &x->operands[0], block_va);
		return true;
	case X86_INS_CALL:
		lift_call(c, &x->operands[0]);
		return true;
	case X86_INS_RET:
		lift_return(c, x->op_count ? x->operands[0].imm : 0);
		return true;
	case X86_INS_UD2:
	case X86_INS_HLT:
	case X86_INS_INT3:
		lift_fallback(c, KOFF_STAT_PASS_INSN, "%s (the program would trap)", in->mnemonic);
		return true;
	default:
		break;
	}
	if (cs_insn_group(c->dec->cs, in, CS_GRP_JUMP)) {
		enum ir_cond cond;
		struct ir_val a, b;
		struct ir_insn *br;
		uint8_t w;
		int t, f;

		if (x->operands[0].type != X86_OP_IMM) {
			lift_fallback(c, KOFF_STAT_PASS_JUMP, "indirect conditional jump");
			return true;
		}
		if (!x86_cond(c, in->id, &cond, &a, &b, &w)) {
			lift_fallback(c, KOFF_STAT_PASS_FLAGS, "%s after flags koff does not model",
				      in->mnemonic);
			return true;
		}
		note_table_bound(c, in->id, (uint64_t)x->operands[0].imm, next);
		t = lift_block_for(c, c->inst, (uint64_t)x->operands[0].imm, c->fs);
		f = lift_block_for(c, c->inst, next, c->fs);
		br = lift_emit(c, IR_BR);
		if (br) {
			br->cond = cond;
			br->a = a;
			br->b = b;
			br->w = w;
			br->t = t;
			br->f = f;
		}
		c->ended = true;
		return true;
	}
	return false;
}

static bool is_forced(const struct lift_ctx *c, uint64_t va)
{
	for (int i = 0; i < c->opts->nforced; i++)
		if (c->opts->forced[i] == va)
			return true;
	return false;
}

/* Lift the x86 code of one block until its terminator. */
static void lift_one_block(struct lift_ctx *c, const struct blockkey *k)
{
	uint64_t va = k->va;

	c->blk = k->block;
	c->inst = k->inst;
	c->fs = k->fs;
	c->ended = false;
	c->cmp_imm_valid = false;	/* a range check counts only in its own block */
	if (scan_jump_targets(c, va)) {
		c->rc = -ENOMEM;
		return;
	}
	for (int n = 0; !c->ended && !c->rc; n++) {
		const cs_insn *in;

		if (n > 0 && falls_into_block(c, va)) {
			lift_jump(c, c->inst, va);
			break;
		}
		in = decode_at(c->dec, va);
		c->in = in;
		if (!in) {
			c->in = NULL;
			lift_fallback(c, KOFF_STAT_PASS_INSN, "undecodable bytes at %#llx",
				      (unsigned long long)va);
			break;
		}
		if (is_forced(c, va)) {
			lift_fallback(c, KOFF_STAT_PASS_INSN, "%s: the verifier rejected its translation",
				      in->mnemonic);
			break;
		}
		if (layout_bad_reloc(c->lay, va, in->size)) {
			lift_fallback(c, KOFF_STAT_PASS_INSN, "%s with an unsupported relocation",
				      in->mnemonic);
			break;
		}
		if (c->opts->trace)
			lift_emit(c, IR_TRACE);
		c->flags_live = true;
		if (x86_writes_flags(in))
			c->flags_live = lift_flags_live_at(c, va + in->size);
		if (!lift_control(c, k->va) && !builtin_string_insn(c))
			x86_lift_insn(c);
		va += in->size;
		if (!c->ended && n > 4096) {
			lift_fallback(c, KOFF_STAT_PASS_INSN, "block too long");
			break;
		}
	}
}

int lift_handler(struct layout *lay, struct decoder *dec, uint64_t entry_va, const char *name,
		 const struct lift_opts *opts, struct ir_func **out, struct koff_error *err)
{
	struct lift_ctx c = { .lay = lay, .dec = dec, .err = err, .opts = opts };
	int rc;

	*out = NULL;
	c.fn = ir_func_new(name);
	if (!c.fn || koff_grow(&c.insts, &c.capinsts, 0, sizeof(*c.insts))) {
		ir_func_free(c.fn);
		free(c.insts);
		return koff_fail(err, -ENOMEM, "out of memory");
	}
	c.insts[c.ninsts++] = (struct instance){ .func_va = entry_va, .parent = -1 };
	lift_block_for(&c, 0, entry_va, (struct fstate){ FK_NONE, 0 });
	/* Keys grow while we lift: walk them by index until all are lifted. */
	for (int i = 0; i < c.nkeys && !c.rc; i++) {
		struct blockkey k = c.keys[i];

		c.keys[i].lifted = true;
		lift_one_block(&c, &k);
	}
	rc = c.rc;
	free(c.insts);
	free(c.keys);
	free(c.key_slots);
	free(c.targets);
	free(c.scanned);
	free(c.bounds);
	if (rc) {
		ir_func_free(c.fn);
		return koff_fail(err, rc, "%s: lifting failed (%s)", name, strerror(-rc));
	}
	*out = c.fn;
	return 0;
}
