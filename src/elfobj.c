/* elfobj.c - reading the input object: sections, symbols and relocations
 * (libelf), and the libdwfl session that relocates its DWARF.
 *
 * Everything is read once in obj_open into plain arrays indexed the way ELF
 * indexes them, so later passes never touch libelf.  Names and section
 * contents point into the file mapping, which lives until obj_close. */
#include <fcntl.h>
#include <gelf.h>
#include <elfutils/libdwfl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elfobj.h"

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

/* The file must be a 64-bit relocatable x86-64 ELF object. */
static int check_elf_header(Elf *elf, const char *path, struct koff_error *err)
{
	GElf_Ehdr eh;
	const char *mname;

	if (elf_kind(elf) == ELF_K_AR)
		return koff_fail(err, -EINVAL, "%s: is an archive; pass the object files it holds", path);
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

static int read_sections(struct obj_file *obj, struct koff_error *err)
{
	Elf *elf = obj->elf;
	size_t nsecs, shstrndx;
	Elf_Scn *scn = NULL;

	if (elf_getshdrnum(elf, &nsecs) || elf_getshdrstrndx(elf, &shstrndx))
		return koff_fail(err, -EINVAL, "%s: bad section table: %s", obj->path, elf_errmsg(-1));
	obj->secs = calloc(nsecs ? nsecs : 1, sizeof(*obj->secs));
	if (!obj->secs)
		return koff_fail(err, -ENOMEM, "%s: out of memory for %zu sections", obj->path, nsecs);
	obj->nsecs = (int)nsecs;
	while ((scn = elf_nextscn(elf, scn))) {
		struct obj_section *sec = &obj->secs[elf_ndxscn(scn)];
		GElf_Shdr sh;
		Elf_Data *data;

		if (!gelf_getshdr(scn, &sh))
			return koff_fail(err, -EINVAL, "%s: bad section header: %s", obj->path, elf_errmsg(-1));
		sec->index = (int)elf_ndxscn(scn);
		sec->name = elf_strptr(elf, shstrndx, sh.sh_name);
		if (!sec->name)
			sec->name = "";
		sec->type = sh.sh_type;
		sec->flags = sh.sh_flags;
		sec->size = sh.sh_size;
		sec->align = sh.sh_addralign;
		if (sh.sh_type == SHT_NOBITS || sh.sh_size == 0)
			continue;
		/* Raw bytes: the on-disk image, exactly what the code refers to. */
		data = elf_rawdata(scn, NULL);
		if (!data)
			return koff_fail(err, -EINVAL, "%s: cannot read section %s: %s",
					 obj->path, sec->name, elf_errmsg(-1));
		sec->data = data->d_buf;
	}
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

static int read_symbols(struct obj_file *obj, struct koff_error *err)
{
	Elf *elf = obj->elf;
	Elf_Scn *symscn = find_section_of_type(elf, SHT_SYMTAB);
	Elf_Scn *xscn = find_section_of_type(elf, SHT_SYMTAB_SHNDX);
	Elf_Data *data, *xdata = xscn ? elf_getdata(xscn, NULL) : NULL;
	GElf_Shdr sh;
	size_t n;

	if (!symscn)
		return 0;	/* an object without symbols: nothing to read */
	if (!gelf_getshdr(symscn, &sh) || !(data = elf_getdata(symscn, NULL)) || !sh.sh_entsize)
		return koff_fail(err, -EINVAL, "%s: cannot read .symtab: %s", obj->path, elf_errmsg(-1));
	n = sh.sh_size / sh.sh_entsize;
	obj->syms = calloc(n ? n : 1, sizeof(*obj->syms));
	if (!obj->syms)
		return koff_fail(err, -ENOMEM, "%s: out of memory for %zu symbols", obj->path, n);
	obj->nsyms = (int)n;
	for (size_t i = 0; i < n; i++) {
		struct obj_symbol *s = &obj->syms[i];
		GElf_Sym sym;
		Elf32_Word xndx = 0;
		const char *name;

		if (!gelf_getsymshndx(data, xdata, (int)i, &sym, &xndx))
			return koff_fail(err, -EINVAL, "%s: bad symbol %zu: %s", obj->path, i, elf_errmsg(-1));
		s->shndx = sym.st_shndx == SHN_XINDEX ? (int)xndx : sym.st_shndx;
		s->value = sym.st_value;
		s->size = sym.st_size;
		s->type = GELF_ST_TYPE(sym.st_info);
		s->bind = GELF_ST_BIND(sym.st_info);
		name = elf_strptr(elf, sh.sh_link, sym.st_name);
		if (s->type == STT_SECTION && s->shndx > 0 && s->shndx < obj->nsecs)
			name = obj->secs[s->shndx].name;
		s->name = name ? name : "";
	}
	return 0;
}

static int compare_reloc_offsets(const void *a, const void *b)
{
	const struct obj_reloc *x = a, *y = b;

	return (x->offset > y->offset) - (x->offset < y->offset);
}

/* Append the entries of one SHT_RELA section to the section they patch. */
static int attach_rela_section(struct obj_file *obj, Elf_Scn *scn, const GElf_Shdr *sh,
			       struct koff_error *err)
{
	struct obj_section *target;
	Elf_Data *data = elf_getdata(scn, NULL);
	size_t n = sh->sh_entsize ? sh->sh_size / sh->sh_entsize : 0;
	struct obj_reloc *grown;

	if (sh->sh_info == 0 || sh->sh_info >= (GElf_Word)obj->nsecs)
		return 0;	/* dynamic relocations: not expected in a .o, nothing to attach */
	if (!data)
		return koff_fail(err, -EINVAL, "%s: cannot read relocations: %s", obj->path, elf_errmsg(-1));
	target = &obj->secs[sh->sh_info];
	grown = realloc(target->relocs, (target->nrelocs + n + 1) * sizeof(*grown));
	if (!grown)
		return koff_fail(err, -ENOMEM, "%s: out of memory for relocations", obj->path);
	target->relocs = grown;
	for (size_t i = 0; i < n; i++) {
		struct obj_reloc *r = &target->relocs[target->nrelocs];
		GElf_Rela rela;

		if (!gelf_getrela(data, (int)i, &rela))
			return koff_fail(err, -EINVAL, "%s: bad relocation: %s", obj->path, elf_errmsg(-1));
		r->offset = rela.r_offset;
		r->type = GELF_R_TYPE(rela.r_info);
		r->sym = (int)GELF_R_SYM(rela.r_info);
		r->addend = rela.r_addend;
		if (r->sym >= obj->nsyms)
			return koff_fail(err, -EINVAL, "%s: relocation in %s names symbol %d of %d",
					 obj->path, target->name, r->sym, obj->nsyms);
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

/* ---- DWARF through libdwfl ------------------------------------------------ */

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
		return koff_fail(err, -EINVAL, "%s: cannot read DWARF: %s", obj->path, dwfl_errmsg(-1));
	}
	if (dwfl_report_end(dwfl, NULL, NULL))
		return koff_fail(err, -EINVAL, "%s: cannot read DWARF: %s", obj->path, dwfl_errmsg(-1));
	if (!dwfl_module_getdwarf(mod, &bias))
		return koff_fail(err, -EINVAL, "%s: cannot read DWARF: %s", obj->path, dwfl_errmsg(-1));
	return 0;
}

/* ---- Opening and closing ------------------------------------------------------ */

static int open_file(struct obj_file *obj, struct koff_error *err)
{
	struct stat st;

	obj->fd = open(obj->path, O_RDONLY | O_CLOEXEC);
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

int obj_open(const char *path, struct obj_file **out, struct koff_error *err)
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
	if (!rc && !has_section(obj, ".debug_info"))
		rc = koff_fail(err, -EINVAL, "%s: no DWARF debug info; compile with -g", path);
	if (!rc)
		rc = open_dwarf(obj, err);
	if (rc) {
		obj_close(obj);
		return rc;
	}
	*out = obj;
	return 0;
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
