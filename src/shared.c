/* shared.c - the plan for shared state (docs/shared-state.md): which of the
 * entry object's writable sections the XDP program and OUT share, where
 * each sits in the shared region, and whether the handler reaches them.
 *
 * A section is shareable when the same bytes mean the same thing in both
 * executables: no thread-local storage (one copy per thread), no
 * relocations (an initialised pointer holds an address of one executable),
 * and no variable whose type holds a pointer (a pointer stored at run time
 * is just as foreign to the other side).  The last needs the DWARF of every
 * variable in the section; a section with an object the DWARF does not
 * describe is refused, since koff cannot tell what it holds.
 *
 * The plan is built before the link from the object alone; the offload
 * (src/offload.c) marks the same sections with shared_mark_sections, so
 * lifter/layout.c puts them at the same offsets from IR_DATA_VA. */
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "ir.h"

#define WHY_LEN 200

/* What the DWARF says about one variable, kept for the verdicts. */
struct var_fact {
	int shndx;
	uint64_t off;
	const char *name;
	bool holds_pointer;
};

struct var_facts {
	struct var_fact *v;
	int n, cap;
};

static int collect_variable(const struct obj_variable *v, void *arg)
{
	struct var_facts *f = arg;

	if (koff_grow(&f->v, &f->cap, f->n, sizeof(*f->v)))
		return -ENOMEM;
	f->v[f->n++] = (struct var_fact){ v->shndx, v->off, v->name, v->holds_pointer };
	return 0;
}

static int compare_facts(const void *a, const void *b)
{
	const struct var_fact *x = a, *y = b;

	if (x->shndx != y->shndx)
		return x->shndx < y->shndx ? -1 : 1;
	return x->off < y->off ? -1 : x->off > y->off;
}

/* f sorted by compare_facts: a binary search, so that many symbols and
 * variables cost n log n, not their product. */
static bool has_variable_at(const struct var_facts *f, int shndx, uint64_t off)
{
	struct var_fact key = { .shndx = shndx, .off = off };

	return f->n && bsearch(&key, f->v, (size_t)f->n, sizeof(*f->v), compare_facts);
}

/* Why section i cannot be shared ("" when it can). */
static void section_verdict(const struct obj_file *obj, const struct var_facts *f, int i, char *why,
			    size_t len)
{
	const struct obj_section *s = &obj->secs[i];
	int nvars = 0;

	why[0] = 0;
	if (s->flags & SHF_TLS) {
		snprintf(why, len, "thread-local");
		return;
	}
	if (s->nrelocs) {
		snprintf(why, len, "holds %d relocation%s (initialised pointers)", s->nrelocs,
			 s->nrelocs == 1 ? "" : "s");
		return;
	}
	for (int k = 0; k < f->n; k++) {	/* sorted: this section's are together */
		if (f->v[k].shndx != i)
			continue;
		nvars++;
		if (f->v[k].holds_pointer) {
			snprintf(why, len, "`%s` holds a pointer", f->v[k].name);
			return;
		}
	}
	if (!nvars) {
		snprintf(why, len, "no DWARF variable describes it");
		return;
	}
	for (int k = 1; k < obj->nsyms; k++) {
		const struct obj_symbol *sym = &obj->syms[k];

		if (sym->shndx == i && sym->type == STT_OBJECT && !has_variable_at(f, i, sym->value)) {
			snprintf(why, len, "`%s` has no DWARF variable", sym->name);
			return;
		}
	}
}

/* Mark obj's shareable writable sections (obj_section.shared), before
 * layout_build.  With whys (obj->nsecs strings of WHY_LEN), the reason for
 * each refused one.  A DWARF walk that fails marks none and says why in
 * err (not an error for the link: nothing is shared then). */
static int mark_sections(struct obj_file *obj, char (*whys)[WHY_LEN], struct koff_error *err)
{
	struct var_facts f = { 0 };
	char why[WHY_LEN];
	int rc;

	for (int i = 0; i < obj->nsecs; i++)
		obj->secs[i].shared = false;
	rc = obj_for_each_variable(obj, collect_variable, &f, err);
	if (rc == -ENOMEM)
		koff_fail(err, rc, "out of memory");
	if (rc) {
		free(f.v);
		return rc;
	}
	if (f.n)
		qsort(f.v, (size_t)f.n, sizeof(*f.v), compare_facts);
	for (int i = 1; i < obj->nsecs; i++) {
		struct obj_section *s = &obj->secs[i];

		if (!layout_is_writable_data(s) || !s->size)
			continue;
		section_verdict(obj, &f, i, why, sizeof(why));
		s->shared = !why[0];
		if (whys)
			snprintf(whys[i], WHY_LEN, "%s", why);
	}
	free(f.v);
	return 0;
}

int shared_mark_sections(struct obj_file *obj)
{
	struct koff_error err = { 0 };
	int rc = mark_sections(obj, NULL, &err);

	return rc == -ENOMEM ? rc : 0;
}

/* ---- Which data the handler reaches --------------------------------------- */

/* A function's code in koff's layout, for the walk below. */
struct func_range {
	uint64_t start, end;
};

struct reach {
	const struct layout *lay;
	struct decoder *dec;
	struct func_range *fr;	/* sorted by start */
	int nfr, capfr;
	uint64_t *funcs;	/* function starts to walk, then walked */
	int nfuncs, capfuncs;
	uint64_t *data;		/* data addresses the code names */
	int ndata, capdata;
};

static int compare_ranges(const void *a, const void *b)
{
	const struct func_range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* Every defined function's code range, sorted, so that finding the one
 * holding an address is a binary search. */
static int function_table(struct reach *r)
{
	const struct obj_file *obj = r->lay->obj;

	for (int i = 1; i < obj->nsyms; i++) {
		const struct obj_symbol *s = &obj->syms[i];
		uint64_t base;

		if (s->type != STT_FUNC || s->shndx <= 0 || s->shndx >= obj->nsecs || !obj->secs[s->shndx].va)
			continue;
		if (koff_grow(&r->fr, &r->capfr, r->nfr, sizeof(*r->fr)))
			return -ENOMEM;
		base = obj->secs[s->shndx].va + s->value;
		r->fr[r->nfr++] = (struct func_range){ base, base + (s->size ? s->size : 1) };
	}
	if (r->nfr)
		qsort(r->fr, (size_t)r->nfr, sizeof(*r->fr), compare_ranges);
	return 0;
}

/* The function whose code holds va (the last one starting at or before
 * it, when functions overlap), or NULL. */
static const struct func_range *function_at(const struct reach *r, uint64_t va)
{
	int lo = 0, hi = r->nfr - 1, found = -1;

	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;

		if (r->fr[mid].start <= va) {
			found = mid;
			lo = mid + 1;
		} else {
			hi = mid - 1;
		}
	}
	return found >= 0 && va < r->fr[found].end ? &r->fr[found] : NULL;
}

static int add_function(struct reach *r, uint64_t start)
{
	for (int i = 0; i < r->nfuncs; i++)
		if (r->funcs[i] == start)
			return 0;
	if (koff_grow(&r->funcs, &r->capfuncs, r->nfuncs, sizeof(uint64_t)))
		return -ENOMEM;
	r->funcs[r->nfuncs++] = start;
	return 0;
}

static bool in_data(const struct layout *lay, uint64_t a)
{
	return a >= IR_DATA_VA && a < IR_DATA_VA + lay->data_size;
}

/* An address the code names: a data address, a GOT slot holding one, or a
 * function it calls or jumps to (inlined by the lifter, so walked too). */
static int note_address(struct reach *r, uint64_t a, uint64_t cur_start)
{
	const struct layout *lay = r->lay;
	const struct func_range *f;

	if (layout_in_rodata(lay, a) && a + 8 <= IR_RODATA_VA + lay->rodata_size) {
		uint64_t v;

		memcpy(&v, lay->rodata + (a - IR_RODATA_VA), 8);
		if (in_data(lay, v))
			a = v;	/* a GOT slot (-fPIC code reaching a global) */
	}
	if (in_data(lay, a)) {
		if (koff_grow(&r->data, &r->capdata, r->ndata, sizeof(uint64_t)))
			return -ENOMEM;
		r->data[r->ndata++] = a;
		return 0;
	}
	f = layout_in_text(lay, a) ? function_at(r, a) : NULL;
	if (f && f->start != cur_start)
		return add_function(r, f->start);
	return 0;
}

static int walk_function(struct reach *r, uint64_t start)
{
	const struct func_range *f = function_at(r, start);
	uint64_t end = f ? f->end : start + 1;
	int rc;

	for (uint64_t va = start; va < end;) {
		const cs_insn *in = decode_at(r->dec, va);
		const cs_x86 *x;

		if (!in)
			break;
		x = &in->detail->x86;
		for (int k = 0; k < x->op_count; k++) {
			const cs_x86_op *op = &x->operands[k];
			uint64_t a;

			if (op->type == X86_OP_IMM)
				a = (uint64_t)op->imm;
			else if (op->type == X86_OP_MEM && op->mem.base == X86_REG_RIP)
				a = in->address + in->size + (uint64_t)op->mem.disp;
			else if (op->type == X86_OP_MEM)
				a = (uint64_t)op->mem.disp;	/* absolute, or table(,%rax,8) */
			else
				continue;
			if ((rc = note_address(r, a, start)))
				return rc;
		}
		va += in->size;
	}
	return 0;
}

/* The data addresses the handler's code names: the entry and every local
 * function it reaches by a direct call or jump (what the lifter inlines). */
static int handler_data(struct reach *r, uint64_t entry)
{
	int rc = function_table(r);

	if (!rc)
		rc = add_function(r, entry);

	for (int i = 0; !rc && i < r->nfuncs; i++)
		rc = walk_function(r, r->funcs[i]);
	return rc;
}

/* ---- The plan --------------------------------------------------------------- */

static int section_at(const struct obj_file *obj, uint64_t a)
{
	for (int i = 1; i < obj->nsecs; i++) {
		const struct obj_section *s = &obj->secs[i];

		if (layout_is_writable_data(s) && s->va && a >= s->va && a - s->va < s->size)
			return i;
	}
	return -1;
}

/* "`table` (.data.rel.local): holds 2 relocations (initialised pointers)" */
static void describe_unshared(const struct obj_file *obj, uint64_t a, char (*whys)[WHY_LEN], char *buf,
			      size_t len)
{
	int i = section_at(obj, a);
	const char *var = NULL;

	if (i < 0) {
		snprintf(buf, len, "a common symbol at data+%#llx (compile with -fno-common)",
			 (unsigned long long)(a - IR_DATA_VA));
		return;
	}
	for (int k = 1; k < obj->nsyms; k++) {
		const struct obj_symbol *s = &obj->syms[k];

		if (s->shndx == i && s->type == STT_OBJECT && a - obj->secs[i].va >= s->value &&
		    a - obj->secs[i].va < s->value + (s->size ? s->size : 1))
			var = s->name;
	}
	if (var)
		snprintf(buf, len, "`%s` (%s): %s", var, obj->secs[i].name, whys[i]);
	else
		snprintf(buf, len, "%s: %s", obj->secs[i].name, whys[i]);
}

static int add_plan_section(struct shared_plan *p, const struct obj_file *obj, int i)
{
	const struct obj_section *s = &obj->secs[i];
	struct shared_section *d;

	if (koff_grow(&p->secs, &p->capsecs, p->nsecs, sizeof(*p->secs)))
		return -ENOMEM;
	d = &p->secs[p->nsecs];
	d->shndx = i;
	d->name = strdup(s->name);
	if (!d->name)
		return -ENOMEM;
	d->off = s->va - IR_DATA_VA;
	d->size = s->size;
	d->nobits = s->type == SHT_NOBITS;
	p->nsecs++;
	if (d->off + d->size > p->data_size)
		p->data_size = d->off + d->size;
	return 0;
}

/* The shared sections in layout order, data_size and value_size. */
static int fill_sections(struct shared_plan *p, const struct obj_file *obj)
{
	for (int i = 1; i < obj->nsecs; i++)
		if (obj->secs[i].shared && obj->secs[i].va && add_plan_section(p, obj, i))
			return -ENOMEM;
	for (int a = 1; a < p->nsecs; a++)	/* insertion sort by offset: few sections */
		for (int b = a; b > 0 && p->secs[b - 1].off > p->secs[b].off; b--) {
			struct shared_section t = p->secs[b];

			p->secs[b] = p->secs[b - 1];
			p->secs[b - 1] = t;
		}
	if (p->nsecs)	/* else nothing to share: no map */
		p->value_size = (p->data_size + KOFF_SHARED_CTL_SIZE + KOFF_SHARED_PAGE - 1) /
				KOFF_SHARED_PAGE * KOFF_SHARED_PAGE;
	return 0;
}

/* used, and why_not for the first unshared data the handler names. */
static int judge_use(struct koff_ctx *ctx, const struct layout *lay, uint64_t entry, char (*whys)[WHY_LEN])
{
	struct shared_plan *p = &ctx->shared;
	struct reach r = { .lay = lay };
	struct decoder dec;
	int rc;

	rc = decoder_init(&dec, lay, &ctx->err);
	if (rc)
		return rc;
	r.dec = &dec;
	rc = handler_data(&r, entry);
	for (int i = 0; !rc && i < r.ndata; i++) {
		uint64_t off = r.data[i] - IR_DATA_VA;

		if (off < p->data_size) {
			p->used = true;
		} else if (!p->why_not[0]) {
			char what[WHY_LEN + 64];

			describe_unshared(lay->obj, r.data[i], whys, what, sizeof(what));
			snprintf(p->why_not, sizeof(p->why_not), "%s uses %s", ctx->opt.entry, what);
		}
	}
	decoder_free(&dec);
	free(r.fr);
	free(r.funcs);
	free(r.data);
	return rc == -ENOMEM ? koff_fail(&ctx->err, rc, "out of memory") : rc;
}

static int plan_from_object(struct koff_ctx *ctx, struct obj_file *obj, char (*whys)[WHY_LEN])
{
	struct shared_plan *p = &ctx->shared;
	struct koff_error err = { 0 };
	const struct obj_symbol *entry;
	struct layout lay;
	int rc;

	rc = mark_sections(obj, whys, &err);
	if (rc == -ENOMEM)
		return koff_fail(&ctx->err, rc, "out of memory");
	if (rc) {
		snprintf(p->why_not, sizeof(p->why_not), "%.300s", err.msg);
		return 0;
	}
	rc = layout_build(obj, &lay, &err);
	if (rc) {
		layout_free(&lay);
		if (rc == -ENOMEM)
			return koff_fail(&ctx->err, rc, "%s", err.msg);
		snprintf(p->why_not, sizeof(p->why_not), "%.300s", err.msg);	/* offload_build refuses too */
		return 0;
	}
	rc = fill_sections(p, obj);
	entry = obj_find_symbol(obj, ctx->opt.entry);
	if (!rc && entry)
		rc = judge_use(ctx, &lay, layout_symbol_va(&lay, (int)(entry - obj->syms)), whys);
	layout_free(&lay);
	if (rc == -ENOMEM)
		return koff_fail(&ctx->err, rc, "out of memory");
	return rc;
}

int shared_plan_build(struct koff_ctx *ctx)
{
	struct obj_file *obj = NULL;
	char (*whys)[WHY_LEN];
	int rc;

	shared_plan_free(&ctx->shared);
	rc = obj_open(ctx->opt.object, &obj, &ctx->err);
	if (rc)
		return rc;
	whys = calloc((size_t)obj->nsecs + 1, sizeof(*whys));
	if (!whys) {
		obj_close(obj);
		return koff_fail(&ctx->err, -ENOMEM, "out of memory");
	}
	rc = plan_from_object(ctx, obj, whys);
	free(whys);
	obj_close(obj);
	return rc;
}

int shared_plan_copy(struct shared_plan *dst, const struct shared_plan *src)
{
	*dst = *src;
	dst->secs = NULL;
	dst->nsecs = dst->capsecs = 0;
	dst->roots = NULL;
	dst->root_writes = NULL;
	dst->nroots = dst->caproots = 0;
	for (int i = 0; i < src->nsecs; i++) {
		if (koff_grow(&dst->secs, &dst->capsecs, dst->nsecs, sizeof(*dst->secs)))
			return -ENOMEM;
		dst->secs[i] = src->secs[i];
		dst->secs[i].name = strdup(src->secs[i].name);
		dst->nsecs++;
		if (!dst->secs[i].name)
			return -ENOMEM;
	}
	return 0;
}

void shared_plan_free(struct shared_plan *p)
{
	for (int i = 0; i < p->nsecs; i++)
		free((char *)p->secs[i].name);
	free(p->secs);
	shared_roots_free(p);	/* src/roots.c: roots and root_writes */
	memset(p, 0, sizeof(*p));
}

int shared_initial_image(const struct koff_ctx *ctx, uint8_t **image)
{
	const struct shared_plan *p = &ctx->shared;
	struct koff_shared_ctl ctl = { .magic = KOFF_SHARED_MAGIC };

	*image = calloc(1, p->value_size);
	if (!*image)
		return -ENOMEM;
	for (int i = 0; i < p->nsecs; i++) {
		const struct obj_section *s = ctx->obj && p->secs[i].shndx < ctx->obj->nsecs
						      ? &ctx->obj->secs[p->secs[i].shndx] : NULL;

		if (s && s->data && !p->secs[i].nobits && s->size == p->secs[i].size)
			memcpy(*image + p->secs[i].off, s->data, s->size);
	}
	memcpy(*image + p->value_size - KOFF_SHARED_CTL_SIZE, &ctl, sizeof(ctl));
	return 0;
}

const char *shared_mode_name(enum koff_shared_mode m)
{
	return m == KOFF_SHARED_SEQ ? "seq" : m == KOFF_SHARED_LOCK ? "lock" : "none";
}
