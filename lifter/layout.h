/* layout.h - places the object's sections in the fake address space of
 * include/ir.h and applies its relocations, like a tiny static linker:
 * afterwards the code bytes hold real (fake-VA) targets, so the decoder sees
 * exact branch targets and rip-relative addresses, and the read-only data
 * image holds relocated tables (jump tables, pointer tables, GOT slots). */
#ifndef KOFF_LAYOUT_H
#define KOFF_LAYOUT_H

#include <stdbool.h>
#include <stdint.h>

#include "elfobj.h"

struct layout {
	struct obj_file *obj;
	uint8_t *text;		/* executable sections, from IR_TEXT_VA */
	uint64_t text_size;
	uint8_t *rodata;	/* read-only sections + GOT slots, from IR_RODATA_VA */
	uint64_t rodata_size;
	uint64_t data_size;	/* writable sections from IR_DATA_VA */
	int *extern_syms;	/* extern slot i -> symbol index */
	int nexterns, capexterns;
	int *slot_of_sym;	/* symbol index -> extern slot, -1 = none (nsyms entries) */
	uint64_t *bad_reloc_va;	/* text addresses whose relocation was not applied */
	int nbad, capbad;
	/* glibc's "C" locale ctype tables, copied into the read-only image:
	 * the addresses of the pointers __ctype_b_loc() and friends return.
	 * 0 when the object calls setlocale (other locales are not modelled). */
	uint64_t ctype_b_ptr_va, ctype_tolower_ptr_va, ctype_toupper_ptr_va;
};

int layout_build(struct obj_file *obj, struct layout *lay, struct koff_error *err);
void layout_free(struct layout *lay);

/* Fake address of symbol `sym` (0 when it has none). */
uint64_t layout_symbol_va(const struct layout *lay, int sym);
/* Name of the external function at `va`, or NULL when va is no extern slot. */
const char *layout_extern_name(const struct layout *lay, uint64_t va);
/* A section laid out in the writable region (from IR_DATA_VA). */
bool layout_is_writable_data(const struct obj_section *s);
bool layout_in_text(const struct layout *lay, uint64_t va);
bool layout_in_rodata(const struct layout *lay, uint64_t va);
/* The relocation of text covering [va, va+len) that could not be applied. */
bool layout_bad_reloc(const struct layout *lay, uint64_t va, uint64_t len);
/* Section index and offset of a text address (for DWARF lines); -1 if none. */
int layout_text_section(const struct layout *lay, uint64_t va, uint64_t *off);
/* The start of the function symbol containing text address va, 0 if none. */
uint64_t layout_function_start(const struct layout *lay, uint64_t va);
/* The end of the function symbol containing text address va (its start +
 * its size), 0 if none or it has no size. */
uint64_t layout_function_end(const struct layout *lay, uint64_t va);
/* The name of the function symbol containing text address va ("?" if none). */
const char *layout_function_at(const struct layout *lay, uint64_t va);

#endif
