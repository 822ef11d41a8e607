/* decode.c - capstone over the relocated code image, cached by address. */
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "ir.h"

int decoder_init(struct decoder *d, const struct layout *lay, struct koff_error *err)
{
	memset(d, 0, sizeof(*d));
	d->lay = lay;
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &d->cs) != CS_ERR_OK)
		return koff_fail(err, -EINVAL, "capstone: cannot open an x86-64 disassembler");
	cs_option(d->cs, CS_OPT_DETAIL, CS_OPT_ON);
	d->nslots = 4096;
	d->slots = calloc(d->nslots, sizeof(*d->slots));
	if (!d->slots) {
		cs_close(&d->cs);
		return koff_fail(err, -ENOMEM, "out of memory");
	}
	return 0;
}

void decoder_free(struct decoder *d)
{
	for (int i = 0; i < d->nslots; i++)
		if (d->slots[i].insn)
			cs_free(d->slots[i].insn, 1);
	free(d->slots);
	if (d->cs)
		cs_close(&d->cs);
	memset(d, 0, sizeof(*d));
}

static unsigned slot_of(uint64_t va, int n)
{
	return (unsigned)((va * 0x9E3779B97F4A7C15ull) >> 40) % (unsigned)n;
}

static int grow(struct decoder *d)
{
	struct decoded *old = d->slots;
	int oldn = d->nslots;

	d->nslots *= 2;
	d->slots = calloc(d->nslots, sizeof(*d->slots));
	if (!d->slots) {
		d->slots = old;
		d->nslots = oldn;
		return -ENOMEM;
	}
	for (int i = 0; i < oldn; i++) {
		unsigned s;

		if (!old[i].insn)
			continue;
		for (s = slot_of(old[i].va, d->nslots); d->slots[s].insn; s = (s + 1) % d->nslots)
			;
		d->slots[s] = old[i];
	}
	free(old);
	return 0;
}

const cs_insn *decode_at(struct decoder *d, uint64_t va)
{
	const uint8_t *code;
	cs_insn *insn = NULL;
	uint64_t left;
	unsigned s;

	if (!layout_in_text(d->lay, va))
		return NULL;
	for (s = slot_of(va, d->nslots); d->slots[s].insn; s = (s + 1) % d->nslots)
		if (d->slots[s].va == va)
			return d->slots[s].insn;
	code = d->lay->text + (va - IR_TEXT_VA);
	left = IR_TEXT_VA + d->lay->text_size - va;
	if (cs_disasm(d->cs, code, left, va, 1, &insn) != 1)
		return NULL;
	if (d->used * 2 >= d->nslots && grow(d)) {
		cs_free(insn, 1);
		return NULL;
	}
	for (s = slot_of(va, d->nslots); d->slots[s].insn; s = (s + 1) % d->nslots)
		;
	d->slots[s].va = va;
	d->slots[s].insn = insn;
	d->used++;
	return insn;
}
