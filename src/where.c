/* where.c - naming a code address the way a developer reads it. */
#include <elf.h>
#include <stdio.h>

#include "driver.h"

void describe_address(struct koff_ctx *ctx, uint64_t va, char *buf, size_t len)
{
	const struct obj_file *obj = ctx->obj;
	const char *func = "?";
	uint64_t func_start = 0, off;
	char line[128] = "?";
	int shndx;

	for (int i = 0; i < obj->nsyms; i++) {
		const struct obj_symbol *s = &obj->syms[i];
		uint64_t start;

		if (s->type != STT_FUNC || s->shndx == SHN_UNDEF || s->shndx >= obj->nsecs)
			continue;
		start = obj->secs[s->shndx].va + s->value;
		if (va >= start && va < start + (s->size ? s->size : 1)) {
			func = s->name;
			func_start = start;
		}
	}
	shndx = layout_text_section(&ctx->lay, va, &off);
	if (shndx >= 0)
		obj_source_line(ctx->obj, shndx, off, line, sizeof(line));
	snprintf(buf, len, "%s+%#llx (%s)", func, (unsigned long long)(va - func_start), line);
}
