/* where.c - naming a code address the way a developer reads it. */
#include <stdio.h>

#include "driver.h"

void describe_address(struct koff_ctx *ctx, uint64_t va, char *buf, size_t len)
{
	const char *func = layout_function_at(&ctx->lay, va);
	uint64_t func_start = layout_function_start(&ctx->lay, va), off;
	char line[128] = "?";
	int shndx;

	shndx = layout_text_section(&ctx->lay, va, &off);
	if (shndx >= 0)
		obj_source_line(ctx->obj, shndx, off, line, sizeof(line));
	snprintf(buf, len, "%s+%#llx (%s)", func, (unsigned long long)(va - func_start), line);
}
