/* elfobj_test.c - drives src/elfobj.c and src/dwarf.c for tests/t-elfobj.sh.
 * Usage: elfobj_test COMMAND OBJECT [ARGS]; prints one result per line.
 * On an error it prints the error message and exits 1. */
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elfobj.h"

static const char *role_name(enum obj_role role)
{
	switch (role) {
	case OBJ_ROLE_HANDLER: return "handler";
	case OBJ_ROLE_PARSER:  return "parser";
	default:               return "none";
	}
}

static const char *reloc_type_name(uint32_t type)
{
	switch (type) {
	case R_X86_64_64:    return "R_X86_64_64";
	case R_X86_64_PC32:  return "R_X86_64_PC32";
	case R_X86_64_PLT32: return "R_X86_64_PLT32";
	case R_X86_64_32:    return "R_X86_64_32";
	case R_X86_64_32S:   return "R_X86_64_32S";
	default:             return "other";
	}
}

static int section_index(const struct obj_file *obj, const char *name)
{
	for (int i = 1; i < obj->nsecs; i++)
		if (!strcmp(obj->secs[i].name, name))
			return i;
	fprintf(stderr, "no section %s\n", name);
	exit(2);
}

/* The first relocation of section `sec` that refers to symbol `sym`. */
static const struct obj_reloc *reloc_to(const struct obj_file *obj, int sec, const char *sym)
{
	for (int i = 0; i < obj->secs[sec].nrelocs; i++) {
		const struct obj_reloc *r = &obj->secs[sec].relocs[i];

		if (!strcmp(obj->syms[r->sym].name, sym))
			return r;
	}
	fprintf(stderr, "no relocation to %s in %s\n", sym, obj->secs[sec].name);
	exit(2);
}

static int print_line(struct obj_file *obj, int sec, uint64_t off)
{
	char buf[256];
	int rc = obj_source_line(obj, sec, off, buf, sizeof(buf));

	printf("%s\n", buf);
	return rc ? 1 : 0;
}

static int cmd_sections(struct obj_file *obj)
{
	for (int i = 1; i < obj->nsecs; i++) {
		const struct obj_section *s = &obj->secs[i];

		printf("%d %s type=%u size=%llu relocs=%d data=%s\n", s->index, s->name, s->type,
		       (unsigned long long)s->size, s->nrelocs, s->data ? "yes" : "no");
	}
	return 0;
}

static int cmd_symbols(struct obj_file *obj)
{
	for (int i = 1; i < obj->nsyms; i++) {
		const struct obj_symbol *s = &obj->syms[i];

		printf("%d %s shndx=%d type=%d bind=%d value=%llu size=%llu\n", i, s->name, s->shndx,
		       s->type, s->bind, (unsigned long long)s->value, (unsigned long long)s->size);
	}
	return 0;
}

static int cmd_relocs(struct obj_file *obj, const char *secname)
{
	int sec = section_index(obj, secname);

	for (int i = 0; i < obj->secs[sec].nrelocs; i++) {
		const struct obj_reloc *r = &obj->secs[sec].relocs[i];

		printf("%llu %s %s %lld\n", (unsigned long long)r->offset, reloc_type_name(r->type),
		       obj->syms[r->sym].name, (long long)r->addend);
	}
	return 0;
}

/* Prints the relocation to `sym` and checks obj_reloc_in finds it exactly
 * over its own bytes and not from one byte past its start. */
static int cmd_reloc_to(struct obj_file *obj, const char *secname, const char *sym)
{
	int sec = section_index(obj, secname);
	const struct obj_reloc *r = reloc_to(obj, sec, sym);

	printf("%s %s%+lld\n", reloc_type_name(r->type), sym, (long long)r->addend);
	if (obj_reloc_in(obj, sec, r->offset, r->offset + 4) != r)
		printf("obj_reloc_in missed it\n");
	else if (obj_reloc_in(obj, sec, r->offset + 1, r->offset + 4))
		printf("obj_reloc_in found a relocation inside the field\n");
	else
		printf("obj_reloc_in ok\n");
	return 0;
}

static int cmd_hex(struct obj_file *obj, const char *secname)
{
	const struct obj_section *s = &obj->secs[section_index(obj, secname)];

	for (uint64_t i = 0; s->data && i < s->size; i++)
		printf("%02x", s->data[i]);
	printf("\n");
	return 0;
}

static int cmd_find(struct obj_file *obj, const char *name)
{
	const struct obj_symbol *s = obj_find_symbol(obj, name);

	if (!s) {
		printf("none\n");
		return 1;
	}
	printf("%s in %s at %llu\n", s->name, obj->secs[s->shndx].name, (unsigned long long)s->value);
	return 0;
}

static int cmd_check(struct obj_file *obj, const char *name)
{
	struct koff_error err = { 0 };
	int rc = obj_check_handler(obj, name, &err);

	printf("%s\n", rc ? err.msg : "ok");
	return rc ? 1 : 0;
}

static int cmd_list(struct obj_file *obj)
{
	const char **names;
	enum obj_role *roles;
	int count;

	if (obj_list_functions(obj, &names, &roles, &count))
		return 1;
	for (int i = 0; i < count; i++)
		printf("%s %s\n", names[i], role_name(roles[i]));
	free(names);
	free(roles);
	return 0;
}

/* The source line of the call instruction whose target relocation names
 * `sym`: the call opcode is the byte before the relocated field. */
static int cmd_line_of_call(struct obj_file *obj, const char *secname, const char *sym)
{
	int sec = section_index(obj, secname);

	return print_line(obj, sec, reloc_to(obj, sec, sym)->offset - 1);
}

static int cmd_line_of_symbol(struct obj_file *obj, const char *name)
{
	const struct obj_symbol *s = obj_find_symbol(obj, name);

	if (!s)
		return 2;
	return print_line(obj, s->shndx, s->value);
}

static int run(struct obj_file *obj, int argc, char **argv)
{
	const char *cmd = argv[1];

	if (!strcmp(cmd, "open"))
		return printf("ok\n") < 0;
	if (!strcmp(cmd, "sections"))
		return cmd_sections(obj);
	if (!strcmp(cmd, "symbols"))
		return cmd_symbols(obj);
	if (!strcmp(cmd, "relocs") && argc == 4)
		return cmd_relocs(obj, argv[3]);
	if (!strcmp(cmd, "reloc-to") && argc == 5)
		return cmd_reloc_to(obj, argv[3], argv[4]);
	if (!strcmp(cmd, "hex") && argc == 4)
		return cmd_hex(obj, argv[3]);
	if (!strcmp(cmd, "find") && argc == 4)
		return cmd_find(obj, argv[3]);
	if (!strcmp(cmd, "check") && argc == 4)
		return cmd_check(obj, argv[3]);
	if (!strcmp(cmd, "list"))
		return cmd_list(obj);
	if (!strcmp(cmd, "line-of-call") && argc == 5)
		return cmd_line_of_call(obj, argv[3], argv[4]);
	if (!strcmp(cmd, "line-of-symbol") && argc == 4)
		return cmd_line_of_symbol(obj, argv[3]);
	if (!strcmp(cmd, "line") && argc == 5)
		return print_line(obj, section_index(obj, argv[3]), strtoull(argv[4], NULL, 0));
	fprintf(stderr, "unknown command or arguments: %s\n", cmd);
	return 2;
}

int main(int argc, char **argv)
{
	struct koff_error err = { 0 };
	struct obj_file *obj;
	int rc;

	if (argc < 3) {
		fprintf(stderr, "usage: elfobj_test COMMAND OBJECT [ARGS]\n");
		return 2;
	}
	obj_close(NULL);	/* must be a no-op */
	if (obj_open(argv[2], &obj, &err)) {
		printf("%s\n", err.msg);
		return err.code < 0 && obj == NULL ? 1 : 3;
	}
	rc = run(obj, argc, argv);
	obj_close(obj);
	return rc;
}
