/* tracemap.c - the table a --record-path build carries in KOFF_TRACE_SECTION
 * (include/koff_abi.h): the object's functions and the source line of every
 * x86 instruction the program records, so that tests/koffdiff.c can name
 * the place where the native and the lifted paths part, in the terms of
 * the object (function+offset, section offset) and of its source. */
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "driver.h"

static int compare_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void write_functions(const struct koff_ctx *ctx, FILE *f)
{
	const struct obj_file *obj = ctx->obj;

	for (int i = 0; i < obj->nsyms; i++) {
		const struct obj_symbol *s = &obj->syms[i];
		const struct obj_section *sec;

		if (s->type != STT_FUNC || s->shndx <= 0 || s->shndx >= obj->nsecs)
			continue;
		sec = &obj->secs[s->shndx];
		if (!sec->va || !(sec->flags & SHF_EXECINSTR))
			continue;
		fprintf(f, "F %llx %llx %llx %s %s\n", (unsigned long long)(sec->va + s->value),
			(unsigned long long)s->size, (unsigned long long)s->value, sec->name, s->name);
	}
}

static void write_blocks(const struct ir_func *fn, FILE *f)
{
	for (int b = 0; b < fn->nblocks; b++) {
		bool any = false;

		for (int i = 0; i < fn->blocks[b].ninsns; i++) {
			const struct ir_insn *in = &fn->blocks[b].insns[i];

			if (in->op != IR_TRACE)
				continue;
			if (!any)
				fprintf(f, "B %d", b);
			fprintf(f, " %llx", (unsigned long long)in->x86_addr);
			any = true;
		}
		if (any)
			fputc('\n', f);
	}
}

/* The traced addresses, sorted and unique; *n of them. */
static uint64_t *traced_addresses(const struct ir_func *fn, size_t *n)
{
	size_t count = 0, k = 0;
	uint64_t *va;

	for (int b = 0; b < fn->nblocks; b++)
		for (int i = 0; i < fn->blocks[b].ninsns; i++)
			count += fn->blocks[b].insns[i].op == IR_TRACE;
	va = malloc((count ? count : 1) * sizeof(*va));
	if (!va)
		return NULL;
	for (int b = 0; b < fn->nblocks; b++)
		for (int i = 0; i < fn->blocks[b].ninsns; i++)
			if (fn->blocks[b].insns[i].op == IR_TRACE)
				va[k++] = fn->blocks[b].insns[i].x86_addr;
	qsort(va, count, sizeof(*va), compare_u64);
	*n = 0;
	for (size_t i = 0; i < count; i++)
		if (!*n || va[*n - 1] != va[i])
			va[(*n)++] = va[i];
	return va;
}

static int write_lines(struct koff_ctx *ctx, FILE *f)
{
	size_t n;
	uint64_t *va = traced_addresses(ctx->ir, &n);

	if (!va)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		char line[160] = "?";
		uint64_t off;
		int shndx = layout_text_section(&ctx->lay, va[i], &off);

		if (shndx >= 0)
			obj_source_line(ctx->obj, shndx, off, line, sizeof(line));
		fprintf(f, "L %llx %s\n", (unsigned long long)va[i], line);
	}
	free(va);
	return 0;
}

int trace_table_build(struct koff_ctx *ctx, char **text, size_t *size)
{
	FILE *f = open_memstream(text, size);
	int rc;

	if (!f)
		return koff_fail(&ctx->err, -ENOMEM, "out of memory");
	write_functions(ctx, f);
	write_blocks(ctx->ir, f);
	rc = write_lines(ctx, f);
	if (fclose(f) || rc) {
		free(*text);
		*text = NULL;
		return koff_fail(&ctx->err, -ENOMEM, "out of memory");
	}
	return 0;
}
