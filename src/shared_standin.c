/* shared_standin.c - TEMPORARY: a stand-in for shk's src/shared.c until
 * that branch is merged (its strong definitions replace these weak ones;
 * delete this file then).  Only with KOFF_SHARED_STANDIN=1 in the
 * environment, so that nothing else changes meanwhile: every writable,
 * non-TLS section of the entry object without relocations is shared, in
 * section order, each at its alignment. */
#include <elf.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"

__attribute__((weak)) int shared_plan_build(struct koff_ctx *ctx)
{
	struct shared_plan *p = &ctx->shared;
	struct obj_file *obj = NULL;
	const char *env = getenv("KOFF_SHARED_STANDIN");
	uint64_t off = 0;
	int rc;

	if (!env || strcmp(env, "1"))
		return 0;
	if ((rc = obj_open(ctx->opt.object, &obj, &ctx->err)))
		return rc;
	for (int i = 1; i < obj->nsecs; i++) {
		const struct obj_section *s = &obj->secs[i];
		uint64_t align = s->align ? s->align : 1;

		if (!s->name || (s->flags & (SHF_ALLOC | SHF_WRITE | SHF_EXECINSTR | SHF_TLS)) !=
				    (SHF_ALLOC | SHF_WRITE) || s->nrelocs || !s->size ||
		    (s->type != SHT_PROGBITS && s->type != SHT_NOBITS))
			continue;
		if (koff_grow(&p->secs, &p->capsecs, p->nsecs, sizeof(*p->secs)))
			return koff_fail(&ctx->err, -ENOMEM, "out of memory");
		off = (off + align - 1) / align * align;
		p->secs[p->nsecs++] = (struct shared_section){ .shndx = i, .name = strdup(s->name), .off = off,
								.size = s->size, .nobits = s->type == SHT_NOBITS };
		off += s->size;
	}
	obj_close(obj);
	p->data_size = off;
	p->value_size = (off + KOFF_SHARED_CTL_SIZE + KOFF_SHARED_PAGE - 1) / KOFF_SHARED_PAGE * KOFF_SHARED_PAGE;
	p->used = p->nsecs > 0;
	return 0;
}

__attribute__((weak)) void shared_plan_free(struct shared_plan *p)
{
	for (int i = 0; i < p->nsecs; i++)
		free((char *)p->secs[i].name);
	free(p->secs);
	p->secs = NULL;
	p->nsecs = p->capsecs = 0;
}
