/* layout.c - fake addresses for every section and symbol, relocations
 * applied to the code and read-only data images. */
#include <ctype.h>
#include <elf.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"
#include "layout.h"

enum sec_kind { SEC_NONE, SEC_TEXT, SEC_RODATA, SEC_DATA };

static enum sec_kind section_kind(const struct obj_section *s)
{
	if (!(s->flags & SHF_ALLOC) || !s->name)
		return SEC_NONE;
	if (s->flags & SHF_EXECINSTR)	/* code without bytes in the file is no code */
		return s->type == SHT_NOBITS ? SEC_NONE : SEC_TEXT;
	if (!strcmp(s->name, ".eh_frame") || !strncmp(s->name, ".note", 5))
		return SEC_NONE;
	/* .data.rel.ro is written only by the dynamic loader: read-only to code. */
	if (!(s->flags & SHF_WRITE) || !strncmp(s->name, ".data.rel.ro", 12))
		return s->type == SHT_NOBITS ? SEC_DATA : SEC_RODATA;
	return SEC_DATA;
}

/* The largest section alignment laid out.  Honouring a larger one would
 * make the fake address space, and koff-link's memory, grow with the
 * alignment instead of with the input (2^63 cannot be allocated at all);
 * placing the section less aligned than asked could change what code that
 * tests address bits computes.  So such an object is not offloaded. */
#define LAYOUT_MAX_ALIGN 4096u

/* a is a power of two (elfobj.c checked) no larger than LAYOUT_MAX_ALIGN,
 * and v below 2^32: no overflow. */
static uint64_t align_up(uint64_t v, uint64_t a)
{
	if (a < 1)
		a = 1;
	return (v + a - 1) / a * a;
}

/* How many bytes each region of include/ir.h may hold. */
static uint64_t region_room(enum sec_kind k)
{
	switch (k) {
	case SEC_TEXT: return IR_RODATA_VA - IR_TEXT_VA;
	case SEC_RODATA: return IR_SCRATCH_VA - IR_RODATA_VA;
	default: return IR_EXTERN_VA - IR_DATA_VA;
	}
}

/* One section at the end of its region.  -E2BIG (err filled) when it
 * cannot be placed. */
static int place_section(struct layout *lay, struct obj_section *s, enum sec_kind k,
			 struct koff_error *err)
{
	uint64_t *end, base;

	switch (k) {
	case SEC_TEXT: end = &lay->text_size; base = IR_TEXT_VA; break;
	case SEC_RODATA: end = &lay->rodata_size; base = IR_RODATA_VA; break;
	default: end = &lay->data_size; base = IR_DATA_VA; break;
	}
	if (s->align > LAYOUT_MAX_ALIGN)
		return koff_fail(err, -E2BIG, "section %s asks for alignment %#llx, koff lays out "
				 "at most %#x", s->name, (unsigned long long)s->align, LAYOUT_MAX_ALIGN);
	*end = align_up(*end, s->align > 16 ? s->align : 16);
	if (s->size > region_room(k) - *end)
		return koff_fail(err, -E2BIG, "section %s (%llu bytes) does not fit koff's address "
				 "space", s->name, (unsigned long long)s->size);
	s->va = base + *end;
	*end += s->size;
	return 0;
}

/* Assign addresses: code, read-only data and writable data in three runs.
 * Writable sections marked shared (src/shared.c) come first, so that
 * [IR_DATA_VA, end of the last shared one) is exactly the shared region
 * (include/koff_abi.h); the others follow it. */
static int assign_addresses(struct layout *lay, struct koff_error *err)
{
	struct obj_file *obj = lay->obj;

	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < obj->nsecs; i++) {
			struct obj_section *s = &obj->secs[i];
			enum sec_kind k = section_kind(s);
			bool late = k == SEC_DATA && !s->shared;
			int rc;

			if (k == SEC_NONE || late != (pass == 1))
				continue;
			rc = place_section(lay, s, k, err);
			if (rc)
				return rc;
		}
	return 0;
}

/* Looked up through slot_of_sym, not by a scan: an object with many
 * externs and relocations must not cost their product. */
static int extern_slot(struct layout *lay, int sym)
{
	if (lay->slot_of_sym[sym] >= 0)
		return lay->slot_of_sym[sym];
	if (koff_grow(&lay->extern_syms, &lay->capexterns, lay->nexterns, sizeof(int)))
		return -ENOMEM;
	lay->extern_syms[lay->nexterns] = sym;
	lay->slot_of_sym[sym] = lay->nexterns;
	return lay->nexterns++;
}

uint64_t layout_symbol_va(const struct layout *lay, int sym)
{
	const struct obj_file *obj = lay->obj;
	const struct obj_symbol *s;

	if (sym < 0 || sym >= obj->nsyms)
		return 0;
	s = &obj->syms[sym];
	if (s->shndx == SHN_UNDEF)
		return lay->slot_of_sym && lay->slot_of_sym[sym] >= 0
			       ? IR_EXTERN_VA + 16ull * (uint64_t)lay->slot_of_sym[sym] : 0;
	if (s->shndx == SHN_ABS)
		return s->value;
	if (s->shndx >= obj->nsecs)	/* SHN_COMMON and friends: writable data */
		return IR_DATA_VA + lay->data_size;
	return obj->secs[s->shndx].va ? obj->secs[s->shndx].va + s->value : 0;
}

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A GOT slot in the read-only image holding the symbol's address. */
static int got_slot(struct layout *lay, uint64_t target, uint64_t *slot_va)
{
	uint64_t off = align_up(lay->rodata_size, 8);
	uint8_t *n = realloc(lay->rodata, off + 8);

	if (!n)
		return -ENOMEM;
	memset(n + lay->rodata_size, 0, off + 8 - lay->rodata_size);
	put_le(n + off, target, 8);
	lay->rodata = n;
	lay->rodata_size = off + 8;
	*slot_va = IR_RODATA_VA + off;
	return 0;
}

static int note_bad(struct layout *lay, uint64_t va)
{
	if (koff_grow(&lay->bad_reloc_va, &lay->capbad, lay->nbad, sizeof(uint64_t)))
		return -ENOMEM;
	lay->bad_reloc_va[lay->nbad++] = va;
	return 0;
}

static uint8_t *image_at(struct layout *lay, bool is_text, uint64_t va)
{
	return is_text ? lay->text + (va - IR_TEXT_VA) : lay->rodata + (va - IR_RODATA_VA);
}

/* Apply one relocation located at fake address P of the text or rodata image. */
static int apply_reloc(struct layout *lay, const struct obj_reloc *r, bool is_text, uint64_t P)
{
	uint64_t S = layout_symbol_va(lay, r->sym);
	uint64_t A = (uint64_t)r->addend;
	uint8_t *where = image_at(lay, is_text, P);
	uint64_t slot;

	switch (r->type) {
	case R_X86_64_64:
		put_le(where, S + A, 8);
		return 0;
	case R_X86_64_PC64:
		put_le(where, S + A - P, 8);
		return 0;
	case R_X86_64_PC32:
	case R_X86_64_PLT32:
		put_le(where, S + A - P, 4);
		return 0;
	case R_X86_64_32:
	case R_X86_64_32S:
		put_le(where, S + A, 4);
		return 0;
	case R_X86_64_GOTPCREL:
	case R_X86_64_GOTPCRELX:
	case R_X86_64_REX_GOTPCRELX:
		if (got_slot(lay, S, &slot))
			return -ENOMEM;
		where = image_at(lay, is_text, P);	/* the slot may have moved rodata */
		put_le(where, slot + A - P, 4);
		return 0;
	default:
		return 1;	/* not applied */
	}
}

/* The bytes relocation type `type` writes (4 for the ones not applied). */
static uint64_t reloc_width(uint32_t type)
{
	return type == R_X86_64_64 || type == R_X86_64_PC64 ? 8 : 4;
}

static int relocate_section(struct layout *lay, const struct obj_section *s, bool is_text)
{
	for (int i = 0; i < s->nrelocs; i++) {
		const struct obj_reloc *r = &s->relocs[i];
		uint64_t P = s->va + r->offset;
		int rc;

		/* Written inside the section, compared without overflow. */
		if (r->offset > s->size || s->size - r->offset < reloc_width(r->type))
			continue;
		if (lay->obj->syms[r->sym].shndx == SHN_UNDEF && extern_slot(lay, r->sym) < 0)
			return -ENOMEM;
		rc = apply_reloc(lay, r, is_text, P);
		if (rc < 0)
			return rc;
		if (rc > 0 && is_text && note_bad(lay, P))
			return -ENOMEM;
	}
	return 0;
}

/* Append n bytes to the read-only image (8-aligned); returns their address or 0. */
static uint64_t append_rodata(struct layout *lay, const void *data, size_t n)
{
	uint64_t off = align_up(lay->rodata_size, 8);
	uint8_t *img = realloc(lay->rodata, off + n);

	if (!img)
		return 0;
	memset(img + lay->rodata_size, 0, off - lay->rodata_size);
	memcpy(img + off, data, n);
	lay->rodata = img;
	lay->rodata_size = off + n;
	return IR_RODATA_VA + off;
}

/* A table of 384 entries (indexes -128..255) and the pointer to its entry
 * 0, as glibc's __ctype_*_loc() return: copied from this process's own
 * glibc, which is in the "C" locale (koff-link never calls setlocale). */
static uint64_t add_ctype_table(struct layout *lay, const void *entry0, size_t elem)
{
	uint64_t table = append_rodata(lay, (const uint8_t *)entry0 - 128 * elem, 384 * elem), ptr;

	if (!table)
		return 0;
	ptr = table + 128 * elem;
	return append_rodata(lay, &ptr, sizeof(ptr));
}

static bool calls_setlocale(const struct obj_file *obj)
{
	for (int i = 0; i < obj->nsyms; i++)
		if (obj->syms[i].shndx == SHN_UNDEF && obj->syms[i].name &&
		    !strcmp(obj->syms[i].name, "setlocale"))
			return true;
	return false;
}

static int add_ctype_tables(struct layout *lay)
{
	if (calls_setlocale(lay->obj))
		return 0;
	lay->ctype_b_ptr_va = add_ctype_table(lay, *__ctype_b_loc(), sizeof(**__ctype_b_loc()));
	lay->ctype_tolower_ptr_va = add_ctype_table(lay, *__ctype_tolower_loc(),
						    sizeof(**__ctype_tolower_loc()));
	lay->ctype_toupper_ptr_va = add_ctype_table(lay, *__ctype_toupper_loc(),
						    sizeof(**__ctype_toupper_loc()));
	return lay->ctype_b_ptr_va && lay->ctype_tolower_ptr_va && lay->ctype_toupper_ptr_va ? 0
											     : -ENOMEM;
}

int layout_build(struct obj_file *obj, struct layout *lay, struct koff_error *err)
{
	int rc;

	memset(lay, 0, sizeof(*lay));
	lay->obj = obj;
	rc = assign_addresses(lay, err);
	if (rc)
		return rc;
	lay->text = calloc(1, lay->text_size + 16);
	lay->rodata = calloc(1, lay->rodata_size + 16);
	lay->slot_of_sym = malloc(((size_t)obj->nsyms + 1) * sizeof(int));
	if (!lay->text || !lay->rodata || !lay->slot_of_sym)
		return koff_fail(err, -ENOMEM, "out of memory laying out %s", obj->path);
	memset(lay->slot_of_sym, 0xff, ((size_t)obj->nsyms + 1) * sizeof(int));	/* all -1 */
	/* Externs get their slots first so symbol addresses are final before
	 * any relocation is applied. */
	for (int i = 0; i < obj->nsyms; i++)
		if (obj->syms[i].shndx == SHN_UNDEF && obj->syms[i].name && obj->syms[i].name[0] &&
		    extern_slot(lay, i) < 0)
			return koff_fail(err, -ENOMEM, "out of memory");
	for (int i = 0; i < obj->nsecs; i++) {
		const struct obj_section *s = &obj->secs[i];
		enum sec_kind k = section_kind(s);

		if ((k == SEC_TEXT || k == SEC_RODATA) && s->data)
			memcpy((k == SEC_TEXT ? lay->text + (s->va - IR_TEXT_VA)
					      : lay->rodata + (s->va - IR_RODATA_VA)),
			       s->data, s->size);
	}
	for (int i = 0; i < obj->nsecs; i++) {
		const struct obj_section *s = &obj->secs[i];
		enum sec_kind k = section_kind(s);

		if (k == SEC_TEXT)
			rc = relocate_section(lay, s, true);
		else if (k == SEC_RODATA && s->data)
			rc = relocate_section(lay, s, false);
		else
			continue;
		if (rc)
			return koff_fail(err, rc, "out of memory relocating %s", obj->path);
	}
	if (add_ctype_tables(lay))
		return koff_fail(err, -ENOMEM, "out of memory");
	return 0;
}

void layout_free(struct layout *lay)
{
	free(lay->text);
	free(lay->rodata);
	free(lay->extern_syms);
	free(lay->slot_of_sym);
	free(lay->bad_reloc_va);
	memset(lay, 0, sizeof(*lay));
}

const char *layout_extern_name(const struct layout *lay, uint64_t va)
{
	uint64_t i;

	if (va < IR_EXTERN_VA || (va - IR_EXTERN_VA) % 16)
		return NULL;
	i = (va - IR_EXTERN_VA) / 16;
	return i < (uint64_t)lay->nexterns ? lay->obj->syms[lay->extern_syms[i]].name : NULL;
}

bool layout_is_writable_data(const struct obj_section *s)
{
	return section_kind(s) == SEC_DATA;
}

bool layout_in_text(const struct layout *lay, uint64_t va)
{
	return va >= IR_TEXT_VA && va < IR_TEXT_VA + lay->text_size;
}

bool layout_in_rodata(const struct layout *lay, uint64_t va)
{
	return va >= IR_RODATA_VA && va < IR_RODATA_VA + lay->rodata_size;
}

bool layout_bad_reloc(const struct layout *lay, uint64_t va, uint64_t len)
{
	for (int i = 0; i < lay->nbad; i++)
		if (lay->bad_reloc_va[i] >= va && lay->bad_reloc_va[i] < va + len)
			return true;
	return false;
}

int layout_text_section(const struct layout *lay, uint64_t va, uint64_t *off)
{
	const struct obj_file *obj = lay->obj;

	for (int i = 0; i < obj->nsecs; i++) {
		const struct obj_section *s = &obj->secs[i];

		if (section_kind(s) == SEC_TEXT && va >= s->va && va < s->va + s->size) {
			*off = va - s->va;
			return i;
		}
	}
	return -1;
}

/* The function symbol whose code holds va, or NULL. */
static const struct obj_symbol *function_containing(const struct layout *lay, uint64_t va)
{
	const struct obj_file *obj = lay->obj;

	for (int i = 0; i < obj->nsyms; i++) {
		const struct obj_symbol *s = &obj->syms[i];
		uint64_t start;

		if (s->type != STT_FUNC || s->shndx == SHN_UNDEF || s->shndx >= obj->nsecs)
			continue;
		start = obj->secs[s->shndx].va + s->value;
		if (va >= start && va < start + (s->size ? s->size : 1))
			return s;
	}
	return NULL;
}

uint64_t layout_function_start(const struct layout *lay, uint64_t va)
{
	const struct obj_symbol *s = function_containing(lay, va);

	return s ? lay->obj->secs[s->shndx].va + s->value : 0;
}

uint64_t layout_function_end(const struct layout *lay, uint64_t va)
{
	const struct obj_symbol *s = function_containing(lay, va);

	return s && s->size ? lay->obj->secs[s->shndx].va + s->value + s->size : 0;
}

const char *layout_function_at(const struct layout *lay, uint64_t va)
{
	const struct obj_symbol *s = function_containing(lay, va);

	return s ? s->name : "?";
}
