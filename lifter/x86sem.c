/* x86sem.c - the exact semantics of x86-64 instructions, as IR.
 *
 * Operand widths follow the hardware: 32-bit register writes zero the upper
 * half, 8- and 16-bit writes keep it.  Flags are not materialised: a flag
 * producer saves its operands in IR_FA/IR_FB (only when something reads
 * them) and records its kind; x86_cond() turns a condition code into one IR
 * comparison on those operands.  Anything not modelled exactly falls back. */
#include <string.h>

#include "lift_int.h"

/* A value the stack protector reads from fs:0x28.  The canary check at the
 * end compares it with itself; a smashed canary leads to __stack_chk_fail,
 * an external call, which falls back, as the native program would abort. */
#define STACK_CANARY 0x6b6f66662d636e72ll

/* ---- Registers ---------------------------------------------------------- */

struct reginfo {
	int vreg;
	int width;
	bool hi8;	/* ah, ch, dh, bh */
};

static const x86_reg gpr_names[16][4] = {
	{ X86_REG_RAX, X86_REG_EAX, X86_REG_AX, X86_REG_AL },
	{ X86_REG_RCX, X86_REG_ECX, X86_REG_CX, X86_REG_CL },
	{ X86_REG_RDX, X86_REG_EDX, X86_REG_DX, X86_REG_DL },
	{ X86_REG_RBX, X86_REG_EBX, X86_REG_BX, X86_REG_BL },
	{ X86_REG_RSP, X86_REG_ESP, X86_REG_SP, X86_REG_SPL },
	{ X86_REG_RBP, X86_REG_EBP, X86_REG_BP, X86_REG_BPL },
	{ X86_REG_RSI, X86_REG_ESI, X86_REG_SI, X86_REG_SIL },
	{ X86_REG_RDI, X86_REG_EDI, X86_REG_DI, X86_REG_DIL },
	{ X86_REG_R8, X86_REG_R8D, X86_REG_R8W, X86_REG_R8B },
	{ X86_REG_R9, X86_REG_R9D, X86_REG_R9W, X86_REG_R9B },
	{ X86_REG_R10, X86_REG_R10D, X86_REG_R10W, X86_REG_R10B },
	{ X86_REG_R11, X86_REG_R11D, X86_REG_R11W, X86_REG_R11B },
	{ X86_REG_R12, X86_REG_R12D, X86_REG_R12W, X86_REG_R12B },
	{ X86_REG_R13, X86_REG_R13D, X86_REG_R13W, X86_REG_R13B },
	{ X86_REG_R14, X86_REG_R14D, X86_REG_R14W, X86_REG_R14B },
	{ X86_REG_R15, X86_REG_R15D, X86_REG_R15W, X86_REG_R15B },
};

static bool reg_info(x86_reg r, struct reginfo *ri)
{
	static const int widths[4] = { 64, 32, 16, 8 };

	switch (r) {
	case X86_REG_AH: *ri = (struct reginfo){ IR_RAX, 8, true }; return true;
	case X86_REG_CH: *ri = (struct reginfo){ IR_RCX, 8, true }; return true;
	case X86_REG_DH: *ri = (struct reginfo){ IR_RDX, 8, true }; return true;
	case X86_REG_BH: *ri = (struct reginfo){ IR_RBX, 8, true }; return true;
	default: break;
	}
	for (int v = 0; v < 16; v++)
		for (int k = 0; k < 4; k++)
			if (gpr_names[v][k] == r) {
				*ri = (struct reginfo){ v, widths[k], false };
				return true;
			}
	return false;
}

int x86_reg_family(x86_reg r, int *width)
{
	struct reginfo ri;

	if (!reg_info(r, &ri))
		return -1;
	*width = ri.width;
	return ri.vreg;
}

/* ---- Emission helpers ----------------------------------------------------- */

static void unsupported(struct lift_ctx *c)
{
	lift_fallback(c, KOFF_STAT_PASS_INSN, "%s %s not translated", c->in->mnemonic, c->in->op_str);
}

static int alu_width(int w)
{
	return w == 64 ? 64 : 32;
}

/* dst = a OP b at IR width w (32 or 64). */
static void alu(struct lift_ctx *c, enum ir_op op, int dst, struct ir_val a, struct ir_val b, int w)
{
	struct ir_insn *in = lift_emit(c, op);

	if (in) {
		in->dst = dst;
		in->a = a;
		in->b = b;
		in->w = (uint8_t)w;
	}
}

static struct ir_val alu_tmp(struct lift_ctx *c, enum ir_op op, struct ir_val a, struct ir_val b, int w)
{
	int t = lift_temp(c);

	alu(c, op, t, a, b, w);
	return ir_reg(t);
}

static void mov(struct lift_ctx *c, int dst, struct ir_val v)
{
	if (v.reg != dst)
		alu(c, IR_MOV, dst, ir_imm(0), v, 64);
}

static uint64_t mask_of(int w)
{
	return w == 64 ? ~0ull : (1ull << w) - 1;
}

/* Zero- or sign-extend the low w bits of v to 64 bits. */
static struct ir_val extend(struct lift_ctx *c, struct ir_val v, int w, bool sign)
{
	if (w == 64)
		return v;
	if (v.reg == IR_NONE) {
		uint64_t m = mask_of(w), x = (uint64_t)v.imm & m;

		if (sign && (x >> (w - 1)))
			x |= ~m;
		return ir_imm((int64_t)x);
	}
	return alu_tmp(c, sign ? IR_SEXT : IR_ZEXT, ir_imm(0), v, w);
}

static struct ir_val zext(struct lift_ctx *c, struct ir_val v, int w)
{
	return extend(c, v, w, false);
}

static struct ir_val sext(struct lift_ctx *c, struct ir_val v, int w)
{
	return extend(c, v, w, true);
}

/* ---- Memory operands ------------------------------------------------------ */

struct maddr {
	struct ir_val base;	/* register, or immediate 0 for absolute */
	int64_t disp;
	uint8_t region;
};

static bool is_canary(const cs_x86_op *op)
{
	return op->mem.segment == X86_REG_FS && op->mem.base == X86_REG_INVALID &&
	       op->mem.index == X86_REG_INVALID && op->mem.disp == 0x28;
}

static bool mem_addr(struct lift_ctx *c, const cs_x86_op *op, struct maddr *m)
{
	const x86_op_mem *mem = &op->mem;
	struct reginfo rb, ri;

	if (mem->segment != X86_REG_INVALID) {
		lift_fallback(c, KOFF_STAT_PASS_INSN, "%s: segment-relative memory", c->in->mnemonic);
		return false;
	}
	m->disp = mem->disp;
	m->region = IR_REG_UNKNOWN;
	m->base = ir_imm(0);
	if (mem->base == X86_REG_RIP) {
		m->disp = (int64_t)(c->in->address + c->in->size) + mem->disp;
	} else if (mem->base != X86_REG_INVALID) {
		if (!reg_info(mem->base, &rb) || rb.width != 64) {
			unsupported(c);
			return false;
		}
		m->base = ir_reg(rb.vreg);
		if (rb.vreg == IR_RSP)
			m->region = IR_REG_STACK;
	}
	if (mem->index != X86_REG_INVALID) {
		struct ir_val idx;

		if (!reg_info(mem->index, &ri) || ri.width != 64) {
			unsupported(c);
			return false;
		}
		idx = ir_reg(ri.vreg);
		if (mem->scale > 1)
			idx = alu_tmp(c, IR_SHL, idx, ir_imm(__builtin_ctz((unsigned)mem->scale)), 64);
		m->base = m->base.reg == IR_NONE ? idx : alu_tmp(c, IR_ADD, m->base, idx, 64);
		if (m->region == IR_REG_STACK)
			m->region = IR_REG_UNKNOWN;
	}
	if (m->base.reg == IR_NONE) {
		uint64_t a = (uint64_t)m->disp;

		if (layout_in_rodata(c->lay, a)) {
			m->region = IR_REG_RODATA;
		} else if (a >= IR_DATA_VA && a - IR_DATA_VA < c->opts->shared_data_size) {
			/* shared state: bpfgen reaches it in the koff_shared map */
		} else if (a >= IR_DATA_VA && a < IR_EXTERN_VA + 0x1000000) {
			lift_fallback(c, KOFF_STAT_PASS_MEM,
				      "%s uses writable global data that is not shared (see \"shared\")",
				      c->in->mnemonic);
			return false;
		}
	}
	return true;
}

static struct ir_val load(struct lift_ctx *c, const struct maddr *m, int bytes)
{
	struct ir_insn *in;
	int t = lift_temp(c);

	in = lift_emit(c, IR_LOAD);
	if (in) {
		in->dst = t;
		in->a = m->base;
		in->imm = m->disp;
		in->size = (uint8_t)bytes;
		in->region = m->region;
	}
	return ir_reg(t);
}

static void store(struct lift_ctx *c, const struct maddr *m, struct ir_val v, int bytes)
{
	struct ir_insn *in = lift_emit(c, IR_STORE);

	if (in) {
		in->a = m->base;
		in->imm = m->disp;
		in->b = v;
		in->size = (uint8_t)bytes;
		in->region = m->region;
	}
}

/* ---- Operands ------------------------------------------------------------- */

/* Sticky failure of the current instruction's operands (a fallback was emitted). */
#define OPERAND_FAILED(c) ((c)->ended)

struct ir_val x86_read_op(struct lift_ctx *c, const cs_x86_op *op, int width)
{
	struct reginfo ri;
	struct maddr m;

	switch (op->type) {
	case X86_OP_IMM:
		return ir_imm(op->imm);
	case X86_OP_REG:
		if (!reg_info(op->reg, &ri)) {
			unsupported(c);
			return ir_imm(0);
		}
		if (ri.hi8)
			return alu_tmp(c, IR_LSHR, ir_reg(ri.vreg), ir_imm(8), 64);
		return ir_reg(ri.vreg);
	case X86_OP_MEM:
		if (is_canary(op))
			return ir_imm(STACK_CANARY);
		if (!mem_addr(c, op, &m))
			return ir_imm(0);
		return load(c, &m, width / 8);
	default:
		unsupported(c);
		return ir_imm(0);
	}
}

/* Write the low `width` bits of v to the operand with x86's rules. */
static void write_op(struct lift_ctx *c, const cs_x86_op *op, int width, struct ir_val v)
{
	struct reginfo ri;
	struct maddr m;

	if (OPERAND_FAILED(c))
		return;
	if (op->type == X86_OP_MEM) {
		if (mem_addr(c, op, &m))
			store(c, &m, v, width / 8);
		return;
	}
	if (op->type != X86_OP_REG || !reg_info(op->reg, &ri)) {
		unsupported(c);
		return;
	}
	if (ri.width == 64) {
		mov(c, ri.vreg, v);
	} else if (ri.width == 32) {
		alu(c, IR_ZEXT, ri.vreg, ir_imm(0), v, 32);
	} else {
		struct ir_val low = zext(c, v, ri.width);
		int shift = ri.hi8 ? 8 : 0;

		if (shift)
			low = alu_tmp(c, IR_SHL, low, ir_imm(shift), 64);
		alu(c, IR_AND, ri.vreg, ir_reg(ri.vreg), ir_imm((int64_t)~(mask_of(ri.width) << shift)), 64);
		alu(c, IR_OR, ri.vreg, ir_reg(ri.vreg), low, 64);
	}
}

static int op_width(const cs_x86_op *op)
{
	return op->size * 8;
}

/* ---- Flags ---------------------------------------------------------------- */

static void set_flags(struct lift_ctx *c, enum fkind kind, int width, struct ir_val a, struct ir_val b)
{
	c->fs = (struct fstate){ (uint8_t)kind, (uint8_t)width };
	if (!c->flags_live || kind == FK_NONE)
		return;
	mov(c, IR_FA, a);
	if (kind == FK_SUB || kind == FK_ADD || kind == FK_DEC || kind == FK_INC)
		mov(c, IR_FB, b);
}

enum cc { CC_O, CC_NO, CC_B, CC_AE, CC_E, CC_NE, CC_BE, CC_A, CC_S, CC_NS, CC_P, CC_NP,
	  CC_L, CC_GE, CC_LE, CC_G, CC_NONE };

static enum cc cc_of(x86_insn id)
{
	switch (id) {
	case X86_INS_JO: case X86_INS_SETO: case X86_INS_CMOVO: return CC_O;
	case X86_INS_JNO: case X86_INS_SETNO: case X86_INS_CMOVNO: return CC_NO;
	case X86_INS_JB: case X86_INS_SETB: case X86_INS_CMOVB: return CC_B;
	case X86_INS_JAE: case X86_INS_SETAE: case X86_INS_CMOVAE: return CC_AE;
	case X86_INS_JE: case X86_INS_SETE: case X86_INS_CMOVE: return CC_E;
	case X86_INS_JNE: case X86_INS_SETNE: case X86_INS_CMOVNE: return CC_NE;
	case X86_INS_JBE: case X86_INS_SETBE: case X86_INS_CMOVBE: return CC_BE;
	case X86_INS_JA: case X86_INS_SETA: case X86_INS_CMOVA: return CC_A;
	case X86_INS_JS: case X86_INS_SETS: case X86_INS_CMOVS: return CC_S;
	case X86_INS_JNS: case X86_INS_SETNS: case X86_INS_CMOVNS: return CC_NS;
	case X86_INS_JP: case X86_INS_SETP: case X86_INS_CMOVP: return CC_P;
	case X86_INS_JNP: case X86_INS_SETNP: case X86_INS_CMOVNP: return CC_NP;
	case X86_INS_JL: case X86_INS_SETL: case X86_INS_CMOVL: return CC_L;
	case X86_INS_JGE: case X86_INS_SETGE: case X86_INS_CMOVGE: return CC_GE;
	case X86_INS_JLE: case X86_INS_SETLE: case X86_INS_CMOVLE: return CC_LE;
	case X86_INS_JG: case X86_INS_SETG: case X86_INS_CMOVG: return CC_G;
	default: return CC_NONE;
	}
}

bool x86_reads_flags(const cs_insn *in)
{
	const uint64_t test = X86_EFLAGS_TEST_OF | X86_EFLAGS_TEST_SF | X86_EFLAGS_TEST_ZF |
			      X86_EFLAGS_TEST_PF | X86_EFLAGS_TEST_CF;

	if (in->id == X86_INS_JMP || in->id == X86_INS_JRCXZ || in->id == X86_INS_JECXZ)
		return false;
	/* capstone 4 does not mark adc/sbb as reading CF, nor every cc user. */
	if (in->id == X86_INS_ADC || in->id == X86_INS_SBB || cc_of(in->id) != CC_NONE)
		return true;
	return (in->detail->x86.eflags & test) != 0;
}

bool x86_writes_flags(const cs_insn *in)
{
	const uint64_t zf = X86_EFLAGS_MODIFY_ZF | X86_EFLAGS_RESET_ZF | X86_EFLAGS_SET_ZF |
			    X86_EFLAGS_UNDEFINED_ZF;

	return (in->detail->x86.eflags & zf) != 0;
}

bool x86_count_may_be_zero(const cs_insn *in)
{
	switch (in->id) {
	case X86_INS_SHL: case X86_INS_SAL: case X86_INS_SHR: case X86_INS_SAR:
	case X86_INS_ROL: case X86_INS_ROR:
		return in->detail->x86.op_count > 1 && in->detail->x86.operands[1].type == X86_OP_REG;
	default:
		return false;
	}
}

struct condout {
	enum ir_cond cond;
	struct ir_val a, b;
	uint8_t w;
};

static bool out(struct condout *o, enum ir_cond cond, struct ir_val a, struct ir_val b, int w)
{
	*o = (struct condout){ cond, a, b, (uint8_t)w };
	return true;
}

static bool always(struct condout *o, bool value)
{
	return out(o, value ? IR_EQ : IR_NE, ir_imm(0), ir_imm(0), 64);
}

static int64_t sign_bit(int w)
{
	return (int64_t)(1ull << (w - 1));
}

/* Conditions on a result r of width w with CF = OF = 0 (logic ops), or only
 * ZF/SF known (the rest returns false). */
static bool cond_on_result(struct lift_ctx *c, enum cc cc, struct ir_val r, int w, bool cf_of_zero,
			   struct condout *o)
{
	int cw = w == 32 ? 32 : 64;

	switch (cc) {
	case CC_E:
	case CC_NE:
		if (w == 64 || w == 32)
			return out(o, cc == CC_E ? IR_EQ : IR_NE, r, ir_imm(0), cw);
		return out(o, cc == CC_E ? IR_TSTZ : IR_TSTNZ, r, ir_imm((int64_t)mask_of(w)), 64);
	case CC_S:
	case CC_NS:
		return out(o, cc == CC_S ? IR_TSTNZ : IR_TSTZ, r, ir_imm(sign_bit(w)), cw);
	default:
		break;
	}
	if (!cf_of_zero)
		return false;
	switch (cc) {
	case CC_L: return cond_on_result(c, CC_S, r, w, false, o);
	case CC_GE: return cond_on_result(c, CC_NS, r, w, false, o);
	case CC_BE: return cond_on_result(c, CC_E, r, w, false, o);
	case CC_A: return cond_on_result(c, CC_NE, r, w, false, o);
	case CC_B: case CC_O: return always(o, false);
	case CC_AE: case CC_NO: return always(o, true);
	case CC_LE:
	case CC_G:
		if (w != 32)
			r = sext(c, r, w);
		return out(o, cc == CC_LE ? IR_SLE : IR_SGT, r, ir_imm(0), cw);
	default:
		return false;
	}
}

/* Conditions after a - b at width w (cmp, sub, neg, dec). */
static bool cond_on_sub(struct lift_ctx *c, enum cc cc, int w, bool cf_known, struct condout *o)
{
	static const enum ir_cond ucond[] = { [CC_B] = IR_ULT, [CC_AE] = IR_UGE, [CC_BE] = IR_ULE,
					      [CC_A] = IR_UGT, [CC_E] = IR_EQ, [CC_NE] = IR_NE };
	static const enum ir_cond scond[] = { [CC_L] = IR_SLT, [CC_GE] = IR_SGE, [CC_LE] = IR_SLE,
					      [CC_G] = IR_SGT };
	struct ir_val a = ir_reg(IR_FA), b = ir_reg(IR_FB);
	int cw = w == 32 ? 32 : 64;

	switch (cc) {
	case CC_B: case CC_AE: case CC_BE: case CC_A:
		if (!cf_known)
			return false;
		/* fall through */
	case CC_E: case CC_NE:
		if (w < 32) {
			a = zext(c, a, w);
			b = zext(c, b, w);
		}
		return out(o, ucond[cc], a, b, cw);
	case CC_L: case CC_GE: case CC_LE: case CC_G:
		if (w < 32) {
			a = sext(c, a, w);
			b = sext(c, b, w);
		}
		return out(o, scond[cc], a, b, cw);
	case CC_S: case CC_NS:
		return cond_on_result(c, cc, alu_tmp(c, IR_SUB, a, b, alu_width(w)), w, false, o);
	case CC_O: case CC_NO: {
		/* OF = sign of (a ^ b) & (a ^ (a - b)) */
		struct ir_val r = alu_tmp(c, IR_SUB, a, b, 64);
		struct ir_val x = alu_tmp(c, IR_XOR, a, b, 64);
		struct ir_val y = alu_tmp(c, IR_XOR, a, r, 64);

		x = alu_tmp(c, IR_AND, x, y, 64);
		return out(o, cc == CC_O ? IR_TSTNZ : IR_TSTZ, x, ir_imm(sign_bit(w)), cw);
	}
	default:
		return false;
	}
}

static bool cond_on_add(struct lift_ctx *c, enum cc cc, int w, bool cf_known, struct condout *o)
{
	struct ir_val a = ir_reg(IR_FA), b = ir_reg(IR_FB);
	struct ir_val r = alu_tmp(c, IR_ADD, a, b, alu_width(w));

	if (cc == CC_B || cc == CC_AE) {
		/* carry out of an add: the truncated sum is below an operand */
		if (!cf_known)
			return false;
		if (w < 32) {
			r = zext(c, r, w);
			a = zext(c, a, w);
		}
		return out(o, cc == CC_B ? IR_ULT : IR_UGE, r, a, w == 32 ? 32 : 64);
	}
	if (cc == CC_O || cc == CC_NO) {
		/* OF = sign of (a ^ r) & (b ^ r): both operands differ in sign from the sum */
		struct ir_val x = alu_tmp(c, IR_XOR, a, r, 64);
		struct ir_val y = alu_tmp(c, IR_XOR, b, r, 64);

		x = alu_tmp(c, IR_AND, x, y, 64);
		return out(o, cc == CC_O ? IR_TSTNZ : IR_TSTZ, x, ir_imm(sign_bit(w)), w == 32 ? 32 : 64);
	}
	return cond_on_result(c, cc, r, w, false, o);
}

bool x86_cond(struct lift_ctx *c, x86_insn id, enum ir_cond *cond, struct ir_val *a,
	      struct ir_val *b, uint8_t *w)
{
	enum cc cc = cc_of(id);
	struct condout o;
	bool ok;
	int fw = c->fs.width;

	if (id == X86_INS_JRCXZ || id == X86_INS_JECXZ) {
		ok = out(&o, IR_EQ, ir_reg(IR_RCX), ir_imm(0), id == X86_INS_JRCXZ ? 64 : 32);
	} else if (cc == CC_NONE) {
		ok = false;
	} else {
		switch (c->fs.kind) {
		case FK_SUB: ok = cond_on_sub(c, cc, fw, true, &o); break;
		case FK_DEC: ok = cond_on_sub(c, cc, fw, false, &o); break;
		case FK_ADD: ok = cond_on_add(c, cc, fw, true, &o); break;
		case FK_INC: ok = cond_on_add(c, cc, fw, false, &o); break;
		case FK_LOGIC: ok = cond_on_result(c, cc, ir_reg(IR_FA), fw, true, &o); break;
		case FK_ZS: ok = cond_on_result(c, cc, ir_reg(IR_FA), fw, false, &o); break;
		case FK_BT:
		case FK_ROL:
			ok = (cc == CC_B || cc == CC_AE) &&
			     out(&o, cc == CC_B ? IR_TSTNZ : IR_TSTZ, ir_reg(IR_FA), ir_imm(1), 64);
			break;
		case FK_ROR:
			ok = (cc == CC_B || cc == CC_AE) &&
			     out(&o, cc == CC_B ? IR_TSTNZ : IR_TSTZ, ir_reg(IR_FA), ir_imm(sign_bit(fw)), 64);
			break;
		case FK_OVF:
			ok = (cc == CC_O || cc == CC_B || cc == CC_NO || cc == CC_AE) &&
			     out(&o, cc == CC_O || cc == CC_B ? IR_NE : IR_EQ, ir_reg(IR_FA), ir_imm(0), 64);
			break;
		case FK_ZF:
			ok = (cc == CC_E || cc == CC_NE) &&
			     cond_on_result(c, cc, ir_reg(IR_FA), fw, false, &o);
			break;
		default: ok = false; break;
		}
	}
	if (!ok)
		return false;
	*cond = o.cond;
	*a = o.a;
	*b = o.b;
	*w = o.w;
	return true;
}

/* 0 or 1: the carry flag, for adc/sbb. */
static bool carry_value(struct lift_ctx *c, struct ir_val *cf)
{
	struct ir_insn *sel;
	enum ir_cond cond;
	struct ir_val a, b;
	uint8_t w;
	int t;

	if (!x86_cond(c, X86_INS_JB, &cond, &a, &b, &w))
		return false;
	t = lift_temp(c);
	sel = lift_emit(c, IR_SELECT);
	if (sel) {
		*sel = (struct ir_insn){ .op = IR_SELECT, .dst = t, .cond = (uint8_t)cond, .a = a, .b = b,
					 .c = ir_imm(1), .d = ir_imm(0), .w = w, .x86_addr = sel->x86_addr };
	}
	*cf = ir_reg(t);
	return true;
}

/* dst = cond(a, b) at width w ? t : f. */
static struct ir_val select_of(struct lift_ctx *c, enum ir_cond cond, struct ir_val a, struct ir_val b, int w,
			       struct ir_val t, struct ir_val f)
{
	int dst = lift_temp(c);
	struct ir_insn *sel = lift_emit(c, IR_SELECT);

	if (sel) {
		sel->dst = dst;
		sel->cond = (uint8_t)cond;
		sel->a = a;
		sel->b = b;
		sel->w = (uint8_t)(w == 32 ? 32 : 64);
		sel->c = t;
		sel->d = f;
	}
	return ir_reg(dst);
}

/* 1 when cond(a, b) holds, else 0. */
static struct ir_val select01(struct lift_ctx *c, enum ir_cond cond, struct ir_val a, struct ir_val b, int w)
{
	return select_of(c, cond, a, b, w, ir_imm(1), ir_imm(0));
}

/* Flags after a shift or rotate by a register count.  A count of zero
 * leaves them as they were, so when something reads them the block splits
 * on the count: the zero side goes on with the old flag state (a block of
 * its own, keyed by that state), the other with `kind` from fa. */
static void flags_after_count(struct lift_ctx *c, struct ir_val count, enum fkind kind, int w, struct ir_val fa)
{
	struct fstate old = c->fs;
	struct ir_insn *br;
	int same, cont;

	if (!c->flags_live) {
		c->fs = (struct fstate){ FK_NONE, 0 };
		return;
	}
	same = lift_block_for(c, c->inst, c->in->address + c->in->size, old);
	cont = lift_new_block(c);
	br = lift_emit(c, IR_BR);
	if (br) {
		br->cond = IR_EQ;
		br->a = count;
		br->b = ir_imm(0);
		br->w = 64;
		br->t = same;
		br->f = cont;
	}
	lift_set_block(c, cont);
	set_flags(c, kind, w, fa, ir_imm(0));
}

/* ---- Instruction groups --------------------------------------------------- */

static void set_low16(struct lift_ctx *c, int reg, struct ir_val v);
static void fallback_if(struct lift_ctx *c, enum ir_cond cond, struct ir_val a, struct ir_val b, int w,
			enum koff_stat reason, const char *why);

static void lift_binary(struct lift_ctx *c, enum ir_op op, enum fkind kind)
{
	const cs_x86 *x = &c->in->detail->x86;
	const cs_x86_op *d = &x->operands[0];
	int w = op_width(d);
	struct ir_val a = x86_read_op(c, d, w);
	struct ir_val b = x86_read_op(c, &x->operands[1], w);
	struct ir_val r;

	if (OPERAND_FAILED(c))
		return;
	r = alu_tmp(c, op, a, b, alu_width(w));
	set_flags(c, kind, w, kind == FK_LOGIC ? r : a, b);
	write_op(c, d, w, r);
}

static void lift_adc_sbb(struct lift_ctx *c, bool sub)
{
	const cs_x86 *x = &c->in->detail->x86;
	const cs_x86_op *d = &x->operands[0];
	int w = op_width(d);
	struct ir_val a, b, cf, r;

	if (!carry_value(c, &cf)) {
		lift_fallback(c, KOFF_STAT_PASS_FLAGS, "%s after flags koff does not model", c->in->mnemonic);
		return;
	}
	a = x86_read_op(c, d, w);
	b = x86_read_op(c, &x->operands[1], w);
	if (OPERAND_FAILED(c))
		return;
	r = alu_tmp(c, sub ? IR_SUB : IR_ADD, a, b, alu_width(w));
	r = alu_tmp(c, sub ? IR_SUB : IR_ADD, r, cf, alu_width(w));
	c->fs = (struct fstate){ FK_NONE, 0 };
	write_op(c, d, w, r);
}

static void lift_compare(struct lift_ctx *c, bool is_test)
{
	const cs_x86 *x = &c->in->detail->x86;
	int w = op_width(&x->operands[0]);
	struct ir_val a = x86_read_op(c, &x->operands[0], w);
	struct ir_val b = x86_read_op(c, &x->operands[1], w);

	if (OPERAND_FAILED(c))
		return;
	if (is_test)
		set_flags(c, FK_LOGIC, w, c->flags_live ? alu_tmp(c, IR_AND, a, b, alu_width(w)) : a, b);
	else
		set_flags(c, FK_SUB, w, a, b);
}

static void lift_unary(struct lift_ctx *c)
{
	const cs_x86_op *d = &c->in->detail->x86.operands[0];
	int w = op_width(d);
	struct ir_val a = x86_read_op(c, d, w), r;

	if (OPERAND_FAILED(c))
		return;
	switch (c->in->id) {
	case X86_INS_NOT:
		r = alu_tmp(c, IR_XOR, a, ir_imm(-1), alu_width(w));
		break;
	case X86_INS_NEG:
		r = alu_tmp(c, IR_NEG, ir_imm(0), a, alu_width(w));
		set_flags(c, FK_SUB, w, ir_imm(0), a);
		break;
	case X86_INS_INC:
		r = alu_tmp(c, IR_ADD, a, ir_imm(1), alu_width(w));
		set_flags(c, FK_INC, w, a, ir_imm(1));
		break;
	default: /* DEC */
		r = alu_tmp(c, IR_SUB, a, ir_imm(1), alu_width(w));
		set_flags(c, FK_DEC, w, a, ir_imm(1));
		break;
	}
	write_op(c, d, w, r);
}

static void lift_shift(struct lift_ctx *c)
{
	const cs_x86 *x = &c->in->detail->x86;
	const cs_x86_op *d = &x->operands[0];
	int w = op_width(d), aw = alu_width(w);
	int64_t cmask = w == 64 ? 63 : 31;
	struct ir_val a = x86_read_op(c, d, w), n, r;
	enum ir_op op;
	bool var;

	if (OPERAND_FAILED(c))
		return;
	/* "shl eax" without a count operand shifts by one. */
	n = x->op_count > 1 ? x86_read_op(c, &x->operands[1], 8) : ir_imm(1);
	var = n.reg != IR_NONE;
	if (!var && (n.imm & cmask) == 0)
		return;		/* a zero count changes nothing, not even flags */
	n = var ? alu_tmp(c, IR_AND, n, ir_imm(cmask), 64) : ir_imm(n.imm & cmask);
	switch (c->in->id) {
	case X86_INS_SHL: case X86_INS_SAL:
		op = IR_SHL;
		break;
	case X86_INS_SHR:
		op = IR_LSHR;
		a = zext(c, a, w);
		break;
	default: /* SAR */
		op = IR_ASHR;
		if (w < 32) {
			a = sext(c, a, w);
			aw = 64;
		}
		break;
	}
	r = alu_tmp(c, op, a, n, aw);
	write_op(c, d, w, r);
	/* A variable count may be zero at run time, leaving the old flags. */
	if (var)
		flags_after_count(c, n, FK_ZS, w, r);
	else
		set_flags(c, FK_ZS, w, r, ir_imm(0));
}

/* rol/ror: the value rotated by (count & 31 or 63) mod width.  CF is the
 * bit that went round (the result's low bit after rol, its top bit after
 * ror); ZF and SF are kept, OF is defined only for a count of 1: those
 * fall back if read.  A count of zero changes nothing, not even flags. */
static void lift_rotate(struct lift_ctx *c)
{
	const cs_x86 *x = &c->in->detail->x86;
	const cs_x86_op *d = &x->operands[0];
	int w = op_width(d);
	enum fkind kind = c->in->id == X86_INS_ROR ? FK_ROR : FK_ROL;
	struct ir_val a, n, k, back, hi, lo, r;
	int64_t cmask = w == 64 ? 63 : 31;

	n = x->op_count > 1 ? x86_read_op(c, &x->operands[1], 8) : ir_imm(1);
	a = zext(c, x86_read_op(c, d, w), w);
	if (OPERAND_FAILED(c))
		return;
	if (n.reg == IR_NONE) {
		int64_t m = n.imm & cmask, left = m % w;

		if (m == 0)
			return;
		if (w == 16 && left == 8) {	/* rol/ror r16, 8: a byte swap (htons) */
			r = alu_tmp(c, IR_BSWAP, ir_imm(0), a, 16);
			write_op(c, d, w, r);
			set_flags(c, kind, w, r, ir_imm(0));
			return;
		}
		if (kind == FK_ROR)
			left = (w - left) % w;
		k = ir_imm(left);
		back = ir_imm((w - left) % w);
	} else {
		/* rol by k = ror by w - k; both taken mod w (a power of two) */
		n = alu_tmp(c, IR_AND, n, ir_imm(cmask), 64);
		k = alu_tmp(c, IR_AND, n, ir_imm(w - 1), 64);
		if (kind == FK_ROR)
			k = alu_tmp(c, IR_AND, alu_tmp(c, IR_SUB, ir_imm(w), k, 64), ir_imm(w - 1), 64);
		back = alu_tmp(c, IR_AND, alu_tmp(c, IR_SUB, ir_imm(w), k, 64), ir_imm(w - 1), 64);
	}
	/* k = 0: both shifts are 0 and the OR gives a back */
	hi = alu_tmp(c, IR_SHL, a, k, 64);
	lo = alu_tmp(c, IR_LSHR, a, back, 64);
	r = zext(c, alu_tmp(c, IR_OR, hi, lo, 64), w);
	write_op(c, d, w, r);
	if (n.reg == IR_NONE)
		set_flags(c, kind, w, r, ir_imm(0));
	else
		flags_after_count(c, n, kind, w, r);
}

/* CF = OF after a multiply: 1 when the full product p differs from its
 * truncation to w bits (sign-extended for imul, zero-extended for mul). */
static void set_mul_flags(struct lift_ctx *c, struct ir_val p, int w, bool is_signed)
{
	if (c->flags_live)
		set_flags(c, FK_OVF, w, select01(c, IR_NE, extend(c, p, w, is_signed), p, 64), ir_imm(0));
	else
		c->fs = (struct fstate){ FK_NONE, 0 };
}

/* mul/imul with one operand: rdx:rax (dx:ax, ax) = rax * src. */
static void lift_widening_mul(struct lift_ctx *c, bool is_signed)
{
	const cs_x86_op *s = &c->in->detail->x86.operands[0];
	int w = op_width(s);
	struct ir_val b = x86_read_op(c, s, w), a = ir_reg(IR_RAX), p;

	if (OPERAND_FAILED(c))
		return;
	if (w == 64) {
		struct ir_val hi = alu_tmp(c, is_signed ? IR_MULHS : IR_MULHU, a, b, 64);
		struct ir_val lo = alu_tmp(c, IR_MUL, a, b, 64);

		/* overflow: the high half is more than the low half's extension */
		if (c->flags_live)
			set_flags(c, FK_OVF, 64,
				  select01(c, IR_NE, hi,
					   is_signed ? alu_tmp(c, IR_ASHR, lo, ir_imm(63), 64) : ir_imm(0), 64),
				  ir_imm(0));
		else
			c->fs = (struct fstate){ FK_NONE, 0 };
		mov(c, IR_RAX, lo);
		mov(c, IR_RDX, hi);
		return;
	}
	if (w != 32 && w != 16 && w != 8) {
		unsupported(c);
		return;
	}
	p = alu_tmp(c, IR_MUL, extend(c, a, w, is_signed), extend(c, b, w, is_signed), 64);
	set_mul_flags(c, p, w, is_signed);
	if (w == 32) {
		alu(c, IR_ZEXT, IR_RAX, ir_imm(0), p, 32);
		alu(c, IR_LSHR, IR_RDX, p, ir_imm(32), 64);
	} else if (w == 16) {
		set_low16(c, IR_RAX, p);
		set_low16(c, IR_RDX, alu_tmp(c, IR_LSHR, p, ir_imm(16), 64));
	} else {
		/* ax = al * src8 */
		alu(c, IR_AND, IR_RAX, ir_reg(IR_RAX), ir_imm(~0xffffll), 64);
		alu(c, IR_OR, IR_RAX, ir_reg(IR_RAX), zext(c, p, 16), 64);
	}
}

static void lift_imul(struct lift_ctx *c)
{
	const cs_x86 *x = &c->in->detail->x86;
	const cs_x86_op *d = &x->operands[0];
	int w = op_width(d);
	struct ir_val a, b, p;

	if (x->op_count == 1) {
		lift_widening_mul(c, true);
		return;
	}
	a = x86_read_op(c, x->op_count == 3 ? &x->operands[1] : d, w);
	b = x86_read_op(c, x->op_count == 3 ? &x->operands[2] : &x->operands[1], w);
	if (OPERAND_FAILED(c))
		return;
	if (w == 64) {
		p = alu_tmp(c, IR_MUL, a, b, 64);
		if (c->flags_live)
			set_flags(c, FK_OVF, 64,
				  select01(c, IR_NE, alu_tmp(c, IR_MULHS, a, b, 64),
					   alu_tmp(c, IR_ASHR, p, ir_imm(63), 64), 64),
				  ir_imm(0));
		else
			c->fs = (struct fstate){ FK_NONE, 0 };
	} else {
		p = alu_tmp(c, IR_MUL, sext(c, a, w), sext(c, b, w), 64);
		set_mul_flags(c, p, w, true);
	}
	write_op(c, d, w, p);
}

/* Branch to a fallback block when cond(a, b) holds; continue otherwise. */
static void fallback_if(struct lift_ctx *c, enum ir_cond cond, struct ir_val a, struct ir_val b, int w,
			enum koff_stat reason, const char *why)
{
	int fb = lift_new_block(c), cont = lift_new_block(c);
	struct ir_insn *br = lift_emit(c, IR_BR);

	if (br) {
		br->cond = (uint8_t)cond;
		br->a = a;
		br->b = b;
		br->w = (uint8_t)w;
		br->t = fb;
		br->f = cont;
	}
	lift_set_block(c, fb);
	lift_fallback(c, reason, "%s", why);
	lift_set_block(c, cont);
}

/* div/idiv r/m8: al = ax / src, ah = ax % src.  Faults (fall back) on a
 * zero divisor and on a quotient that does not fit 8 bits. */
static void lift_div8(struct lift_ctx *c, struct ir_val d, bool is_signed)
{
	struct ir_val ax = extend(c, ir_reg(IR_RAX), 16, is_signed), dv, q, r, t;

	c->fs = (struct fstate){ FK_NONE, 0 };
	dv = extend(c, d, 8, is_signed);
	fallback_if(c, IR_EQ, dv, ir_imm(0), 64, KOFF_STAT_PASS_DIV, "division by zero");
	q = alu_tmp(c, is_signed ? IR_SDIV : IR_UDIV, ax, dv, 64);
	r = alu_tmp(c, is_signed ? IR_SMOD : IR_UMOD, ax, dv, 64);
	if (is_signed) {
		/* quotient outside [-128, 127]: (q + 128) >u 255 */
		t = alu_tmp(c, IR_ADD, q, ir_imm(128), 64);
		fallback_if(c, IR_UGT, t, ir_imm(255), 64, KOFF_STAT_PASS_DIV, "quotient overflow");
	} else {
		fallback_if(c, IR_UGT, q, ir_imm(255), 64, KOFF_STAT_PASS_DIV, "quotient overflow");
	}
	t = alu_tmp(c, IR_AND, r, ir_imm(0xff), 64);
	t = alu_tmp(c, IR_SHL, t, ir_imm(8), 64);
	t = alu_tmp(c, IR_OR, t, alu_tmp(c, IR_AND, q, ir_imm(0xff), 64), 64);
	alu(c, IR_AND, IR_RAX, ir_reg(IR_RAX), ir_imm(~0xffffll), 64);
	alu(c, IR_OR, IR_RAX, ir_reg(IR_RAX), t, 64);
}

/* Replace the low 16 bits of an x86 register with those of v. */
static void set_low16(struct lift_ctx *c, int reg, struct ir_val v)
{
	alu(c, IR_AND, reg, ir_reg(reg), ir_imm(~0xffffll), 64);
	alu(c, IR_OR, reg, ir_reg(reg), zext(c, v, 16), 64);
}

/* div/idiv r/m16: ax = dx:ax / src, dx = dx:ax % src; faults (fall back) on
 * a zero divisor and on a quotient that does not fit 16 bits. */
static void lift_div16(struct lift_ctx *c, struct ir_val d, bool is_signed)
{
	struct ir_val hi = alu_tmp(c, IR_SHL, zext(c, ir_reg(IR_RDX), 16), ir_imm(16), 64);
	struct ir_val dividend = alu_tmp(c, IR_OR, hi, zext(c, ir_reg(IR_RAX), 16), 64);
	struct ir_val dv, q, r, t;

	c->fs = (struct fstate){ FK_NONE, 0 };
	if (is_signed)
		dividend = sext(c, dividend, 32);
	dv = extend(c, d, 16, is_signed);
	fallback_if(c, IR_EQ, dv, ir_imm(0), 64, KOFF_STAT_PASS_DIV, "division by zero");
	q = alu_tmp(c, is_signed ? IR_SDIV : IR_UDIV, dividend, dv, 64);
	r = alu_tmp(c, is_signed ? IR_SMOD : IR_UMOD, dividend, dv, 64);
	t = is_signed ? alu_tmp(c, IR_ADD, q, ir_imm(32768), 64) : q;
	fallback_if(c, IR_UGT, t, ir_imm(65535), 64, KOFF_STAT_PASS_DIV, "quotient overflow");
	set_low16(c, IR_RAX, q);
	set_low16(c, IR_RDX, r);
}

/* div/idiv: x86 faults on a zero divisor and on a quotient that does not
 * fit; koff falls back there (and when rdx is more than an extension of
 * rax, which BPF's 64-bit division cannot express). */
static void lift_div(struct lift_ctx *c, bool is_signed)
{
	const cs_x86_op *s = &c->in->detail->x86.operands[0];
	int w = op_width(s);
	struct ir_val d = x86_read_op(c, s, w), hi, a;
	enum ir_op q = is_signed ? IR_SDIV : IR_UDIV, r = is_signed ? IR_SMOD : IR_UMOD;

	if (OPERAND_FAILED(c))
		return;
	if (w == 8) {
		lift_div8(c, d, is_signed);
		return;
	}
	if (w == 16) {
		lift_div16(c, d, is_signed);
		return;
	}
	if (w != 64 && w != 32) {
		unsupported(c);
		return;
	}
	c->fs = (struct fstate){ FK_NONE, 0 };
	/* Freeze the divisor: it may be rdx or rax, which we overwrite. */
	d = alu_tmp(c, IR_MOV, ir_imm(0), d, 64);
	fallback_if(c, IR_EQ, d, ir_imm(0), w, KOFF_STAT_PASS_DIV, "division by zero");
	if (is_signed) {
		hi = alu_tmp(c, IR_ASHR, ir_reg(IR_RAX), ir_imm(w - 1), w);
		fallback_if(c, IR_NE, ir_reg(IR_RDX), hi, w, KOFF_STAT_PASS_DIV,
			    "dividend wider than rax");
		/* INT_MIN / -1 overflows */
		a = w == 64 ? ir_reg(IR_RAX) : sext(c, ir_reg(IR_RAX), 32);
		a = alu_tmp(c, IR_XOR, a, ir_imm(w == 64 ? INT64_MIN : INT32_MIN), 64);
		d = w == 64 ? d : sext(c, d, 32);
		{
			struct ir_val both = alu_tmp(c, IR_ADD, d, ir_imm(1), 64);

			both = alu_tmp(c, IR_OR, both, a, 64);
			fallback_if(c, IR_EQ, both, ir_imm(0), 64, KOFF_STAT_PASS_DIV,
				    "division overflow (INT_MIN / -1)");
		}
	} else {
		fallback_if(c, IR_NE, ir_reg(IR_RDX), ir_imm(0), w, KOFF_STAT_PASS_DIV,
			    "dividend wider than rax");
	}
	{
		struct ir_val quo = alu_tmp(c, q, ir_reg(IR_RAX), d, w);

		alu(c, r, IR_RDX, ir_reg(IR_RAX), d, w);
		mov(c, IR_RAX, quo);
	}
}

static void lift_select_cc(struct lift_ctx *c, bool is_cmov)
{
	const cs_x86 *x = &c->in->detail->x86;
	const cs_x86_op *d = &x->operands[0];
	int w = op_width(d);
	struct ir_val t, f;
	struct ir_insn *sel;
	enum ir_cond cond;
	struct ir_val a, b;
	uint8_t cw;
	int dst;

	if (!x86_cond(c, c->in->id, &cond, &a, &b, &cw)) {
		lift_fallback(c, KOFF_STAT_PASS_FLAGS, "%s after flags koff does not model", c->in->mnemonic);
		return;
	}
	t = is_cmov ? x86_read_op(c, &x->operands[1], w) : ir_imm(1);
	f = is_cmov ? x86_read_op(c, d, w) : ir_imm(0);
	if (OPERAND_FAILED(c))
		return;
	dst = lift_temp(c);
	sel = lift_emit(c, IR_SELECT);
	if (sel) {
		sel->dst = dst;
		sel->cond = (uint8_t)cond;
		sel->a = a;
		sel->b = b;
		sel->w = cw;
		sel->c = t;
		sel->d = f;
	}
	write_op(c, d, w, ir_reg(dst));
}

static void lift_lea(struct lift_ctx *c)
{
	const cs_x86 *x = &c->in->detail->x86;
	const cs_x86_op *d = &x->operands[0];
	struct maddr m;

	if (!mem_addr(c, &x->operands[1], &m))
		return;
	if (m.base.reg == IR_NONE)
		write_op(c, d, op_width(d), ir_imm(m.disp));
	else if (m.disp == 0)
		write_op(c, d, op_width(d), m.base);
	else
		write_op(c, d, op_width(d), alu_tmp(c, IR_ADD, m.base, ir_imm(m.disp), 64));
}

static void lift_push(struct lift_ctx *c)
{
	const cs_x86_op *s = &c->in->detail->x86.operands[0];
	struct ir_val v = x86_read_op(c, s, 64);
	struct maddr m = { .base = ir_reg(IR_RSP), .disp = 0, .region = IR_REG_STACK };

	if (OPERAND_FAILED(c))
		return;
	if (op_width(s) != 64 && s->type != X86_OP_IMM) {
		unsupported(c);
		return;
	}
	if (v.reg == IR_RSP)
		v = alu_tmp(c, IR_MOV, ir_imm(0), v, 64);
	alu(c, IR_SUB, IR_RSP, ir_reg(IR_RSP), ir_imm(8), 64);
	store(c, &m, v, 8);
}

static void lift_pop(struct lift_ctx *c)
{
	const cs_x86_op *d = &c->in->detail->x86.operands[0];
	struct maddr m = { .base = ir_reg(IR_RSP), .disp = 0, .region = IR_REG_STACK };
	struct ir_val v = load(c, &m, 8);

	alu(c, IR_ADD, IR_RSP, ir_reg(IR_RSP), ir_imm(8), 64);
	write_op(c, d, 64, v);
}

static void lift_leave(struct lift_ctx *c)
{
	struct maddr m = { .base = ir_reg(IR_RSP), .disp = 0, .region = IR_REG_STACK };

	mov(c, IR_RSP, ir_reg(IR_RBP));
	mov(c, IR_RBP, load(c, &m, 8));
	alu(c, IR_ADD, IR_RSP, ir_reg(IR_RSP), ir_imm(8), 64);
}

static void lift_extend_move(struct lift_ctx *c, bool sign)
{
	const cs_x86 *x = &c->in->detail->x86;
	const cs_x86_op *d = &x->operands[0], *s = &x->operands[1];
	int sw = op_width(s);
	struct ir_val v = x86_read_op(c, s, sw);

	if (OPERAND_FAILED(c))
		return;
	write_op(c, d, op_width(d), extend(c, v, sw, sign));
}

static void lift_xchg(struct lift_ctx *c)
{
	const cs_x86 *x = &c->in->detail->x86;
	int w = op_width(&x->operands[0]);
	struct ir_val a = x86_read_op(c, &x->operands[0], w);
	struct ir_val b = x86_read_op(c, &x->operands[1], w);

	if (OPERAND_FAILED(c))
		return;
	a = alu_tmp(c, IR_MOV, ir_imm(0), a, 64);
	b = alu_tmp(c, IR_MOV, ir_imm(0), b, 64);
	write_op(c, &x->operands[0], w, b);
	write_op(c, &x->operands[1], w, a);
}

/* bt/bts/btr/btc: CF = the selected bit, which bts/btr/btc then set, clear
 * or flip.  On a register, and on memory with an immediate bit number, the
 * number is taken mod the operand width.  On memory with a register bit
 * number, the number is a signed offset into a bit string starting at the
 * operand: the word at operand + (n >> log2(w)) * (w / 8) is the one
 * accessed, which may lie before or beyond the operand itself. */
static void lift_bit_test(struct lift_ctx *c)
{
	const cs_x86 *x = &c->in->detail->x86;
	const cs_x86_op *d = &x->operands[0];
	int w = op_width(d), lw = __builtin_ctz((unsigned)w);
	struct ir_val a, n, bit, r;
	struct maddr m;
	bool in_mem = d->type == X86_OP_MEM;

	n = x86_read_op(c, &x->operands[1], w);
	if (OPERAND_FAILED(c))
		return;
	if (in_mem) {
		if (!mem_addr(c, d, &m))
			return;
		if (n.reg != IR_NONE) {
			struct ir_val words = alu_tmp(c, IR_ASHR, sext(c, n, w), ir_imm(lw), 64);
			struct ir_val off = alu_tmp(c, IR_SHL, words, ir_imm(lw - 3), 64);

			m.base = m.base.reg == IR_NONE ? off : alu_tmp(c, IR_ADD, m.base, off, 64);
			m.region = IR_REG_UNKNOWN;
		}
		a = load(c, &m, w / 8);
	} else {
		a = zext(c, x86_read_op(c, d, w), w);
	}
	n = n.reg == IR_NONE ? ir_imm(n.imm & (w - 1)) : alu_tmp(c, IR_AND, n, ir_imm(w - 1), 64);
	c->fs = (struct fstate){ FK_BT, (uint8_t)w };
	if (c->flags_live)
		mov(c, IR_FA, alu_tmp(c, IR_LSHR, a, n, 64));
	if (c->in->id == X86_INS_BT)
		return;
	bit = n.reg == IR_NONE ? ir_imm((int64_t)(1ull << n.imm)) : alu_tmp(c, IR_SHL, ir_imm(1), n, 64);
	switch (c->in->id) {
	case X86_INS_BTS: r = alu_tmp(c, IR_OR, a, bit, 64); break;
	case X86_INS_BTR: r = alu_tmp(c, IR_AND, a, alu_tmp(c, IR_XOR, bit, ir_imm(-1), 64), 64); break;
	default: r = alu_tmp(c, IR_XOR, a, bit, 64); break;	/* BTC */
	}
	if (in_mem)
		store(c, &m, r, w / 8);
	else
		write_op(c, d, w, r);
}

/* Index of the lowest (trailing) or highest set bit of v, v != 0 and
 * zero-extended from w bits: a branch-free binary search. */
static struct ir_val bit_index(struct lift_ctx *c, struct ir_val v, int w, bool highest)
{
	struct ir_val idx = ir_imm(0);

	for (int s = w / 2; s >= 1; s /= 2) {
		if (highest) {
			struct ir_val up = alu_tmp(c, IR_LSHR, v, ir_imm(s), 64);

			idx = alu_tmp(c, IR_ADD, idx, select_of(c, IR_NE, up, ir_imm(0), 64, ir_imm(s), ir_imm(0)), 64);
			v = select_of(c, IR_NE, up, ir_imm(0), 64, up, v);
		} else {
			int64_t low = (int64_t)mask_of(s);

			idx = alu_tmp(c, IR_ADD, idx, select_of(c, IR_TSTZ, v, ir_imm(low), 64, ir_imm(s), ir_imm(0)), 64);
			v = select_of(c, IR_TSTZ, v, ir_imm(low), 64, alu_tmp(c, IR_LSHR, v, ir_imm(s), 64), v);
		}
	}
	return idx;
}

/* Set bits of a 64-bit value (SWAR). */
struct ir_val x86_popcount(struct lift_ctx *c, struct ir_val v)
{
	struct ir_val t;

	t = alu_tmp(c, IR_AND, alu_tmp(c, IR_LSHR, v, ir_imm(1), 64), ir_imm(0x5555555555555555ll), 64);
	v = alu_tmp(c, IR_SUB, v, t, 64);
	t = alu_tmp(c, IR_AND, alu_tmp(c, IR_LSHR, v, ir_imm(2), 64), ir_imm(0x3333333333333333ll), 64);
	v = alu_tmp(c, IR_ADD, alu_tmp(c, IR_AND, v, ir_imm(0x3333333333333333ll), 64), t, 64);
	v = alu_tmp(c, IR_AND, alu_tmp(c, IR_ADD, v, alu_tmp(c, IR_LSHR, v, ir_imm(4), 64), 64),
		    ir_imm(0x0f0f0f0f0f0f0f0fll), 64);
	return alu_tmp(c, IR_LSHR, alu_tmp(c, IR_MUL, v, ir_imm(0x0101010101010101ll), 64), ir_imm(56), 64);
}

/* bsf/bsr/tzcnt/lzcnt/popcnt.  tzcnt of 0 is the width, as on BMI1 CPUs:
 * compilers emit its encoding (rep bsf) for __builtin_ctz without -mbmi,
 * where it may run as bsf, only where the value for 0 is not used (clang
 * computes it before the zero test), and with -mbmi the program needs
 * BMI1.  bsf/bsr of 0 keep the destination at 64 bits on every CPU; at 16
 * or 32 bits Intel clears the upper half and AMD keeps it: koff falls back
 * there.  Flags: ZF (src == 0 for bsf/bsr, result == 0 for tzcnt/lzcnt);
 * popcnt: ZF = (src == 0) and the others 0. */
static void lift_bit_scan(struct lift_ctx *c)
{
	const cs_x86 *x = &c->in->detail->x86;
	const cs_x86_op *d = &x->operands[0];
	int w = op_width(d);
	x86_insn id = c->in->id;
	struct ir_val v = zext(c, x86_read_op(c, &x->operands[1], w), w), r;

	if (OPERAND_FAILED(c))
		return;
	/* Freeze the source: the destination may be the same register. */
	v = alu_tmp(c, IR_MOV, ir_imm(0), v, 64);
	switch (id) {
	case X86_INS_POPCNT:
		r = x86_popcount(c, v);
		write_op(c, d, w, r);
		set_flags(c, FK_LOGIC, w, r, ir_imm(0));
		return;
	case X86_INS_TZCNT:
		r = select_of(c, IR_EQ, v, ir_imm(0), 64, ir_imm(w), bit_index(c, v, w, false));
		write_op(c, d, w, r);
		set_flags(c, FK_ZF, w, r, ir_imm(0));
		return;
	case X86_INS_LZCNT:
		r = select_of(c, IR_EQ, v, ir_imm(0), 64, ir_imm(w),
			      alu_tmp(c, IR_SUB, ir_imm(w - 1), bit_index(c, v, w, true), 64));
		write_op(c, d, w, r);
		set_flags(c, FK_ZF, w, r, ir_imm(0));
		return;
	default:	/* BSF, BSR */
		if (w != 64)
			fallback_if(c, IR_EQ, v, ir_imm(0), 64, KOFF_STAT_PASS_INSN,
				    "bsf/bsr of 0 below 64 bits (the destination differs between CPUs)");
		r = bit_index(c, v, w, id == X86_INS_BSR);
		if (w == 64)
			r = select_of(c, IR_EQ, v, ir_imm(0), 64, x86_read_op(c, d, 64), r);
		write_op(c, d, w, r);
		set_flags(c, FK_ZF, w, v, ir_imm(0));
		return;
	}
}

/* ---- SSE: xmm registers as two 64-bit halves ------------------------------
 * What compilers emit for struct copies, zeroing and vectorized byte loops
 * (lowercasing, searching): moves, bitwise logic, and the byte-wise ops,
 * computed lane by lane on each half with SWAR arithmetic. */

#define SWAR_HIGH 0x8080808080808080ll
#define SWAR_LOW  0x7f7f7f7f7f7f7f7fll

struct xval {
	struct ir_val lo, hi;
};

static bool xmm_reg(x86_reg r, int *lo)
{
	if (r < X86_REG_XMM0 || r > X86_REG_XMM15)
		return false;
	*lo = IR_XMM0 + 2 * (r - X86_REG_XMM0);
	return true;
}

/* A 128-bit operand (register or memory); `bytes` < 16 reads only the low
 * part (movq/movd) and zeroes the rest. */
static bool read_x(struct lift_ctx *c, const cs_x86_op *op, int bytes, struct xval *v)
{
	struct maddr m;
	int lo;

	if (op->type == X86_OP_REG && xmm_reg(op->reg, &lo)) {
		v->lo = ir_reg(lo);
		v->hi = bytes == 16 ? ir_reg(lo + 1) : ir_imm(0);
		if (bytes == 4)
			v->lo = zext(c, v->lo, 32);
		return true;
	}
	if (op->type == X86_OP_REG) {	/* movq/movd from a general register */
		v->lo = bytes == 4 ? zext(c, x86_read_op(c, op, 32), 32) : x86_read_op(c, op, 64);
		v->hi = ir_imm(0);
		return !OPERAND_FAILED(c);
	}
	if (op->type != X86_OP_MEM || !mem_addr(c, op, &m))
		return false;
	v->lo = load(c, &m, bytes >= 8 ? 8 : bytes);
	if (bytes == 16) {
		m.disp += 8;
		v->hi = load(c, &m, 8);
	} else {
		v->hi = ir_imm(0);
	}
	return true;
}

static void write_x(struct lift_ctx *c, const cs_x86_op *op, int bytes, struct xval v)
{
	struct maddr m;
	int lo;

	if (op->type == X86_OP_REG && xmm_reg(op->reg, &lo)) {
		/* Copy through temporaries: the source may be the destination. */
		struct ir_val l = alu_tmp(c, IR_MOV, ir_imm(0), v.lo, 64);
		struct ir_val h = alu_tmp(c, IR_MOV, ir_imm(0), v.hi, 64);

		mov(c, lo, l);
		mov(c, lo + 1, h);
		return;
	}
	if (op->type == X86_OP_REG) {	/* movq/movd to a general register */
		write_op(c, op, bytes * 8, v.lo);
		return;
	}
	if (op->type != X86_OP_MEM || !mem_addr(c, op, &m))
		return;
	store(c, &m, v.lo, bytes >= 8 ? 8 : bytes);
	if (bytes == 16) {
		m.disp += 8;
		store(c, &m, v.hi, 8);
	}
}

static struct ir_val swar_add(struct lift_ctx *c, struct ir_val a, struct ir_val b, bool sub)
{
	struct ir_val x, y, s;

	if (sub) {	/* ((a | H) - (b & L)) ^ ((a ^ ~b) & H) */
		x = alu_tmp(c, IR_OR, a, ir_imm(SWAR_HIGH), 64);
		y = alu_tmp(c, IR_AND, b, ir_imm(SWAR_LOW), 64);
		s = alu_tmp(c, IR_SUB, x, y, 64);
		y = alu_tmp(c, IR_XOR, b, ir_imm(-1), 64);
	} else {	/* ((a & L) + (b & L)) ^ ((a ^ b) & H) */
		x = alu_tmp(c, IR_AND, a, ir_imm(SWAR_LOW), 64);
		y = alu_tmp(c, IR_AND, b, ir_imm(SWAR_LOW), 64);
		s = alu_tmp(c, IR_ADD, x, y, 64);
		y = b;
	}
	x = alu_tmp(c, IR_XOR, a, y, 64);
	x = alu_tmp(c, IR_AND, x, ir_imm(SWAR_HIGH), 64);
	return alu_tmp(c, IR_XOR, s, x, 64);
}

/* 0xff in every byte where a and b agree, 0 elsewhere. */
/* Every w-bit lane (8, 16, 32) of a 64-bit half with all but its top bit set. */
static int64_t lanes_low_bits(int w)
{
	uint64_t lane = ((uint64_t)1 << (w - 1)) - 1, r = 0;

	for (int k = 0; k < 64; k += w)
		r |= lane << k;
	return (int64_t)r;
}

/* pcmpeq{b,w,d}: each w-bit lane all ones where a and b are equal. */
static struct ir_val swar_cmpeq(struct lift_ctx *c, struct ir_val a, struct ir_val b, int w)
{
	int64_t low = lanes_low_bits(w);
	struct ir_val t = alu_tmp(c, IR_XOR, a, b, 64), z;

	/* (t & low) + low cannot carry out of a lane: the top bit of each lane
	 * ends up set exactly where the lane of t is not zero. */
	z = alu_tmp(c, IR_AND, t, ir_imm(low), 64);
	z = alu_tmp(c, IR_ADD, z, ir_imm(low), 64);
	z = alu_tmp(c, IR_OR, z, t, 64);
	z = alu_tmp(c, IR_XOR, z, ir_imm(-1), 64);
	z = alu_tmp(c, IR_AND, z, ir_imm(~low), 64);
	z = alu_tmp(c, IR_LSHR, z, ir_imm(w - 1), 64);
	return alu_tmp(c, IR_MUL, z, ir_imm((int64_t)(((uint64_t)1 << w) - 1)), 64);
}

/* pcmpgt{b,w,d}: each w-bit lane all ones where a's lane is greater than
 * b's, as signed numbers.  Lane by lane without branches: with both lanes
 * sign-extended, b - a is negative exactly when a > b.  Its sign bit is
 * taken with a logical shift and multiplied out: 6.18's verifier forks its
 * state on `(v s>> 63) & const` (two paths per lane, 2^16 per pcmpgtb). */
static struct ir_val lanes_cmpgt(struct lift_ctx *c, struct ir_val a, struct ir_val b, int w)
{
	struct ir_val acc = ir_imm(0);

	for (int k = 0; k < 64; k += w) {
		struct ir_val x = alu_tmp(c, IR_SEXT, ir_imm(0), alu_tmp(c, IR_LSHR, a, ir_imm(k), 64), w);
		struct ir_val y = alu_tmp(c, IR_SEXT, ir_imm(0), alu_tmp(c, IR_LSHR, b, ir_imm(k), 64), w);
		struct ir_val m = alu_tmp(c, IR_LSHR, alu_tmp(c, IR_SUB, y, x, 64), ir_imm(63), 64);

		m = alu_tmp(c, IR_MUL, m, ir_imm((int64_t)(((uint64_t)1 << w) - 1)), 64);
		acc = alu_tmp(c, IR_OR, acc, alu_tmp(c, IR_SHL, m, ir_imm(k), 64), 64);
	}
	return acc;
}

static int lane_width(x86_insn id)
{
	switch (id) {
	case X86_INS_PCMPEQW: case X86_INS_PCMPGTW: return 16;
	case X86_INS_PCMPEQD: case X86_INS_PCMPGTD: return 32;
	default: return 8;
	}
}

/* Byte-wise unsigned min or max, one lane at a time. */
static struct ir_val lanes_minmax(struct lift_ctx *c, struct ir_val a, struct ir_val b, bool max)
{
	struct ir_val acc = ir_imm(0);

	for (int k = 0; k < 8; k++) {
		struct ir_val x = alu_tmp(c, IR_LSHR, a, ir_imm(8 * k), 64);
		struct ir_val y = alu_tmp(c, IR_LSHR, b, ir_imm(8 * k), 64);
		int m = lift_temp(c);

		struct ir_val diff, mask;

		x = alu_tmp(c, IR_AND, x, ir_imm(0xff), 64);
		y = alu_tmp(c, IR_AND, y, ir_imm(0xff), 64);
		/* Without branches (a select per lane would give the verifier
		 * 2^16 paths): mask = x < y ? -1 : 0; min = y + ((x - y) & mask),
		 * max = x - ((x - y) & mask). */
		diff = alu_tmp(c, IR_SUB, x, y, 64);
		mask = alu_tmp(c, IR_ASHR, diff, ir_imm(63), 64);
		mask = alu_tmp(c, IR_AND, diff, mask, 64);
		alu(c, max ? IR_SUB : IR_ADD, m, max ? x : y, mask, 64);
		acc = alu_tmp(c, IR_OR, acc, alu_tmp(c, IR_SHL, ir_reg(m), ir_imm(8 * k), 64), 64);
	}
	return acc;
}

/* The top bit of each of the 8 bytes, gathered into the low 8 bits. */
static struct ir_val movemask8(struct lift_ctx *c, struct ir_val x)
{
	struct ir_val t = alu_tmp(c, IR_LSHR, x, ir_imm(7), 64);

	t = alu_tmp(c, IR_AND, t, ir_imm(0x0101010101010101ll), 64);
	t = alu_tmp(c, IR_MUL, t, ir_imm(0x0102040810204080ll), 64);
	return alu_tmp(c, IR_LSHR, t, ir_imm(56), 64);
}

/* Lane k (of `bits`) of a 64-bit half, zero-extended. */
static struct ir_val lane(struct lift_ctx *c, struct ir_val v, int bits, int k)
{
	struct ir_val t = k ? alu_tmp(c, IR_LSHR, v, ir_imm(bits * k), 64) : v;

	return bits == 64 ? t : alu_tmp(c, IR_AND, t, ir_imm((int64_t)mask_of(bits)), 64);
}

/* punpckl*: the low halves' lanes of a and b, alternating (a0 b0 a1 b1 ...). */
static struct xval interleave_low(struct lift_ctx *c, struct ir_val a, struct ir_val b, int bits)
{
	int per_half = 64 / bits;	/* lanes of the result per 64-bit half */
	struct ir_val out[2] = { ir_imm(0), ir_imm(0) };

	for (int k = 0; k < per_half; k++) {	/* lanes 0..per_half-1 of each source */
		int pos = 2 * k;		/* result lane of a's lane k; b's is pos + 1 */

		for (int src = 0; src < 2; src++) {
			int r = pos + src, half = r / per_half;
			struct ir_val l = lane(c, src ? b : a, bits, k);

			if (r % per_half)
				l = alu_tmp(c, IR_SHL, l, ir_imm(bits * (r % per_half)), 64);
			out[half] = alu_tmp(c, IR_OR, out[half], l, 64);
		}
	}
	return (struct xval){ out[0], out[1] };
}

/* A 32-bit add or subtract in each of the two dword lanes of a half. */
static struct ir_val dword_lanes(struct lift_ctx *c, enum ir_op op, struct ir_val a, struct ir_val b)
{
	struct ir_val lo = alu_tmp(c, op, lane(c, a, 32, 0), lane(c, b, 32, 0), 32);
	struct ir_val hi = alu_tmp(c, op, lane(c, a, 32, 1), lane(c, b, 32, 1), 32);

	return alu_tmp(c, IR_OR, lo, alu_tmp(c, IR_SHL, hi, ir_imm(32), 64), 64);
}

/* pshufd: dword i of the result is dword (imm >> 2i) & 3 of the source. */
static struct xval shuffle_dwords(struct lift_ctx *c, struct xval v, int imm)
{
	struct ir_val dw[4] = { lane(c, v.lo, 32, 0), lane(c, v.lo, 32, 1), lane(c, v.hi, 32, 0),
				lane(c, v.hi, 32, 1) };
	struct ir_val half[2];

	for (int h = 0; h < 2; h++) {
		struct ir_val lo = dw[(imm >> (4 * h)) & 3], hi = dw[(imm >> (4 * h + 2)) & 3];

		half[h] = alu_tmp(c, IR_OR, lo, alu_tmp(c, IR_SHL, hi, ir_imm(32), 64), 64);
	}
	return (struct xval){ half[0], half[1] };
}

/* psrldq/pslldq: the 128-bit value shifted by n bytes (n > 15 gives 0). */
static struct xval shift_bytes(struct lift_ctx *c, struct xval v, int64_t n, bool right)
{
	struct ir_val zero = ir_imm(0);
	int bits = (int)(8 * n);

	if (n <= 0)
		return v;
	if (n >= 16)
		return (struct xval){ zero, zero };
	if (n >= 8) {
		bits -= 64;
		return right ? (struct xval){ bits ? alu_tmp(c, IR_LSHR, v.hi, ir_imm(bits), 64) : v.hi, zero }
			     : (struct xval){ zero, bits ? alu_tmp(c, IR_SHL, v.lo, ir_imm(bits), 64) : v.lo };
	}
	if (right)
		return (struct xval){
			alu_tmp(c, IR_OR, alu_tmp(c, IR_LSHR, v.lo, ir_imm(bits), 64),
				alu_tmp(c, IR_SHL, v.hi, ir_imm(64 - bits), 64), 64),
			alu_tmp(c, IR_LSHR, v.hi, ir_imm(bits), 64) };
	return (struct xval){
		alu_tmp(c, IR_SHL, v.lo, ir_imm(bits), 64),
		alu_tmp(c, IR_OR, alu_tmp(c, IR_SHL, v.hi, ir_imm(bits), 64),
			alu_tmp(c, IR_LSHR, v.lo, ir_imm(64 - bits), 64), 64) };
}

/* pshuflw/pshufhw: the four words of one 64-bit half picked by imm. */
static struct ir_val shuffle_words(struct lift_ctx *c, struct ir_val v, int imm)
{
	struct ir_val acc = ir_imm(0);

	for (int k = 0; k < 4; k++) {
		struct ir_val w = lane(c, v, 16, (imm >> (2 * k)) & 3);

		acc = alu_tmp(c, IR_OR, acc, k ? alu_tmp(c, IR_SHL, w, ir_imm(16 * k), 64) : w, 64);
	}
	return acc;
}

/* packuswb: the eight signed words of a and of b, each saturated to an
 * unsigned byte, as the 16 bytes of the result.  No branches and no
 * `s>> 63` (see lanes_cmpgt): the clamps multiply by 0/1 flags. */
static struct ir_val saturate_words(struct lift_ctx *c, struct ir_val v)
{
	struct ir_val acc = ir_imm(0);

	for (int k = 0; k < 4; k++) {
		struct ir_val x = alu_tmp(c, IR_SEXT, ir_imm(0), lane(c, v, 16, k), 16);
		struct ir_val neg = alu_tmp(c, IR_LSHR, x, ir_imm(63), 64);
		struct ir_val keep = alu_tmp(c, IR_XOR, neg, ir_imm(1), 64);
		struct ir_val over, y;

		y = alu_tmp(c, IR_MUL, x, keep, 64);		/* below 0: 0 */
		over = alu_tmp(c, IR_LSHR, alu_tmp(c, IR_SUB, ir_imm(255), y, 64), ir_imm(63), 64);
		y = alu_tmp(c, IR_MUL, y, alu_tmp(c, IR_XOR, over, ir_imm(1), 64), 64);
		y = alu_tmp(c, IR_ADD, y, alu_tmp(c, IR_MUL, over, ir_imm(255), 64), 64); /* above 255: 255 */
		acc = alu_tmp(c, IR_OR, acc, k ? alu_tmp(c, IR_SHL, y, ir_imm(8 * k), 64) : y, 64);
	}
	return acc;
}

/* packssdw/packsswb: the `bits` lanes of a half as signed lanes of half
 * the width, saturated by 0/1 multiplies (no verifier forks), packed into
 * the low 32 bits. */
static struct ir_val saturate_signed(struct lift_ctx *c, struct ir_val v, int bits)
{
	int64_t max = ((int64_t)1 << (bits / 2 - 1)) - 1, min = -max - 1;
	struct ir_val acc = ir_imm(0);

	for (int k = 0; k < 64 / bits; k++) {
		struct ir_val x = alu_tmp(c, IR_SEXT, ir_imm(0), lane(c, v, bits, k), bits);
		struct ir_val lo = alu_tmp(c, IR_LSHR, alu_tmp(c, IR_SUB, x, ir_imm(min), 64), ir_imm(63), 64);
		struct ir_val hi = alu_tmp(c, IR_LSHR, alu_tmp(c, IR_SUB, ir_imm(max), x, 64), ir_imm(63), 64);
		struct ir_val in = alu_tmp(c, IR_XOR, alu_tmp(c, IR_OR, lo, hi, 64), ir_imm(1), 64);
		struct ir_val y = alu_tmp(c, IR_MUL, x, in, 64);

		y = alu_tmp(c, IR_ADD, y, alu_tmp(c, IR_MUL, lo, ir_imm(min), 64), 64);
		y = alu_tmp(c, IR_ADD, y, alu_tmp(c, IR_MUL, hi, ir_imm(max), 64), 64);
		y = alu_tmp(c, IR_AND, y, ir_imm((int64_t)mask_of(bits / 2)), 64);
		acc = alu_tmp(c, IR_OR, acc, k ? alu_tmp(c, IR_SHL, y, ir_imm(bits / 2 * k), 64) : y, 64);
	}
	return acc;
}

/* A whole xmm operand packed: the low half's lanes, then the high half's. */
static struct ir_val pack_signed(struct lift_ctx *c, struct xval v, int bits)
{
	return alu_tmp(c, IR_OR, saturate_signed(c, v.lo, bits),
		       alu_tmp(c, IR_SHL, saturate_signed(c, v.hi, bits), ir_imm(32), 64), 64);
}

static struct ir_val pack_saturated(struct lift_ctx *c, struct xval v)
{
	struct ir_val hi = alu_tmp(c, IR_SHL, saturate_words(c, v.hi), ir_imm(32), 64);

	return alu_tmp(c, IR_OR, saturate_words(c, v.lo), hi, 64);
}

/* psraw/psrad/psrlw/psrld/psllw/pslld by an immediate: each `bits` lane of
 * a half shifted on its own; a count past the lane gives 0 (logical) or
 * the sign (arithmetic). */
static struct ir_val lanes_shift(struct lift_ctx *c, struct ir_val v, int bits, enum ir_op op, int64_t n)
{
	struct ir_val out = ir_imm(0);

	if (n >= bits) {
		if (op != IR_ASHR)
			return ir_imm(0);
		n = bits - 1;
	}
	for (int k = 0; k < 64 / bits; k++) {
		struct ir_val l = lane(c, v, bits, k);

		if (op == IR_ASHR && n > 0) {
			/* the top n bits of the lane filled with its sign, taken by a
			 * logical shift and a multiply: 6.18's verifier forks on
			 * (v s>> k) & const, once per lane */
			uint64_t fill = mask_of(bits) & ~(mask_of(bits) >> n);
			struct ir_val sign = alu_tmp(c, IR_LSHR, l, ir_imm(bits - 1), 64);

			l = alu_tmp(c, IR_LSHR, l, ir_imm(n), 64);
			l = alu_tmp(c, IR_OR, l, alu_tmp(c, IR_MUL, sign, ir_imm((int64_t)fill), 64), 64);
		} else if (op != IR_ASHR) {
			l = alu_tmp(c, IR_AND, alu_tmp(c, op, l, ir_imm(n), 64), ir_imm((int64_t)mask_of(bits)), 64);
		}
		if (k)
			l = alu_tmp(c, IR_SHL, l, ir_imm(bits * k), 64);
		out = alu_tmp(c, IR_OR, out, l, 64);
	}
	return out;
}

/* psadbw: the sum of the absolute differences of a half's eight bytes,
 * in its low word (|d| = d * (1 - 2 * sign), no verifier forks). */
static struct ir_val sum_abs_diff(struct lift_ctx *c, struct ir_val a, struct ir_val b)
{
	struct ir_val sum = ir_imm(0);

	for (int k = 0; k < 8; k++) {
		struct ir_val d = alu_tmp(c, IR_SUB, lane(c, a, 8, k), lane(c, b, 8, k), 64);
		struct ir_val neg = alu_tmp(c, IR_LSHR, d, ir_imm(63), 64);
		struct ir_val f = alu_tmp(c, IR_SUB, ir_imm(1), alu_tmp(c, IR_SHL, neg, ir_imm(1), 64), 64);

		sum = alu_tmp(c, IR_ADD, sum, alu_tmp(c, IR_MUL, d, f, 64), 64);
	}
	return sum;
}

/* pshufb: result byte i is 0 when byte i of the mask has its top bit set,
 * else byte (mask_i & 15) of the source. */
static struct xval shuffle_bytes(struct lift_ctx *c, struct xval src, struct xval mask)
{
	struct ir_val out[2] = { ir_imm(0), ir_imm(0) };

	for (int i = 0; i < 16; i++) {
		struct ir_val m = lane(c, i < 8 ? mask.lo : mask.hi, 8, i % 8);
		struct ir_val half = select_of(c, IR_TSTNZ, m, ir_imm(8), 64, src.hi, src.lo);
		struct ir_val sh = alu_tmp(c, IR_SHL, alu_tmp(c, IR_AND, m, ir_imm(7), 64), ir_imm(3), 64);
		struct ir_val b = alu_tmp(c, IR_AND, alu_tmp(c, IR_LSHR, half, sh, 64), ir_imm(0xff), 64);

		b = select_of(c, IR_TSTNZ, m, ir_imm(0x80), 64, ir_imm(0), b);
		if (i % 8)
			b = alu_tmp(c, IR_SHL, b, ir_imm(8 * (i % 8)), 64);
		out[i / 8] = alu_tmp(c, IR_OR, out[i / 8], b, 64);
	}
	return (struct xval){ out[0], out[1] };
}

static bool is_sse_binary(x86_insn id)
{
	switch (id) {
	case X86_INS_PXOR: case X86_INS_XORPS: case X86_INS_XORPD:
	case X86_INS_PAND: case X86_INS_ANDPS: case X86_INS_ANDPD:
	case X86_INS_POR: case X86_INS_ORPS: case X86_INS_ORPD:
	case X86_INS_PANDN: case X86_INS_ANDNPS: case X86_INS_ANDNPD:
	case X86_INS_PADDB: case X86_INS_PSUBB: case X86_INS_PADDQ: case X86_INS_PSUBQ:
	case X86_INS_PADDD: case X86_INS_PSUBD:
	case X86_INS_PCMPEQB: case X86_INS_PCMPEQW: case X86_INS_PCMPEQD:
	case X86_INS_PCMPGTB: case X86_INS_PCMPGTW: case X86_INS_PCMPGTD:
	case X86_INS_PMINUB: case X86_INS_PMAXUB: case X86_INS_PMULUDQ: case X86_INS_PACKUSWB:
	case X86_INS_PCMPGTQ: case X86_INS_PSHUFB: case X86_INS_PACKSSDW:
	case X86_INS_PSADBW: case X86_INS_PSUBUSB: case X86_INS_PACKSSWB:
		return true;
	default:
		return false;
	}
}

static bool lift_sse(struct lift_ctx *c)
{
	const cs_x86 *x = &c->in->detail->x86;
	const cs_x86_op *d = &x->operands[0], *s = &x->operands[1];
	struct xval a, b, r;
	int bytes;

	switch (c->in->id) {
	case X86_INS_MOVDQA: case X86_INS_MOVDQU: case X86_INS_MOVAPS: case X86_INS_MOVUPS:
	case X86_INS_MOVAPD: case X86_INS_MOVUPD: case X86_INS_LDDQU:
		if (read_x(c, s, 16, &a))
			write_x(c, d, 16, a);
		return true;
	case X86_INS_MOVSD: case X86_INS_MOVSS:
		/* scalar moves: register to register keeps the destination's
		 * upper part; a load zeroes it; a store writes the scalar */
		bytes = c->in->id == X86_INS_MOVSD ? 8 : 4;
		if (d->type == X86_OP_REG && s->type == X86_OP_REG) {
			int dl;

			if (!xmm_reg(d->reg, &dl) || !read_x(c, s, 16, &a))
				return false;
			if (bytes == 8) {
				mov(c, dl, alu_tmp(c, IR_MOV, ir_imm(0), a.lo, 64));
			} else {
				struct ir_val keep = alu_tmp(c, IR_AND, ir_reg(dl), ir_imm(~0xffffffffll), 64);

				mov(c, dl, alu_tmp(c, IR_OR, keep, lane(c, a.lo, 32, 0), 64));
			}
		} else if (d->type == X86_OP_REG) {
			if (read_x(c, s, bytes, &a))
				write_x(c, d, 16, a);
		} else if (read_x(c, s, 16, &a)) {
			write_x(c, d, bytes, a);
		}
		return true;
	case X86_INS_MOVQ: case X86_INS_MOVD:
		bytes = c->in->id == X86_INS_MOVQ ? 8 : 4;
		if (d->type == X86_OP_REG && xmm_reg(d->reg, &(int){ 0 })) {
			if (read_x(c, s, bytes, &a))
				write_x(c, d, 16, a);
		} else if (read_x(c, s, 16, &a)) {
			write_x(c, d, bytes, a);
		}
		return true;
	case X86_INS_PUNPCKLQDQ:
		if (read_x(c, d, 16, &a) && read_x(c, s, 16, &b))
			write_x(c, d, 16, (struct xval){ a.lo, b.lo });
		return true;
	case X86_INS_PUNPCKLDQ: case X86_INS_PUNPCKLWD: case X86_INS_PUNPCKLBW:
		if (read_x(c, d, 16, &a) && read_x(c, s, 16, &b))
			write_x(c, d, 16, interleave_low(c, a.lo, b.lo,
							 c->in->id == X86_INS_PUNPCKLDQ ? 32 :
							 c->in->id == X86_INS_PUNPCKLWD ? 16 : 8));
		return true;
	case X86_INS_PUNPCKHQDQ:
		if (read_x(c, d, 16, &a) && read_x(c, s, 16, &b))
			write_x(c, d, 16, (struct xval){ a.hi, b.hi });
		return true;
	case X86_INS_PUNPCKHDQ: case X86_INS_PUNPCKHWD: case X86_INS_PUNPCKHBW:
		if (read_x(c, d, 16, &a) && read_x(c, s, 16, &b))
			write_x(c, d, 16, interleave_low(c, a.hi, b.hi,
							 c->in->id == X86_INS_PUNPCKHDQ ? 32 :
							 c->in->id == X86_INS_PUNPCKHWD ? 16 : 8));
		return true;
	case X86_INS_PSRAW: case X86_INS_PSRAD: case X86_INS_PSRLW: case X86_INS_PSRLD:
	case X86_INS_PSLLW: case X86_INS_PSLLD:
		if (x->op_count == 2 && s->type == X86_OP_IMM && read_x(c, d, 16, &a)) {
			x86_insn id = c->in->id;
			int bits = id == X86_INS_PSRAW || id == X86_INS_PSRLW || id == X86_INS_PSLLW ? 16 : 32;
			enum ir_op op = id == X86_INS_PSRAW || id == X86_INS_PSRAD ? IR_ASHR :
					id == X86_INS_PSRLW || id == X86_INS_PSRLD ? IR_LSHR : IR_SHL;

			write_x(c, d, 16, (struct xval){ lanes_shift(c, a.lo, bits, op, s->imm),
							 lanes_shift(c, a.hi, bits, op, s->imm) });
		} else {
			unsupported(c);	/* by a register count: not seen in handlers */
		}
		return true;
	case X86_INS_PSRLQ: case X86_INS_PSLLQ:
		/* by an immediate: each 64-bit lane; counts past 63 give 0 */
		if (x->op_count == 2 && s->type == X86_OP_IMM && read_x(c, d, 16, &a)) {
			int64_t n = s->imm;
			enum ir_op op = c->in->id == X86_INS_PSRLQ ? IR_LSHR : IR_SHL;

			if (n > 63)
				write_x(c, d, 16, (struct xval){ ir_imm(0), ir_imm(0) });
			else
				write_x(c, d, 16, (struct xval){ alu_tmp(c, op, a.lo, ir_imm(n), 64),
								 alu_tmp(c, op, a.hi, ir_imm(n), 64) });
		} else if (x->op_count == 2 && read_x(c, d, 16, &a) && read_x(c, s, 16, &b)) {
			/* by the low quadword of an xmm register or memory */
			enum ir_op op = c->in->id == X86_INS_PSRLQ ? IR_LSHR : IR_SHL;
			struct ir_val n = alu_tmp(c, IR_AND, b.lo, ir_imm(63), 64);
			struct ir_val lanes[2] = { a.lo, a.hi };

			for (int k = 0; k < 2; k++) {
				struct ir_val sh = alu_tmp(c, op, lanes[k], n, 64);
				struct ir_insn *sel;
				int t = lift_temp(c);

				sel = lift_emit(c, IR_SELECT);	/* counts past 63 give 0 */
				if (sel) {
					sel->dst = t;
					sel->cond = IR_UGT;
					sel->a = b.lo;
					sel->b = ir_imm(63);
					sel->c = ir_imm(0);
					sel->d = sh;
				}
				lanes[k] = ir_reg(t);
			}
			write_x(c, d, 16, (struct xval){ lanes[0], lanes[1] });
		} else {
			unsupported(c);
		}
		return true;
	case X86_INS_SHUFPS:
		/* result dwords 0-1 from the destination, 2-3 from the source */
		if (x->op_count == 3 && x->operands[2].type == X86_OP_IMM && read_x(c, d, 16, &a) &&
		    read_x(c, s, 16, &b)) {
			int imm = (int)x->operands[2].imm;
			struct xval lo = shuffle_dwords(c, a, imm), hi = shuffle_dwords(c, b, imm);

			write_x(c, d, 16, (struct xval){ lo.lo, hi.hi });
		} else {
			unsupported(c);
		}
		return true;
	case X86_INS_SHUFPD:
		/* result low quadword from the destination, high from the source */
		if (x->op_count == 3 && x->operands[2].type == X86_OP_IMM && read_x(c, d, 16, &a) &&
		    read_x(c, s, 16, &b))
			write_x(c, d, 16, (struct xval){ x->operands[2].imm & 1 ? a.hi : a.lo,
							 x->operands[2].imm & 2 ? b.hi : b.lo });
		else
			unsupported(c);
		return true;
	case X86_INS_PEXTRW:
		/* word imm & 7 of an xmm register, zero-extended into a general one */
		if (x->op_count == 3 && x->operands[2].type == X86_OP_IMM && d->type == X86_OP_REG &&
		    read_x(c, s, 16, &a)) {
			int k = (int)(x->operands[2].imm & 7);

			write_op(c, d, op_width(d), lane(c, k < 4 ? a.lo : a.hi, 16, k % 4));
		} else {
			unsupported(c);
		}
		return true;
	case X86_INS_PSHUFD:
		if (x->op_count == 3 && x->operands[2].type == X86_OP_IMM && read_x(c, s, 16, &a))
			write_x(c, d, 16, shuffle_dwords(c, a, (int)x->operands[2].imm));
		else
			unsupported(c);
		return true;
	case X86_INS_PSHUFLW: case X86_INS_PSHUFHW:
		if (x->op_count == 3 && x->operands[2].type == X86_OP_IMM && read_x(c, s, 16, &a)) {
			int imm = (int)x->operands[2].imm;

			if (c->in->id == X86_INS_PSHUFLW)
				a.lo = shuffle_words(c, a.lo, imm);
			else
				a.hi = shuffle_words(c, a.hi, imm);
			write_x(c, d, 16, a);
		} else {
			unsupported(c);
		}
		return true;
	case X86_INS_PSRLDQ: case X86_INS_PSLLDQ:
		if (x->op_count == 2 && s->type == X86_OP_IMM && read_x(c, d, 16, &a))
			write_x(c, d, 16, shift_bytes(c, a, s->imm, c->in->id == X86_INS_PSRLDQ));
		else
			unsupported(c);
		return true;
	case X86_INS_PMOVMSKB:
		if (read_x(c, s, 16, &a)) {
			struct ir_val hi = alu_tmp(c, IR_SHL, movemask8(c, a.hi), ir_imm(8), 64);

			write_op(c, d, op_width(d), alu_tmp(c, IR_OR, movemask8(c, a.lo), hi, 64));
		}
		return true;
	default:
		break;
	}
	if (x->op_count != 2 || !is_sse_binary(c->in->id) || !read_x(c, d, 16, &a) ||
	    !read_x(c, s, 16, &b))
		return false;
	switch (c->in->id) {
	case X86_INS_PXOR: case X86_INS_XORPS: case X86_INS_XORPD:
		r.lo = alu_tmp(c, IR_XOR, a.lo, b.lo, 64);
		r.hi = alu_tmp(c, IR_XOR, a.hi, b.hi, 64);
		break;
	case X86_INS_PAND: case X86_INS_ANDPS: case X86_INS_ANDPD:
		r.lo = alu_tmp(c, IR_AND, a.lo, b.lo, 64);
		r.hi = alu_tmp(c, IR_AND, a.hi, b.hi, 64);
		break;
	case X86_INS_POR: case X86_INS_ORPS: case X86_INS_ORPD:
		r.lo = alu_tmp(c, IR_OR, a.lo, b.lo, 64);
		r.hi = alu_tmp(c, IR_OR, a.hi, b.hi, 64);
		break;
	case X86_INS_PANDN: case X86_INS_ANDNPS: case X86_INS_ANDNPD:
		r.lo = alu_tmp(c, IR_AND, alu_tmp(c, IR_XOR, a.lo, ir_imm(-1), 64), b.lo, 64);
		r.hi = alu_tmp(c, IR_AND, alu_tmp(c, IR_XOR, a.hi, ir_imm(-1), 64), b.hi, 64);
		break;
	case X86_INS_PADDB: case X86_INS_PSUBB:
		r.lo = swar_add(c, a.lo, b.lo, c->in->id == X86_INS_PSUBB);
		r.hi = swar_add(c, a.hi, b.hi, c->in->id == X86_INS_PSUBB);
		break;
	case X86_INS_PADDQ: case X86_INS_PSUBQ:
		r.lo = alu_tmp(c, c->in->id == X86_INS_PADDQ ? IR_ADD : IR_SUB, a.lo, b.lo, 64);
		r.hi = alu_tmp(c, c->in->id == X86_INS_PADDQ ? IR_ADD : IR_SUB, a.hi, b.hi, 64);
		break;
	case X86_INS_PADDD: case X86_INS_PSUBD:
		r.lo = dword_lanes(c, c->in->id == X86_INS_PADDD ? IR_ADD : IR_SUB, a.lo, b.lo);
		r.hi = dword_lanes(c, c->in->id == X86_INS_PADDD ? IR_ADD : IR_SUB, a.hi, b.hi);
		break;
	case X86_INS_PCMPEQB: case X86_INS_PCMPEQW: case X86_INS_PCMPEQD:
		r.lo = swar_cmpeq(c, a.lo, b.lo, lane_width(c->in->id));
		r.hi = swar_cmpeq(c, a.hi, b.hi, lane_width(c->in->id));
		break;
	case X86_INS_PCMPGTB: case X86_INS_PCMPGTW: case X86_INS_PCMPGTD:
		r.lo = lanes_cmpgt(c, a.lo, b.lo, lane_width(c->in->id));
		r.hi = lanes_cmpgt(c, a.hi, b.hi, lane_width(c->in->id));
		break;
	case X86_INS_PMINUB: case X86_INS_PMAXUB:
		r.lo = lanes_minmax(c, a.lo, b.lo, c->in->id == X86_INS_PMAXUB);
		r.hi = lanes_minmax(c, a.hi, b.hi, c->in->id == X86_INS_PMAXUB);
		break;
	case X86_INS_PMULUDQ:	/* the low dword of each quadword, 64-bit products */
		r.lo = alu_tmp(c, IR_MUL, lane(c, a.lo, 32, 0), lane(c, b.lo, 32, 0), 64);
		r.hi = alu_tmp(c, IR_MUL, lane(c, a.hi, 32, 0), lane(c, b.hi, 32, 0), 64);
		break;
	case X86_INS_PACKUSWB:
		r.lo = pack_saturated(c, a);
		r.hi = pack_saturated(c, b);
		break;
	case X86_INS_PCMPGTQ:
		r.lo = select_of(c, IR_SGT, a.lo, b.lo, 64, ir_imm(-1), ir_imm(0));
		r.hi = select_of(c, IR_SGT, a.hi, b.hi, 64, ir_imm(-1), ir_imm(0));
		break;
	case X86_INS_PSHUFB:
		r = shuffle_bytes(c, a, b);
		break;
	case X86_INS_PSADBW:
		r.lo = sum_abs_diff(c, a.lo, b.lo);
		r.hi = sum_abs_diff(c, a.hi, b.hi);
		break;
	case X86_INS_PSUBUSB:	/* a - b saturated at 0 = a - min(a, b), byte-wise */
		r.lo = swar_add(c, a.lo, lanes_minmax(c, a.lo, b.lo, false), true);
		r.hi = swar_add(c, a.hi, lanes_minmax(c, a.hi, b.hi, false), true);
		break;
	case X86_INS_PACKSSDW: case X86_INS_PACKSSWB:
		r.lo = pack_signed(c, a, c->in->id == X86_INS_PACKSSDW ? 32 : 16);
		r.hi = pack_signed(c, b, c->in->id == X86_INS_PACKSSDW ? 32 : 16);
		break;
	default:
		return false;
	}
	if (!OPERAND_FAILED(c))
		write_x(c, d, 16, r);
	return true;
}

void x86_lift_insn(struct lift_ctx *c)
{
	const cs_insn *in = c->in;
	const cs_x86 *x = &in->detail->x86;

	/* Remember `cmp x, imm`: a switch's range check before its table. */
	if (x86_writes_flags(in))
		c->cmp_imm_valid = in->id == X86_INS_CMP && x->op_count == 2 &&
				   x->operands[1].type == X86_OP_IMM && x->operands[1].imm >= 0;
	if (c->cmp_imm_valid && in->id == X86_INS_CMP)
		c->cmp_imm = x->operands[1].imm;

	switch (in->id) {
	case X86_INS_NOP: case X86_INS_ENDBR64: case X86_INS_PREFETCHT0: case X86_INS_PREFETCH:
		return;
	case X86_INS_MOV: case X86_INS_MOVABS:
		write_op(c, &x->operands[0], op_width(&x->operands[0]),
			 x86_read_op(c, &x->operands[1], op_width(&x->operands[0])));
		return;
	case X86_INS_MOVZX: lift_extend_move(c, false); return;
	case X86_INS_MOVSX: case X86_INS_MOVSXD: lift_extend_move(c, true); return;
	case X86_INS_LEA: lift_lea(c); return;
	case X86_INS_ADD: lift_binary(c, IR_ADD, FK_ADD); return;
	case X86_INS_SUB: lift_binary(c, IR_SUB, FK_SUB); return;
	case X86_INS_AND: lift_binary(c, IR_AND, FK_LOGIC); return;
	case X86_INS_OR: lift_binary(c, IR_OR, FK_LOGIC); return;
	case X86_INS_XOR: lift_binary(c, IR_XOR, FK_LOGIC); return;
	case X86_INS_ADC: lift_adc_sbb(c, false); return;
	case X86_INS_SBB: lift_adc_sbb(c, true); return;
	case X86_INS_CMP: lift_compare(c, false); return;
	case X86_INS_TEST: lift_compare(c, true); return;
	case X86_INS_NOT: case X86_INS_NEG: case X86_INS_INC: case X86_INS_DEC: lift_unary(c); return;
	case X86_INS_SHL: case X86_INS_SAL: case X86_INS_SHR: case X86_INS_SAR: lift_shift(c); return;
	case X86_INS_ROL: case X86_INS_ROR: lift_rotate(c); return;
	case X86_INS_IMUL: lift_imul(c); return;
	case X86_INS_MUL: lift_widening_mul(c, false); return;
	case X86_INS_DIV: lift_div(c, false); return;
	case X86_INS_IDIV: lift_div(c, true); return;
	case X86_INS_PUSH: lift_push(c); return;
	case X86_INS_POP: lift_pop(c); return;
	case X86_INS_LEAVE: lift_leave(c); return;
	case X86_INS_XCHG: lift_xchg(c); return;
	case X86_INS_BT: case X86_INS_BTS: case X86_INS_BTR: case X86_INS_BTC: lift_bit_test(c); return;
	case X86_INS_BSF: case X86_INS_BSR: case X86_INS_TZCNT: case X86_INS_LZCNT: case X86_INS_POPCNT:
		lift_bit_scan(c);
		return;
	case X86_INS_CDQE: alu(c, IR_SEXT, IR_RAX, ir_imm(0), ir_reg(IR_RAX), 32); return;
	case X86_INS_CWDE: alu(c, IR_ZEXT, IR_RAX, ir_imm(0), sext(c, ir_reg(IR_RAX), 16), 32); return;
	case X86_INS_CWD:	/* dx = the sign of ax, spread; the rest of rdx kept */
		set_low16(c, IR_RDX, alu_tmp(c, IR_ASHR, sext(c, ir_reg(IR_RAX), 16), ir_imm(15), 64));
		return;
	case X86_INS_CBW: {	/* ax = sign-extended al, the rest kept */
		struct ir_val t = zext(c, sext(c, ir_reg(IR_RAX), 8), 16);

		alu(c, IR_AND, IR_RAX, ir_reg(IR_RAX), ir_imm(~0xffffll), 64);
		alu(c, IR_OR, IR_RAX, ir_reg(IR_RAX), t, 64);
		return;
	}
	case X86_INS_CQO: alu(c, IR_ASHR, IR_RDX, ir_reg(IR_RAX), ir_imm(63), 64); return;
	case X86_INS_CDQ: alu(c, IR_ASHR, IR_RDX, ir_reg(IR_RAX), ir_imm(31), 32); return;
	case X86_INS_BSWAP: {
		int w = op_width(&x->operands[0]);

		write_op(c, &x->operands[0], w, alu_tmp(c, IR_BSWAP, ir_imm(0), x86_read_op(c, &x->operands[0], w), w));
		return;
	}
	default:
		break;
	}
	if (lift_sse(c))
		return;
	if (cc_of(in->id) != CC_NONE && in->mnemonic[0] == 's') {
		lift_select_cc(c, false);
		return;
	}
	if (cc_of(in->id) != CC_NONE && in->mnemonic[0] == 'c') {
		lift_select_cc(c, true);
		return;
	}
	unsupported(c);
}
