/* probe.c - which KFEAT_* the running kernel has (include/target.h).
 *
 * Each feature is probed the way libbpf's features.c does it: load the
 * smallest XDP program that uses it, or create the smallest map, and see
 * whether the kernel takes it.  A refusal means "absent"; whether BPF can
 * be loaded at all is checked first, so that a missing CAP_BPF is reported
 * as such rather than as a kernel without features.  The constants that
 * Debian 12's uapi headers (6.1) do not have yet are spelled out here. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/btf.h>

#include "target.h"

#define PROBE_BPF_JCOND 0xe0		/* BPF_JMP | BPF_JCOND: may_goto (6.9) */
#define PROBE_MAP_TYPE_ARENA 33		/* BPF_MAP_TYPE_ARENA (6.9) */
#define PROBE_SDIV_OFF 1		/* ALU64 DIV with off=1: sdiv (cpu v4, 6.6) */

#define INSN(c, d, s, o, i) ((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })
#define MOV0(imm) INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, imm)
#define EXIT INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

struct probe_prog {
	const struct bpf_insn *insns;
	size_t n;
	const struct bpf_prog_load_opts *opts;
};

/* 1: the kernel loaded it; 0: refused; <0: refused for lack of privilege. */
static int try_load(const struct bpf_insn *insns, size_t n, const struct bpf_prog_load_opts *opts)
{
	int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "koff_feature", "GPL", insns, n, opts);

	if (fd >= 0) {
		close(fd);
		return 1;
	}
	return errno == EPERM ? -EPERM : 0;
}

#define TRY_LOAD(arr) try_load(arr, KOFF_ARRAY_SIZE(arr), NULL)

static int probe_jmp32(void)
{
	const struct bpf_insn p[] = {
		MOV0(XDP_PASS),
		INSN(BPF_JMP32 | BPF_JEQ | BPF_K, BPF_REG_0, 0, 0, 0),
		EXIT,
	};
	return TRY_LOAD(p);
}

/* A loop that ends: r0 counts to 4 through a back edge. */
static int probe_bounded_loops(void)
{
	const struct bpf_insn p[] = {
		MOV0(0),
		INSN(BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_0, 0, 0, 1),
		INSN(BPF_JMP | BPF_JLT | BPF_K, BPF_REG_0, 0, -2, 4),
		MOV0(XDP_PASS),
		EXIT,
	};
	return TRY_LOAD(p);
}

static int probe_atomics(void)
{
	const struct bpf_insn p[] = {
		INSN(BPF_ST | BPF_MEM | BPF_DW, BPF_REG_10, 0, -8, 0),
		INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_1, 0, 0, 1),
		INSN(BPF_STX | BPF_ATOMIC | BPF_DW, BPF_REG_10, BPF_REG_1, -8, BPF_ADD | BPF_FETCH),
		MOV0(XDP_PASS),
		EXIT,
	};
	return TRY_LOAD(p);
}

static int probe_cpuv4(void)
{
	const struct bpf_insn p[] = {
		MOV0(4),
		INSN(BPF_ALU64 | BPF_DIV | BPF_K, BPF_REG_0, 0, PROBE_SDIV_OFF, 2),
		MOV0(XDP_PASS),
		EXIT,
	};
	return TRY_LOAD(p);
}

static int probe_may_goto(void)
{
	const struct bpf_insn p[] = {
		MOV0(XDP_PASS),
		INSN(BPF_JMP | PROBE_BPF_JCOND, 0, 0, 1, 0),
		MOV0(XDP_PASS),
		EXIT,
	};
	return TRY_LOAD(p);
}

static int probe_map(enum bpf_map_type type, __u32 key, __u32 value, __u32 entries, __u32 flags)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = flags);
	int fd = bpf_map_create(type, "koff_feature", key, value, entries, &opts);

	if (fd >= 0) {
		close(fd);
		return 1;
	}
	return errno == EPERM ? -EPERM : 0;
}

static int probe_mmapable(void)
{
	return probe_map(BPF_MAP_TYPE_ARRAY, 4, 8, 1, BPF_F_MMAPABLE);
}

static int probe_arena(void)
{
	return probe_map((enum bpf_map_type)PROBE_MAP_TYPE_ARENA, 0, 0, 1, BPF_F_MMAPABLE);
}

static int probe_helper(enum bpf_func_id helper)
{
	return libbpf_probe_bpf_helper(BPF_PROG_TYPE_XDP, helper, NULL) == 1;
}

static int probe_bpf_loop(void)
{
	return probe_helper(BPF_FUNC_loop);
}

static int probe_xdp_load_bytes(void)
{
	return probe_helper(BPF_FUNC_xdp_load_bytes);
}

/* Whether the running kernel's BTF names `name` as a `kind` (0 without
 * kernel BTF: the feature cannot be shown). */
static int vmlinux_has(const char *name, __u32 kind)
{
	struct btf *vmlinux = btf__load_vmlinux_btf();
	int found;

	if (!vmlinux)
		return 0;
	found = btf__find_by_name_kind(vmlinux, name, kind) > 0;
	btf__free(vmlinux);
	return found;
}

/* Open-coded iterators are kfuncs: the kernel has them when its BTF does. */
static int probe_open_iter(void)
{
	return vmlinux_has("bpf_iter_num_new", BTF_KIND_FUNC);
}

/* Pruning in loops is sound since 6.17 ("bpf: propagate read/precision
 * marks over state graph backedges"): before it, a loop state could prune
 * a later one before its precision marks were complete, and the side of a
 * branch only the pruned state would take was never walked; the verifier
 * then rewrites that branch as never taken, and the program runs wrong
 * (6.12 did so to a generated handler's may_goto loop: tests/t-kernels.sh).
 * No load tells the fix apart (both verifiers accept what the probe
 * could load), so the kernel's BTF does: the fix brought the strongly
 * connected components the verifier keeps its loop states by. */
static int probe_loop_marks(void)
{
	return vmlinux_has("bpf_scc_visit", BTF_KIND_STRUCT);
}

/* BTF for "static int main(void)" and "global int sub(int)". */
static struct btf *global_func_btf(int *main_id, int *sub_id)
{
	struct btf *btf = btf__new_empty();
	int int_id, main_proto, sub_proto;

	if (!btf)
		return NULL;
	int_id = btf__add_int(btf, "int", 4, BTF_INT_SIGNED);
	main_proto = btf__add_func_proto(btf, int_id);
	*main_id = btf__add_func(btf, "koff_main", BTF_FUNC_STATIC, main_proto);
	sub_proto = btf__add_func_proto(btf, int_id);
	if (sub_proto > 0 && btf__add_func_param(btf, "x", int_id) < 0)
		sub_proto = -1;
	*sub_id = btf__add_func(btf, "koff_sub", BTF_FUNC_GLOBAL, sub_proto);
	if (int_id < 0 || *main_id < 0 || *sub_id < 0 || btf__load_into_kernel(btf)) {
		btf__free(btf);
		return NULL;
	}
	return btf;
}

/* A main program calling a subprogram that BTF marks global: kernels
 * before 5.6 reject the BTF (linkage in vlen) or the program. */
static int probe_global_func(void)
{
	const struct bpf_insn p[] = {
		INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_1, 0, 0, 1),
		INSN(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, 2),
		MOV0(XDP_PASS),
		EXIT,
		INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_0, BPF_REG_1, 0, 0),
		EXIT,
	};
	int main_id, sub_id, ok;
	struct btf *btf = global_func_btf(&main_id, &sub_id);

	if (!btf)
		return 0;
	struct bpf_func_info info[] = { { 0, (__u32)main_id }, { 4, (__u32)sub_id } };
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .prog_btf_fd = btf__fd(btf), .func_info = info,
		    .func_info_cnt = KOFF_ARRAY_SIZE(info), .func_info_rec_size = sizeof(info[0]));
	ok = try_load(p, KOFF_ARRAY_SIZE(p), &opts);
	btf__free(btf);
	return ok;
}

static int probe_basic_xdp(void)
{
	const struct bpf_insn p[] = { MOV0(XDP_PASS), EXIT };
	int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "koff_probe", "GPL", p, KOFF_ARRAY_SIZE(p), NULL);

	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

typedef int (*feature_probe_fn)(void);

static feature_probe_fn probe_for(enum koff_kfeature f)
{
	switch (f) {
	case KFEAT_JMP32: return probe_jmp32;
	case KFEAT_BOUNDED_LOOPS: return probe_bounded_loops;
	case KFEAT_MMAPABLE: return probe_mmapable;
	case KFEAT_GLOBAL_FUNC: return probe_global_func;
	case KFEAT_ATOMICS: return probe_atomics;
	case KFEAT_BPF_LOOP: return probe_bpf_loop;
	case KFEAT_XDP_LOAD_BYTES: return probe_xdp_load_bytes;
	case KFEAT_OPEN_ITER: return probe_open_iter;
	case KFEAT_CPUV4: return probe_cpuv4;
	case KFEAT_MAY_GOTO: return probe_may_goto;
	case KFEAT_ARENA: return probe_arena;
	case KFEAT_LOOP_MARKS: return probe_loop_marks;
	case KFEAT__COUNT: break;
	}
	return NULL;
}

/* libbpf would print each refused probe as a warning. */
static int silent(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level, (void)fmt, (void)ap;
	return 0;
}

int kernel_runs_target(const struct kernel_target *t, enum koff_kfeature *missing, struct koff_error *err)
{
	uint64_t host = 0, lacking;
	int rc = kernel_probe_features(&host, err);

	if (rc)
		return rc;
	lacking = t->features & ~host;
	for (int f = 0; f < KFEAT__COUNT; f++)
		if (lacking & KFEAT_BIT(f)) {
			*missing = (enum koff_kfeature)f;
			return 0;
		}
	return 1;
}

int kernel_probe_features(uint64_t *features, struct koff_error *err)
{
	libbpf_print_fn_t previous;
	int rc = probe_basic_xdp();

	*features = 0;
	if (rc)
		return koff_fail(err, rc == -EPERM ? -EPERM : rc,
				 "cannot load BPF here to probe the kernel: %s", strerror(-rc));
	previous = libbpf_set_print(silent);
	for (int f = 0; f < KFEAT__COUNT; f++) {
		feature_probe_fn probe = probe_for((enum koff_kfeature)f);

		if (probe && probe() > 0)
			*features |= KFEAT_BIT(f);
	}
	libbpf_set_print(previous);
	return 0;
}
