/* combine.c - a handler that calls into another object or an archive.
 *
 * The lifter inlines the functions an object defines; a call to one that
 * another input defines would fall back (pass_call).  So when the entry
 * object names a function that another object or an archive on the link
 * line defines, koff-link first does what the linker would do with them:
 * a relocatable link (`cc -r`) of every object and archive, in their
 * order, into one object.  Everything after (the shared-state plan, the
 * roots, the lift, the link of OUT) works on that object, and OUT is
 * linked from it in the inputs' place: the same code, resolved the same
 * way, since the archives give the members the objects need in the same
 * order (only a member that an object after a later `-l` needed could
 * resolve differently, and only where the plain link would have failed).
 * Link lines whose archive handling is not the default (--whole-archive,
 * groups, -Wl options) are left alone: the handler is lifted from its own
 * object, as before. */
#include <ar.h>
#include <elf.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver.h"

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n > m && !strcmp(s + n - m, suffix);
}

static bool is_input_object(const char *arg)
{
	return arg[0] != '-' && ends_with(arg, ".o");
}

static bool is_input_archive(const char *arg)
{
	return arg[0] != '-' && ends_with(arg, ".a");
}

/* An option that changes how the linker reads its inputs: leave those
 * link lines as they are. */
static bool changes_input_handling(const char *arg)
{
	return !strncmp(arg, "-Wl,", 4) || !strncmp(arg, "-Xlinker", 8) || !strcmp(arg, "-r") ||
	       !strcmp(arg, "-flto") || !strncmp(arg, "-flto=", 6) || !strcmp(arg, "-static-pie");
}

static bool wanted(const struct obj_symbol *sym)
{
	return sym->shndx == SHN_UNDEF && sym->name && sym->name[0];
}

/* The first of the entry object's undefined names (in its symbol table's
 * order) that the object at path defines globally, or -1; the object is
 * opened once for all of them. */
static int object_defines(const char *path, const struct obj_file *entry)
{
	struct obj_file *obj = NULL;
	struct koff_error err = { 0 };
	int found = -1;

	if (obj_open_code(path, &obj, &err))
		return -1;
	for (int i = 0; i < entry->nsyms && found < 0; i++) {
		const struct obj_symbol *s;

		if (!wanted(&entry->syms[i]))
			continue;
		s = obj_find_symbol(obj, entry->syms[i].name);
		if (s && s->shndx != SHN_UNDEF && s->bind != STB_LOCAL)
			found = i;
	}
	obj_close(obj);
	return found;
}

/* The same for an archive, by its symbol index (what the linker itself
 * consults). */
static int archive_defines(const char *path, const struct obj_file *entry)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), found = -1;
	Elf *ar;
	Elf_Arsym *syms;
	size_t n = 0;

	if (fd < 0)
		return -1;
	ar = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (ar && elf_kind(ar) == ELF_K_AR && (syms = elf_getarsym(ar, &n)))
		for (int i = 0; i < entry->nsyms && found < 0; i++)
			for (size_t k = 0; wanted(&entry->syms[i]) && k < n && found < 0; k++)
				if (syms[k].as_name && !strcmp(syms[k].as_name, entry->syms[i].name))
					found = i;
	if (ar)
		elf_end(ar);
	close(fd);
	return found;
}

/* Does another input define a function the entry object leaves undefined?
 * The first such name in the entry's symbol table, or NULL. */
static const char *needs_other_input(const struct koff_ctx *ctx, const struct obj_file *entry)
{
	const struct koff_options *o = &ctx->opt;
	int first = -1;

	for (int i = 0; i < o->nlink_args; i++) {
		const char *arg = o->link_args[i];
		int found = -1;

		if (arg == o->object)
			continue;
		if (is_input_object(arg))
			found = object_defines(arg, entry);
		else if (is_input_archive(arg))
			found = archive_defines(arg, entry);
		if (found >= 0 && (first < 0 || found < first))
			first = found;
	}
	return first >= 0 ? entry->syms[first].name : NULL;
}

static int relocatable_link(struct koff_ctx *ctx, const char *out)
{
	const struct koff_options *o = &ctx->opt;
	char **argv = calloc((size_t)o->nlink_args + 8, sizeof(char *));
	struct koff_error why = { 0 };
	int n = 0, rc;

	if (!argv)
		return koff_fail(&ctx->err, -ENOMEM, "out of memory");
	argv[n++] = (char *)link_cc();
	argv[n++] = "-r";
	argv[n++] = "-nostdlib";
	for (int i = 0; i < o->nlink_args; i++)
		if (is_input_object(o->link_args[i]) || is_input_archive(o->link_args[i]))
			argv[n++] = (char *)o->link_args[i];
	argv[n++] = "-o";
	argv[n++] = (char *)out;
	rc = koff_run_tool(&why, argv, "combining the objects");
	free(argv);
	if (rc)	/* the plain link will say what is wrong with the inputs */
		snprintf(ctx->combined.because, sizeof(ctx->combined.because), "not combined: %.200s", why.msg);
	return rc;
}

/* The link line with the combined object in the first input's place and
 * the other objects and archives gone. */
static int replace_inputs(struct koff_ctx *ctx)
{
	struct koff_options *o = &ctx->opt;
	const char **args = calloc((size_t)o->nlink_args + 1, sizeof(char *));
	int n = 0;
	bool placed = false;

	if (!args)
		return koff_fail(&ctx->err, -ENOMEM, "out of memory");
	for (int i = 0; i < o->nlink_args; i++) {
		const char *arg = o->link_args[i];

		if (!is_input_object(arg) && !is_input_archive(arg))
			args[n++] = arg;
		else if (!placed && (placed = true))
			args[n++] = ctx->combined.path;
		else if (is_input_object(arg) || is_input_archive(arg))
			ctx->combined.ninputs++;
	}
	ctx->combined.ninputs++;	/* the first */
	ctx->combined.entry_object = o->object;
	free(o->link_args);	/* the strings are argv's */
	o->link_args = args;
	o->nlink_args = n;
	o->object = ctx->combined.path;
	return 0;
}

int combine_inputs(struct koff_ctx *ctx)
{
	struct obj_file *entry = NULL;
	const char *name;
	int rc, ninputs = 0;


	for (int i = 0; i < ctx->opt.nlink_args; i++) {
		const char *arg = ctx->opt.link_args[i];

		if (changes_input_handling(arg))
			return 0;
		ninputs += is_input_object(arg) || is_input_archive(arg);
	}
	if (ninputs < 2)
		return 0;
	if (obj_open_code(ctx->opt.object, &entry, &ctx->err))
		return ctx->err.code;
	name = needs_other_input(ctx, entry);
	if (name)
		snprintf(ctx->combined.because, sizeof(ctx->combined.because), "%s", name);
	obj_close(entry);
	if (!name)
		return 0;
	snprintf(ctx->combined.dir, sizeof(ctx->combined.dir), "%s/koff-combine-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(ctx->combined.dir)) {
		rc = koff_fail(&ctx->err, -errno, "%s: cannot create: %s", ctx->combined.dir, strerror(errno));
		ctx->combined.dir[0] = 0;
		return rc;
	}
	snprintf(ctx->combined.path, sizeof(ctx->combined.path), "%s/combined.o", ctx->combined.dir);
	tempfiles_protect_path(ctx->combined.path);
	if (relocatable_link(ctx, ctx->combined.path)) {
		/* the handler is lifted from its own object, as without combining */
		unlink(ctx->combined.path);
		ctx->combined.path[0] = 0;
		return 0;
	}
	return replace_inputs(ctx);
}

void combine_cleanup(struct koff_ctx *ctx)
{
	if (ctx->combined.path[0])
		unlink(ctx->combined.path);
	if (ctx->combined.dir[0])
		rmdir(ctx->combined.dir);
	ctx->combined.path[0] = ctx->combined.dir[0] = 0;
}
