/* link.c - the executable itself: the system compiler driver links the
 * objects and arguments exactly as `cc ... -o OUT` would. */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "driver.h"

extern char **environ;

const char *link_cc(void)
{
	const char *cc = getenv("KOFF_CC");

	return cc && *cc ? cc : "cc";
}

/* The linker runs in a process group of its own, so that koff-link's
 * signal handler can stop all of it (cc, collect2, ld) before it removes
 * OUT.koff-tmp-PID: nothing writes the file again afterwards.  The caller
 * holds the signals until the handler knows the pid; the linker starts
 * with the mask the caller had before (`mask`). */
static int spawn_linker(pid_t *pid, const char *cc, char **argv, const sigset_t *mask)
{
	posix_spawnattr_t attr;
	int rc = posix_spawnattr_init(&attr);

	if (rc)
		return rc;
	rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
	if (!rc)
		rc = posix_spawnattr_setpgroup(&attr, 0);
	if (!rc)
		rc = posix_spawnattr_setsigmask(&attr, mask);
	if (!rc)
		rc = posix_spawnp(pid, cc, NULL, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	return rc;
}

static void linked_with_shared_done(struct koff_ctx *ctx, const char **extra, int nargs)
{
	if (!extra)
		return;
	for (int i = 0; i < nargs; i++)
		free((char *)extra[i]);
	free(extra);
	shared_link_cleanup(ctx);
}

int link_executable(struct koff_ctx *ctx)
{
	const struct koff_options *o = &ctx->opt;
	const char **args = o->link_args, **extra = NULL;
	int nargs = o->nlink_args;
	const char *cc = link_cc();
	int status, n = 0, rc;
	sigset_t saved;
	char **argv;
	pid_t pid;

	/* Shared state: the entry object with its shared sections renamed, the
	 * linker script placing them, the runtime (src/trampoline.c). */
	if (ctx->shared.used) {
		if ((rc = shared_link_inputs(ctx, &extra, &nargs))) {
			shared_link_cleanup(ctx);
			if (rc == -ENOMEM)
				return rc;
			/* objcopy or the compiler could not build them: link as
			 * without shared state, and say why */
			shared_give_up(ctx, "cannot build the userspace side: ");
			nargs = o->nlink_args;
			extra = NULL;
		} else {
			args = extra;
		}
	}
	argv = calloc((size_t)nargs + 4, sizeof(char *));
	if (!argv) {
		linked_with_shared_done(ctx, extra, nargs);
		return koff_fail(&ctx->err, -ENOMEM, "out of memory");
	}
	argv[n++] = (char *)cc;
	for (int i = 0; i < nargs; i++)
		argv[n++] = (char *)args[i];
	argv[n++] = "-o";
	argv[n++] = ctx->tmp_exe;
	tempfiles_hold_signals(&saved);
	rc = spawn_linker(&pid, cc, argv, &saved);
	if (!rc)
		tempfiles_linker_running(pid);
	tempfiles_release_signals(&saved);
	free(argv);
	if (rc)
		linked_with_shared_done(ctx, extra, nargs);
	if (rc)
		return koff_fail(&ctx->err, -rc, "cannot run the system linker '%s': %s", cc, strerror(rc));
	rc = waitpid(pid, &status, 0) < 0 ? -errno : 0;
	tempfiles_linker_running(0);
	linked_with_shared_done(ctx, extra, nargs);
	if (rc < 0)
		return koff_fail(&ctx->err, rc, "waiting for '%s': %s", cc, strerror(-rc));
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		return koff_fail(&ctx->err, -EINVAL, "the system linker '%s' failed (its messages are above)", cc);
	return 0;
}
