/* elfobj.c - reading the input object: sections, symbols and relocations
 * (libelf), and the libdwfl session that relocates its DWARF.
 *
 * Everything is read once in obj_open into plain arrays indexed the way ELF
 * indexes them, so later passes never touch libelf.  Names and section
 * contents point into the file mapping, which lives until obj_close. */
#include <fcntl.h>
#include <gelf.h>
#include <limits.h>
#include <elfutils/libdwfl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elfobj.h"

#ifndef ELFCOMPRESS_ZSTD
#define ELFCOMPRESS_ZSTD 2	/* newer than Debian 12's <elf.h> */
#endif

/* ---- Checks on the ELF header ------------------------------------------- */

static const char *machine_name(unsigned machine)
{
	static const struct { unsigned em; const char *name; } names[] = {
		{ EM_386, "EM_386" },         { EM_ARM, "EM_ARM" },
		{ EM_AARCH64, "EM_AARCH64" }, { EM_RISCV, "EM_RISCV" },
		{ EM_PPC, "EM_PPC" },         { EM_PPC64, "EM_PPC64" },
		{ EM_S390, "EM_S390" },       { EM_MIPS, "EM_MIPS" },
		{ EM_SPARCV9, "EM_SPARCV9" }, { EM_BPF, "EM_BPF" },
		{ EM_LOONGARCH, "EM_LOONGARCH" },
	};

	for (size_t i = 0; i < KOFF_ARRAY_SIZE(names); i++)
		if (names[i].em == machine)
			return names[i].name;
	return NULL;
}

static const char *elf_type_name(unsigned type)
{
	switch (type) {
	case ET_NONE: return "ET_NONE";
	case ET_EXEC: return "ET_EXEC";
	case ET_DYN:  return "ET_DYN";
	case ET_CORE: return "ET_CORE";
	default:      return "unknown type";
	}
}

/* clang -flto writes LLVM bitcode instead of an object: raw ('BC' 0xC0DE)
 * or in the bitcode wrapper (0x0B17C0DE, little-endian). */
static bool is_llvm_bitcode(Elf *elf)
{
	static const unsigned char raw[] = { 'B', 'C', 0xc0, 0xde }, wrapped[] = { 0xde, 0xc0, 0x17, 0x0b };
	size_t size = 0;
	const char *bytes = elf_rawfile(elf, &size);

	return bytes && size >= 4 && (!memcmp(bytes, raw, 4) || !memcmp(bytes, wrapped, 4));
}

/* The file must be a 64-bit relocatable x86-64 ELF object. */
static int check_elf_header(Elf *elf, const char *path, struct koff_error *err)
{
	GElf_Ehdr eh;
	const char *mname;

	if (elf_kind(elf) == ELF_K_AR)
		return koff_fail(err, -EINVAL, "%s: is an archive; pass the object files it holds", path);
	if (elf_kind(elf) != ELF_K_ELF && is_llvm_bitcode(elf))
		return koff_fail(err, -EINVAL, "%s: is LLVM bitcode (clang -flto), not machine code; "
				 "build with -ffat-lto-objects or without -flto", path);
	if (elf_kind(elf) != ELF_K_ELF)
		return koff_fail(err, -EINVAL, "%s: not an ELF file", path);
	if (!gelf_getehdr(elf, &eh))
		return koff_fail(err, -EINVAL, "%s: corrupt ELF header: %s", path, elf_errmsg(-1));
	if (eh.e_machine != EM_X86_64) {
		mname = machine_name(eh.e_machine);
		if (mname)
			return koff_fail(err, -EINVAL, "%s: is %s, koff-link needs x86-64", path, mname);
		return koff_fail(err, -EINVAL, "%s: is machine %u, koff-link needs x86-64",
				 path, eh.e_machine);
	}
	/* EM_X86_64 in a 32-bit container is the x32 ABI: different pointers. */
	if (eh.e_ident[EI_CLASS] != ELFCLASS64)
		return koff_fail(err, -EINVAL, "%s: is a 32-bit (x32) object, koff-link needs x86-64", path);
	if (eh.e_type != ET_REL)
		return koff_fail(err, -EINVAL, "%s: not a relocatable object (%s); compile with -c",
				 path, elf_type_name(eh.e_type));
	return 0;
}

/* ---- Sections, symbols, relocations ----------------------------------- */

static bool is_power_of_two(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* What the header says must agree with the file: an alignment ELF allows
 * (0 or a power of two) and, for sections with contents, bytes that exist
 * in the file (libelf checks the offset and size against the file). */
static int check_section_header(struct obj_file *obj, const struct obj_section *sec,
				const GElf_Shdr *sh, struct koff_error *err)
{
	if (sh->sh_addralign > 1 && !is_power_of_two(sh->sh_addralign))
		return koff_fail(err, -EINVAL, "%s: section %s has alignment %#llx, not a power of two",
				 obj->path, sec->name, (unsigned long long)sh->sh_addralign);
	if ((sh->sh_flags & SHF_ALLOC) && (sh->sh_flags & SHF_COMPRESSED))
		return koff_fail(err, -EINVAL, "%s: section %s is loaded but compressed (SHF_COMPRESSED)",
				 obj->path, sec->name);
	return 0;
}

/* A compressed (debug) section: libdw inflates it; relocation offsets
 * refer to the inflated bytes, so its size is the inflated size.  Its
 * bytes are no content anyone here reads (data stays NULL). */
static int read_compressed_size(struct obj_file *obj, Elf_Scn *scn, struct obj_section *sec,
				struct koff_error *err)
{
	GElf_Chdr ch;

	if (!gelf_getchdr(scn, &ch))
		return koff_fail(err, -EINVAL, "%s: bad compressed section %s: %s", obj->path, sec->name,
				 elf_errmsg(-1));
	sec->size = ch.ch_size;
	return 0;
}

static int read_section(struct obj_file *obj, Elf_Scn *scn, size_t shstrndx, struct koff_error *err)
{
	struct obj_section *sec = &obj->secs[elf_ndxscn(scn)];
	GElf_Shdr sh;
	Elf_Data *data;
	int rc;

	if (!gelf_getshdr(scn, &sh))
		return koff_fail(err, -EINVAL, "%s: bad section header: %s", obj->path, elf_errmsg(-1));
	sec->index = (int)elf_ndxscn(scn);
	sec->name = elf_strptr(obj->elf, shstrndx, sh.sh_name);
	if (!sec->name)
		sec->name = "";
	sec->type = sh.sh_type;
	sec->flags = sh.sh_flags;
	sec->size = sh.sh_size;
	sec->align = sh.sh_addralign;
	if ((rc = check_section_header(obj, sec, &sh, err)))
		return rc;
	if (sh.sh_type == SHT_NOBITS || sh.sh_size == 0)
		return 0;
	if (sh.sh_flags & SHF_COMPRESSED)
		return read_compressed_size(obj, scn, sec, err);
	/* Raw bytes: the on-disk image, exactly what the code refers to. */
	data = elf_rawdata(scn, NULL);
	if (!data || data->d_size != sh.sh_size)
		return koff_fail(err, -EINVAL, "%s: cannot read section %s: %s",
				 obj->path, sec->name, data ? "size differs from its header" : elf_errmsg(-1));
	sec->data = data->d_buf;
	return 0;
}

static int read_sections(struct obj_file *obj, struct koff_error *err)
{
	Elf *elf = obj->elf;
	size_t nsecs, shstrndx;
	Elf_Scn *scn = NULL;
	int rc;

	if (elf_getshdrnum(elf, &nsecs) || elf_getshdrstrndx(elf, &shstrndx))
		return koff_fail(err, -EINVAL, "%s: bad section table: %s", obj->path, elf_errmsg(-1));
	/* Past SHN_LORESERVE a symbol's section index would collide with
	 * SHN_ABS and SHN_COMMON. */
	if (nsecs >= SHN_LORESERVE)
		return koff_fail(err, -EINVAL, "%s: %zu sections, koff-link reads at most %d",
				 obj->path, nsecs, SHN_LORESERVE - 1);
	obj->secs = calloc(nsecs ? nsecs : 1, sizeof(*obj->secs));
	if (!obj->secs)
		return koff_fail(err, -ENOMEM, "%s: out of memory for %zu sections", obj->path, nsecs);
	obj->nsecs = (int)nsecs;
	while ((scn = elf_nextscn(elf, scn)))
		if (elf_ndxscn(scn) < nsecs && (rc = read_section(obj, scn, shstrndx, err)))
			return rc;
	return 0;
}

static Elf_Scn *find_section_of_type(Elf *elf, uint32_t type)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(elf, scn)))
		if (gelf_getshdr(scn, &sh) && sh.sh_type == type)
			return scn;
	return NULL;
}

/* The section a symbol is defined in: a real section index below nsecs,
 * or one of the reserved ones (SHN_ABS, SHN_COMMON, ...) kept as they are. */
static int symbol_section(struct obj_file *obj, size_t i, const GElf_Sym *sym, Elf32_Word xndx,
			  int *shndx, struct koff_error *err)
{
	uint64_t ndx = sym->st_shndx == SHN_XINDEX ? xndx : sym->st_shndx;

	if (sym->st_shndx != SHN_XINDEX && ndx >= SHN_LORESERVE) {
		*shndx = (int)ndx;
		return 0;
	}
	if (ndx >= (uint64_t)obj->nsecs)
		return koff_fail(err, -EINVAL, "%s: symbol %zu names section %llu of %d", obj->path, i,
				 (unsigned long long)ndx, obj->nsecs);
	*shndx = (int)ndx;
	return 0;
}

/* A symbol of a real section lies inside it (functions and objects with
 * their whole size), so that section address + value never leaves it. */
static int check_symbol_bounds(struct obj_file *obj, size_t i, const struct obj_symbol *s,
			       struct koff_error *err)
{
	const struct obj_section *sec;

	if (s->shndx <= 0 || s->shndx >= obj->nsecs || s->type == STT_FILE)
		return 0;
	sec = &obj->secs[s->shndx];
	if (s->value > sec->size ||
	    ((s->type == STT_FUNC || s->type == STT_OBJECT) && s->size > sec->size - s->value))
		return koff_fail(err, -EINVAL, "%s: symbol %zu (%s) at %#llx+%llu lies outside section %s (%llu bytes)",
				 obj->path, i, s->name, (unsigned long long)s->value,
				 (unsigned long long)s->size, sec->name, (unsigned long long)sec->size);
	return 0;
}

static int read_symbol(struct obj_file *obj, Elf_Data *data, Elf_Data *xdata, GElf_Word strtab,
		       size_t i, struct koff_error *err)
{
	struct obj_symbol *s = &obj->syms[i];
	GElf_Sym sym;
	Elf32_Word xndx = 0;
	const char *name;
	int rc;

	if (!gelf_getsymshndx(data, xdata, (int)i, &sym, &xndx))
		return koff_fail(err, -EINVAL, "%s: bad symbol %zu: %s", obj->path, i, elf_errmsg(-1));
	if ((rc = symbol_section(obj, i, &sym, xndx, &s->shndx, err)))
		return rc;
	s->value = sym.st_value;
	s->size = sym.st_size;
	s->type = GELF_ST_TYPE(sym.st_info);
	s->bind = GELF_ST_BIND(sym.st_info);
	name = elf_strptr(obj->elf, strtab, sym.st_name);
	if (s->type == STT_SECTION && s->shndx > 0 && s->shndx < obj->nsecs)
		name = obj->secs[s->shndx].name;
	s->name = name ? name : "";
	return check_symbol_bounds(obj, i, s, err);
}

static int read_symbols(struct obj_file *obj, struct koff_error *err)
{
	Elf *elf = obj->elf;
	Elf_Scn *symscn = find_section_of_type(elf, SHT_SYMTAB);
	Elf_Scn *xscn = find_section_of_type(elf, SHT_SYMTAB_SHNDX);
	Elf_Data *data, *xdata = xscn ? elf_getdata(xscn, NULL) : NULL;
	GElf_Shdr sh;
	size_t n;
	int rc;

	if (!symscn)
		return 0;	/* an object without symbols: nothing to read */
	if (!gelf_getshdr(symscn, &sh) || !(data = elf_getdata(symscn, NULL)))
		return koff_fail(err, -EINVAL, "%s: cannot read .symtab: %s", obj->path, elf_errmsg(-1));
	if (sh.sh_entsize != sizeof(Elf64_Sym))
		return koff_fail(err, -EINVAL, "%s: .symtab entries of %llu bytes, not %zu", obj->path,
				 (unsigned long long)sh.sh_entsize, sizeof(Elf64_Sym));
	/* Count what libelf read, not what the header claims. */
	n = data->d_size / sizeof(Elf64_Sym);
	if (n > INT_MAX)
		return koff_fail(err, -EINVAL, "%s: %zu symbols, too many", obj->path, n);
	obj->syms = calloc(n ? n : 1, sizeof(*obj->syms));
	if (!obj->syms)
		return koff_fail(err, -ENOMEM, "%s: out of memory for %zu symbols", obj->path, n);
	obj->nsyms = (int)n;
	for (size_t i = 0; i < n; i++)
		if ((rc = read_symbol(obj, data, xdata, sh.sh_link, i, err)))
			return rc;
	return 0;
}

static int compare_reloc_offsets(const void *a, const void *b)
{
	const struct obj_reloc *x = a, *y = b;

	return (x->offset > y->offset) - (x->offset < y->offset);
}

/* One relocation entry, checked against what it refers to: a symbol that
 * exists and an offset inside the section it patches. */
static int read_reloc(struct obj_file *obj, const struct obj_section *target, Elf_Data *data,
		      size_t i, struct obj_reloc *r, struct koff_error *err)
{
	GElf_Rela rela;
	uint64_t sym;

	if (!gelf_getrela(data, (int)i, &rela))
		return koff_fail(err, -EINVAL, "%s: bad relocation: %s", obj->path, elf_errmsg(-1));
	sym = GELF_R_SYM(rela.r_info);
	if (sym >= (uint64_t)obj->nsyms)
		return koff_fail(err, -EINVAL, "%s: relocation in %s names symbol %llu of %d",
				 obj->path, target->name, (unsigned long long)sym, obj->nsyms);
	if (rela.r_offset >= target->size)
		return koff_fail(err, -EINVAL, "%s: relocation at %#llx lies outside %s (%llu bytes)",
				 obj->path, (unsigned long long)rela.r_offset, target->name,
				 (unsigned long long)target->size);
	r->offset = rela.r_offset;
	r->type = GELF_R_TYPE(rela.r_info);
	r->sym = (int)sym;
	r->addend = rela.r_addend;
	return 0;
}

/* Append the entries of one SHT_RELA section to the section they patch. */
static int attach_rela_section(struct obj_file *obj, Elf_Scn *scn, const GElf_Shdr *sh,
			       struct koff_error *err)
{
	struct obj_section *target;
	Elf_Data *data;
	struct obj_reloc *grown;
	size_t n;
	int rc;

	if (sh->sh_info == 0 || sh->sh_info >= (GElf_Word)obj->nsecs)
		return 0;	/* dynamic relocations: not expected in a .o, nothing to attach */
	if (sh->sh_entsize != sizeof(Elf64_Rela))
		return koff_fail(err, -EINVAL, "%s: relocation entries of %llu bytes, not %zu", obj->path,
				 (unsigned long long)sh->sh_entsize, sizeof(Elf64_Rela));
	data = elf_getdata(scn, NULL);
	if (!data)
		return koff_fail(err, -EINVAL, "%s: cannot read relocations: %s", obj->path, elf_errmsg(-1));
	target = &obj->secs[sh->sh_info];
	n = data->d_size / sizeof(Elf64_Rela);
	if (n > (size_t)(INT_MAX - 1 - target->nrelocs))
		return koff_fail(err, -EINVAL, "%s: too many relocations for %s", obj->path, target->name);
	grown = realloc(target->relocs, ((size_t)target->nrelocs + n + 1) * sizeof(*grown));
	if (!grown)
		return koff_fail(err, -ENOMEM, "%s: out of memory for relocations", obj->path);
	target->relocs = grown;
	for (size_t i = 0; i < n; i++) {
		rc = read_reloc(obj, target, data, i, &target->relocs[target->nrelocs], err);
		if (rc)
			return rc;
		target->nrelocs++;
	}
	return 0;
}

static int read_relocations(struct obj_file *obj, struct koff_error *err)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	int rc;

	while ((scn = elf_nextscn(obj->elf, scn))) {
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_RELA)
			continue;
		rc = attach_rela_section(obj, scn, &sh, err);
		if (rc)
			return rc;
	}
	for (int i = 0; i < obj->nsecs; i++)
		if (obj->secs[i].nrelocs > 1)
			qsort(obj->secs[i].relocs, obj->secs[i].nrelocs, sizeof(struct obj_reloc),
			      compare_reloc_offsets);
	return 0;
}

static bool has_section(const struct obj_file *obj, const char *name)
{
	for (int i = 0; i < obj->nsecs; i++)
		if (obj->secs[i].name && !strcmp(obj->secs[i].name, name))
			return true;
	return false;
}

static bool has_section_prefix(const struct obj_file *obj, const char *prefix)
{
	for (int i = 0; i < obj->nsecs; i++)
		if (obj->secs[i].name && !strncmp(obj->secs[i].name, prefix, strlen(prefix)))
			return true;
	return false;
}

/* gcc -flto writes GIMPLE bytecode in .gnu.lto_* sections; without
 * -ffat-lto-objects there is no machine code (and no .debug_info) beside it. */
static int check_not_lto_bytecode(const struct obj_file *obj, struct koff_error *err)
{
	if (!has_section_prefix(obj, ".gnu.lto_"))
		return 0;
	if (has_section(obj, ".debug_info") && !obj_find_symbol(obj, "__gnu_lto_slim"))
		return 0;	/* a fat LTO object: the machine code is there too */
	return koff_fail(err, -EINVAL, "%s: is GCC LTO bytecode (-flto), not machine code; "
			 "build with -ffat-lto-objects or without -flto", obj->path);
}

/* ---- DWARF through libdwfl ------------------------------------------------ */

/* When libdw cannot read .debug_info, say whether compression is why. */
static int dwarf_unreadable(struct obj_file *obj, const char *why, struct koff_error *err)
{
	static const char *const kinds[] = { [ELFCOMPRESS_ZLIB] = "zlib", [ELFCOMPRESS_ZSTD] = "zstd" };
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	GElf_Chdr ch;

	while ((scn = elf_nextscn(obj->elf, scn))) {
		size_t i = elf_ndxscn(scn);

		if (i >= (size_t)obj->nsecs || !obj->secs[i].name || strcmp(obj->secs[i].name, ".debug_info") ||
		    !gelf_getshdr(scn, &sh) || !(sh.sh_flags & SHF_COMPRESSED))
			continue;
		if (!gelf_getchdr(scn, &ch))
			break;
		return koff_fail(err, -EINVAL, "%s: the debug sections are compressed (%s) in a way this "
				 "libdw cannot read (%s); compile with -gz=none", obj->path,
				 ch.ch_type < KOFF_ARRAY_SIZE(kinds) && kinds[ch.ch_type] ? kinds[ch.ch_type]
											 : "unknown type",
				 why);
	}
	if (has_section(obj, ".zdebug_info"))
		return koff_fail(err, -EINVAL, "%s: the debug sections are compressed (.zdebug_*) in a way "
				 "this libdw cannot read (%s); compile with -gz=none", obj->path, why);
	return koff_fail(err, -EINVAL, "%s: cannot read DWARF (corrupt .debug_* sections?): %s",
			 obj->path, why);
}

/* libdwfl lays the sections of an ET_REL object out at distinct addresses
 * (dwfl_offline_section_address) and applies the .rela.debug_* entries, so
 * that .text, .text.unlikely and .text.startup do not all sit at 0. */
static const Dwfl_Callbacks offline_callbacks = {
	.find_debuginfo = dwfl_standard_find_debuginfo,
	.section_address = dwfl_offline_section_address,
};

static int open_dwarf(struct obj_file *obj, struct koff_error *err)
{
	Dwfl *dwfl = dwfl_begin(&offline_callbacks);
	Dwfl_Module *mod;
	Dwarf_Addr bias;
	int fd;

	if (!dwfl)
		return koff_fail(err, -ENOMEM, "%s: cannot start libdwfl: %s", obj->path, dwfl_errmsg(-1));
	obj->dwfl = dwfl;
	/* libdwfl maps its own private copy, since it patches section data in
	 * place; a dup of our descriptor makes sure it reads the same file. */
	fd = dup(obj->fd);
	if (fd < 0)
		return koff_fail(err, -errno, "%s: cannot dup: %s", obj->path, strerror(errno));
	mod = dwfl_report_offline(dwfl, obj->path, obj->path, fd);
	if (!mod) {
		close(fd);	/* consumed only on success */
		return dwarf_unreadable(obj, dwfl_errmsg(-1), err);
	}
	if (dwfl_report_end(dwfl, NULL, NULL))
		return dwarf_unreadable(obj, dwfl_errmsg(-1), err);
	if (!dwfl_module_getdwarf(mod, &bias))
		return dwarf_unreadable(obj, dwfl_errmsg(-1), err);
	return obj_check_debug_info(obj, err);
}

/* ---- Opening and closing ------------------------------------------------------ */

static int open_file(struct obj_file *obj, struct koff_error *err)
{
	struct stat st;

	/* O_NONBLOCK: a FIFO (or a device) named x.o must not block the open;
	 * fstat then refuses everything but a regular file before any read. */
	obj->fd = open(obj->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (obj->fd < 0)
		return koff_fail(err, -errno, "%s: cannot open: %s", obj->path, strerror(errno));
	if (fstat(obj->fd, &st))
		return koff_fail(err, -errno, "%s: cannot stat: %s", obj->path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return koff_fail(err, -EINVAL, "%s: not a regular file", obj->path);
	if (st.st_size == 0)
		return koff_fail(err, -EINVAL, "%s: empty file, not an ELF object", obj->path);
	if (elf_version(EV_CURRENT) == EV_NONE)
		return koff_fail(err, -EINVAL, "libelf too old: %s", elf_errmsg(-1));
	obj->elf = elf_begin(obj->fd, ELF_C_READ_MMAP, NULL);
	if (!obj->elf)
		return koff_fail(err, -EINVAL, "%s: cannot read: %s", obj->path, elf_errmsg(-1));
	return 0;
}

static int obj_open_mode(const char *path, bool dwarf, struct obj_file **out, struct koff_error *err)
{
	struct obj_file *obj;
	int rc;

	*out = NULL;
	obj = calloc(1, sizeof(*obj));
	if (!obj)
		return koff_fail(err, -ENOMEM, "%s: out of memory", path);
	obj->fd = -1;
	obj->path = strdup(path);
	if (!obj->path) {
		free(obj);
		return koff_fail(err, -ENOMEM, "%s: out of memory", path);
	}
	rc = open_file(obj, err);
	if (!rc)
		rc = check_elf_header(obj->elf, path, err);
	if (!rc)
		rc = read_sections(obj, err);
	if (!rc)
		rc = read_symbols(obj, err);
	if (!rc)
		rc = read_relocations(obj, err);
	if (!rc)
		rc = check_not_lto_bytecode(obj, err);
	if (!rc && dwarf && !has_section(obj, ".debug_info") && !has_section(obj, ".zdebug_info"))
		rc = koff_fail(err, -EINVAL, "%s: no DWARF debug info; compile with -g", path);
	if (!rc && dwarf)
		rc = open_dwarf(obj, err);
	if (rc) {
		obj_close(obj);
		return rc;
	}
	*out = obj;
	return 0;
}

int obj_open(const char *path, struct obj_file **out, struct koff_error *err)
{
	return obj_open_mode(path, true, out, err);
}

int obj_open_code(const char *path, struct obj_file **out, struct koff_error *err)
{
	return obj_open_mode(path, false, out, err);
}

void obj_close(struct obj_file *obj)
{
	if (!obj)
		return;
	if (obj->dwfl)
		dwfl_end(obj->dwfl);
	for (int i = 0; i < obj->nsecs; i++)
		free(obj->secs[i].relocs);
	free(obj->secs);
	free(obj->syms);
	if (obj->elf)
		elf_end(obj->elf);
	if (obj->fd >= 0)
		close(obj->fd);
	free((char *)obj->path);
	free(obj);
}

/* ---- Lookups ---------------------------------------------------------------- */

const struct obj_symbol *obj_find_symbol(const struct obj_file *obj, const char *name)
{
	const struct obj_symbol *local = NULL;

	for (int i = 1; i < obj->nsyms; i++) {
		const struct obj_symbol *s = &obj->syms[i];

		if (s->shndx == SHN_UNDEF || s->type == STT_SECTION || s->type == STT_FILE)
			continue;
		if (strcmp(s->name, name))
			continue;
		/* A global definition wins over a static one of the same name. */
		if (s->bind != STB_LOCAL)
			return s;
		if (!local)
			local = s;
	}
	return local;
}

const struct obj_reloc *obj_reloc_in(const struct obj_file *obj, int shndx, uint64_t lo, uint64_t hi)
{
	const struct obj_section *sec;
	int first = 0, last;

	if (shndx <= 0 || shndx >= obj->nsecs)
		return NULL;
	sec = &obj->secs[shndx];
	last = sec->nrelocs;
	/* Binary search for the first relocation at or after lo. */
	while (first < last) {
		int mid = first + (last - first) / 2;

		if (sec->relocs[mid].offset < lo)
			first = mid + 1;
		else
			last = mid;
	}
	if (first < sec->nrelocs && sec->relocs[first].offset < hi)
		return &sec->relocs[first];
	return NULL;
}
