/* fuzz_objects.c - libFuzzer harness over koff-link's handling of its input
 * object: the ELF reader (src/elfobj.c), DWARF (src/dwarf.c), the layout
 * and relocations (lifter/layout.c), the lifter and its analyses, bpfgen up
 * to writing the BPF object, and the manifest.  Everything koff-link does
 * except running the system linker and loading into the kernel.
 *
 * Two modes, chosen by the environment:
 *   in-process (default): each input is run through the pipeline above in
 *     this process, built with ASan + UBSan: fast, and a memory error or
 *     undefined behaviour anywhere is a crash libFuzzer reports and keeps.
 *   KOFF_FUZZ_DRIVER=path/to/koff-link (the ASan build): each input is
 *     linked by the real driver, with KOFF_FUZZ_CC as the system linker
 *     (default "true", which reaches the lifter; "cc" puts the real linker
 *     in the way).  A crash, a sanitizer report, a run over 20 s, an error
 *     that is not one "koff-link: " line, or a temporary file left behind
 *     is turned into an abort() here, so libFuzzer reports and keeps it.
 *
 * make fuzz-objects and tests/t-fuzz-objects.sh run it (COVERAGE.md). */
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "driver.h"

extern char **environ;

#define DRIVER_TIMEOUT_SECS 20

/* A private directory for this process's outputs, made once. */
static const char *work_dir(void)
{
	static char dir[64];

	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "/tmp/koff-fuzz-%d", (int)getpid());
		mkdir(dir, 0700);
	}
	return dir;
}

static void work_path(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", work_dir(), name);
}

/* ---- In-process: the pipeline of src/main.c without linking -------------- */

static void run_pipeline(const char *object)
{
	struct koff_ctx ctx = { 0 };
	struct obj_file *obj = NULL;
	enum obj_role role;
	FILE *devnull;

	ctx.opt = (struct koff_options){ .entry = "handle_request", .object = object,
					 .output = "fuzz-out", .resp_cap = 1472, .offload = true };
	work_path(ctx.tmp_bpf, sizeof(ctx.tmp_bpf), "out.bpf.o");
	work_path(ctx.tmp_json, sizeof(ctx.tmp_json), "out.koff.json");
	snprintf(ctx.out_bpf, sizeof(ctx.out_bpf), "fuzz-out.bpf.o");
	snprintf(ctx.identity, sizeof(ctx.identity), "executable-sha256 %064d\n", 0);
	/* find_entry_object's checks, then the offload as koff-link runs it. */
	if (obj_open(object, &obj, &ctx.err) == 0 && obj_check_entry(obj, "handle_request", &role, &ctx.err) == 0 &&
	    offload_build(&ctx) == 0 && report_write_json(&ctx) == 0 && (devnull = fopen("/dev/null", "w"))) {
		report_explain(&ctx, devnull);
		fclose(devnull);
	}
	obj_close(obj);
	ctx_free(&ctx);
	unlink(ctx.tmp_bpf);
	unlink(ctx.tmp_json);
}

static int run_in_process(const uint8_t *data, size_t size)
{
	char path[64];
	int fd = memfd_create("fuzz.o", MFD_CLOEXEC);

	if (fd < 0)
		return 0;
	if (write(fd, data, size) == (ssize_t)size) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		run_pipeline(path);
	}
	close(fd);
	return 0;
}

/* ---- Through the real driver --------------------------------------------- */

static void die(const char *why, const char *log)
{
	char line[512];
	FILE *f = fopen(log, "r");

	fprintf(stderr, "koff-fuzz: %s; koff-link's stderr:\n", why);
	while (f && fgets(line, sizeof(line), f))
		fputs(line, stderr);
	if (f)
		fclose(f);
	abort();
}

static int count_lines_with(const char *log, const char *needle, bool at_start)
{
	char line[4096];
	FILE *f = fopen(log, "r");
	int n = 0;

	while (f && fgets(line, sizeof(line), f))
		n += at_start ? !strncmp(line, needle, strlen(needle)) : strstr(line, needle) != NULL;
	if (f)
		fclose(f);
	return n;
}

static bool temporaries_left(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "find %s -name '*koff-tmp*' | grep -q .", work_dir());
	return system(cmd) == 0;
}

/* Waits up to DRIVER_TIMEOUT_SECS; -1 on a hang (the process is killed). */
static int wait_bounded(pid_t pid, int *status)
{
	for (int i = 0; i < DRIVER_TIMEOUT_SECS * 100; i++) {
		if (waitpid(pid, status, WNOHANG) == pid)
			return 0;
		nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, status, 0);
	return -1;
}

static void check_driver_run(int status, const char *log)
{
	if (WIFSIGNALED(status))
		die("koff-link was killed by a signal", log);
	if (count_lines_with(log, "Sanitizer", false) || count_lines_with(log, "runtime error", false))
		die("sanitizer report", log);
	if (WEXITSTATUS(status) >= 2)
		die("koff-link exited with a status above 1", log);
	if (WEXITSTATUS(status) == 1 && count_lines_with(log, "koff-link: ", true) != 1)
		die("a failure without exactly one 'koff-link: ' line", log);
	if (temporaries_left())
		die("a temporary file was left behind", log);
}

static int run_driver(const char *driver, const uint8_t *data, size_t size)
{
	char in[128], out[128], log[128], cc_env[160];
	const char *cc = getenv("KOFF_FUZZ_CC");
	char *argv[] = { (char *)driver, in, "-o", out, "--no-verify", NULL };
	char *envp[] = { cc_env, "ASAN_OPTIONS=detect_leaks=1", "UBSAN_OPTIONS=print_stacktrace=1",
			 "PATH=/usr/local/bin:/usr/bin:/bin", NULL };
	posix_spawn_file_actions_t fa;
	int fd, status;
	pid_t pid;

	work_path(in, sizeof(in), "in.o");
	work_path(out, sizeof(out), "out");
	work_path(log, sizeof(log), "stderr");
	snprintf(cc_env, sizeof(cc_env), "KOFF_CC=%s", cc && *cc ? cc : "true");
	fd = open(in, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (posix_spawn(&pid, driver, &fa, NULL, argv, envp))
		abort();
	posix_spawn_file_actions_destroy(&fa);
	if (wait_bounded(pid, &status) < 0)
		die("koff-link ran longer than 20 s", log);
	check_driver_run(status, log);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *driver = getenv("KOFF_FUZZ_DRIVER");

	return driver && *driver ? run_driver(driver, data, size) : run_in_process(data, size);
}
