/* driver.h - one koff-link run: its options, inputs and outputs.  Every
 * pass takes this context; nothing else is global. */
#ifndef KOFF_DRIVER_H
#define KOFF_DRIVER_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include "codegen.h"
#include "decode.h"
#include "elfobj.h"
#include "emit.h"
#include "ir.h"
#include "koff_abi.h"
#include "koff.h"
#include "layout.h"
#include "target.h"
#include "verify.h"
#include "workload.h"

struct koff_options {
	const char *output;		/* -o */
	const char *entry;		/* --entry, default handle_request */
	int udp_port;			/* --udp-port, 0 = every UDP datagram */
	unsigned resp_cap;		/* --resp-cap */
	unsigned loop_cap;		/* --loop-cap, 0 = choose (largest the verifier takes) */
	bool verify;			/* load into the kernel at link time (default when allowed) */
	bool offload;			/* --no-offload clears it */
	bool explain;			/* --explain */
	bool dump_ir;			/* --dump-ir */
	bool dump_bpf;			/* --dump-bpf */
	bool record_path;		/* --record-path: record the x86 path (koff_trace map) */
	bool verbose;			/* -v: the verifier's complaints */
	const char **link_args;		/* everything for the system linker, in order */
	int nlink_args;
	const char *object;		/* the input object holding the entry */
	const char *trace;		/* --trace FILE: requests to decide on */
	const char *profile;		/* --profile FILE: perf script or folded stacks */
	bool force;			/* --force: offload whatever the trace predicts */
	bool early_fallback;		/* lifter/earlyfb.c; --no-early-fallback clears it */
	bool entry_given;		/* --entry was on the command line */
	const char *kernel;		/* --kernel: a series, host or portable (default) */
	const char *kernel_image;	/* --kernel-image: the target's kernel, for verification */
	const char *verify_on;		/* --verify-on: host and/or series, comma-separated */
};

/* Shared state (src/shared.c): which of the entry object's writable
 * sections the XDP program and OUT share, where each sits in the shared
 * region (include/koff_abi.h), and how the kernel side stays exact.
 * Built before the link from the object and its DWARF, so that the link
 * (src/trampoline.c) places the same sections at the same offsets in OUT. */
struct shared_section {
	int shndx;			/* section index in ctx->obj */
	const char *name;		/* ".bss", ".data", ".bss.table", ... */
	uint64_t off, size;		/* in the region; IR_DATA_VA + off in the lifted code */
	bool nobits;			/* SHT_NOBITS: zero-filled */
};
struct shared_plan {
	bool used;			/* the handler may reach shared state: map + OUT patched */
	enum koff_shared_mode mode;	/* NONE until offload_build picked SEQ or LOCK */
	struct shared_section *secs;
	int nsecs, capsecs;
	uint64_t data_size;		/* end of the last shared section */
	uint64_t value_size;		/* the map's value: data + ctl, page-rounded */
	char why_not[320];		/* writable data the handler touches but koff cannot share */
	/* userspace side (src/roots.c, src/trampoline.c): functions entered
	 * through a trampoline, and whether each may write shared state */
	char **roots;
	bool *root_writes;		/* parallel to roots */
	int nroots, caproots;
	char workdir[4096];		/* the link's extra inputs, "" when none */
};

/* combine.c: the inputs folded into one object when the entry object calls
 * into another object or an archive of the link line. */
struct combined_inputs {
	char dir[4096], path[4200];	/* "" when nothing was combined */
	const char *entry_object;	/* the object that defines the entry */
	int ninputs;			/* objects and archives folded in */
	char because[256];		/* the function another input defines, or why not combined */
};

/* One kernel koff-link verifies the program on (src/kernels.c). */
struct verify_place {
	char name[16];			/* "host" or a series */
	char image[4096];		/* the VM's kernel image; "" for the host or when missing */
	bool done, accepted;		/* verified there, and the verdict */
	bool is_target;			/* the target's own kernel: kernels_target_verified */
	unsigned processed;		/* processed insns there */
	char note[320];			/* why it was not verified there */
};

/* A source-level place where the offload gives up. */
struct fallback_site {
	uint64_t va;
	int reason;			/* enum koff_stat */
	const char *why;
	char where[160];		/* "handle_request+0x1a (dns.c:123)" */
};

/* The programs beside OUT.bpf.o (include/koff_abi.h), in koff-load's order. */
enum variant_kind { VARIANT_FAST, VARIANT_WALKED, VARIANT__COUNT };

struct koff_ctx {
	struct koff_options opt;
	struct koff_error err;
	/* temporary outputs, renamed into place at the very end */
	char tmp_exe[4096], tmp_bpf[4096], tmp_json[4096];
	char out_bpf[4096], out_json[4096];
	/* which executable the outputs belong to (identity.c) */
	char exe_sha256[65];		/* of ctx->tmp_exe, as linked */
	char identity[96];		/* KOFF_IDENTITY_SECTION's text for OUT.bpf.o */
	/* the input */
	struct obj_file *obj;
	struct layout lay;
	struct decoder dec;
	uint64_t entry_va;
	enum obj_role entry_role;	/* handler, or parser (early-drop filter) */
	/* the kernel it is for, and where it is verified */
	struct kernel_target target;
	struct verify_place places[8];
	int nplaces;
	/* the offload */
	bool offloaded;
	char not_offloaded_why[600];
	struct ir_func *ir;
	int ir_blocks_before_guards;
	struct bpf_emit prog;
	struct bpf_verdict verdict;
	bool verified;			/* the kernel accepted it here */
	char verify_note[600];		/* why verification was skipped, if it was */
	unsigned loop_cap_used;
	bool launder_joins;		/* retry shape: codegen_opts.launder_joins */
	bool walk_loops;		/* codegen_opts.walk_loops (offload.c: walk_loops_first) */
	bool walkable_builtins;		/* lift_opts.walkable_builtins, with walk_loops */
	unsigned loop_copies;		/* codegen_opts.loop_copies (0: one) */
	bool copies_tried;		/* body copies were generated once */
	bool bounds_by_verifier;	/* codegen_opts.bounds_by_verifier (offload.c) */
	uint64_t *checked_again;	/* ... but for the accesses at these x86 addresses */
	int nchecked_again, capchecked_again;
	int accesses_by_verifier;	/* accesses the program leaves to the verifier */
	uint64_t *forced_fallbacks;	/* x86 addresses the verifier rejected */
	int nforced, capforced;
	struct fallback_site *sites;
	int nsites, capsites;
	char attempts[1024];		/* verifier attempts, for the report */
	int early_fallbacks;		/* blocks earlyfb.c turned into fallbacks */
	/* the workload decision (src/decide.c) */
	struct decision decision;
	const char *trace_format;
	int trace_skipped;
	struct candidates cands;	/* src/candidates.c */
	struct shared_plan shared;
	struct combined_inputs combined;	/* src/combine.c */	/* src/shared.c, src/trampoline.c */
	/* The default output's faster variants (variants.c), in koff-load's
	 * order: each a whole context of its own, or NULL with the reason in
	 * variant_why (empty when none was wanted). */
	struct koff_ctx *variant[VARIANT__COUNT];
	char variant_why[VARIANT__COUNT][600];
	/* This context is the walked variant: its loops are walked though it
	 * is verified only here (koff-load falls back to OUT.bpf.o on a kernel
	 * that refuses it). */
	bool walked_variant;
	/* A variant: a rejection refuses it (a fallback koff-link made for the
	 * verifier would drop it anyway, variants.c), once the shapes that
	 * cost no fallback were tried: loops not walked, joins laundered. */
	bool refuse_on_rejection;
	/* A variant: its walked loops ran the verifier out of its million
	 * instructions (offload.c).  OUT's context: a variant's did, so the
	 * walked variant is not tried (variants.c). */
	bool walk_ran_out;
	/* A variant whose place "host" runs every feature of its target:
	 * verified there, it is verified on the target's own kernel. */
	bool host_is_target;
};

/* options.c */
int options_parse(struct koff_ctx *ctx, int argc, char **argv);
/* link.c: the system linker writes the executable to ctx->tmp_exe. */
int link_executable(struct koff_ctx *ctx);
/* identity.c: the SHA-256 of the linked executable, into exe_sha256 and identity. */
int identity_of_executable(struct koff_ctx *ctx);
/* offload.c: lift, generate, verify; fills ctx->prog, ctx->sites. */
int offload_build(struct koff_ctx *ctx);
/* offload.c: why ctx's loops may not be left for the verifier to walk
 * (options, the shape the program needed), or NULL. */
const char *offload_why_not_walked(const struct koff_ctx *ctx);
/* Whether the walked variant, its builtins walkable too, walks every loop
 * of the handler (a plain program). */
bool offload_walks_every_loop(struct koff_ctx *ctx);
/* kernels.c: ctx->target from --kernel, the places from --verify-on. */
int kernels_choose(struct koff_ctx *ctx);
/* Verify ctx->tmp_bpf at every place that can: 0 when all accepted (or
 * none could verify), else bpf_verify_object's error from the first that
 * rejected it, named in *where, with ctx->verdict its verdict; detail is
 * how much a rejection on the host must tell (bpfgen/verify.h). */
int kernels_verify(struct koff_ctx *ctx, enum verify_detail detail, struct koff_error *verr,
		   const char **where);
bool kernels_any_verified(const struct koff_ctx *ctx);
/* Whether some place runs the target's own kernel (its series' image, or
 * the host for --kernel host and for a variant whose features the host
 * has): a program whose acceptance is up to the verifier (the walked loop
 * shape) is verified for its target only there.  With `accepted`, whether
 * such a place verified the last program and accepted it. */
bool kernels_target_verified(const struct koff_ctx *ctx, bool accepted);
/* "not verified on host: cannot load BPF here: ...; not verified on 6.1: ..." */
void kernels_why_unverified(const struct koff_ctx *ctx, char *buf, size_t len);
/* variants.c: after offload_build, the faster variant of a default build. */
int variants_build(struct koff_ctx *ctx);
void variant_free(struct koff_ctx *v);
/* KOFF_FAST_VARIANT_SUFFIX, KOFF_WALKED_VARIANT_SUFFIX */
const char *variant_suffix(enum variant_kind k);
/* "OUT.6.18.bpf.o" into buf */
const char *variant_path(const struct koff_ctx *ctx, enum variant_kind k, char *buf, size_t len);
/* Unlink and free every variant's temporary (no program at all). */
void variants_drop(struct koff_ctx *ctx);
/* Whether koff-load would run the fast variant on this kernel (it has
 * every feature of KOFF_FAST_VARIANT_TARGET). */
bool variant_runs_here(void);
/* combine.c: one object from every object and archive of the link line
 * when the entry object calls a function another of them defines (the
 * link line and opt.object then name it); cleanup removes it. */
int combine_inputs(struct koff_ctx *ctx);
void combine_cleanup(struct koff_ctx *ctx);
/* shared.c: ctx->shared from the entry object, before the link. */
int shared_plan_build(struct koff_ctx *ctx);
void shared_plan_free(struct shared_plan *p);
/* Mark obj's shareable sections (obj_section.shared) before layout_build,
 * exactly as shared_plan_build did: the offload lays out the same offsets.
 * 0, or -ENOMEM. */
int shared_mark_sections(struct obj_file *obj);
/* A deep copy (the variant context's); -ENOMEM. */
int shared_plan_copy(struct shared_plan *dst, const struct shared_plan *src);
const char *shared_mode_name(enum koff_shared_mode m);	/* "none", "seq", "lock" */
/* The koff_shared value OUT starts with: the shared sections' initial
 * bytes from ctx->obj at their offsets, ctl.magic set (malloc'd,
 * plan.value_size bytes); -ENOMEM.  After offload_build. */
int shared_initial_image(const struct koff_ctx *ctx, uint8_t **image);
/* trampoline.c: link_executable calls these when ctx->shared.used: extra
 * link inputs (the object with its shared sections renamed, the linker
 * script, the runtime), then the patch of OUT's root functions. */
int shared_link_inputs(struct koff_ctx *ctx, const char ***args, int *nargs);
void shared_link_cleanup(struct koff_ctx *ctx);	/* removes ctx->shared.workdir */
/* The userspace side could not be built: ctx->err's message (after
 * prefix) becomes why_not, the error is cleared, the plan dropped. */
void shared_give_up(struct koff_ctx *ctx, const char *prefix);
/* Patches OUT's roots; when a root cannot be patched it clears
 * ctx->shared.used (why_not) and links OUT again without the shared inputs. */
int shared_patch_executable(struct koff_ctx *ctx);
/* roots.c: the roots over every input object; clears ctx->shared.used with
 * why_not when the userspace side cannot be made exact. */
int shared_find_roots(struct koff_ctx *ctx);
void shared_roots_free(struct shared_plan *p);
/* link.c: the compiler driver that links (KOFF_CC, default cc). */
const char *link_cc(void);
/* report.c */
int report_write_json(struct koff_ctx *ctx);
void report_explain(struct koff_ctx *ctx, void *FILE_stream);
void json_string(void *FILE_stream, const char *s);	/* a JSON string literal */
/* context.c: release everything a context holds (not the struct itself). */
void ctx_free(struct koff_ctx *ctx);
/* The shape of ctx's program's loops (codegen_loop_shape, with its
 * walk_loops), how many it walks, and its bpf_loop body copies (1 for
 * other shapes). */
enum loop_shape ctx_loop_shape(const struct koff_ctx *ctx);
int ctx_loops_walked(const struct koff_ctx *ctx);
unsigned ctx_body_copies(const struct koff_ctx *ctx);
/* The bpf_loop shape's usual body copies (offload.c, try_body_copies:
 * eight for a small program). */
#define KOFF_BODY_COPIES 4u
/* main.c: move temporary outputs into place, or remove them. */
int outputs_commit(struct koff_ctx *ctx);
void outputs_discard(struct koff_ctx *ctx);
/* tempfiles.c: temporary outputs are removed on SIGINT/SIGTERM/SIGHUP
 * (protect once ctx->tmp_* are set; unprotect when they are gone), and
 * left-overs of killed runs beside OUT are removed (returns how many). */
int tempfiles_protect(struct koff_ctx *ctx);
void tempfiles_protect_path(const char *path);	/* one more, the variant's */
void tempfiles_unprotect(void);
void tempfiles_linker_running(pid_t pid);	/* 0 once it was waited for */
void tempfiles_hold_signals(sigset_t *saved);	/* around steps that must not be cut in two */
void tempfiles_release_signals(const sigset_t *saved);
int tempfiles_remove_stale(const char *out);
/* tracemap.c: KOFF_TRACE_SECTION's text for a --record-path build (malloc'd). */
int trace_table_build(struct koff_ctx *ctx, char **text, size_t *size);
/* where.c: "func+0x1a (file.c:12)" for a code address. */
void describe_address(struct koff_ctx *ctx, uint64_t va, char *buf, size_t len);

#endif
