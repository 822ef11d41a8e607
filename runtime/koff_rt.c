/* koff_rt.c - the runtime koff-link adds to OUT when the handler shares
 * state with the kernel (docs/shared-state.md).  Embedded into koff-link and
 * compiled at link time with the user's compiler; the constants come from
 * include/koff_abi.h as -D options (src/trampoline.c), so that this file
 * needs no header of koff's.
 *
 * Start-up (from .preinit_array, before any constructor): without
 * KOFF_SHARED_FD nothing happens and OUT runs as the original.  With it,
 * the fd must be the koff_shared map of this very OUT (array, 4-byte key,
 * one entry, the planned value size, mmapable); its value is mapped over
 * the .koff_shared section, and filled with OUT's initial values the first
 * time (ctl.magic unset).
 *
 * Sections: koff-link patches each root function's entry with a jump to a
 * trampoline (generated asm) that calls __koff_rt_enter(may_write), the
 * original function, then __koff_rt_exit().  Compiled -mgeneral-regs-only:
 * the trampoline saves only the integer argument registers, and floating
 * point arguments and return values pass through untouched. */
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef KOFF_RT_VALUE_SIZE
#error "compiled by koff-link only: it passes the plan's constants"
#endif

#define RT_HIDDEN __attribute__((visibility("hidden")))
#define RT_STR2(x) #x
#define RT_STR(x) RT_STR2(x)

struct rt_ctl {
	volatile uint64_t magic, seq, writers, lock;
	uint64_t reserved[4];
};
_Static_assert(sizeof(struct rt_ctl) == KOFF_RT_CTL_SIZE, "control block size");

/* The control block's place in OUT's image: the last 64 bytes of
 * .koff_shared (the linker script puts this section there). */
__attribute__((section(".koff_shared_ctl"), aligned(64), used))
RT_HIDDEN struct rt_ctl __koff_shared_ctl_image;
extern char __koff_shared_start[] RT_HIDDEN;

/* NULL until the map is in place: enter/exit do nothing when OUT runs alone. */
static struct rt_ctl *rt_ctl;
/* Per thread: how many roots are active (only the outermost takes the
 * lock), and at which depth a writer section began (0: none). */
static __thread unsigned rt_depth, rt_write_depth;

RT_HIDDEN void __koff_rt_enter(int may_write);
RT_HIDDEN void __koff_rt_exit(void);

/* ---- start-up ---------------------------------------------------------- */

static size_t rt_strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

static void rt_put(const char *s)
{
	ssize_t rc = write(2, s, rt_strlen(s));

	(void)rc;
}

/* "PROG: koff: PROBLEM" and exit 1, before main ran. */
static void __attribute__((noreturn)) rt_die(const char *prog, const char *problem)
{
	rt_put(prog && *prog ? prog : "?");
	rt_put(": koff: ");
	rt_put(problem);
	rt_put("\n");
	_exit(1);
}

/* A decimal number up to `end` (the string's end or a ':'), or -1. */
static long rt_parse_number(const char *s, const char **end)
{
	long v = 0;

	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (1L << 30))
			return -1;
		v = v * 10 + (*s - '0');
	}
	*end = s;
	return v;
}

/* KOFF_SHARED_FD is "FD" from the loader, or "FD:PID" once a runtime mapped
 * it (rt_start): *pid is then that process, else 0. */
static int rt_parse_env(const char *s, long *pid)
{
	const char *end;
	long fd = rt_parse_number(s, &end);

	*pid = 0;
	if (fd < 0 || fd > 65536)
		return -1;
	if (*end == ':') {
		*pid = rt_parse_number(end + 1, &end);
		if (*pid <= 0)
			return -1;
	}
	return *end ? -1 : (int)fd;
}

/* v in decimal at out; returns the number of digits. */
static int rt_decimal(char *out, long v)
{
	char tmp[24];
	int n = 0, k = 0;

	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10) && n < (int)sizeof(tmp));
	while (n)
		out[k++] = tmp[--n];
	return k;
}

/* The environment is changed in envp itself: glibc sets environ to that
 * very array after .preinit_array ran, which would drop a setenv's copy. */
static char rt_env_text[64];

/* KOFF_SHARED_FD becomes "FD:PID" (rt_parse_env). */
static void rt_mark_mapped(char **slot, int fd)
{
	int k = (int)sizeof(KOFF_RT_ENV_FD);

	memcpy(rt_env_text, KOFF_RT_ENV_FD "=", (size_t)k);
	k += rt_decimal(rt_env_text + k, fd);
	rt_env_text[k++] = ':';
	k += rt_decimal(rt_env_text + k, (long)getpid());
	rt_env_text[k] = 0;
	*slot = rt_env_text;
}

/* Removes the entry at slot from envp. */
static void rt_unset(char **slot)
{
	for (; *slot; slot++)
		slot[0] = slot[1];
}

/* The fields of struct bpf_map_info this needs (uapi linux/bpf.h), so that
 * the runtime builds without kernel headers. */
struct rt_map_info {
	uint32_t type, id, key_size, value_size, max_entries, map_flags;
	char name[16];
	uint32_t rest[32];
};
struct rt_info_attr {
	uint32_t bpf_fd, info_len;
	uint64_t info;
};
#define RT_BPF_OBJ_GET_INFO_BY_FD 15
#define RT_BPF_MAP_TYPE_ARRAY 2
#define RT_BPF_F_MMAPABLE (1u << 10)

static void rt_check_map(const char *prog, int fd)
{
	struct rt_map_info info;
	struct rt_info_attr attr;

	memset(&info, 0, sizeof(info));
	memset(&attr, 0, sizeof(attr));
	attr.bpf_fd = (uint32_t)fd;
	attr.info_len = sizeof(info);
	attr.info = (uint64_t)(uintptr_t)&info;
	if (syscall(SYS_bpf, RT_BPF_OBJ_GET_INFO_BY_FD, &attr, sizeof(attr)) != 0)
		rt_die(prog, KOFF_RT_ENV_FD " is not an open BPF map");
	if (info.type != RT_BPF_MAP_TYPE_ARRAY || info.key_size != 4 || info.max_entries != 1)
		rt_die(prog, KOFF_RT_ENV_FD " is not koff's shared map (not a one-entry array)");
	if (info.value_size != KOFF_RT_VALUE_SIZE)
		rt_die(prog, KOFF_RT_ENV_FD ": the map's value size differs from this executable's "
		       "shared region (" RT_STR(KOFF_RT_VALUE_SIZE) " bytes): a map of another build?");
	if (!(info.map_flags & RT_BPF_F_MMAPABLE))
		rt_die(prog, KOFF_RT_ENV_FD ": the map is not mmapable (BPF_F_MMAPABLE)");
}

/* No userspace section of this map can be open before main: OUT is its
 * only userspace.  A lock or writer count left by an OUT that died inside
 * a section (a crash, exit or SIGKILL in a root) would keep the kernel
 * side falling back for ever: cleared, seq moved first so that a SEQ run
 * overlapping this does not count. */
static void rt_clear_stale_sections(struct rt_ctl *ctl)
{
	uint64_t cur = __atomic_load_n(&ctl->lock, __ATOMIC_RELAXED);

	while (cur != 0 && cur != KOFF_RT_LOCK_KERNEL &&
	       !__atomic_compare_exchange_n(&ctl->lock, &cur, 0, 1, __ATOMIC_RELEASE, __ATOMIC_RELAXED))
		;
	if (__atomic_load_n(&ctl->writers, __ATOMIC_SEQ_CST)) {
		__atomic_fetch_add(&ctl->seq, 1, __ATOMIC_SEQ_CST);
		__atomic_store_n(&ctl->writers, 0, __ATOMIC_SEQ_CST);
	}
}

/* A child of fork() had a private copy of the globals in the original:
 * it gets one again, and runs alone. */
static void rt_after_fork_child(void)
{
	void *copy = mmap(NULL, KOFF_RT_VALUE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (copy == MAP_FAILED)
		rt_die("koff child", "cannot copy the shared globals after fork: out of memory");
	memcpy(copy, __koff_shared_start, KOFF_RT_VALUE_SIZE);
	if (mmap(__koff_shared_start, KOFF_RT_VALUE_SIZE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
		rt_die("koff child", "cannot unshare the globals after fork (mmap failed)");
	memcpy(__koff_shared_start, copy, KOFF_RT_VALUE_SIZE);
	munmap(copy, KOFF_RT_VALUE_SIZE);
	rt_ctl = NULL;
}

static void rt_map_region(const char *prog, int fd, bool fresh);

static void rt_start(int argc, char **argv, char **envp)
{
	const char *prog = argc > 0 && argv[0] ? argv[0] : "?";
	char **slot = NULL;
	long pid;
	int fd;

	for (char **e = envp; e && *e; e++)
		if (!strncmp(*e, KOFF_RT_ENV_FD "=", sizeof(KOFF_RT_ENV_FD)))
			slot = e;
	if (!slot)
		return;		/* alone: exactly the original */
	fd = rt_parse_env(*slot + sizeof(KOFF_RT_ENV_FD), &pid);
	if (fd < 0)
		rt_die(prog, KOFF_RT_ENV_FD " is not a file descriptor number");
	if (pid && pid != (long)getpid()) {
		/* Inherited from the OUT that mapped it, through fork and exec: a
		 * new program image had fresh globals in the original. */
		close(fd);
		rt_unset(slot);
		return;
	}
	rt_check_map(prog, fd);
	rt_map_region(prog, fd, pid != 0);
	/* The fd stays open (not close-on-exec) and the variable says who
	 * mapped it: OUT exec'ing itself (same pid) maps the same map again,
	 * so that both sides keep one state; a child's exec runs alone. */
	rt_mark_mapped(slot, fd);
	if (pthread_atfork(NULL, NULL, rt_after_fork_child))
		rt_die(prog, "cannot register the fork handler");
}

__attribute__((section(".preinit_array"), used))
static void (*const rt_preinit)(int, char **, char **) = rt_start;

/* ---- sections ---------------------------------------------------------- */

/* The userspace side of ctl.lock: 0 free, KERNEL while one program run
 * holds it, else LOCK_USER | users << 2 (the userspace sections in
 * progress, any thread).  Counting keeps threads independent of each
 * other (they synchronise as the original did) and makes taking it one
 * atomic step, so a signal handler that interrupts enter or exit at any
 * instruction takes it again instead of waiting for itself. */
#define RT_USER_ONE (1ull << 2)

static void rt_lock(struct rt_ctl *c)
{
	uint64_t cur = __atomic_load_n(&c->lock, __ATOMIC_RELAXED);

	for (;;) {
		uint64_t next = cur == 0 ? (KOFF_RT_LOCK_USER | RT_USER_ONE) : cur + RT_USER_ONE;

		if (cur == KOFF_RT_LOCK_KERNEL) {
			__builtin_ia32_pause();	/* the kernel holds it for one bounded run */
			cur = __atomic_load_n(&c->lock, __ATOMIC_RELAXED);
			continue;
		}
		if (__atomic_compare_exchange_n(&c->lock, &cur, next, 1, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			return;
	}
}

static void rt_unlock(struct rt_ctl *c)
{
	uint64_t cur = __atomic_load_n(&c->lock, __ATOMIC_RELAXED);

	for (;;) {
		uint64_t next = cur - RT_USER_ONE < RT_USER_ONE ? 0 : cur - RT_USER_ONE;

		if (__atomic_compare_exchange_n(&c->lock, &cur, next, 1, __ATOMIC_RELEASE, __ATOMIC_RELAXED))
			return;
	}
}

RT_HIDDEN void __koff_rt_enter(int may_write)
{
	struct rt_ctl *c = rt_ctl;
	unsigned depth = rt_depth;

	if (!c)
		return;
	if (depth == 0)
		rt_lock(c);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	rt_depth = depth + 1;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	/* A writer inside a reader section (a signal handler) makes it one. */
	if (may_write && !rt_write_depth) {
		__atomic_fetch_add(&c->writers, 1, __ATOMIC_SEQ_CST);
		__atomic_fetch_add(&c->seq, 1, __ATOMIC_SEQ_CST);
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		rt_write_depth = depth + 1;
	}
}

RT_HIDDEN void __koff_rt_exit(void)
{
	struct rt_ctl *c = rt_ctl;
	unsigned depth = rt_depth;

	if (!c || !depth)
		return;
	if (rt_write_depth == depth) {
		rt_write_depth = 0;
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		__atomic_fetch_add(&c->seq, 1, __ATOMIC_SEQ_CST);
		__atomic_fetch_sub(&c->writers, 1, __ATOMIC_SEQ_CST);
	}
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	rt_depth = depth - 1;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if (depth == 1)
		rt_unlock(c);
}

/* Map the region over .koff_shared; on its first use (magic unset), and
 * when OUT exec'd itself (`fresh`: the original's new image started from
 * its initial values too), copy OUT's initial values in before anyone may
 * read them: before magic is set (release order), or inside a writer
 * section when the kernel side may be running already. */
static void rt_map_region(const char *prog, int fd, bool fresh)
{
	void *saved = mmap(NULL, KOFF_RT_VALUE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct rt_ctl *ctl = (struct rt_ctl *)(__koff_shared_start + KOFF_RT_VALUE_SIZE - KOFF_RT_CTL_SIZE);

	if (saved == MAP_FAILED)
		rt_die(prog, "cannot save the initial values: out of memory");
	memcpy(saved, __koff_shared_start, KOFF_RT_DATA_SIZE);
	if (mmap(__koff_shared_start, KOFF_RT_VALUE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) ==
	    MAP_FAILED)
		rt_die(prog, "cannot map the shared map over the globals (mmap failed)");
	rt_ctl = ctl;
	if (__atomic_load_n(&ctl->magic, __ATOMIC_ACQUIRE) != KOFF_RT_MAGIC) {
		memcpy(__koff_shared_start, saved, KOFF_RT_DATA_SIZE);
		__atomic_store_n(&ctl->magic, KOFF_RT_MAGIC, __ATOMIC_RELEASE);
		fresh = false;
	}
	rt_clear_stale_sections(ctl);
	if (fresh) {
		__koff_rt_enter(1);
		memcpy(__koff_shared_start, saved, KOFF_RT_DATA_SIZE);
		__koff_rt_exit();
	}
	munmap(saved, KOFF_RT_VALUE_SIZE);
}
