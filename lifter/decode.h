/* decode.h - capstone over the relocated code image, one cached
 * instruction per address. */
#ifndef KOFF_DECODE_H
#define KOFF_DECODE_H

#include <capstone/capstone.h>

#include "layout.h"

struct decoder {
	csh cs;
	const struct layout *lay;
	struct decoded { uint64_t va; cs_insn *insn; } *slots;	/* open addressing */
	int nslots, used;
};

int decoder_init(struct decoder *d, const struct layout *lay, struct koff_error *err);
void decoder_free(struct decoder *d);
/* The instruction at va (with detail), or NULL when va is outside the code
 * or holds no valid instruction. */
const cs_insn *decode_at(struct decoder *d, uint64_t va);

#endif
