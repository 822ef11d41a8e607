/* koff_abi.h - the runtime contract between the XDP program koff-link emits,
 * the loader (koff-load) and the tests.
 *
 * Everything a program outside koff-link needs to know about an OUT.bpf.o:
 * map names, the layout of the counter map, and the meaning of each counter.
 * Keep it free of koff-link internals so loader/ and tests/ can include it alone.
 */
#ifndef KOFF_ABI_H
#define KOFF_ABI_H

/* BPF_MAP_TYPE_PERCPU_ARRAY, key u32, value u64, KOFF_STAT__COUNT entries.
 * Sum the per-CPU values to read a counter. */
#define KOFF_MAP_STATS "koff_stats"

/* BPF_MAP_TYPE_PERCPU_ARRAY, one entry: the request, reply and x86 stack
 * regions the lifted handler works in (see include/ir.h for the layout). */
#define KOFF_MAP_SCRATCH "koff_scratch"

/* Only in programs built with koff-link --record-path (diagnostics, not for
 * production): BPF_MAP_TYPE_ARRAY, one entry of KOFF_TRACE_SLOTS + 1 u64s.
 * Slot 0 counts the code blocks the last run entered; slot 1 + k %
 * KOFF_TRACE_SLOTS holds the k-th one's number, which KOFF_TRACE_SECTION
 * turns into the x86 instructions it runs. */
#define KOFF_MAP_TRACE "koff_trace"
#define KOFF_TRACE_SLOTS (1u << 17)
/* A --record-path build's OUT.bpf.o also has this non-loaded section: text lines
 *   F <address> <size> <offset in its section> <section> <name>   a function
 *   B <block> <address> <address> ...     the x86 instructions block runs
 *   L <address> <file:line>               an x86 instruction's source line
 * (block in decimal, the rest in hex, addresses in koff-link's layout), so
 * that a trace reads in the terms of the object and its source.  A block
 * runs all its instructions unless it falls back (XDP_PASS). */
#define KOFF_TRACE_SECTION ".koff.trace"
/* The programs koff-link may write beside OUT: OUT.bpf.o loads on every
 * supported kernel (6.1 and newer); a default link of a handler with loops
 * also writes
 *   - OUT + KOFF_FAST_VARIANT_SUFFIX, the same handler for kernels with
 *     may_goto loops the verifier prunes soundly, and cpu v4 (the
 *     KOFF_FAST_VARIANT_TARGET row of koff-link's kernel table: 6.17 and
 *     newer);
 *   - OUT + KOFF_WALKED_VARIANT_SUFFIX, when every loop of the handler can
 *     be walked by the verifier: the portable program with plain loops
 *     (no bpf_loop), verified on the build host.  Whether an older
 *     verifier's walk fits its budget is that verifier's to say; where it
 *     does not, OUT.bpf.o is next.
 * koff-load loads the first the kernel accepts, in this order, the fast
 * one only on a kernel it finds every feature of that row in: an older
 * verifier would accept it and could run it wrong. */
#define KOFF_FAST_VARIANT_TARGET "6.18"
#define KOFF_FAST_VARIANT_SUFFIX ".6.18.bpf.o"
#define KOFF_WALKED_VARIANT_SUFFIX ".walked.bpf.o"
#define KOFF_PORTABLE_SUFFIX ".bpf.o"

/* Every OUT.bpf.o koff-link writes also has this non-loaded section: one line
 *   executable-sha256 <64 lowercase hex digits>
 * the SHA-256 of the executable (OUT) it was linked with, which
 * OUT.koff.json records too ("executable_sha256").  koff-load refuses to
 * attach a program beside any other executable. */
#define KOFF_IDENTITY_SECTION ".koff.identity"
#define KOFF_IDENTITY_KEY "executable-sha256 "
#define KOFF_SHA256_HEX 64
/* The XDP program's name (the ELF symbol and the kernel's prog name). */
#define KOFF_PROG_NAME "koff_xdp"

/* One counter per outcome.  TX and DROP are requests the kernel completed;
 * every PASS_* is a packet handed to userspace unchanged, with the reason. */
#define KOFF_STATS(X)                                                         \
	X(TX, "tx", "answered in XDP (handler returned > 0)")                 \
	X(DROP, "drop", "dropped in XDP (handler returned <= 0)")             \
	X(PASS_OTHER, "pass_other", "not a UDP datagram for the handler")     \
	X(PASS_TOO_BIG, "pass_too_big", "request larger than the scratch buffer") \
	X(PASS_INSN, "pass_insn", "fallback: instruction not translated")     \
	X(PASS_CALL, "pass_call", "fallback: call to an unsupported function") \
	X(PASS_LOOP, "pass_loop", "fallback: loop iteration cap reached")     \
	X(PASS_MEM, "pass_mem", "fallback: memory access outside known regions") \
	X(PASS_DIV, "pass_div", "fallback: division that faults on x86")      \
	X(PASS_FLAGS, "pass_flags", "fallback: flags not modelled")           \
	X(PASS_JUMP, "pass_jump", "fallback: indirect jump to an unknown target") \
	X(PASS_REPLY, "pass_reply", "fallback: reply does not fit the packet")    \
	X(PASS_ACCEPTED, "pass_accepted", "passed: the parser (parser role) accepted the request") \
	X(PASS_SHARED, "pass_shared", "fallback: shared state busy, changed during the request, or not yet initialised")

enum koff_stat {
#define KOFF_STAT_ENUM(id, name, desc) KOFF_STAT_##id,
	KOFF_STATS(KOFF_STAT_ENUM)
#undef KOFF_STAT_ENUM
	KOFF_STAT__COUNT
};

/* The first fallback reason: stats at or above it are fallbacks of the
 * lifted handler, and the handler's fallback code equals the stat index. */
#define KOFF_STAT_FIRST_FALLBACK KOFF_STAT_PASS_INSN

/* ---- Shared state: one copy of the handler's mutable globals -------------
 * When the handler reads or writes .data/.bss, OUT.bpf.o has this map:
 * BPF_MAP_TYPE_ARRAY, key u32, one entry, map_flags BPF_F_MMAPABLE, value
 * size a multiple of KOFF_SHARED_PAGE.  Its value is the shared region:
 *   [0, data size)              the globals, at koff-link's layout (the
 *                               region the lifted code sees at IR_DATA_VA)
 *   [value size - 64, value size) struct koff_shared_ctl
 * OUT maps the same region over its own globals before main (MAP_FIXED):
 * both sides use the very same bytes.  docs/shared-state.md has the
 * protocol and why it is exact. */
#define KOFF_MAP_SHARED "koff_shared"
#define KOFF_SHARED_PAGE 4096u
/* The loader passes the map to OUT as an inherited fd, in decimal.  OUT
 * started without it runs alone, exactly as the original.  Once mapped,
 * OUT's runtime rewrites it "FD:PID" (OUT exec'ing itself maps the map
 * again; a child's exec, another pid, runs alone). */
#define KOFF_SHARED_ENV_FD "KOFF_SHARED_FD"
/* Set in ctl.magic by OUT once the region holds OUT's initial values; the
 * kernel side falls back (pass_shared) until then. */
#define KOFF_SHARED_MAGIC 0x6b6f66667368ull	/* "koffsh" */

/* How the kernel side stays exact (OUT.bpf.o's KOFF_SHARED_SECTION says
 * which; userspace does the same in both modes):
 *   SEQ   the handler only reads shared state: it runs when no userspace
 *         writer is inside, and its reply counts only if seq did not move;
 *   LOCK  the handler writes: it runs only if it takes ctl.lock with one
 *         compare-and-exchange, undoes its stores when it falls back. */
enum koff_shared_mode { KOFF_SHARED_NONE, KOFF_SHARED_SEQ, KOFF_SHARED_LOCK };

struct koff_shared_ctl {
	unsigned long long magic;	/* KOFF_SHARED_MAGIC once initialised */
	unsigned long long seq;		/* +1 on entry and on exit of a userspace writer */
	unsigned long long writers;	/* userspace writer sections in progress */
	unsigned long long lock;	/* 0 free, KOFF_SHARED_LOCK_KERNEL, or userspace's
					 * KOFF_SHARED_LOCK_USER | sections << 2 (any nonzero
					 * value but KERNEL: userspace holds it) */
	unsigned long long reserved[4];
};
#define KOFF_SHARED_CTL_SIZE 64u
#define KOFF_SHARED_LOCK_USER 1ull
#define KOFF_SHARED_LOCK_KERNEL 2ull
/* A non-loaded section of OUT.bpf.o with shared state, text lines:
 *   mode seq|lock
 *   size <value size in bytes, decimal>
 *   data <bytes of globals, decimal>
 * then one line per shared section of the entry object, in region order:
 *   section <name> <offset in the region> <size>      (decimal) */
#define KOFF_SHARED_SECTION ".koff.shared"

static inline const char *koff_stat_name(unsigned int i)
{
	static const char *const names[] = {
#define KOFF_STAT_NAME(id, name, desc) name,
		KOFF_STATS(KOFF_STAT_NAME)
#undef KOFF_STAT_NAME
	};
	return i < KOFF_STAT__COUNT ? names[i] : "?";
}

#endif
