/* ir.c - building and printing IR functions (include/ir.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"
#include "koff.h"

struct ir_func *ir_func_new(const char *name)
{
	struct ir_func *fn = calloc(1, sizeof(*fn));

	if (!fn)
		return NULL;
	fn->name = name;
	fn->nvregs = IR_NFIXED;
	return fn;
}

void ir_func_free(struct ir_func *fn)
{
	if (!fn)
		return;
	for (int b = 0; b < fn->nblocks; b++) {
		for (int i = 0; i < fn->blocks[b].ninsns; i++) {
			free(fn->blocks[b].insns[i].cases);
			free(fn->blocks[b].insns[i].loop_vregs);
		}
		free(fn->blocks[b].insns);
		free(fn->blocks[b].walk_exit_vregs);
	}
	for (int i = 0; i < fn->nowned; i++)
		free(fn->owned_strings[i]);
	free(fn->owned_strings);
	free(fn->blocks);
	free(fn->rodata);
	free(fn);
}

int ir_block_new(struct ir_func *fn, uint64_t x86_addr)
{
	if (koff_grow(&fn->blocks, &fn->cap, fn->nblocks, sizeof(*fn->blocks)))
		return -ENOMEM;
	memset(&fn->blocks[fn->nblocks], 0, sizeof(fn->blocks[0]));
	fn->blocks[fn->nblocks].x86_addr = x86_addr;
	return fn->nblocks++;
}

struct ir_insn *ir_emit(struct ir_func *fn, int block, enum ir_op op)
{
	struct ir_block *b = &fn->blocks[block];
	struct ir_insn *in;

	if (koff_grow(&b->insns, &b->cap, b->ninsns, sizeof(*b->insns)))
		return NULL;
	in = &b->insns[b->ninsns++];
	memset(in, 0, sizeof(*in));
	in->op = op;
	in->w = 64;
	in->dst = IR_NONE;
	in->a = in->b = in->c = in->d = ir_imm(0);
	in->t = in->f = -1;
	return in;
}

bool ir_entry_constant(int vreg, uint64_t *value)
{
	switch (vreg) {
	case IR_RSI: case IR_RCX: return false;
	case IR_RDI: *value = IR_REQ_VA; return true;
	case IR_RDX: *value = IR_RESP_VA; return true;
	case IR_RSP: *value = IR_STACK_ENTRY; return true;
	default: *value = 0; return true;
	}
}

int ir_new_vreg(struct ir_func *fn)
{
	return fn->nvregs++;
}

const char *ir_own_string(struct ir_func *fn, const char *s)
{
	int cap = fn->nowned;
	char *copy;

	/* owned_strings grows one at a time: fallbacks are few. */
	if (koff_grow(&fn->owned_strings, &cap, fn->nowned, sizeof(char *)))
		return "out of memory";
	copy = strdup(s);
	if (!copy)
		return "out of memory";
	fn->owned_strings[fn->nowned++] = copy;
	return copy;
}

static const char *const op_names[] = {
	[IR_MOV] = "mov", [IR_ADD] = "add", [IR_SUB] = "sub", [IR_MUL] = "mul",
	[IR_AND] = "and", [IR_OR] = "or", [IR_XOR] = "xor", [IR_SHL] = "shl",
	[IR_LSHR] = "lshr", [IR_ASHR] = "ashr", [IR_NEG] = "neg",
	[IR_UDIV] = "udiv", [IR_UMOD] = "umod", [IR_SDIV] = "sdiv", [IR_SMOD] = "smod",
	[IR_MULHU] = "mulhu", [IR_MULHS] = "mulhs", [IR_BSWAP] = "bswap",
	[IR_ZEXT] = "zext", [IR_SEXT] = "sext", [IR_SELECT] = "select",
	[IR_LOAD] = "load", [IR_STORE] = "store", [IR_BR] = "br", [IR_JMP] = "jmp",
	[IR_RET] = "ret", [IR_FALLBACK] = "fallback", [IR_SWITCH] = "switch",
	[IR_LOOPGUARD] = "loopguard", [IR_TRACE] = "trace",
};

static const char *const cond_names[] = {
	"eq", "ne", "ult", "ule", "ugt", "uge", "slt", "sle", "sgt", "sge", "tstz", "tstnz",
};

static const char *const region_names[] = { "?", "req", "resp", "stack", "rodata" };

static void dump_val(FILE *f, struct ir_val v)
{
	if (v.reg == IR_NONE)
		fprintf(f, "%#llx", (unsigned long long)v.imm);
	else
		fprintf(f, "v%d", v.reg);
}

static void dump_insn(FILE *f, const struct ir_insn *in)
{
	fprintf(f, "    %-9s", op_names[in->op]);
	switch (in->op) {
	case IR_LOAD:
		fprintf(f, "v%d = [", in->dst);
		dump_val(f, in->a);
		fprintf(f, " + %lld] size %d %s%s", (long long)in->imm, in->size, region_names[in->region],
			in->within_len ? " within-len" : "");
		break;
	case IR_STORE:
		fputc('[', f);
		dump_val(f, in->a);
		fprintf(f, " + %lld] = ", (long long)in->imm);
		dump_val(f, in->b);
		fprintf(f, " size %d %s%s", in->size, region_names[in->region],
			in->within_len ? " within-len" : "");
		break;
	case IR_BR:
		fprintf(f, "%s/%d ", cond_names[in->cond], in->w);
		dump_val(f, in->a);
		fputs(", ", f);
		dump_val(f, in->b);
		fprintf(f, " ? b%d : b%d", in->t, in->f);
		break;
	case IR_JMP:
		fprintf(f, "b%d", in->t);
		break;
	case IR_RET: case IR_TRACE:
		break;
	case IR_FALLBACK:
		fprintf(f, "reason %lld: %s", (long long)in->imm, in->why ? in->why : "");
		break;
	case IR_SWITCH:
		dump_val(f, in->a);
		for (int i = 0; i < in->ncases; i++)
			fprintf(f, " %#llx:b%d", (unsigned long long)in->cases[i].value, in->cases[i].target);
		break;
	case IR_LOOPGUARD:
		fprintf(f, "#%lld%s%s", (long long)in->imm, in->walkable ? " walkable" : "",
			in->holds_walks ? " holds-walks" : "");
		break;
	case IR_SELECT:
		fprintf(f, "v%d = %s/%d ", in->dst, cond_names[in->cond], in->w);
		dump_val(f, in->a);
		fputs(", ", f);
		dump_val(f, in->b);
		fputs(" ? ", f);
		dump_val(f, in->c);
		fputs(" : ", f);
		dump_val(f, in->d);
		break;
	default:
		fprintf(f, "v%d = ", in->dst);
		dump_val(f, in->a);
		fputs(", ", f);
		dump_val(f, in->b);
		fprintf(f, " /%d", in->w);
		break;
	}
	fprintf(f, "\t\t; %#llx\n", (unsigned long long)in->x86_addr);
}

void ir_dump(const struct ir_func *fn, void *stream)
{
	FILE *f = stream;

	fprintf(f, "func %s: %d blocks, %d vregs, %d loop guards\n", fn->name, fn->nblocks,
		fn->nvregs, fn->nloops);
	for (int b = 0; b < fn->nblocks; b++) {
		fprintf(f, "  b%d: (x86 %#llx)\n", b, (unsigned long long)fn->blocks[b].x86_addr);
		for (int i = 0; i < fn->blocks[b].ninsns; i++)
			dump_insn(f, &fn->blocks[b].insns[i]);
	}
}

bool ir_zeroing_idiom(const struct ir_insn *in)
{
	return (in->op == IR_XOR || in->op == IR_SUB) && in->a.reg != IR_NONE && in->a.reg == in->b.reg;
}

bool ir_has_op(const struct ir_func *fn, enum ir_op op)
{
	for (int b = 0; b < fn->nblocks; b++)
		for (int i = 0; i < fn->blocks[b].ninsns; i++)
			if (fn->blocks[b].insns[i].op == op)
				return true;
	return false;
}

enum ir_cond ir_cond_mirror(enum ir_cond c)
{
	switch (c) {
	case IR_ULT: return IR_UGT;
	case IR_ULE: return IR_UGE;
	case IR_UGT: return IR_ULT;
	case IR_UGE: return IR_ULE;
	case IR_SLT: return IR_SGT;
	case IR_SLE: return IR_SGE;
	case IR_SGT: return IR_SLT;
	case IR_SGE: return IR_SLE;
	default: return c;	/* EQ, NE, TSTZ, TSTNZ are symmetric */
	}
}

enum ir_cond ir_cond_negate(enum ir_cond c)
{
	static const enum ir_cond negated[] = {
		[IR_EQ] = IR_NE, [IR_NE] = IR_EQ, [IR_ULT] = IR_UGE, [IR_ULE] = IR_UGT,
		[IR_UGT] = IR_ULE, [IR_UGE] = IR_ULT, [IR_SLT] = IR_SGE, [IR_SLE] = IR_SGT,
		[IR_SGT] = IR_SLE, [IR_SGE] = IR_SLT, [IR_TSTZ] = IR_TSTNZ, [IR_TSTNZ] = IR_TSTZ,
	};
	return negated[c];
}
