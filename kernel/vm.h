/* vm.h - run commands and BPF verification on another kernel: Debian's
 * kernel images (kernel/fetch-kernel.sh) booted under QEMU (TCG, or KVM
 * where /dev/kvm exists) with a busybox initramfs built on the fly.
 *
 * One vm_run() is one boot: the guest runs a shell script as root with proc,
 * sysfs, devtmpfs, bpffs (/sys/fs/bpf) and tracefs mounted and `lo` up, then powers
 * off.  Nothing persists between runs and nothing is left on the host: the
 * initramfs, the logs and QEMU itself are gone when vm_run returns. */
#ifndef KOFF_VM_H
#define KOFF_VM_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "koff.h"
#include "verify.h"

#define VM_DEFAULT_TIMEOUT_SEC 120
#define VM_DEFAULT_MEM_MB 512

/* A host file copied into the guest.  ELF executables bring the shared
 * libraries and the dynamic loader they need (found with ldd), at the same
 * paths as on the host; libraries they dlopen() do not come along. */
struct vm_file {
	const char *host;
	const char *guest;	/* absolute; NULL: the host path made absolute */
};

struct vm_run_opts {
	const char *image;		/* kernel image: a bzImage, or an ELF vmlinux with a PVH note */
	const char *script;		/* /bin/sh script, run from / with stdin /dev/null */
	const struct vm_file *files;
	int nfiles;
	unsigned timeout_sec;		/* whole boot-to-poweroff; 0: VM_DEFAULT_TIMEOUT_SEC */
	unsigned mem_mb;		/* 0: VM_DEFAULT_MEM_MB */
	/* Optional: when it becomes non-zero (a signal handler's flag) the run
	 * stops, QEMU is killed and vm_run returns -ECANCELED. */
	volatile sig_atomic_t *cancel;
};

/* Why a run did not produce the script's exit status. */
enum vm_failure {
	VM_OK,			/* the script ran; exit_code is its status */
	VM_NO_IMAGE,		/* -ENOENT: the kernel image is missing */
	VM_NO_QEMU,		/* -ENOENT: qemu-system-x86_64 is not installed */
	VM_TIMEOUT,		/* -ETIMEDOUT: killed after timeout_sec */
	VM_BOOT_FAILED,		/* -EIO: QEMU exited without the script's exit marker */
	VM_HOST_ERROR,		/* anything else on the host (files, memory, ldd) */
};

struct vm_result {
	enum vm_failure failure;
	int exit_code;		/* the script's exit status (0..255) when VM_OK */
	char *output;		/* owned: the script's stdout+stderr, byte-exact */
	size_t output_len;
	char *console;		/* owned: the guest's console (kernel messages, marker) */
	double seconds;		/* QEMU start to exit */
};

/* The cached image of `series` ("6.1", "6.12") in $KOFF_KERNEL_DIR or
 * /var/cache/koff/kernels (SERIES/vmlinux, the decompressed ELF that boots
 * faster, else SERIES/vmlinuz), written into buf; NULL when none is there. */
const char *vm_image_for(const char *series, char *buf, size_t len);
/* The release of that image (its `version` file, what uname -r says in
 * the guest), into buf; NULL when unknown. */
const char *vm_image_release(const char *image, char *buf, size_t len);

/* Boot `o->image` and run `o->script`.  Returns 0 when the script ran (its
 * status, even non-zero, is in r->exit_code); otherwise a negative errno,
 * r->failure says which case, and err has one line.  Free r with
 * vm_result_free in every case. */
int vm_run(const struct vm_run_opts *o, struct vm_result *r, struct koff_error *err);
void vm_result_free(struct vm_result *r);

/* The guest agent: `koff-vmagent` beside this program's executable, or
 * $KOFF_VMAGENT.  Into buf; NULL when not found. */
const char *vm_agent_path(char *buf, size_t len);

/* bpf_verify_object() (bpfgen/verify.h) run inside the guest by the agent:
 * the same loading, log parsing, verdict fields and messages, with the
 * guest's release added to rejections ("... (kernel 6.1.0-57-amd64)").
 * Free v->log with bpf_verdict_free. */
int vm_verify_object(const char *image, const char *bpf_obj_path, struct bpf_verdict *v,
		     struct koff_error *err);

/* kernel_probe_features() (include/target.h) run inside the guest.
 * `release` (optional) gets the guest's uname -r. */
int vm_probe_features(const char *image, uint64_t *features, char *release, size_t release_len,
		      struct koff_error *err);

#endif
