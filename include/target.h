/* target.h - the kernel an offload must run on, as data.
 *
 * koff-link builds on one machine and the program runs on another, so every
 * kernel difference that shapes code lives here, in one table (kernel/
 * target.c), in the spirit of libbpf's feature probes (features.c) and
 * QBE's Target: code generation asks `target_has(t, KFEAT_x)`, never a
 * version number, and the lifter never asks at all.
 *
 * A target is a set of features plus the verifier's budget.  The table has
 * one row per kernel series that matters in production (5.15 Ubuntu 22.04,
 * 6.1 Debian 12, 6.6, 6.8 Ubuntu 24.04, 6.12 Debian 13, the newest); `host`
 * is probed by loading tiny programs into the running kernel
 * (kernel/probe.c), and `portable` is what every supported series has.
 *
 * To add a kernel: add a row to the table in kernel/target.c; to add a
 * feature: add it to KOFF_KFEATURES below (name, first version, what it
 * is), give it a probe in kernel/probe.c, and ask for it where code
 * generation needs it. */
#ifndef KOFF_TARGET_H
#define KOFF_TARGET_H

#include <stdbool.h>
#include <stdint.h>

#include "koff.h"

/* X(id, name, since, what): every kernel feature koff's code depends on.
 * `since` is the mainline version that brought it (documentation and the
 * table's consistency check; code never compares versions). */
#define KOFF_KFEATURES(X)                                                                  \
	X(JMP32, "jmp32", "5.1", "32-bit conditional jumps (cpu v3)")                      \
	X(BOUNDED_LOOPS, "bounded_loops", "5.3", "back edges the verifier walks")          \
	X(MMAPABLE, "mmapable", "5.5", "BPF_F_MMAPABLE array maps")                        \
	X(GLOBAL_FUNC, "global_func", "5.6", "global BPF functions, verified once")        \
	X(ATOMICS, "atomics", "5.12", "BPF atomic fetch-add/and/or/xor/xchg/cmpxchg")      \
	X(BPF_LOOP, "bpf_loop", "5.17", "the bpf_loop helper and its callbacks")           \
	X(XDP_LOAD_BYTES, "xdp_load_bytes", "5.18", "bpf_xdp_load_bytes/store_bytes")      \
	X(OPEN_ITER, "open_iter", "6.4", "open-coded iterators (bpf_iter_num_*)")          \
	X(CPUV4, "cpuv4", "6.6", "cpu v4: sdiv/smod, gotol, movsx, ldsx, bswap")           \
	X(MAY_GOTO, "may_goto", "6.9", "may_goto: loops the verifier prunes")              \
	X(ARENA, "arena", "6.9", "BPF arena maps")                                         \
	X(LOOP_MARKS, "loop_marks", "6.17", "loop states pruned with complete precision marks")

enum koff_kfeature {
#define KOFF_KFEATURE_ENUM(id, name, since, what) KFEAT_##id,
	KOFF_KFEATURES(KOFF_KFEATURE_ENUM)
#undef KOFF_KFEATURE_ENUM
	KFEAT__COUNT
};

#define KFEAT_BIT(f) (1ull << (f))

struct kernel_target {
	const char *name;	/* "6.1", "host", "portable" */
	const char *seen_in;	/* where production meets it: "Debian 12" */
	uint64_t features;	/* KFEAT_BIT(...) */
	unsigned insn_budget;	/* verifier: processed instructions per program */
	/* Kernel image for verification in a VM: a Debian package family that
	 * kernel/fetch-kernel.sh knows, or NULL when there is none. */
	const char *image_series;
};

/* The row named `name` ("6.1", "6.12", "5.15", ..., "portable"), or NULL. */
const struct kernel_target *target_find(const char *name);
/* Every row of the table, in version order; *n gets the count. */
const struct kernel_target *target_table(int *n);
/* The portable target: what every supported series (6.1 .. newest) has. */
const struct kernel_target *target_portable(void);
/* Fill *t by probing the running kernel (kernel/probe.c; src/kernels.c).
 * Returns 0 or a negative errno (-EPERM: cannot load BPF here). */
int target_probe_host(struct kernel_target *t, struct koff_error *err);

static inline bool target_has(const struct kernel_target *t, enum koff_kfeature f)
{
	return (t->features & KFEAT_BIT(f)) != 0;
}

const char *kfeature_name(enum koff_kfeature f);

/* kernel/probe.c: which features the running kernel has, by loading tiny
 * programs and creating tiny maps.  Returns 0 with *features filled, or a
 * negative errno (-EPERM when BPF cannot be loaded here). */
int kernel_probe_features(uint64_t *features, struct koff_error *err);

/* Whether the running kernel has every feature of target t: 1; 0 with
 * *missing the first it lacks; a negative errno when it cannot be probed.
 * A program for t may load on a kernel without them and still be wrong
 * there (LOOP_MARKS): ask this before running one on a kernel. */
int kernel_runs_target(const struct kernel_target *t, enum koff_kfeature *missing, struct koff_error *err);

#endif
