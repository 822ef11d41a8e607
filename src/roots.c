/* roots.c - which userspace functions enter a section (docs/shared-state.md).
 *
 * Over every object on the link line: the functions, the call graph, the
 * functions that reference shared state (a relocation against a shared
 * section of the entry object, or against a symbol defined in one), and
 * those that wait for input (call poll, recv, read, sleep, ...).  Then:
 *   touches  reaches shared state, through any chain of calls;
 *   waits    reaches a waiting call;
 *   root     touches and does not wait, and is entered from outside any
 *            other such function: no known caller, a caller that waits, or
 *            its address is taken (it can be called from anywhere).
 * A function that waits and references shared state itself, main as a
 * root, or a root koff-link cannot patch safely drop the plan (used =
 * false, why_not): the kernel side then falls back as without shared state.
 *
 * Both mistakes a name list can make are safe: a waiting function taken
 * for one that does not wait holds the section while it waits (the kernel
 * side falls back meanwhile), and the reverse only refuses more.
 *
 * Archives and shared libraries are not decoded: their code cannot name
 * the entry object's sections, and it reaches the program's functions only
 * through pointers, which the program's own objects took (address taken:
 * roots).  An archive member or a shared library on the link line that
 * names a global of a shared section is refused (check_library). */
#include <ar.h>
#include <elf.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <capstone/capstone.h>

#include "driver.h"

struct fn {
	int obj, sym;
	const char *name;
	int shndx;
	uint64_t lo, hi;		/* in its section */
	bool touches, writes, waits;	/* directly */
	bool addr_taken, calls_indirect;
	bool jumps_indirect;		/* jmp *%reg: a switch, or a tail call through a pointer */
	bool has_table;			/* refers to a table of addresses in its own section */
	bool t_touch, t_write, t_wait;	/* transitively */
	int *callees;
	int ncallees, capcallees;
	bool called;			/* some function calls or jumps to it */
	bool caller_waits;		/* ... and one of those waits */
	const char *wait_call;		/* the waiting call it makes itself */
};

struct roots {
	struct koff_ctx *ctx;
	struct obj_file **objs;
	int nobjs, entry;		/* entry: index of ctx->opt.object */
	struct fn *fns;
	int nfns, capfns;
	csh cs;
	const cs_insn *insns;		/* the function scan_function is decoding */
	size_t ninsns;
};

/* ---- names ------------------------------------------------------------- */

/* Calls that wait for input or for time.  Fortified and ISO C variants
 * (__read_chk, __isoc99_scanf, pread64) reduce to these names. */
static const char *const waiting_calls[] = {
	"poll", "ppoll", "select", "pselect", "pselect6", "epoll_wait", "epoll_pwait", "epoll_pwait2",
	"accept", "accept4", "recv", "recvfrom", "recvmsg", "recvmmsg", "read", "readv", "pread",
	"preadv", "preadv2", "fgets", "fgetc", "getc", "getline", "getdelim", "fread", "scanf", "fscanf",
	"vscanf", "vfscanf", "getchar", "gets", "sleep", "usleep", "nanosleep", "clock_nanosleep", "pause",
	"sigwait", "sigwaitinfo", "sigtimedwait", "sigsuspend", "wait", "waitpid", "waitid", "wait3",
	"wait4", "pthread_cond_wait", "pthread_cond_timedwait", "pthread_cond_clockwait", "pthread_join",
	"sem_wait", "sem_timedwait", "sem_clockwait", "msgrcv", "mq_receive", "mq_timedreceive",
	"io_getevents", "connect", "system", "syscall", "getaddrinfo", "readline", "fgetws", "getwchar",
	"futex", "io_uring_enter", "io_uring_wait_cqe", "event_base_dispatch", "event_base_loop",
	"uv_run",
};

static bool is_waiting_call(const char *name)
{
	char base[128];
	size_t n;

	while (*name == '_')
		name++;
	if (!strncmp(name, "isoc99_", 7) || !strncmp(name, "isoc23_", 7))
		name += 7;
	snprintf(base, sizeof(base), "%s", name);
	n = strlen(base);
	if (n > 4 && !strcmp(base + n - 4, "_chk"))
		base[n -= 4] = 0;
	if (n > 9 && !strcmp(base + n - 9, "_unlocked"))
		base[n -= 9] = 0;
	if (n > 2 && !strcmp(base + n - 2, "64"))
		base[n -= 2] = 0;
	for (size_t i = 0; i < KOFF_ARRAY_SIZE(waiting_calls); i++)
		if (!strcmp(base, waiting_calls[i]))
			return true;
	return false;
}

/* ---- the objects and their functions ------------------------------------ */

static bool is_object_arg(const char *arg)
{
	size_t n = strlen(arg);

	return arg[0] != '-' && n > 2 && !strcmp(arg + n - 2, ".o");
}

static bool drop(struct roots *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool drop(struct roots *r, const char *fmt, ...)
{
	struct shared_plan *p = &r->ctx->shared;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->why_not, sizeof(p->why_not), fmt, ap);
	va_end(ap);
	p->used = false;
	return false;
}

static bool is_shared_section(const struct roots *r, int obj, int shndx)
{
	const struct shared_plan *p = &r->ctx->shared;

	if (obj != r->entry)
		return false;
	for (int i = 0; i < p->nsecs; i++)
		if (p->secs[i].shndx == shndx)
			return true;
	return false;
}

static int open_objects(struct roots *r)
{
	const struct koff_options *o = &r->ctx->opt;

	r->objs = calloc((size_t)o->nlink_args + 1, sizeof(*r->objs));
	if (!r->objs)
		return koff_fail(&r->ctx->err, -ENOMEM, "out of memory");
	r->entry = -1;
	for (int i = 0; i < o->nlink_args && r->ctx->shared.used; i++) {
		const char *arg = o->link_args[i];
		struct koff_error err = { 0 };

		if (!is_object_arg(arg))
			continue;
		/* An object koff cannot read (LTO bytecode, another machine): its
		 * code could touch the state unseen; not a reason to fail the link. */
		if (obj_open_code(arg, &r->objs[r->nobjs], &err)) {
			if (err.code == -ENOMEM)
				return koff_fail(&r->ctx->err, err.code, "%s", err.msg);
			drop(r, "cannot analyse the userspace side: %s", err.msg);
			return 0;
		}
		if (arg == o->object || !strcmp(arg, o->object))
			r->entry = r->nobjs;
		r->nobjs++;
	}
	if (r->entry < 0 && r->ctx->shared.used)
		return koff_fail(&r->ctx->err, -ENOENT, "%s: not on the link line", o->object);
	return 0;
}

static int add_functions(struct roots *r)
{
	for (int o = 0; o < r->nobjs; o++) {
		const struct obj_file *obj = r->objs[o];

		for (int k = 1; k < obj->nsyms; k++) {
			const struct obj_symbol *s = &obj->syms[k];
			struct fn *f;

			if (s->type != STT_FUNC || s->shndx <= 0 || s->shndx >= obj->nsecs)
				continue;
			if (koff_grow(&r->fns, &r->capfns, r->nfns, sizeof(*r->fns)))
				return koff_fail(&r->ctx->err, -ENOMEM, "out of memory");
			f = &r->fns[r->nfns++];
			f->obj = o;
			f->sym = k;
			f->name = s->name;
			f->shndx = s->shndx;
			f->lo = s->value;
			f->hi = s->value + (s->size ? s->size : 1);
		}
	}
	return 0;
}

/* The function of object `obj` whose body holds offset `off` of section
 * `shndx`, or -1. */
static int function_at(const struct roots *r, int obj, int shndx, uint64_t off)
{
	for (int i = 0; i < r->nfns; i++) {
		const struct fn *f = &r->fns[i];

		if (f->obj == obj && f->shndx == shndx && off >= f->lo && off < f->hi)
			return i;
	}
	return -1;
}

/* A global definition of `name` in any object: a function index, or -1;
 * *shared when it is a variable of a shared section. */
static int global_definition(const struct roots *r, const char *name, bool *shared)
{
	*shared = false;
	for (int o = 0; o < r->nobjs; o++) {
		const struct obj_file *obj = r->objs[o];
		const struct obj_symbol *s = obj_find_symbol(obj, name);

		if (!s || s->bind == STB_LOCAL)
			continue;
		if (is_shared_section(r, o, s->shndx)) {
			*shared = true;
			return -1;
		}
		if (s->type == STT_FUNC)
			return function_at(r, o, s->shndx, s->value);
	}
	return -1;
}

/* ---- what a relocation refers to ---------------------------------------- */

enum ref_kind { REF_NONE, REF_SHARED, REF_FUNC, REF_WAIT, REF_CODE };

struct ref {
	enum ref_kind kind;
	int fn;				/* REF_FUNC, REF_CODE (-1 when no function) */
	uint64_t off;			/* REF_CODE: offset in the target's section */
	const char *name;		/* REF_WAIT */
};

static bool is_got_slot(uint32_t type)
{
	return type == R_X86_64_GOTPCREL || type == R_X86_64_GOTPCRELX || type == R_X86_64_REX_GOTPCRELX;
}

static bool is_pc_relative(uint32_t type)
{
	return type == R_X86_64_PC32 || type == R_X86_64_PLT32 || type == R_X86_64_GOTPCREL ||
	       type == R_X86_64_GOTPCRELX || type == R_X86_64_REX_GOTPCRELX || type == R_X86_64_PC64;
}

/* `pc_end`: the address the CPU adds a PC-relative value to (the end of
 * the instruction), as an offset in the relocated section; the relocation's
 * own offset for data. */
static struct ref resolve(const struct roots *r, int o, const struct obj_reloc *rel, uint64_t pc_end)
{
	const struct obj_file *obj = r->objs[o];
	const struct obj_symbol *s = rel->sym > 0 && rel->sym < obj->nsyms ? &obj->syms[rel->sym] : NULL;
	struct ref ref = { .kind = REF_NONE, .fn = -1 };
	bool shared;

	if (!s)
		return ref;
	if (s->shndx == SHN_UNDEF) {
		ref.fn = global_definition(r, s->name, &shared);
		if (shared)
			ref.kind = REF_SHARED;
		else if (ref.fn >= 0)
			ref.kind = REF_FUNC;
		else if (is_waiting_call(s->name))
			ref.kind = REF_WAIT, ref.name = s->name;
		return ref;
	}
	if (s->shndx >= obj->nsecs)
		return ref;
	if (is_shared_section(r, o, s->shndx))
		return (struct ref){ .kind = REF_SHARED, .fn = -1 };
	if (!(obj->secs[s->shndx].flags & SHF_EXECINSTR))
		return ref;
	if (s->type == STT_FUNC) {
		ref.kind = REF_FUNC;
		ref.fn = function_at(r, o, s->shndx, s->value);
		return ref;
	}
	/* A section symbol (or a label): the addend says where. */
	ref.kind = REF_CODE;
	ref.off = s->value + (uint64_t)rel->addend +
		  (is_pc_relative(rel->type) ? pc_end - rel->offset : 0);
	ref.fn = function_at(r, o, s->shndx, ref.off);
	if (ref.fn >= 0 && r->fns[ref.fn].lo == ref.off)
		ref.kind = REF_FUNC;
	return ref;
}

/* ---- one function's instructions ------------------------------------------ */

static int add_callee(struct roots *r, int from, int to)
{
	struct fn *f = &r->fns[from];

	if (to < 0 || to == from)
		return 0;
	for (int i = 0; i < f->ncallees; i++)
		if (f->callees[i] == to)
			return 0;
	if (koff_grow(&f->callees, &f->capcallees, f->ncallees, sizeof(int)))
		return koff_fail(&r->ctx->err, -ENOMEM, "out of memory");
	f->callees[f->ncallees++] = to;
	return 0;
}

static bool in_group(const cs_insn *in, uint8_t group)
{
	for (int g = 0; g < in->detail->groups_count; g++)
		if (in->detail->groups[g] == group)
			return true;
	return false;
}

static bool has_imm_operand(const cs_insn *in, int64_t *imm)
{
	const cs_x86 *x = &in->detail->x86;

	for (int o = 0; o < x->op_count; o++)
		if (x->operands[o].type == X86_OP_IMM) {
			*imm = x->operands[o].imm;
			return true;
		}
	return false;
}

/* The relocated field is the instruction's immediate (not its displacement). */
static bool in_immediate(const cs_insn *in, const struct obj_reloc *rel)
{
	const cs_x86 *x = &in->detail->x86;

	return x->encoding.imm_size && rel->offset >= in->address + x->encoding.imm_offset;
}

/* A plain load: the relocated field is the displacement of a memory
 * operand that is only read, of an instruction other than lea; and not the
 * address of a GOT slot (which hands out the variable's address). */
static bool is_plain_load(const cs_insn *in, const struct obj_reloc *rel)
{
	const cs_x86 *x = &in->detail->x86;

	if (in->id == X86_INS_LEA || is_got_slot(rel->type))
		return false;
	if (in_immediate(in, rel))
		return false;
	for (int o = 0; o < x->op_count; o++)
		if (x->operands[o].type == X86_OP_MEM)
			return x->operands[o].access == CS_AC_READ;
	return false;
}

/* ---- where the address of a shared variable goes --------------------------- */

/* A general-purpose register's number (0-15) for any of its names; *full
 * when writing that name replaces all 64 bits (the 64- and 32-bit names). */
static int gpr_of(unsigned reg, bool *full)
{
	static const unsigned names[16][5] = {
		{ X86_REG_RAX, X86_REG_EAX, X86_REG_AX, X86_REG_AL, X86_REG_AH },
		{ X86_REG_RCX, X86_REG_ECX, X86_REG_CX, X86_REG_CL, X86_REG_CH },
		{ X86_REG_RDX, X86_REG_EDX, X86_REG_DX, X86_REG_DL, X86_REG_DH },
		{ X86_REG_RBX, X86_REG_EBX, X86_REG_BX, X86_REG_BL, X86_REG_BH },
		{ X86_REG_RSP, X86_REG_ESP, X86_REG_SP, X86_REG_SPL, X86_REG_SPL },
		{ X86_REG_RBP, X86_REG_EBP, X86_REG_BP, X86_REG_BPL, X86_REG_BPL },
		{ X86_REG_RSI, X86_REG_ESI, X86_REG_SI, X86_REG_SIL, X86_REG_SIL },
		{ X86_REG_RDI, X86_REG_EDI, X86_REG_DI, X86_REG_DIL, X86_REG_DIL },
		{ X86_REG_R8, X86_REG_R8D, X86_REG_R8W, X86_REG_R8B, X86_REG_R8B },
		{ X86_REG_R9, X86_REG_R9D, X86_REG_R9W, X86_REG_R9B, X86_REG_R9B },
		{ X86_REG_R10, X86_REG_R10D, X86_REG_R10W, X86_REG_R10B, X86_REG_R10B },
		{ X86_REG_R11, X86_REG_R11D, X86_REG_R11W, X86_REG_R11B, X86_REG_R11B },
		{ X86_REG_R12, X86_REG_R12D, X86_REG_R12W, X86_REG_R12B, X86_REG_R12B },
		{ X86_REG_R13, X86_REG_R13D, X86_REG_R13W, X86_REG_R13B, X86_REG_R13B },
		{ X86_REG_R14, X86_REG_R14D, X86_REG_R14W, X86_REG_R14B, X86_REG_R14B },
		{ X86_REG_R15, X86_REG_R15D, X86_REG_R15W, X86_REG_R15B, X86_REG_R15B },
	};

	for (int g = 0; g < 16; g++)
		for (int k = 0; k < 5; k++)
			if (names[g][k] == reg) {
				*full = k < 2;
				return g;
			}
	return -1;
}

#define GPR_BIT(reg) (1u << (reg))
#define ARG_REGS (GPR_BIT(7) | GPR_BIT(6) | GPR_BIT(2) | GPR_BIT(1) | GPR_BIT(8) | GPR_BIT(9))
#define CALLEE_SAVED (GPR_BIT(3) | GPR_BIT(4) | GPR_BIT(5) | GPR_BIT(12) | GPR_BIT(13) | GPR_BIT(14) | GPR_BIT(15))

static bool holds(unsigned mask, unsigned reg)
{
	bool full;
	int g = gpr_of(reg, &full);

	return g >= 0 && (mask & GPR_BIT(g));
}

/* Pointer arithmetic and comparisons keep an address an address; a copy to
 * a register makes that register hold it too.  Anything else that reads it
 * as a value (a store of it, an argument, xchg, ...) lets it escape. */
static bool keeps_address(unsigned id)
{
	return id == X86_INS_MOV || id == X86_INS_ADD || id == X86_INS_SUB || id == X86_INS_INC ||
	       id == X86_INS_DEC || id == X86_INS_CMP || id == X86_INS_TEST;
}

/* One instruction's effect on the set of registers holding a shared
 * address: false when it writes through one, or the address escapes. */
static bool flow_step(const cs_insn *in, unsigned *mask)
{
	const cs_x86 *x = &in->detail->x86;
	unsigned gained = 0, lost = 0;
	bool derived = false, full;
	int g;

	for (int o = 0; o < x->op_count; o++) {
		const cs_x86_op *op = &x->operands[o];

		if (op->type == X86_OP_MEM && (holds(*mask, op->mem.base) || holds(*mask, op->mem.index))) {
			if (in->id == X86_INS_LEA)
				derived = true;
			else if (op->access & CS_AC_WRITE)
				return false;	/* a store through the address */
		} else if (op->type == X86_OP_REG && (op->access & CS_AC_READ) && holds(*mask, op->reg)) {
			if (!keeps_address(in->id))
				return false;
			derived = in->id != X86_INS_CMP && in->id != X86_INS_TEST;
		}
	}
	for (int k = 0; k < in->detail->regs_read_count; k++)
		if (holds(*mask, in->detail->regs_read[k]))
			return false;	/* read implicitly: rep movs, push, ... */
	for (int o = 0; o < x->op_count; o++) {
		const cs_x86_op *op = &x->operands[o];

		if (op->type == X86_OP_MEM && derived && (op->access & CS_AC_WRITE))
			return false;	/* mov %rdx, (%rsp): stored */
		if (op->type != X86_OP_REG || !(op->access & CS_AC_WRITE) || (g = gpr_of(op->reg, &full)) < 0)
			continue;
		if (derived)
			gained |= GPR_BIT(g);
		else if (full)
			lost |= GPR_BIT(g);
	}
	for (int k = 0; k < in->detail->regs_write_count; k++)
		if ((g = gpr_of(in->detail->regs_write[k], &full)) >= 0 && full && !(gained & GPR_BIT(g)))
			lost |= GPR_BIT(g);
	*mask = (*mask & ~lost) | gained;
	return true;
}

static long insn_index(const struct roots *r, uint64_t address)
{
	long lo = 0, hi = (long)r->ninsns - 1;

	while (lo <= hi) {
		long mid = (lo + hi) / 2;

		if (r->insns[mid].address == address)
			return mid;
		if (r->insns[mid].address < address)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

struct flow_path {
	long at;
	unsigned mask;
};

/* (instruction, registers) pairs already followed: a loop comes back to one. */
struct flow_seen {
	struct flow_path v[512];
	int n;
};

/* True when the pair was seen; else records it (false also when full:
 * the caller then gives up). */
static bool seen_before(struct flow_seen *seen, long at, unsigned mask, bool *full)
{
	for (int i = 0; i < seen->n; i++)
		if (seen->v[i].at == at && seen->v[i].mask == mask)
			return true;
	*full = seen->n == (int)KOFF_ARRAY_SIZE(seen->v);
	if (!*full)
		seen->v[seen->n++] = (struct flow_path){ at, mask };
	return false;
}

/* Follows one path from instruction `at` with `mask`; pushes the other side
 * of conditional jumps.  False when the address may be written through or
 * escape on it. */
static bool flow_path(const struct roots *r, const struct fn *f, struct flow_path *stack, int *depth, int cap,
		      long at, unsigned mask, struct flow_seen *seen)
{
	while (mask) {
		const cs_insn *in;
		int64_t target;
		bool full;

		if (at < 0 || (size_t)at >= r->ninsns)
			return false;
		if (seen_before(seen, at, mask, &full))
			return true;	/* followed from here already */
		if (full)
			return false;
		in = &r->insns[at];
		if (!flow_step(in, &mask))
			return false;
		if (in->id == X86_INS_RET)
			return !(mask & GPR_BIT(0));
		if (in_group(in, CS_GRP_CALL)) {
			if (mask & ARG_REGS)
				return false;
			mask &= CALLEE_SAVED;
		} else if (in_group(in, CS_GRP_JUMP)) {
			bool inside;

			if (!has_imm_operand(in, &target))
				return false;	/* indirect */
			inside = (uint64_t)target >= f->lo && (uint64_t)target < f->hi;
			if (in->id == X86_INS_JMP) {
				if (!inside)
					return !(mask & ARG_REGS);	/* a tail call */
				at = insn_index(r, (uint64_t)target);
				continue;
			}
			if (!inside || *depth >= cap)
				return false;
			stack[(*depth)++] = (struct flow_path){ insn_index(r, (uint64_t)target), mask };
		}
		at++;
	}
	return true;
}

/* The address a lea (or mov $sym) put in a register is only read through,
 * on every path: the reference counts as a load.  Loops are followed a
 * bounded number of steps; whatever is not understood counts as a write. */
static bool address_only_read(const struct roots *r, const struct fn *f, const cs_insn *in)
{
	const cs_x86 *x = &in->detail->x86;
	struct flow_path stack[64];
	struct flow_seen *seen = calloc(1, sizeof(*seen));
	int depth = 0;
	bool ok;
	unsigned mask = 0;
	bool full;
	int g;

	if (!r->insns || in < r->insns || in >= r->insns + r->ninsns || !x->op_count ||
	    x->operands[0].type != X86_OP_REG || (g = gpr_of(x->operands[0].reg, &full)) < 0 || !full)
		return false;
	if (!seen)
		return false;
	mask = GPR_BIT(g);
	ok = flow_path(r, f, stack, &depth, (int)KOFF_ARRAY_SIZE(stack), (in - r->insns) + 1, mask, seen);
	while (ok && depth > 0) {
		struct flow_path p = stack[--depth];

		ok = flow_path(r, f, stack, &depth, (int)KOFF_ARRAY_SIZE(stack), p.at, p.mask, seen);
	}
	free(seen);
	return ok;
}

/* lea sym(%rip), %reg, mov(abs) $sym, %reg or add $sym, %reg (an index scaled
 * in %reg, -no-pie): the address into a register. */
static bool is_address_of(const cs_insn *in, const struct obj_reloc *rel)
{
	const cs_x86 *x = &in->detail->x86;

	if (is_got_slot(rel->type))
		return false;
	if (in->id == X86_INS_LEA)
		return true;
	return (in->id == X86_INS_MOV || in->id == X86_INS_MOVABS || in->id == X86_INS_ADD) && x->op_count == 2 &&
	       x->operands[0].type == X86_OP_REG && x->operands[1].type == X86_OP_IMM && in_immediate(in, rel);
}

static int scan_reference(struct roots *r, int i, const cs_insn *in, const struct obj_reloc *rel)
{
	struct fn *f = &r->fns[i];
	bool is_branch = in_group(in, CS_GRP_CALL) || in_group(in, CS_GRP_JUMP);
	struct ref ref = resolve(r, f->obj, rel, in->address + in->size);

	switch (ref.kind) {
	case REF_SHARED:
		f->touches = true;
		/* cmp $sym, %rax (a loop's end, -no-pie) only compares the address */
		if (!is_plain_load(in, rel) && !(is_address_of(in, rel) && address_only_read(r, f, in)) &&
		    !((in->id == X86_INS_CMP || in->id == X86_INS_TEST) && in_immediate(in, rel)))
			f->writes = true;
		return 0;
	case REF_WAIT:
		if (is_branch && !f->wait_call)
			f->wait_call = ref.name;
		f->waits |= is_branch;
		return 0;
	case REF_FUNC:
		if (ref.fn < 0)
			return 0;
		if (!is_branch)
			r->fns[ref.fn].addr_taken = true;
		return add_callee(r, i, ref.fn);
	case REF_CODE:
		/* A jump to a label of another function (foo -> foo.cold and back). */
		return is_branch ? add_callee(r, i, ref.fn) : 0;
	default:
		return 0;
	}
}

/* Does the relocated field of `in` hold the address of a table (in data)
 * whose first slot points into the function's own section? */
static bool refers_to_table(const struct roots *r, const struct fn *f, const cs_insn *in,
			    const struct obj_reloc *rel)
{
	const struct obj_file *obj = r->objs[f->obj];
	const struct obj_symbol *s = rel->sym > 0 && rel->sym < obj->nsyms ? &obj->syms[rel->sym] : NULL;
	const struct obj_reloc *slot;
	uint64_t at;

	if (!s || s->shndx <= 0 || s->shndx >= obj->nsecs || (obj->secs[s->shndx].flags & SHF_EXECINSTR) ||
	    is_shared_section(r, f->obj, s->shndx))
		return false;
	at = s->value + (uint64_t)rel->addend +
	     (is_pc_relative(rel->type) ? in->address + in->size - rel->offset : 0);
	slot = obj_reloc_in(obj, s->shndx, at, at + 1);
	return slot && slot->sym > 0 && slot->sym < obj->nsyms && obj->syms[slot->sym].shndx == f->shndx;
}

/* A call or jump without relocation: to a place in the same section. */
static int scan_local_branch(struct roots *r, int i, const cs_insn *in)
{
	struct fn *f = &r->fns[i];
	int64_t target;

	if (!in_group(in, CS_GRP_CALL) && !in_group(in, CS_GRP_JUMP))
		return 0;
	if (!has_imm_operand(in, &target)) {
		if (in_group(in, CS_GRP_CALL))
			f->calls_indirect = true;
		else if (in->id == X86_INS_JMP)
			f->jumps_indirect = true;
		return 0;
	}
	if ((uint64_t)target >= f->lo && (uint64_t)target < f->hi)
		return 0;
	return add_callee(r, i, function_at(r, f->obj, f->shndx, (uint64_t)target));
}

/* Bytes capstone could not decode (data in code): their relocations
 * still count, as the worst instruction could use them. */
static int scan_undecoded(struct roots *r, int i, uint64_t from)
{
	struct fn *f = &r->fns[i];
	const struct obj_file *obj = r->objs[f->obj];
	const struct obj_section *sec = &obj->secs[f->shndx];

	for (int q = 0; q < sec->nrelocs; q++) {
		const struct obj_reloc *rel = &sec->relocs[q];
		struct ref ref;

		if (rel->offset < from || rel->offset >= f->hi)
			continue;
		ref = resolve(r, f->obj, rel, rel->offset + 4);
		if (ref.kind == REF_SHARED)
			f->touches = f->writes = true;
		else if (ref.kind == REF_WAIT)
			f->waits = true, f->wait_call = ref.name;
		else if ((ref.kind == REF_FUNC || ref.kind == REF_CODE) && ref.fn >= 0) {
			r->fns[ref.fn].addr_taken = ref.kind == REF_FUNC;
			if (add_callee(r, i, ref.fn))
				return r->ctx->err.code;
		}
	}
	return 0;
}

static int scan_function(struct roots *r, int i)
{
	struct fn *f = &r->fns[i];
	const struct obj_file *obj = r->objs[f->obj];
	const struct obj_section *sec = &obj->secs[f->shndx];
	uint64_t decoded = f->lo;
	cs_insn *all = NULL;
	size_t n;
	int rc = 0;

	if (!sec->data || f->hi > sec->size)
		return 0;
	n = cs_disasm(r->cs, sec->data + f->lo, f->hi - f->lo, f->lo, 0, &all);
	r->insns = all;
	r->ninsns = n;
	for (size_t k = 0; k < n && !rc; k++) {
		const cs_insn *in = &all[k];
		const struct obj_reloc *rel = obj_reloc_in(obj, f->shndx, in->address, in->address + in->size);
		const struct obj_reloc *end = sec->relocs + sec->nrelocs;
		const cs_x86 *x = &in->detail->x86;

		decoded = in->address + in->size;
		if (!rel) {
			rc = scan_local_branch(r, i, in);
			continue;
		}
		/* A jump table's address (lea .rodata+X(%rip); jmp *X(,%rax,8)) makes
		 * the function's indirect jumps its switches. */
		if (refers_to_table(r, f, in, rel))
			f->has_table = true;
		/* call *fp(%rip) and jmp *fp(%rip) go through a pointer; a call
		 * through the GOT slot of a named function (-fno-plt) does not. */
		else if ((in_group(in, CS_GRP_CALL) || in->id == X86_INS_JMP) && x->op_count &&
			 x->operands[0].type == X86_OP_MEM && !is_got_slot(rel->type))
			f->calls_indirect = true;
		for (; !rc && rel < end && rel->offset < in->address + in->size; rel++)
			rc = scan_reference(r, i, in, rel);
	}
	r->insns = NULL;
	r->ninsns = 0;
	cs_free(all, n);
	if (!rc && decoded < f->hi)
		rc = scan_undecoded(r, i, decoded);
	if (f->jumps_indirect && !f->has_table)
		f->calls_indirect = true;	/* a tail call through a pointer */
	return rc;
}

/* References from data (function pointer tables, .init_array, jump
 * tables).  Unwind and debug sections refer to every function: skipped. */
static void scan_data_references(struct roots *r)
{
	for (int o = 0; o < r->nobjs; o++) {
		const struct obj_file *obj = r->objs[o];

		for (int si = 0; si < obj->nsecs; si++) {
			const struct obj_section *sec = &obj->secs[si];

			if (!sec->name || !(sec->flags & SHF_ALLOC) || (sec->flags & SHF_EXECINSTR) ||
			    !strncmp(sec->name, ".eh_frame", 9))
				continue;
			for (int q = 0; q < sec->nrelocs; q++) {
				struct ref ref = resolve(r, o, &sec->relocs[q], sec->relocs[q].offset);

				/* (REF_CODE: a jump table's slot; the patch checks them) */
				if (ref.kind == REF_FUNC && ref.fn >= 0)
					r->fns[ref.fn].addr_taken = true;
			}
		}
	}
}

/* ---- the graph ------------------------------------------------------------ */

/* An indirect call may reach any function whose address is taken; an
 * indirect jump in a function with a jump table is its switch. */
static int add_indirect_edges(struct roots *r)
{
	for (int i = 0; i < r->nfns; i++) {
		if (!r->fns[i].calls_indirect)
			continue;
		for (int j = 0; j < r->nfns; j++)
			if (r->fns[j].addr_taken && add_callee(r, i, j))
				return r->ctx->err.code;
	}
	return 0;
}

static void propagate(struct roots *r)
{
	bool changed = true;

	for (int i = 0; i < r->nfns; i++) {
		struct fn *f = &r->fns[i];

		f->t_touch = f->touches;
		f->t_write = f->writes;
		f->t_wait = f->waits;
	}
	while (changed) {
		changed = false;
		for (int i = 0; i < r->nfns; i++) {
			struct fn *f = &r->fns[i];

			for (int c = 0; c < f->ncallees; c++) {
				const struct fn *g = &r->fns[f->callees[c]];
				bool t = f->t_touch | g->t_touch, w = f->t_write | g->t_write, q = f->t_wait | g->t_wait;

				changed |= t != f->t_touch || w != f->t_write || q != f->t_wait;
				f->t_touch = t, f->t_write = w, f->t_wait = q;
			}
		}
	}
	for (int i = 0; i < r->nfns; i++)
		for (int c = 0; c < r->fns[i].ncallees; c++) {
			struct fn *g = &r->fns[r->fns[i].callees[c]];

			g->called = true;
			g->caller_waits |= r->fns[i].t_wait;
		}
}

/* ---- the roots ------------------------------------------------------------ */

static int add_root(struct roots *r, const struct fn *f)
{
	struct shared_plan *p = &r->ctx->shared;
	int cap = p->caproots;

	for (int i = 0; i < p->nroots; i++)
		if (!strcmp(p->roots[i], f->name))
			return 0;
	if (koff_grow(&p->roots, &p->caproots, p->nroots, sizeof(char *)) ||
	    koff_grow(&p->root_writes, &cap, p->nroots, sizeof(bool)))
		return koff_fail(&r->ctx->err, -ENOMEM, "out of memory");
	p->roots[p->nroots] = strdup(f->name);
	if (!p->roots[p->nroots])
		return koff_fail(&r->ctx->err, -ENOMEM, "out of memory");
	p->root_writes[p->nroots++] = f->t_write;
	return 0;
}

/* What the trampoline cannot keep exact: an extra return address shifts
 * stack-passed arguments.  Returns false (and drops the plan) when the
 * root is refused.  (Branches and jump tables into its first bytes are
 * checked in OUT, src/trampoline.c.) */
static bool root_patchable(struct roots *r, const struct fn *f)
{
	struct obj_file *full = NULL;
	struct koff_error err = { 0 };
	char why[300];
	int ok;

	if (obj_open(r->objs[f->obj]->path, &full, &err))
		return drop(r, "root %s cannot be patched: %s", f->name, err.msg);
	ok = obj_args_in_registers(full, f->name, why, sizeof(why));
	obj_close(full);
	if (!ok)
		return drop(r, "root %s cannot be patched: %s", f->name, why);
	return true;
}

static int choose_roots(struct roots *r)
{
	struct shared_plan *p = &r->ctx->shared;
	int rc;

	for (int i = 0; i < r->nfns; i++) {
		const struct fn *f = &r->fns[i];

		if (f->touches && f->t_wait) {
			drop(r, "%s both waits for input (%s) and accesses shared state itself", f->name,
			     f->wait_call ? f->wait_call : "through a call");
			return 0;
		}
	}
	for (int i = 0; i < r->nfns && p->used; i++) {
		const struct fn *f = &r->fns[i];

		if (!f->t_touch || f->t_wait)
			continue;
		if (f->called && !f->caller_waits && !f->addr_taken)
			continue;	/* always inside another root */
		if (!strcmp(f->name, "main")) {
			drop(r, "main reaches shared state without waiting for input: no request to "
			     "enclose");
			return 0;
		}
		if (!root_patchable(r, f))
			return 0;
		if ((rc = add_root(r, f)))
			return rc;
	}
	return 0;
}

/* ---- archives and shared libraries ----------------------------------------- */

static bool is_archive_arg(const char *arg)
{
	size_t n = strlen(arg);

	return arg[0] != '-' && n > 2 && !strcmp(arg + n - 2, ".a");
}

static bool is_shared_library_arg(const char *arg)
{
	size_t n = strlen(arg);

	return arg[0] != '-' && ((n > 3 && !strcmp(arg + n - 3, ".so")) || strstr(arg, ".so."));
}

/* Undefined names of one ELF file's symbol tables of that type (SHT_SYMTAB
 * for an archive member, SHT_DYNSYM for a shared library) that are
 * globals of a shared section: refused, as that code would access them
 * unseen. */
static void check_undefined_names(struct roots *r, Elf *elf, uint32_t symtab_type, const char *member,
				  const char *path)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(elf, scn)) && r->ctx->shared.used) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != symtab_type || !(d = elf_getdata(scn, NULL)))
			continue;
		for (size_t k = 1; sh.sh_entsize && k < sh.sh_size / sh.sh_entsize; k++) {
			GElf_Sym s;
			const char *name;
			bool shared;

			if (!gelf_getsym(d, (int)k, &s) || s.st_shndx != SHN_UNDEF)
				continue;
			name = elf_strptr(elf, sh.sh_link, s.st_name);
			if (name && *name && (global_definition(r, name, &shared), shared)) {
				drop(r, "%s%s%s uses shared variable %s", member, *member ? " in " : "", path, name);
				return;
			}
		}
	}
}

/* The archives and shared libraries named on the link line (-l libraries
 * are the system's: they do not know the program's globals). */
static void check_library(struct roots *r, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	Elf *elf, *m;
	Elf_Cmd cmd = ELF_C_READ;

	if (fd < 0)
		return;		/* the linker will say */
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (elf && elf_kind(elf) == ELF_K_ELF)
		check_undefined_names(r, elf, SHT_DYNSYM, "", path);
	while (elf && elf_kind(elf) == ELF_K_AR && r->ctx->shared.used && (m = elf_begin(fd, cmd, elf))) {
		Elf_Arhdr *h = elf_getarhdr(m);

		check_undefined_names(r, m, SHT_SYMTAB, h && h->ar_name ? h->ar_name : "a member", path);
		cmd = elf_next(m);
		elf_end(m);
	}
	if (elf)
		elf_end(elf);
	close(fd);
}

/* objcopy renames sections by name (src/trampoline.c): a shared section
 * whose name another section of the entry object has cannot move alone. */
static void check_section_names(struct roots *r)
{
	const struct shared_plan *p = &r->ctx->shared;
	const struct obj_file *obj = r->objs[r->entry];

	for (int i = 0; i < p->nsecs && r->ctx->shared.used; i++) {
		int same = 0;

		for (int k = 0; k < obj->nsecs; k++)
			same += obj->secs[k].name && !strcmp(obj->secs[k].name, p->secs[i].name);
		if (same != 1)
			drop(r, "%s has %d sections named %s: the shared one cannot be placed alone", obj->path,
			     same, p->secs[i].name);
	}
}

static void roots_free(struct roots *r)
{
	for (int i = 0; i < r->nfns; i++)
		free(r->fns[i].callees);
	free(r->fns);
	for (int o = 0; o < r->nobjs; o++)
		obj_close(r->objs[o]);
	free(r->objs);
	if (r->cs)
		cs_close(&r->cs);
}

int shared_find_roots(struct koff_ctx *ctx)
{
	struct roots r = { .ctx = ctx };
	int rc;

	if (!ctx->shared.used)
		return 0;
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &r.cs) != CS_ERR_OK)
		return koff_fail(&ctx->err, -EINVAL, "capstone: cannot open an x86-64 disassembler");
	cs_option(r.cs, CS_OPT_DETAIL, CS_OPT_ON);
	rc = open_objects(&r);
	if (!rc)
		check_section_names(&r);
	if (!rc && ctx->shared.used)
		rc = add_functions(&r);
	for (int i = 0; !rc && i < r.nfns; i++)
		rc = scan_function(&r, i);
	if (!rc) {
		scan_data_references(&r);
		rc = add_indirect_edges(&r);
	}
	for (int i = 0; !rc && i < ctx->opt.nlink_args && ctx->shared.used; i++)
		if (is_archive_arg(ctx->opt.link_args[i]) || is_shared_library_arg(ctx->opt.link_args[i]))
			check_library(&r, ctx->opt.link_args[i]);
	if (!rc && ctx->shared.used) {
		propagate(&r);
		rc = choose_roots(&r);
	}
	if (!rc && ctx->shared.used && !ctx->shared.nroots)
		drop(&r, "no userspace function reaches the shared state");
	if (rc || !ctx->shared.used)
		shared_roots_free(&ctx->shared);
	roots_free(&r);
	return rc;
}

void shared_roots_free(struct shared_plan *p)
{
	for (int i = 0; i < p->nroots; i++)
		free(p->roots[i]);
	free(p->roots);
	free(p->root_writes);
	p->roots = NULL;
	p->root_writes = NULL;
	p->nroots = p->caproots = 0;
}

