/* verify.h - link-time verification: load OUT.bpf.o into the running
 * kernel exactly as koff-load will (through libbpf), record what the
 * verifier said, and unload it again.  Nothing stays loaded. */
#ifndef KOFF_VERIFY_H
#define KOFF_VERIFY_H

#include <stdbool.h>

#include "koff.h"

struct bpf_verdict {
	bool loaded;		/* the verifier accepted the program */
	unsigned processed_insns; /* "processed N insns" (also on rejection, when logged) */
	unsigned prog_insns;	/* instructions of the program as loaded */
	int fail_insn;		/* index of the insn the verifier rejected, -1 */
	int hot_insns[8];	/* on rejection: the insns the log shows most often, */
	int nhot;		/* most first (where a too-complex program spent its budget) */
	char *log;		/* owned: the last ~30 lines of the verifier log */
};

/* How much a rejection should tell.  Locating it (fail_insn, hot_insns)
 * verifies a second time with the full log: seconds, for a big program. */
enum verify_detail {
	VERIFY_LOCATE_REJECTION,	/* where, and why: to answer it with a fallback */
	VERIFY_LOCATE_UNLESS_TOO_COMPLEX, /* ... except when the budget ran out: the
					   * caller tries another code shape first */
	VERIFY_VERDICT_ONLY,		/* why only: fail_insn stays -1, nhot 0 */
};

/* Load the object at `path` and fill v (free v->log with bpf_verdict_free).
 * Returns 0 when the verifier accepted the program; otherwise a negative
 * errno with err filled:
 *   -EPERM  "cannot load BPF here: Operation not permitted" (v->loaded false,
 *           nothing verified: callers may skip verification with a warning);
 *   -EACCES and friends "PATH: verifier rejected koff_xdp at insn N: <reason>"
 *           (v->fail_insn and v->log say where and why; without "at insn N"
 *           for VERIFY_VERDICT_ONLY);
 *   other   "PATH: libbpf cannot open/load it: <libbpf's message>". */
int bpf_verify_object(const char *path, enum verify_detail detail, struct bpf_verdict *v,
		      struct koff_error *err);
void bpf_verdict_free(struct bpf_verdict *v);

/* Whether the verifier gave up on the program's size or complexity (its
 * budget of processed instructions, its jump sequences) rather than
 * finding something wrong with one instruction. */
bool bpf_verdict_too_complex(const struct bpf_verdict *v);

/* Whether this process may load BPF programs (tries a tiny socket filter). */
bool bpf_can_load(void);

#endif
