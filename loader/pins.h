/* pins.h - koff-load's pins of a shared-state map under bpffs (loader/pins.c).
 *
 * Each koff-load instance pins in BASE/<instance>/ (0700), instance =
 * "<pid namespace inode>-<pid>-<start time>" of koff-load, so that a later
 * start can tell a live instance from a dead one even when its pid was
 * reused.  A keeper process removes the directory when koff-load goes,
 * however it goes; pins_open also removes what dead instances left. */
#ifndef KOFF_LOAD_PINS_H
#define KOFF_LOAD_PINS_H

#include <stdbool.h>
#include <sys/types.h>

struct pins {
	char dir[4096];		/* BASE/<instance> while it exists, else "" */
	pid_t keeper;		/* 0 when none */
	int keeper_fd;		/* the keeper's pipe; -1 when none */
};

/* Checks that BASE's file system is bpffs, removes the pins of dead
 * instances, creates this instance's directory and starts the keeper.
 * 0, or -1 with one "koff-load: ..." line printed. */
/* koff-load.c: one line "koff-load: ..." on stderr; returns -1. */
int load_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

int pins_open(struct pins *p, const char *base, bool quiet);
/* Pins map_fd as DIR/name, mode 0600; its path into path.  0 or -1 (printed). */
int pins_add(struct pins *p, int map_fd, const char *name, char *path, size_t len);
/* Removes the instance directory and stops the keeper (safe to call twice). */
void pins_close(struct pins *p);

#endif
