/* cpio.h - write an initramfs: the kernel's "newc" cpio format
 * (Documentation/driver-api/early-userspace/buffer-format.rst), uncompressed.
 * Paths are guest paths ("/bin/busybox"); their parent directories are added
 * as needed, since the kernel's unpacker does not create them. */
#ifndef KOFF_CPIO_H
#define KOFF_CPIO_H

#include <stddef.h>
#include <stdio.h>

#include "koff.h"

struct cpio {
	FILE *f;
	const char *path;	/* the archive being written */
	unsigned next_ino;
	char **names;		/* entries written so far, for parents and duplicates */
	int nnames, capnames;
};

int cpio_open(struct cpio *c, const char *path, struct koff_error *err);
/* Writes the trailer when rc == 0, closes, frees; returns rc or the first
 * write error. */
int cpio_close(struct cpio *c, int rc, struct koff_error *err);

int cpio_add_dir(struct cpio *c, const char *guest, struct koff_error *err);
/* The host file's bytes and permission bits; an error when `guest` exists. */
int cpio_add_file(struct cpio *c, const char *host, const char *guest, struct koff_error *err);
/* The same, but nothing when `guest` is already there (shared libraries
 * needed by several programs). */
int cpio_add_file_once(struct cpio *c, const char *host, const char *guest, struct koff_error *err);
int cpio_add_data(struct cpio *c, const char *guest, const void *data, size_t len, unsigned perm,
		  struct koff_error *err);
int cpio_add_symlink(struct cpio *c, const char *guest, const char *target, struct koff_error *err);
int cpio_add_char_device(struct cpio *c, const char *guest, unsigned major, unsigned minor,
			 struct koff_error *err);

#endif
