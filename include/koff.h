/* koff.h - what every part of koff-link shares: the error record and the
 * small utilities that go with it.  Errors follow libbpf: functions return
 * 0 or a positive count on success, a negative errno on failure, and fill a
 * struct koff_error with one line that names the problem. */
#ifndef KOFF_H
#define KOFF_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

struct koff_error {
	int code;		/* negative errno, 0 when no error was recorded */
	char msg[512];		/* one line, no trailing newline */
};

/* Record an error and return `code` (a negative errno), so callers write
 *	return koff_fail(err, -EINVAL, "%s: not an ELF file", path);
 * The first error recorded wins: later, less specific ones do not overwrite it. */
int koff_fail(struct koff_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Growable arrays: grow *ptr (of elements of size elem) so that index `need`
 * fits; returns 0 or -ENOMEM. */
int koff_grow(void *ptr, int *cap, int need, size_t elem);

/* Run a tool (argv[0], searched in PATH) and wait: 0 when it exited 0;
 * else -errno and one line naming the tool and `what` it was run for. */
int koff_run_tool(struct koff_error *err, char **argv, const char *what);

#define KOFF_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
