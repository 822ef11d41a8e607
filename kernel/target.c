/* target.c - the kernel series koff knows, as data (see include/target.h).
 *
 * Each row is what a mainline kernel of that series offers to a program
 * loaded with CAP_BPF: the features koff's code depends on, and the
 * verifier's budget.  Distribution kernels backport; `--kernel host` probes
 * instead of trusting a row, and a row can be checked against the real
 * kernel in a VM (`koff-vm --kernel 6.1 probe`, tests/t-vm.sh).
 *
 * The supported range is 6.1 (Debian 12) up to the newest: `portable`, the
 * default target, is what all of them have.  5.15 is in the table so that
 * koff-link can say precisely what it lacks (bpf_loop, xdp_load_bytes).
 */
#include <string.h>

#include "target.h"

#define F(x) KFEAT_BIT(KFEAT_##x)

/* Mainline feature sets, each series adding to the one before it. */
#define FEATS_5_15 (F(JMP32) | F(BOUNDED_LOOPS) | F(MMAPABLE) | F(GLOBAL_FUNC) | F(ATOMICS))
#define FEATS_6_1 (FEATS_5_15 | F(BPF_LOOP) | F(XDP_LOAD_BYTES))
#define FEATS_6_6 (FEATS_6_1 | F(OPEN_ITER) | F(CPUV4))
#define FEATS_6_12 (FEATS_6_6 | F(MAY_GOTO) | F(ARENA))
/* 6.17 made pruning in loops sound (LOOP_MARKS: the may_goto shape needs
 * it, see codegen_loops_in_callback). */
#define FEATS_6_18 (FEATS_6_12 | F(LOOP_MARKS))

#define VERIFIER_BUDGET 1000000u	/* BPF_COMPLEXITY_LIMIT_INSNS since 5.2 */

static const struct kernel_target table[] = {
	{ "5.15", "Ubuntu 22.04", FEATS_5_15, VERIFIER_BUDGET, NULL },
	{ "6.1", "Debian 12", FEATS_6_1, VERIFIER_BUDGET, "6.1" },
	{ "6.6", "mainline LTS", FEATS_6_6, VERIFIER_BUDGET, NULL },
	{ "6.8", "Ubuntu 24.04", FEATS_6_6, VERIFIER_BUDGET, NULL },
	{ "6.12", "Debian 13", FEATS_6_12, VERIFIER_BUDGET, "6.12" },
	{ "6.18", "newest", FEATS_6_18, VERIFIER_BUDGET, NULL },
};

/* The oldest supported series decides what every program may use. */
static const struct kernel_target portable = {
	"portable", "every kernel from 6.1 (Debian 12) to the newest", FEATS_6_1, VERIFIER_BUDGET, NULL,
};

const struct kernel_target *target_table(int *n)
{
	*n = (int)KOFF_ARRAY_SIZE(table);
	return table;
}

const struct kernel_target *target_portable(void)
{
	return &portable;
}

const struct kernel_target *target_find(const char *name)
{
	if (!strcmp(name, portable.name))
		return &portable;
	for (size_t i = 0; i < KOFF_ARRAY_SIZE(table); i++)
		if (!strcmp(table[i].name, name))
			return &table[i];
	return NULL;
}
