/* elfobj.h - the input: a relocatable x86-64 ELF object and its DWARF.
 * Built on libelf and libdw.  Everything the rest of koff-link needs from
 * the object is read once, in obj_open, into plain arrays. */
#ifndef KOFF_ELFOBJ_H
#define KOFF_ELFOBJ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "koff.h"

struct obj_reloc {
	uint64_t offset;	/* in the section the relocation applies to */
	uint32_t type;		/* R_X86_64_* */
	int sym;		/* index into obj_file.syms */
	int64_t addend;
};

struct obj_section {
	const char *name;
	int index;		/* ELF section index */
	uint32_t type;		/* SHT_* */
	uint64_t flags;		/* SHF_* */
	uint64_t size, align;
	const uint8_t *data;	/* NULL for SHT_NOBITS */
	struct obj_reloc *relocs;	/* relocations applying to this section, sorted by offset */
	int nrelocs;
	uint64_t va;		/* fake address assigned by lifter/layout.c, 0 = none */
	bool shared;		/* shareable writable data (src/shared.c): laid out first */
};

struct obj_symbol {
	const char *name;	/* "" for unnamed (section symbols: see section name) */
	int shndx;		/* SHN_UNDEF (0) for external symbols */
	uint64_t value, size;
	int type;		/* STT_* */
	int bind;		/* STB_* */
};

struct obj_file {
	const char *path;
	int fd;
	void *elf;		/* Elf * */
	void *dwfl;		/* Dwfl * (libdwfl relocates DWARF of ET_REL objects) */
	struct obj_section *secs;	/* indexed by ELF section index */
	int nsecs;
	struct obj_symbol *syms;	/* indexed by ELF symbol index */
	int nsyms;
};

/* Open and check the object: an ELF file, ELFCLASS64, ET_REL, EM_X86_64,
 * with DWARF debug info.  Each failure gets its own one-line message:
 *   "PATH: not an ELF file", "PATH: is EM_AARCH64, koff-link needs x86-64",
 *   "PATH: not a relocatable object (ET_EXEC); compile with -c",
 *   "PATH: no DWARF debug info; compile with -g". */
int obj_open(const char *path, struct obj_file **out, struct koff_error *err);
void obj_close(struct obj_file *obj);
/* The same without DWARF (obj->dwfl NULL): sections, symbols, relocations
 * only, for objects whose code is read but not lifted (src/roots.c). */
int obj_open_code(const char *path, struct obj_file **out, struct koff_error *err);

/* A defined symbol of that name (functions and objects), or NULL. */
const struct obj_symbol *obj_find_symbol(const struct obj_file *obj, const char *name);
/* The relocation of section `shndx` whose offset lies in [lo, hi), or NULL. */
const struct obj_reloc *obj_reloc_in(const struct obj_file *obj, int shndx, uint64_t lo, uint64_t hi);

/* DWARF checks and lookups (src/dwarf.c). */

/* The role a function's DWARF signature fits. */
enum obj_role {
	OBJ_ROLE_NONE,
	/* long f(const unsigned char *, unsigned long, unsigned char *, unsigned long)
	 * char or unsigned char pointees, any const, size_t/unsigned long, long/ssize_t */
	OBJ_ROLE_HANDLER,
	/* int f(const char *, size_t, ...) returning int: an early-drop parser */
	OBJ_ROLE_PARSER,
};

/* Called by obj_open once libdwfl has the DWARF: refuses what koff-link
 * cannot read, with the reason: split DWARF ("... split DWARF
 * (-gsplit-dwarf) ... rebuild without it") and compile units libdw cannot
 * parse ("corrupt DWARF"). */
int obj_check_debug_info(struct obj_file *obj, struct koff_error *err);

/* Check that `name` is a function defined in the object whose DWARF
 * signature fits an offload role: *role is the one it fits (the handler
 * convention first, then the parser's).  Messages:
 *   "handle_request: no such function in PATH",
 *   "handle_request: defined in PATH, but its DWARF has no entry for it (corrupt DWARF?)",
 *   "handle_request: PATH has no DWARF types (-g1 or -gline-tables-only?); compile with -g",
 *   "handle_request: signature is `int (char *, int)`, expected `long (...)` (a handler) or `int (...)` (a parser)" */
int obj_check_entry(struct obj_file *obj, const char *name, enum obj_role *role, struct koff_error *err);
/* The same for the handler role only: "expected `long (...)`". */
int obj_check_handler(struct obj_file *obj, const char *name, struct koff_error *err);
/* Classify every function with DWARF: fills names/roles (malloc'd arrays, caller frees names array only). */
int obj_list_functions(struct obj_file *obj, const char ***names, enum obj_role **roles, int *count);

/* 1 when every argument of function `name` travels in a register (SysV
 * x86-64, from its DWARF signature: not variadic, nothing on the stack,
 * conservatively for aggregates); else 0 with the reason in why. */
int obj_args_in_registers(struct obj_file *obj, const char *name, char *why, size_t len);

/* A variable at a fixed address in one of the object's sections. */
struct obj_variable {
	const char *name;
	int shndx;		/* the section holding it */
	uint64_t off;		/* in that section */
	bool has_type;
	bool holds_pointer;	/* its type holds a pointer anywhere (or is unknown) */
};
typedef int (*obj_variable_visitor)(const struct obj_variable *v, void *arg);
/* Every variable the DWARF locates at a fixed address (file scope and
 * function-local statics); a nonzero return of visit stops the walk and is
 * returned.  Corrupt DWARF: -EBADMSG with err filled. */
int obj_for_each_variable(struct obj_file *obj, obj_variable_visitor visit, void *arg,
			  struct koff_error *err);

/* "file.c:42" for byte `off` of section `shndx`; returns 0, or -ENOENT
 * (buf then holds "?"). */
int obj_source_line(struct obj_file *obj, int shndx, uint64_t off, char *buf, size_t len);

#endif
