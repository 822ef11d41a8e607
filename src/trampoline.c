/* trampoline.c - the userspace side of shared state (docs/shared-state.md):
 * what the link of OUT needs when ctx->shared.used, and the patch of OUT's
 * root functions afterwards.
 *
 * The link gets, in a private temporary directory:
 *   entry.o       the entry object with each shared section renamed to
 *                 .koff_sh.N (objcopy), so that only the linker script
 *                 places it;
 *   koff.ld       that script: one page-aligned output section .koff_shared
 *                 holding section N at exactly plan.secs[N].off, the control
 *                 block at value_size - 64, value_size bytes in all;
 *   koff_rt.o     runtime/koff_rt.c (embedded in koff-link) and one
 *                 trampoline per root (generated asm), compiled with the
 *                 same compiler driver that links.
 * After the link, shared_patch_executable checks that every section and
 * every global in it landed where planned, then moves each root's first
 * instructions into its trampoline's reserved bytes and writes a jump to
 * the trampoline at the root's entry. */
#include <elf.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <capstone/capstone.h>

#include "driver.h"

extern char **environ;
extern const char koff_rt_source[];	/* runtime/koff_rt.c, build/runtime_blob.S */

/* Bytes reserved after each trampoline for the displaced instructions and
 * the jump back: at most 4 + 15 (an instruction that starts at byte 4) + 5. */
#define DISPLACED_ROOM 32
#define JMP_REL32_LEN 5

/* ---- helpers ------------------------------------------------------------- */

static int run_tool(struct koff_ctx *ctx, char **argv, const char *what)
{
	int status, rc;
	pid_t pid;

	rc = posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ);
	if (rc)
		return koff_fail(&ctx->err, -rc, "cannot run '%s' for %s: %s", argv[0], what, strerror(rc));
	if (waitpid(pid, &status, 0) < 0)
		return koff_fail(&ctx->err, -errno, "waiting for '%s': %s", argv[0], strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		return koff_fail(&ctx->err, -EINVAL, "'%s' failed for %s (its messages are above)", argv[0], what);
	return 0;
}

static void work_path(const struct koff_ctx *ctx, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", ctx->shared.workdir, name);
}

static const char *objcopy_tool(void)
{
	const char *t = getenv("KOFF_OBJCOPY");

	return t && *t ? t : "objcopy";
}

/* ---- the renamed entry object ------------------------------------------- */

/* objcopy renames by name: a shared section whose name another section of
 * the object also has cannot be renamed alone. */
static bool section_name_unique(const struct obj_file *obj, const char *name)
{
	int n = 0;

	for (int i = 0; i < obj->nsecs; i++)
		if (obj->secs[i].name && !strcmp(obj->secs[i].name, name))
			n++;
	return n == 1;
}

static int renamed_entry_object(struct koff_ctx *ctx, const char *out)
{
	const struct shared_plan *p = &ctx->shared;
	struct obj_file *obj = NULL;
	char **argv = calloc((size_t)p->nsecs * 2 + 4, sizeof(char *));
	int n = 0, rc;

	if (!argv)
		return koff_fail(&ctx->err, -ENOMEM, "out of memory");
	rc = obj_open_code(ctx->opt.object, &obj, &ctx->err);
	argv[n++] = (char *)objcopy_tool();
	for (int i = 0; !rc && i < p->nsecs; i++) {
		char *arg;

		if (!section_name_unique(obj, p->secs[i].name)) {
			rc = koff_fail(&ctx->err, -EINVAL, "%s: more than one section is named %s: cannot "
				       "place the shared one alone", ctx->opt.object, p->secs[i].name);
			break;
		}
		/* A zero-filled section becomes contents too: one output section of
		 * both kinds would make ld warn that it changed its type. */
		if (asprintf(&arg, "--rename-section=%s=.koff_sh.%d%s", p->secs[i].name, i,
			     p->secs[i].nobits ? ",alloc,load,contents,data" : "") < 0) {
			rc = koff_fail(&ctx->err, -ENOMEM, "out of memory");
			break;
		}
		argv[n++] = arg;
	}
	obj_close(obj);
	if (!rc) {
		argv[n++] = (char *)ctx->opt.object;
		argv[n++] = (char *)out;
		rc = run_tool(ctx, argv, "renaming the shared sections");
	}
	for (int i = 1; i <= p->nsecs && i < n; i++)
		if (argv[i] && !strncmp(argv[i], "--rename", 8))
			free(argv[i]);
	free(argv);
	return rc;
}

/* ---- the linker script ---------------------------------------------------- */

/* Offsets inside an output section are relative to its start; moving `.`
 * backwards is an error of ld's, so overlapping offsets cannot pass. */
static int linker_script(struct koff_ctx *ctx, const char *path)
{
	const struct shared_plan *p = &ctx->shared;
	FILE *f = fopen(path, "w");
	int bad;

	if (!f)
		return koff_fail(&ctx->err, -errno, "%s: cannot write: %s", path, strerror(errno));
	fprintf(f, "/* koff-link: the shared region, at the offsets of the XDP program's map */\n"
		"SECTIONS\n{\n  .koff_shared ALIGN(%u) : ALIGN(%u)\n  {\n    __koff_shared_start = .;\n",
		KOFF_SHARED_PAGE, KOFF_SHARED_PAGE);
	for (int i = 0; i < p->nsecs; i++)
		fprintf(f, "    . = 0x%llx;\n    __koff_shared_sec_%d = .;\n    KEEP(*(.koff_sh.%d))\n",
			(unsigned long long)p->secs[i].off, i, i);
	fprintf(f, "    . = 0x%llx;\n    KEEP(*(.koff_shared_ctl))\n    . = 0x%llx;\n  }\n}\nINSERT AFTER .data;\n",
		(unsigned long long)(p->value_size - KOFF_SHARED_CTL_SIZE), (unsigned long long)p->value_size);
	bad = ferror(f);
	bad |= fclose(f) != 0;
	if (bad)
		return koff_fail(&ctx->err, -EIO, "%s: cannot write", path);
	return 0;
}

/* ---- the runtime and the trampolines ------------------------------------- */

/* One trampoline per root (docs/shared-state.md, "The userspace side").
 * Every caller-saved general register is kept around both runtime calls,
 * not only the argument registers: gcc's -fipa-ra lets a caller in the
 * same unit keep values in the registers the root itself leaves alone.
 * At entry rsp = 8 mod 16 (the caller's call); nine pushes make it 0 for
 * the call of enter; 8 more bytes enter the original function exactly like
 * a normal call (rsp = 8 mod 16), one return address deeper: roots with
 * arguments on the stack are refused (src/roots.c).  xmm registers are left
 * alone (the runtime is compiled -mgeneral-regs-only); flags are clobbered,
 * as by any call. */
static const char *const caller_saved[] = { "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11" };

static void save_registers(FILE *f)
{
	for (size_t r = 0; r < KOFF_ARRAY_SIZE(caller_saved); r++)
		fprintf(f, "\tpush %%%s\n\t.cfi_adjust_cfa_offset 8\n", caller_saved[r]);
}

static void restore_registers(FILE *f)
{
	for (size_t r = KOFF_ARRAY_SIZE(caller_saved); r-- > 0;)
		fprintf(f, "\tpop %%%s\n\t.cfi_adjust_cfa_offset -8\n", caller_saved[r]);
}

static void trampoline_asm(FILE *f, int i, bool may_write)
{
	fprintf(f, "\t.text\n\t.p2align 4\n\t.globl __koff_tramp_%d\n\t.hidden __koff_tramp_%d\n"
		"\t.type __koff_tramp_%d, @function\n__koff_tramp_%d:\n\t.cfi_startproc\n", i, i, i, i);
	save_registers(f);
	fprintf(f, "\tmov $%d, %%edi\n\tcall __koff_rt_enter\n", may_write ? 1 : 0);
	restore_registers(f);
	fprintf(f, "\tsub $8, %%rsp\n\t.cfi_adjust_cfa_offset 8\n\tcall __koff_displaced_%d\n", i);
	save_registers(f);
	fprintf(f, "\tsub $8, %%rsp\n\t.cfi_adjust_cfa_offset 8\n\tcall __koff_rt_exit\n"
		"\tadd $8, %%rsp\n\t.cfi_adjust_cfa_offset -8\n");
	restore_registers(f);
	fprintf(f, "\tadd $8, %%rsp\n\t.cfi_adjust_cfa_offset -8\n\tret\n"
		"\t.cfi_endproc\n\t.size __koff_tramp_%d, .-__koff_tramp_%d\n", i, i);
	/* Filled by shared_patch_executable: the root's first instructions and
	 * a jump back.  int3 until then. */
	fprintf(f, "\t.p2align 4\n\t.globl __koff_displaced_%d\n\t.hidden __koff_displaced_%d\n"
		"\t.type __koff_displaced_%d, @function\n__koff_displaced_%d:\n\t.fill %d, 1, 0xcc\n"
		"\t.size __koff_displaced_%d, %d\n", i, i, i, i, DISPLACED_ROOM, i, DISPLACED_ROOM);
}

static int runtime_source(struct koff_ctx *ctx, const char *path)
{
	const struct shared_plan *p = &ctx->shared;
	FILE *f = fopen(path, "w");
	int bad;

	if (!f)
		return koff_fail(&ctx->err, -errno, "%s: cannot write: %s", path, strerror(errno));
	fputs(koff_rt_source, f);
	fputs("\n/* ---- generated by koff-link: one trampoline per root ---- */\n__asm__(\n", f);
	for (int i = 0; i < p->nroots; i++) {
		char *text = NULL;
		size_t len = 0;
		FILE *m = open_memstream(&text, &len);

		if (!m) {
			fclose(f);
			return koff_fail(&ctx->err, -ENOMEM, "out of memory");
		}
		fprintf(m, "/* %s */\n", p->roots[i]);
		trampoline_asm(m, i, p->root_writes[i]);
		fclose(m);
		for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
			if (line[0] != '/')
				fprintf(f, "\t\"%s\\n\"\n", line);
		free(text);
	}
	fputs("\t\".text\\n\");\n", f);
	bad = ferror(f);
	bad |= fclose(f) != 0;
	if (bad)
		return koff_fail(&ctx->err, -EIO, "%s: cannot write", path);
	return 0;
}

static int compile_runtime(struct koff_ctx *ctx, const char *src, const char *out)
{
	char defs[6][160];
	char *argv[32];
	int n = 0;

	snprintf(defs[0], sizeof(defs[0]), "-DKOFF_RT_VALUE_SIZE=%lluu", (unsigned long long)ctx->shared.value_size);
	snprintf(defs[1], sizeof(defs[1]), "-DKOFF_RT_DATA_SIZE=%lluu", (unsigned long long)ctx->shared.data_size);
	snprintf(defs[2], sizeof(defs[2]), "-DKOFF_RT_MAGIC=0x%llxull", (unsigned long long)KOFF_SHARED_MAGIC);
	snprintf(defs[3], sizeof(defs[3]), "-DKOFF_RT_LOCK_USER=%lluull", (unsigned long long)KOFF_SHARED_LOCK_USER);
	snprintf(defs[4], sizeof(defs[4]), "-DKOFF_RT_LOCK_KERNEL=%lluull",
		 (unsigned long long)KOFF_SHARED_LOCK_KERNEL);
	snprintf(defs[5], sizeof(defs[5]), "-DKOFF_RT_ENV_FD=\"%s\"", KOFF_SHARED_ENV_FD);
	argv[n++] = (char *)link_cc();
	argv[n++] = "-c";
	argv[n++] = "-O2";
	argv[n++] = "-fPIE";
	argv[n++] = "-mgeneral-regs-only";
	argv[n++] = "-fno-stack-protector";
	argv[n++] = "-fcf-protection=none";
	argv[n++] = "-fno-asynchronous-unwind-tables";
	argv[n++] = "-D_GNU_SOURCE";
	argv[n++] = "-DKOFF_RT_CTL_SIZE=64";
	for (size_t i = 0; i < KOFF_ARRAY_SIZE(defs); i++)
		argv[n++] = defs[i];
	argv[n++] = (char *)src;
	argv[n++] = "-o";
	argv[n++] = (char *)out;
	argv[n] = NULL;
	return run_tool(ctx, argv, "the shared-state runtime");
}

/* ---- the extra link inputs ---------------------------------------------- */

int shared_link_inputs(struct koff_ctx *ctx, const char ***args, int *nargs)
{
	struct shared_plan *p = &ctx->shared;
	char entry[4200], script[4200], src[4200], rt[4200];
	const char **out;
	int n = 0, rc;

	snprintf(p->workdir, sizeof(p->workdir), "%s/koff-shared-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(p->workdir)) {
		rc = koff_fail(&ctx->err, -errno, "%s: cannot create: %s", p->workdir, strerror(errno));
		p->workdir[0] = 0;
		return rc;
	}
	work_path(ctx, "entry.o", entry, sizeof(entry));
	work_path(ctx, "koff.ld", script, sizeof(script));
	work_path(ctx, "koff_rt.c", src, sizeof(src));
	work_path(ctx, "koff_rt.o", rt, sizeof(rt));
	if ((rc = renamed_entry_object(ctx, entry)) || (rc = linker_script(ctx, script)) ||
	    (rc = runtime_source(ctx, src)) || (rc = compile_runtime(ctx, src, rt)))
		return rc;
	out = calloc((size_t)ctx->opt.nlink_args + 3, sizeof(*out));
	if (!out)
		return koff_fail(&ctx->err, -ENOMEM, "out of memory");
	for (int i = 0; i < ctx->opt.nlink_args; i++)
		out[n++] = ctx->opt.link_args[i] == ctx->opt.object ? strdup(entry) : strdup(ctx->opt.link_args[i]);
	out[n++] = strdup(rt);
	if (asprintf((char **)&out[n], "-Wl,-T,%s", script) < 0)
		out[n] = NULL;
	n++;
	for (int i = 0; i < n; i++)
		if (!out[i]) {
			for (int j = 0; j < n; j++)
				free((char *)out[j]);
			free(out);
			return koff_fail(&ctx->err, -ENOMEM, "out of memory");
		}
	*args = out;
	*nargs = n;
	return 0;
}

void shared_link_cleanup(struct koff_ctx *ctx)
{
	static const char *const files[] = { "entry.o", "koff.ld", "koff_rt.c", "koff_rt.o" };
	char path[4200];

	if (!ctx->shared.workdir[0])
		return;
	for (size_t i = 0; i < KOFF_ARRAY_SIZE(files); i++) {
		work_path(ctx, files[i], path, sizeof(path));
		unlink(path);
	}
	rmdir(ctx->shared.workdir);
	ctx->shared.workdir[0] = 0;
}

/* ---- reading OUT ---------------------------------------------------------- */

struct exe_image {
	int fd;
	Elf *elf;
	uint8_t *bytes;			/* the whole file */
	size_t size;
	Elf_Data *symtab;
	size_t nsyms, strtab;
};

static void exe_close(struct exe_image *x)
{
	if (x->elf)
		elf_end(x->elf);
	if (x->fd >= 0)
		close(x->fd);
	free(x->bytes);
}

static int exe_open(struct koff_ctx *ctx, struct exe_image *x)
{
	const char *path = ctx->tmp_exe;
	Elf_Scn *scn = NULL;
	struct stat st;

	memset(x, 0, sizeof(*x));
	x->fd = open(path, O_RDWR | O_CLOEXEC);
	if (x->fd < 0 || fstat(x->fd, &st))
		return koff_fail(&ctx->err, -errno, "%s: cannot open: %s", path, strerror(errno));
	x->size = (size_t)st.st_size;
	x->bytes = malloc(x->size ? x->size : 1);
	if (!x->bytes)
		return koff_fail(&ctx->err, -ENOMEM, "out of memory");
	if (pread(x->fd, x->bytes, x->size, 0) != (ssize_t)x->size)
		return koff_fail(&ctx->err, -EIO, "%s: cannot read", path);
	elf_version(EV_CURRENT);
	x->elf = elf_memory((char *)x->bytes, x->size);
	if (!x->elf || elf_kind(x->elf) != ELF_K_ELF)
		return koff_fail(&ctx->err, -EINVAL, "%s: the linker wrote no ELF file", path);
	while ((scn = elf_nextscn(x->elf, scn))) {
		GElf_Shdr sh;

		if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_SYMTAB) {
			x->symtab = elf_getdata(scn, NULL);
			x->nsyms = sh.sh_entsize ? sh.sh_size / sh.sh_entsize : 0;
			x->strtab = sh.sh_link;
		}
	}
	return 0;
}

/* The one symbol of that name (any binding), or -ENOENT / -EEXIST. */
static int exe_symbol(struct exe_image *x, const char *name, GElf_Sym *out)
{
	int found = 0;

	for (size_t i = 1; x->symtab && i < x->nsyms; i++) {
		GElf_Sym s;
		const char *n;

		if (!gelf_getsym(x->symtab, (int)i, &s) || s.st_shndx == SHN_UNDEF)
			continue;
		n = elf_strptr(x->elf, x->strtab, s.st_name);
		if (!n || strcmp(n, name) || GELF_ST_TYPE(s.st_info) == STT_FILE)
			continue;
		if (found++ && (s.st_value != out->st_value))
			return -EEXIST;
		*out = s;
	}
	return found ? 0 : -ENOENT;
}

/* The file offset of address va, when it lies in the file image of a
 * section of that flag (SHF_EXECINSTR for code). */
static int64_t exe_file_offset(struct exe_image *x, uint64_t va, uint64_t len, uint64_t need_flags)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(x->elf, scn))) {
		GElf_Shdr sh;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_PROGBITS || (sh.sh_flags & need_flags) != need_flags)
			continue;
		if (va >= sh.sh_addr && va + len <= sh.sh_addr + sh.sh_size)
			return (int64_t)(sh.sh_offset + (va - sh.sh_addr));
	}
	return -1;
}

static bool exe_section(struct exe_image *x, const char *name, GElf_Shdr *out)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	if (elf_getshdrstrndx(x->elf, &shstrndx))
		return false;
	while ((scn = elf_nextscn(x->elf, scn))) {
		const char *n;

		if (!gelf_getshdr(scn, out))
			continue;
		n = elf_strptr(x->elf, shstrndx, out->sh_name);
		if (n && !strcmp(n, name))
			return true;
	}
	return false;
}

/* ---- where the shared sections landed ------------------------------------- */

/* .koff_shared is whole pages at a page boundary, every section and every
 * variable of the entry object in it sits at the planned offset: otherwise
 * OUT and the XDP program would not mean the same bytes. */
static int check_placement(struct koff_ctx *ctx, struct exe_image *x)
{
	const struct shared_plan *p = &ctx->shared;
	struct obj_file *obj = NULL;
	GElf_Shdr sh;
	GElf_Sym s;
	int rc;

	if (!exe_section(x, ".koff_shared", &sh))
		return koff_fail(&ctx->err, -EINVAL, "%s: the linker did not place .koff_shared (a custom "
				 "linker script?)", ctx->opt.output);
	if (sh.sh_addr % KOFF_SHARED_PAGE || sh.sh_size != p->value_size)
		return koff_fail(&ctx->err, -EINVAL, "%s: .koff_shared is at 0x%llx, %llu bytes: planned a "
				 "page-aligned %llu bytes", ctx->opt.output, (unsigned long long)sh.sh_addr,
				 (unsigned long long)sh.sh_size, (unsigned long long)p->value_size);
	for (int i = 0; i < p->nsecs; i++) {
		char name[64];

		snprintf(name, sizeof(name), "__koff_shared_sec_%d", i);
		if (exe_symbol(x, name, &s) || s.st_value != sh.sh_addr + p->secs[i].off)
			return koff_fail(&ctx->err, -EINVAL, "%s: %s did not land at offset %llu of .koff_shared",
					 ctx->opt.output, p->secs[i].name, (unsigned long long)p->secs[i].off);
	}
	if (exe_symbol(x, "__koff_shared_ctl_image", &s) ||
	    s.st_value != sh.sh_addr + p->value_size - KOFF_SHARED_CTL_SIZE)
		return koff_fail(&ctx->err, -EINVAL, "%s: the control block did not land at the end of .koff_shared",
				 ctx->opt.output);
	if ((rc = obj_open_code(ctx->opt.object, &obj, &ctx->err)))
		return rc;
	for (int i = 0; i < p->nsecs && !rc; i++) {
		for (int k = 1; k < obj->nsyms && !rc; k++) {
			const struct obj_symbol *v = &obj->syms[k];

			if (v->shndx != p->secs[i].shndx || v->type != STT_OBJECT || !v->name[0] ||
			    exe_symbol(x, v->name, &s))
				continue;	/* absent or ambiguous by name: the section check covers it */
			if (s.st_value != sh.sh_addr + p->secs[i].off + v->value)
				rc = koff_fail(&ctx->err, -EINVAL, "%s: %s is at 0x%llx, planned 0x%llx", ctx->opt.output,
					       v->name, (unsigned long long)s.st_value,
					       (unsigned long long)(sh.sh_addr + p->secs[i].off + v->value));
		}
	}
	obj_close(obj);
	return rc;
}

/* ---- the patch of a root -------------------------------------------------- */

struct root_patch {
	uint64_t entry_va;		/* where the jump goes: after an endbr64 */
	int64_t entry_off;		/* its file offset */
	unsigned len;			/* bytes displaced */
	uint64_t stub_va, tramp_va;
	int64_t stub_off;
	uint8_t displaced[DISPLACED_ROOM];
	unsigned displaced_len;		/* with the jump back */
	uint64_t targets[8];		/* of the displaced branches */
	int ntargets;
};

static bool is_relative_branch(const cs_insn *in)
{
	const cs_x86 *x = &in->detail->x86;

	for (int g = 0; g < in->detail->groups_count; g++) {
		uint8_t grp = in->detail->groups[g];

		if (grp == CS_GRP_JUMP || grp == CS_GRP_CALL || grp == X86_GRP_BRANCH_RELATIVE)
			for (int o = 0; o < x->op_count; o++)
				if (x->operands[o].type == X86_OP_IMM)
					return true;
	}
	return false;
}

static bool is_rip_relative(const cs_insn *in)
{
	const cs_x86 *x = &in->detail->x86;

	for (int o = 0; o < x->op_count; o++)
		if (x->operands[o].type == X86_OP_MEM && x->operands[o].mem.base == X86_REG_RIP)
			return true;
	return false;
}

static void put_rel32(uint8_t *at, int64_t rel)
{
	int32_t v = (int32_t)rel;

	memcpy(at, &v, 4);
}

/* A relative jump, conditional jump or call among the displaced bytes is
 * written again in its rel32 form, to the same target. */
static bool displace_branch(struct root_patch *rp, const cs_insn *in, const char **why)
{
	const cs_x86 *x = &in->detail->x86;
	uint8_t *dst = rp->displaced + rp->displaced_len;
	uint8_t op = x->opcode[0] == 0x0f ? x->opcode[1] : x->opcode[0];
	int64_t target = 0;
	unsigned n;

	for (int o = 0; o < x->op_count; o++)
		if (x->operands[o].type == X86_OP_IMM)
			target = x->operands[o].imm;
	if (in->id == X86_INS_JMP || in->id == X86_INS_CALL) {
		dst[0] = in->id == X86_INS_JMP ? 0xe9 : 0xe8;
		n = 5;
	} else if ((op & 0xf0) == 0x70 || (x->opcode[0] == 0x0f && (op & 0xf0) == 0x80)) {
		dst[0] = 0x0f;
		dst[1] = (uint8_t)(0x80 | (op & 0x0f));
		n = 6;
	} else {
		*why = "a loop or jrcxz instruction in its first bytes";
		return false;
	}
	if (rp->displaced_len + n + JMP_REL32_LEN > DISPLACED_ROOM) {
		*why = "too many branches in its first bytes";
		return false;
	}
	if (rp->ntargets < (int)KOFF_ARRAY_SIZE(rp->targets))
		rp->targets[rp->ntargets++] = (uint64_t)target;
	if (target - (int64_t)(rp->stub_va + rp->displaced_len + n) !=
	    (int32_t)(target - (int64_t)(rp->stub_va + rp->displaced_len + n))) {
		*why = "a branch in its first bytes too far from the trampoline";
		return false;
	}
	put_rel32(dst + n - 4, target - (int64_t)(rp->stub_va + rp->displaced_len + n));
	rp->displaced_len += n;
	return true;
}

/* Copy instruction `in` (at its original address) to the stub, fixing a
 * rip-relative displacement; false when it cannot move. */
static bool displace_insn(struct root_patch *rp, const cs_insn *in, const char **why)
{
	uint8_t *dst = rp->displaced + rp->displaced_len;
	const cs_x86 *x = &in->detail->x86;

	if (is_relative_branch(in))
		return displace_branch(rp, in, why);
	if (rp->displaced_len + in->size + JMP_REL32_LEN > DISPLACED_ROOM) {
		*why = "its first instructions are too long to move";
		return false;
	}
	memcpy(dst, in->bytes, in->size);
	if (is_rip_relative(in)) {
		/* rip-relative is always ModRM mod=00 rm=101 and a disp32 right after
		 * the ModRM byte (capstone 4 misreports disp_size with a 66 prefix). */
		unsigned at = x->encoding.modrm_offset + 1u;
		int64_t target = (int64_t)(in->address + in->size) + x->disp;
		int64_t moved = target - (int64_t)(rp->stub_va + rp->displaced_len + in->size);
		int32_t d32, old;

		if (!x->encoding.modrm_offset || at + 4 > in->size)
			return *why = "a rip-relative instruction in its first bytes koff cannot read", false;
		memcpy(&old, in->bytes + at, 4);
		if (old != (int32_t)x->disp || moved != (int32_t)moved) {
			*why = "a rip-relative instruction in its first bytes that cannot move";
			return false;
		}
		d32 = (int32_t)moved;
		memcpy(dst + at, &d32, 4);
	}
	rp->displaced_len += in->size;
	return true;
}

static bool in_moved_bytes(const struct root_patch *rp, uint64_t target)
{
	return target >= rp->entry_va && target < rp->entry_va + rp->len;
}

/* The slots of a jump table at `table` whose targets lie in the function
 * [lo, hi): relative int32 slots (PIC: target = table + slot) or absolute
 * u64 ones.  True when one targets the moved bytes.  A table ends at the
 * first slot that points elsewhere. */
static bool table_into(struct exe_image *x, uint64_t table, bool relative, uint64_t lo, uint64_t hi,
		       const struct root_patch *rp)
{
	unsigned width = relative ? 4 : 8;

	if (exe_file_offset(x, table, 1, SHF_EXECINSTR) >= 0)
		return false;	/* code, not a table */
	for (unsigned k = 0; k < 4096; k++) {
		int64_t off = exe_file_offset(x, table + (uint64_t)k * width, width, SHF_ALLOC);
		uint64_t target;

		if (off < 0)
			return false;
		if (relative) {
			int32_t v;

			memcpy(&v, x->bytes + off, 4);
			target = table + (uint64_t)(int64_t)v;
		} else {
			memcpy(&target, x->bytes + off, 8);
		}
		if (target < lo || target >= hi)
			return false;
		if (in_moved_bytes(rp, target))
			return true;
	}
	return false;
}

/* Direct branches inside the root, and its jump tables (the address of a
 * table taken by lea, or an absolute jmp *table(,%reg,8)), that land in
 * the moved bytes would run them again, through the jump: the root stays
 * unpatched. */
static bool branch_into(struct exe_image *x, csh cs, const uint8_t *code, uint64_t size, uint64_t va,
			const struct root_patch *rp)
{
	cs_insn *all = NULL;
	size_t n = cs_disasm(cs, code, size, va, 0, &all);
	bool hit = false;

	for (size_t i = 0; i < n && !hit; i++) {
		const cs_x86 *xi = &all[i].detail->x86;

		for (int o = 0; o < xi->op_count && !hit; o++) {
			const cs_x86_op *op = &xi->operands[o];

			if (op->type == X86_OP_IMM && is_relative_branch(&all[i]) && all[i].address >= rp->entry_va + rp->len)
				hit = in_moved_bytes(rp, (uint64_t)op->imm);
			else if (op->type == X86_OP_MEM && op->mem.base == X86_REG_RIP && all[i].id == X86_INS_LEA)
				hit = table_into(x, all[i].address + all[i].size + (uint64_t)op->mem.disp, true, va,
						 va + size, rp);
			else if (op->type == X86_OP_MEM && op->mem.base == X86_REG_INVALID &&
				 op->mem.index != X86_REG_INVALID && op->mem.scale == 8)
				hit = table_into(x, (uint64_t)op->mem.disp, false, va, va + size, rp);
		}
	}
	cs_free(all, n);
	return hit;
}

static int plan_root(struct koff_ctx *ctx, struct exe_image *x, csh cs, int i, struct root_patch *rp,
		     char *why, size_t whylen)
{
	const char *name = ctx->shared.roots[i], *reason = NULL;
	char stub[64], tramp[64];
	GElf_Sym fn, s;
	int64_t fn_off;
	uint64_t at;

	memset(rp, 0, sizeof(*rp));
	if (exe_symbol(x, name, &fn) || GELF_ST_TYPE(fn.st_info) != STT_FUNC) {
		snprintf(why, whylen, "root %s: not found once by name in the linked executable%s", name,
			 x->symtab ? "" : " (stripped)");
		return 1;
	}
	fn_off = exe_file_offset(x, fn.st_value, fn.st_size, SHF_EXECINSTR);
	snprintf(stub, sizeof(stub), "__koff_displaced_%d", i);
	snprintf(tramp, sizeof(tramp), "__koff_tramp_%d", i);
	if (fn_off < 0 || exe_symbol(x, stub, &s))
		return koff_fail(&ctx->err, -EINVAL, "%s: the trampoline of %s is missing", ctx->opt.output, name);
	rp->stub_va = s.st_value;
	rp->stub_off = exe_file_offset(x, s.st_value, DISPLACED_ROOM, SHF_EXECINSTR);
	if (rp->stub_off < 0 || exe_symbol(x, tramp, &s))
		return koff_fail(&ctx->err, -EINVAL, "%s: the trampoline of %s is missing", ctx->opt.output, name);
	rp->tramp_va = s.st_value;
	rp->entry_va = fn.st_value;
	at = 0;
	while (rp->len < JMP_REL32_LEN && !reason) {
		cs_insn *in = NULL;
		size_t got = at < fn.st_size ? cs_disasm(cs, x->bytes + fn_off + at, fn.st_size - at,
							  fn.st_value + at, 1, &in) : 0;

		if (!got) {
			reason = "shorter than a jump";
		} else if (in->id == X86_INS_ENDBR64 && at == 0) {
			rp->entry_va += in->size;	/* indirect calls still land on it */
		} else if (displace_insn(rp, in, &reason)) {
			rp->len += in->size;
		}
		at += got ? in[0].size : 0;
		cs_free(in, got);
	}
	for (int t = 0; t < rp->ntargets && !reason; t++)
		if (rp->targets[t] >= rp->entry_va && rp->targets[t] < rp->entry_va + rp->len)
			reason = "a loop in its first bytes";
	if (!reason && branch_into(x, cs, x->bytes + fn_off, fn.st_size, fn.st_value, rp))
		reason = "a branch or jump table inside it targets its first bytes";
	if (reason) {
		snprintf(why, whylen, "root %s cannot be patched: %s", name, reason);
		return 1;
	}
	rp->entry_off = fn_off + (int64_t)(rp->entry_va - fn.st_value);
	/* The jump back to the first byte not displaced. */
	rp->displaced[rp->displaced_len] = 0xe9;
	put_rel32(rp->displaced + rp->displaced_len + 1,
		  (int64_t)(rp->entry_va + rp->len) - (int64_t)(rp->stub_va + rp->displaced_len + JMP_REL32_LEN));
	rp->displaced_len += JMP_REL32_LEN;
	return 0;
}

static int write_patch(struct koff_ctx *ctx, struct exe_image *x, const struct root_patch *rp)
{
	uint8_t jump[DISPLACED_ROOM];

	memset(jump, 0xcc, sizeof(jump));
	jump[0] = 0xe9;
	put_rel32(jump + 1, (int64_t)rp->tramp_va - (int64_t)(rp->entry_va + JMP_REL32_LEN));
	if (pwrite(x->fd, rp->displaced, rp->displaced_len, rp->stub_off) != (ssize_t)rp->displaced_len ||
	    pwrite(x->fd, jump, rp->len, rp->entry_off) != (ssize_t)rp->len)
		return koff_fail(&ctx->err, -EIO, "%s: cannot write the patched executable", ctx->tmp_exe);
	return 0;
}

/* Every root is checked before any byte is written: either all are
 * patched, or none is and the plan is dropped (why_not) - the caller then
 * links OUT again without the shared inputs. */
static int patch_all(struct koff_ctx *ctx, struct exe_image *x)
{
	struct shared_plan *p = &ctx->shared;
	struct root_patch *rps = calloc((size_t)p->nroots + 1, sizeof(*rps));
	csh cs;
	int rc = 0, refused = 0;

	if (!rps)
		return koff_fail(&ctx->err, -ENOMEM, "out of memory");
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &cs) != CS_ERR_OK) {
		free(rps);
		return koff_fail(&ctx->err, -EINVAL, "capstone: cannot open an x86-64 disassembler");
	}
	cs_option(cs, CS_OPT_DETAIL, CS_OPT_ON);
	for (int i = 0; i < p->nroots && !rc && !refused; i++) {
		rc = plan_root(ctx, x, cs, i, &rps[i], p->why_not, sizeof(p->why_not));
		refused = rc > 0;
		rc = rc > 0 ? 0 : rc;
	}
	for (int i = 0; i < p->nroots && !rc && !refused; i++)
		rc = write_patch(ctx, x, &rps[i]);
	cs_close(&cs);
	free(rps);
	if (!rc && refused) {
		p->used = false;
		shared_roots_free(p);
	}
	return rc;
}

void shared_give_up(struct koff_ctx *ctx, const char *prefix)
{
	snprintf(ctx->shared.why_not, sizeof(ctx->shared.why_not), "%s%.250s", prefix, ctx->err.msg);
	memset(&ctx->err, 0, sizeof(ctx->err));
	ctx->shared.used = false;
	shared_roots_free(&ctx->shared);
}

int shared_patch_executable(struct koff_ctx *ctx)
{
	struct exe_image x;
	int rc;

	if (!ctx->shared.used)
		return 0;
	rc = exe_open(ctx, &x);
	if (!rc && !x.symtab) {
		/* -s, -Wl,--strip-all: no symbols to find the roots by */
		snprintf(ctx->shared.why_not, sizeof(ctx->shared.why_not),
			 "the linked executable has no symbol table (stripped): its roots cannot be found");
		ctx->shared.used = false;
		shared_roots_free(&ctx->shared);
	}
	if (!rc && ctx->shared.used && (rc = check_placement(ctx, &x)) && rc != -ENOMEM) {
		shared_give_up(ctx, "");	/* a linker that did not follow the script */
		rc = 0;
	}
	if (!rc && ctx->shared.used)
		rc = patch_all(ctx, &x);
	exe_close(&x);
	if (!rc && !ctx->shared.used) {
		/* Refused: OUT becomes exactly the plain link. */
		rc = link_executable(ctx);
	}
	return rc;
}
