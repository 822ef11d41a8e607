/* tempfiles.c - koff-link's temporary outputs (OUT.koff-tmp-PID,
 * OUT.bpf.o.koff-tmp-PID, OUT.koff.json.koff-tmp-PID) never outlive it:
 *
 *   - on SIGINT, SIGTERM and SIGHUP a handler kills the system linker (it
 *     runs in its own process group, so that nothing writes OUT.koff-tmp-PID
 *     afterwards), unlinks the paths computed before the handler was
 *     installed, and re-raises the signal: koff-link dies of it as before;
 *   - a run killed where no handler runs (SIGKILL, a crash) leaves its files
 *     behind; the next link of the same OUT removes those it can prove are
 *     a koff-link's: the exact names above (or libelf's temporary beside
 *     OUT.bpf.o.koff-tmp-PID), owned by us, of a PID that no longer exists.
 *
 * The handler can only see static storage: `signal_cleanup` below is the
 * one piece of global state, written before the handler is installed and
 * read only by it. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "driver.h"
#include "koff_abi.h"

#define TEMP_MARK ".koff-tmp-"

static const int cleanup_signals[] = { SIGINT, SIGTERM, SIGHUP };

static struct {
	char paths[6][4096];		/* copies of ctx->tmp_*, then the variant's (variants.c)
					 * and the combined object (combine.c) */
	volatile sig_atomic_t linker;	/* the system linker's pid (= its process group), 0 = none */
} signal_cleanup;

/* Async-signal-safe only: kill, waitpid, unlink, sigaction, raise. */
static void on_fatal_signal(int sig)
{
	pid_t linker = signal_cleanup.linker;

	if (linker > 0) {
		kill(-linker, SIGKILL);
		waitpid(linker, NULL, 0);
	}
	for (size_t i = 0; i < KOFF_ARRAY_SIZE(signal_cleanup.paths); i++)
		if (signal_cleanup.paths[i][0])
			unlink(signal_cleanup.paths[i]);
	/* SA_RESETHAND restored the default action; the signal is blocked
	 * while we run, so it is delivered, and kills us, on return. */
	raise(sig);
}

int tempfiles_protect(struct koff_ctx *ctx)
{
	const char *paths[] = { ctx->tmp_exe, ctx->tmp_bpf, ctx->tmp_json };
	struct sigaction sa = { .sa_handler = on_fatal_signal, .sa_flags = SA_RESETHAND };

	for (size_t i = 0; i < KOFF_ARRAY_SIZE(paths); i++)
		snprintf(signal_cleanup.paths[i], sizeof(signal_cleanup.paths[i]), "%s", paths[i]);
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < KOFF_ARRAY_SIZE(cleanup_signals); i++)
		sigaddset(&sa.sa_mask, cleanup_signals[i]);
	for (size_t i = 0; i < KOFF_ARRAY_SIZE(cleanup_signals); i++) {
		struct sigaction old;

		/* An ignored signal (nohup, a background job) stays ignored. */
		if (sigaction(cleanup_signals[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
			continue;
		if (sigaction(cleanup_signals[i], &sa, NULL))
			return koff_fail(&ctx->err, -errno, "sigaction: %s", strerror(errno));
	}
	return 0;
}

/* One more temporary of this run (the fast variant's OUT.6.18.bpf.o, the
 * combined object), in the first free slot after ctx->tmp_*'s. */
void tempfiles_protect_path(const char *path)
{
	sigset_t saved;
	size_t i = 3;

	tempfiles_hold_signals(&saved);
	while (i < KOFF_ARRAY_SIZE(signal_cleanup.paths) - 1 && signal_cleanup.paths[i][0])
		i++;
	snprintf(signal_cleanup.paths[i], sizeof(signal_cleanup.paths[i]), "%s", path);
	tempfiles_release_signals(&saved);
}

void tempfiles_unprotect(void)
{
	for (size_t i = 0; i < KOFF_ARRAY_SIZE(cleanup_signals); i++) {
		struct sigaction old;

		if (sigaction(cleanup_signals[i], NULL, &old) == 0 && old.sa_handler == on_fatal_signal)
			signal(cleanup_signals[i], SIG_DFL);
	}
	memset(signal_cleanup.paths, 0, sizeof(signal_cleanup.paths));
}

void tempfiles_linker_running(pid_t pid)
{
	signal_cleanup.linker = pid;
}

void tempfiles_hold_signals(sigset_t *saved)
{
	sigset_t set;

	sigemptyset(&set);
	for (size_t i = 0; i < KOFF_ARRAY_SIZE(cleanup_signals); i++)
		sigaddset(&set, cleanup_signals[i]);
	sigprocmask(SIG_BLOCK, &set, saved);
}

void tempfiles_release_signals(const sigset_t *saved)
{
	sigprocmask(SIG_SETMASK, saved, NULL);
}

/* ---- Left-overs of killed runs ------------------------------------------- */

/* "<digits>" or "<digits>.tmp.XXXXXX" (bpfobj.c's temporary): the pid, else 0. */
static pid_t parse_temp_pid(const char *s)
{
	char *end;
	long pid;

	if (*s < '0' || *s > '9')
		return 0;
	pid = strtol(s, &end, 10);
	if (pid <= 0 || pid > 0x3fffffff)
		return 0;
	if (*end && (strncmp(end, ".tmp.", 5) || strlen(end + 5) != 6))
		return 0;
	return (pid_t)pid;
}

/* The pid in `name` if it is one of OUT's temporary names, else 0. */
static pid_t temp_name_pid(const char *name, const char *base)
{
	static const char *const suffixes[] = { "", ".bpf.o", ".koff.json", KOFF_FAST_VARIANT_SUFFIX };
	size_t n = strlen(base);

	if (strncmp(name, base, n))
		return 0;
	for (size_t i = 0; i < KOFF_ARRAY_SIZE(suffixes); i++) {
		size_t m = strlen(suffixes[i]);

		if (!strncmp(name + n, suffixes[i], m) && !strncmp(name + n + m, TEMP_MARK, strlen(TEMP_MARK)))
			return parse_temp_pid(name + n + m + strlen(TEMP_MARK));
	}
	return 0;
}

static bool process_gone(pid_t pid)
{
	return pid != getpid() && kill(pid, 0) < 0 && errno == ESRCH;
}

/* A regular file of ours, of a koff-link that is no longer running. */
static bool is_stale(int dirfd, const char *name, const char *base)
{
	pid_t pid = temp_name_pid(name, base);
	struct stat st;

	return pid && process_gone(pid) && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISREG(st.st_mode) && st.st_uid == geteuid();
}

int tempfiles_remove_stale(const char *out)
{
	const char *slash = strrchr(out, '/');
	const char *base = slash ? slash + 1 : out;
	char *dir = slash ? strndup(out, (size_t)(slash - out) + 1) : strdup(".");
	DIR *d = dir ? opendir(dir) : NULL;
	struct dirent *e;
	int removed = 0;

	free(dir);
	if (!d || !*base) {
		if (d)
			closedir(d);
		return 0;	/* OUT's directory is checked, with a message, later */
	}
	while ((e = readdir(d)))
		if (is_stale(dirfd(d), e->d_name, base) && unlinkat(dirfd(d), e->d_name, 0) == 0)
			removed++;
	closedir(d);
	return removed;
}
