/* util.c - error records and growable arrays. */
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/wait.h>

#include "koff.h"

extern char **environ;

int koff_fail(struct koff_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err || err->code)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

int koff_grow(void *ptr, int *cap, int need, size_t elem)
{
	void **p = ptr;
	int ncap;
	void *n;

	if (need < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 16;
	while (ncap <= need)
		ncap *= 2;
	n = realloc(*p, (size_t)ncap * elem);
	if (!n)
		return -ENOMEM;
	/* Zero the new tail so that fresh elements start out empty. */
	memset((char *)n + (size_t)*cap * elem, 0, (size_t)(ncap - *cap) * elem);
	*p = n;
	*cap = ncap;
	return 0;
}

/* Runs argv[0] (PATH searched) to completion; its messages go to our
 * stderr, so the error only names it and what it was for. */
int koff_run_tool(struct koff_error *err, char **argv, const char *what)
{
	int status, rc;
	pid_t pid;

	rc = posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ);
	if (rc)
		return koff_fail(err, -rc, "cannot run '%s' for %s: %s", argv[0], what, strerror(rc));
	if (waitpid(pid, &status, 0) < 0)
		return koff_fail(err, -errno, "waiting for '%s': %s", argv[0], strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		return koff_fail(err, -EINVAL, "'%s' failed for %s (its messages are above)", argv[0], what);
	return 0;
}
