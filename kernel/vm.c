/* vm.c - boot a kernel image under QEMU and run a script in it (vm.h).
 *
 * A run is: a private temporary directory; an initramfs written there (newc
 * cpio: busybox, an /init, the script, the caller's files and the shared
 * libraries they need); QEMU started on it with two serial ports, the
 * console on the first and the script's output on the second (raw, so the
 * output comes back byte-exact and never mixed with kernel messages); a
 * wait bounded by the timeout; the exit marker read from the console.  The
 * directory and QEMU are gone on every return path.
 */
#include <fcntl.h>
#include <gelf.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cpio.h"
#include "vm.h"

#define QEMU "qemu-system-x86_64"
#define EXIT_MARKER "KOFF-VM-EXIT"
#define WAIT_STEP_NS (10 * 1000 * 1000)

/* Everything one run owns on the host; vm_run_cleanup undoes it all. */
struct vm_session {
	char dir[PATH_MAX - 32];	/* private temporary directory, "" when none */
	char initrd[PATH_MAX], console[PATH_MAX], output[PATH_MAX], qemu_log[PATH_MAX];
	char nonce[17];			/* makes the exit marker unguessable */
	pid_t qemu;			/* 0 when not running */
};

/* ---- Images ------------------------------------------------------------- */

static const char *kernel_dir(void)
{
	const char *d = getenv("KOFF_KERNEL_DIR");

	return d && *d ? d : "/var/cache/koff/kernels";
}

static bool is_nonempty_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
}

/* The decompressed ELF first (fetch-kernel.sh writes it where it can): under
 * TCG, the bzImage's own decompressor costs seconds per boot. */
const char *vm_image_for(const char *series, char *buf, size_t len)
{
	static const char *const names[] = { "vmlinux", "vmlinuz" };

	if (!series || !*series || strchr(series, '/'))
		return NULL;
	for (size_t i = 0; i < KOFF_ARRAY_SIZE(names); i++)
		if ((size_t)snprintf(buf, len, "%s/%s/%s", kernel_dir(), series, names[i]) < len &&
		    is_nonempty_file(buf))
			return buf;
	return NULL;
}

const char *vm_image_release(const char *image, char *buf, size_t len)
{
	char path[PATH_MAX];
	const char *slash = strrchr(image, '/');
	FILE *f;
	bool ok;

	if ((size_t)snprintf(path, sizeof(path), "%.*sversion", slash ? (int)(slash - image + 1) : 0,
			     image) >= sizeof(path) || !(f = fopen(path, "r")))
		return NULL;
	ok = fgets(buf, (int)len, f) != NULL;
	fclose(f);
	if (!ok)
		return NULL;
	buf[strcspn(buf, "\n")] = '\0';
	return buf[0] ? buf : NULL;
}

/* ---- Host helpers --------------------------------------------------------- */

/* The first executable `name` on $PATH, into buf. */
static const char *find_in_path(const char *name, char *buf, size_t len)
{
	const char *path = getenv("PATH");
	char *copy, *save = NULL;
	const char *found = NULL;

	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
	copy = strdup(path);
	for (char *d = copy ? strtok_r(copy, ":", &save) : NULL; d && !found; d = strtok_r(NULL, ":", &save))
		if ((size_t)snprintf(buf, len, "%s/%s", *d ? d : ".", name) < len && access(buf, X_OK) == 0)
			found = buf;
	free(copy);
	return found;
}

/* Run argv with stdout (and stderr) into `out_path`; returns the exit
 * status, or a negative errno when it could not run. */
static int run_to_file(char *const argv[], const char *out_path)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(127);
		execvp(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -ECHILD;
}

static char *read_whole_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	if (!f)
		return NULL;
	for (;;) {
		if (n + 4096 + 1 > cap) {
			char *bigger = realloc(buf, cap = (cap ? cap * 2 : 8192));

			if (!bigger) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = bigger;
		}
		size_t got = fread(buf + n, 1, cap - n - 1, f);

		n += got;
		if (got == 0)
			break;
	}
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

/* ---- The initramfs -------------------------------------------------------- */

/* /init: set the guest up, run the script with its output on ttyS1 (raw),
 * print the marker with its status on the console, power off.  panic=-1
 * and -no-reboot make any other ending (init dying) end QEMU too. */
static char *init_script(const struct vm_session *s, const char *ld_path)
{
	char *text = NULL;

	if (asprintf(&text,
		     "#!/bin/sh\n"
		     "/bin/busybox --install -s\n"
		     "export PATH=/bin:/sbin:/usr/bin:/usr/sbin\n"
		     "mount -t proc proc /proc\n"
		     "mount -t sysfs sysfs /sys\n"
		     "mount -t devtmpfs devtmpfs /dev\n"
		     "mount -t bpf bpf /sys/fs/bpf\n"
		     "mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null\n"
		     "ip link set lo up\n"
		     "%s%s%s"
		     "stty -F /dev/ttyS1 raw -echo\n"
		     "cd /\n"
		     "sh /koff/script.sh </dev/null >/dev/ttyS1 2>&1\n"
		     "status=$?\n"
		     "echo \"" EXIT_MARKER " %s $status\" >/dev/console\n"
		     "poweroff -f\n",
		     ld_path[0] ? "export LD_LIBRARY_PATH='" : "", ld_path, ld_path[0] ? "'\n" : "",
		     s->nonce) < 0)
		return NULL;
	return text;
}

/* Adds "dir" to the colon list `dirs` unless it is there. */
static void note_library_dir(char *dirs, size_t len, const char *lib)
{
	const char *slash = strrchr(lib, '/');
	char dir[PATH_MAX];
	size_t n = strlen(dirs);

	if (!slash || slash == lib)
		return;
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - lib), lib);
	for (const char *p = dirs; (p = strstr(p, dir)); p++)
		if ((p == dirs || p[-1] == ':') && (p[strlen(dir)] == ':' || !p[strlen(dir)]))
			return;
	if (n + strlen(dir) + 2 < len)
		snprintf(dirs + n, len - n, "%s%s", n ? ":" : "", dir);
}

/* Whether `path` is an ELF file with a PT_INTERP: a dynamically linked
 * program, which needs its loader and libraries in the guest. */
static bool is_dynamic_elf(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool dynamic = false;
	size_t nphdr = 0;
	GElf_Phdr ph;
	Elf *elf;

	if (fd < 0)
		return false;
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (elf && elf_kind(elf) == ELF_K_ELF && elf_getphdrnum(elf, &nphdr) == 0)
		for (size_t i = 0; i < nphdr && !dynamic; i++)
			dynamic = gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_INTERP;
	elf_end(elf);
	close(fd);
	return dynamic;
}

/* ldd's lines: "libz.so.1 => /lib/.../libz.so.1 (0x...)",
 * "/lib64/ld-linux-x86-64.so.2 (0x...)", "linux-vdso.so.1 (0x...)",
 * "libfoo.so => not found".  Each absolute path goes into the image. */
static int add_ldd_line(struct cpio *c, const char *exe, char *line, char *ld_dirs, size_t ld_len,
			struct koff_error *err)
{
	char *arrow = strstr(line, "=> "), *path = arrow ? arrow + 3 : line;
	char *end;

	while (*path == ' ' || *path == '\t')
		path++;
	if (arrow && !strncmp(path, "not found", 9)) {
		char *name = line + strspn(line, " \t");

		return koff_fail(err, -ENOENT, "%s needs %.*s, which ldd does not find", exe,
				 (int)strcspn(name, " \t="), name);
	}
	if (*path != '/')
		return 0;	/* the vDSO */
	end = path + strcspn(path, " \t\n");
	*end = '\0';
	note_library_dir(ld_dirs, ld_len, path);
	return cpio_add_file_once(c, path, path, err);
}

static int add_shared_libraries(struct cpio *c, const struct vm_session *s, const char *exe,
				char *ld_dirs, size_t ld_len, struct koff_error *err)
{
	char list[PATH_MAX + 16], *text, *save = NULL;
	char *argv[] = { "ldd", (char *)exe, NULL };
	int rc;

	if (!is_dynamic_elf(exe))
		return 0;
	snprintf(list, sizeof(list), "%s/ldd.out", s->dir);
	rc = run_to_file(argv, list);
	text = read_whole_file(list, NULL);
	unlink(list);
	if (rc < 0 || rc == 127) {
		free(text);
		return koff_fail(err, rc < 0 ? rc : -ENOENT, "cannot run ldd on %s", exe);
	}
	/* Exit 1: "not a dynamic executable" (static, or not a program). */
	for (char *line = rc == 0 && text ? strtok_r(text, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		rc = add_ldd_line(c, exe, line, ld_dirs, ld_len, err);
		if (rc < 0)
			break;
	}
	free(text);
	return rc < 0 ? rc : 0;
}

static int guest_path_of(const struct vm_file *f, char *buf, size_t len, struct koff_error *err)
{
	char cwd[PATH_MAX];

	if (f->guest) {
		if (f->guest[0] != '/')
			return koff_fail(err, -EINVAL, "guest path '%s' is not absolute", f->guest);
		snprintf(buf, len, "%s", f->guest);
		return 0;
	}
	if (f->host[0] == '/') {
		snprintf(buf, len, "%s", f->host);
		return 0;
	}
	if (!getcwd(cwd, sizeof(cwd)))
		return koff_fail(err, -errno, "getcwd: %s", strerror(errno));
	if ((size_t)snprintf(buf, len, "%s/%s", cwd, f->host) >= len)
		return koff_fail(err, -ENAMETOOLONG, "%s: path too long", f->host);
	return 0;
}

static int add_user_files(struct cpio *c, const struct vm_session *s, const struct vm_run_opts *o,
			  char *ld_dirs, size_t ld_len, struct koff_error *err)
{
	char guest[PATH_MAX];
	int rc;

	for (int i = 0; i < o->nfiles; i++) {
		rc = guest_path_of(&o->files[i], guest, sizeof(guest), err);
		if (!rc)
			rc = cpio_add_file(c, o->files[i].host, guest, err);
		if (!rc)
			rc = add_shared_libraries(c, s, o->files[i].host, ld_dirs, ld_len, err);
		if (rc)
			return rc;
	}
	return 0;
}

static const char *find_busybox(char *buf, size_t len)
{
	static const char *const known[] = { "/bin/busybox", "/usr/bin/busybox" };

	for (size_t i = 0; i < KOFF_ARRAY_SIZE(known); i++)
		if (access(known[i], X_OK) == 0)
			return snprintf(buf, len, "%s", known[i]), buf;
	return find_in_path("busybox", buf, len);
}

static int add_system(struct cpio *c, const struct vm_session *s, const char *script,
		      char *ld_dirs, size_t ld_len, struct koff_error *err)
{
	static const char *const dirs[] = { "/bin", "/sbin", "/usr/bin", "/usr/sbin", "/proc",
					    "/sys", "/dev", "/tmp", "/koff", "/etc" };
	char busybox[PATH_MAX];
	int rc = 0;

	if (!find_busybox(busybox, sizeof(busybox)))
		return koff_fail(err, -ENOENT, "busybox not found (apt-get install busybox-static)");
	for (size_t i = 0; i < KOFF_ARRAY_SIZE(dirs) && !rc; i++)
		rc = cpio_add_dir(c, dirs[i], err);
	if (!rc)
		rc = cpio_add_char_device(c, "/dev/console", 5, 1, err);
	if (!rc)
		rc = cpio_add_file(c, busybox, "/bin/busybox", err);
	if (!rc)
		rc = add_shared_libraries(c, s, busybox, ld_dirs, ld_len, err);
	if (!rc)
		rc = cpio_add_symlink(c, "/bin/sh", "busybox", err);
	if (!rc)
		rc = cpio_add_data(c, "/koff/script.sh", script, strlen(script), 0644, err);
	return rc;
}

static int write_initramfs(struct vm_session *s, const struct vm_run_opts *o, struct koff_error *err)
{
	char ld_dirs[4096] = "";
	struct cpio c;
	char *init;
	int rc = cpio_open(&c, s->initrd, err);

	if (rc)
		return rc;
	rc = add_system(&c, s, o->script, ld_dirs, sizeof(ld_dirs), err);
	if (!rc)
		rc = add_user_files(&c, s, o, ld_dirs, sizeof(ld_dirs), err);
	if (!rc) {
		init = init_script(s, ld_dirs);
		rc = init ? cpio_add_data(&c, "/init", init, strlen(init), 0755, err)
			  : koff_fail(err, -ENOMEM, "out of memory");
		free(init);
	}
	return cpio_close(&c, rc, err);
}

/* ---- QEMU ------------------------------------------------------------------ */

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* TCG unless $KOFF_VM_ACCEL says otherwise: a /dev/kvm can be there and
 * still not run a guest (nested virtualisation; on this project's machines
 * a KVM guest hangs in the firmware), while TCG works everywhere. */
static const char *accelerator(void)
{
	const char *accel = getenv("KOFF_VM_ACCEL");

	return accel && *accel ? accel : "tcg";
}

static void exec_qemu(const struct vm_session *s, const struct vm_run_opts *o, const char *qemu)
{
	char mem[16], serial0[PATH_MAX + 8], serial1[PATH_MAX + 8];
	char *append = "console=ttyS0 panic=-1 quiet loglevel=4 rdinit=/init";
	int null = open("/dev/null", O_RDONLY), log = open(s->qemu_log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	/* QEMU dies with us, and a terminal's ^C goes to us, not to it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	setpgid(0, 0);
	if (null < 0 || log < 0 || dup2(null, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0)
		_exit(127);
	snprintf(mem, sizeof(mem), "%u", o->mem_mb ? o->mem_mb : VM_DEFAULT_MEM_MB);
	snprintf(serial0, sizeof(serial0), "file:%s", s->console);
	snprintf(serial1, sizeof(serial1), "file:%s", s->output);
	char *argv[] = { (char *)qemu, "-nographic", "-no-reboot", "-monitor", "none",
			 "-accel", (char *)accelerator(),
			 "-nic", "none", "-smp", "1", "-m", mem, "-kernel", (char *)o->image, "-initrd", (char *)s->initrd,
			 "-append", append, "-serial", serial0, "-serial", serial1, NULL };
	execv(qemu, argv);
	_exit(127);
}

static void kill_qemu(struct vm_session *s)
{
	if (s->qemu <= 0)
		return;
	kill(s->qemu, SIGKILL);
	while (waitpid(s->qemu, NULL, 0) < 0 && errno == EINTR)
		;
	s->qemu = 0;
}

/* Waits for QEMU to exit.  Returns 0, -ETIMEDOUT or -ECANCELED (QEMU is
 * then killed by the caller's cleanup). */
static int wait_for_qemu(struct vm_session *s, const struct vm_run_opts *o, int *status)
{
	unsigned timeout = o->timeout_sec ? o->timeout_sec : VM_DEFAULT_TIMEOUT_SEC;
	double deadline = now_seconds() + timeout;
	const struct timespec step = { 0, WAIT_STEP_NS };

	for (;;) {
		pid_t done = waitpid(s->qemu, status, WNOHANG);

		if (done == s->qemu) {
			s->qemu = 0;
			return 0;
		}
		if (done < 0 && errno != EINTR)
			return -errno;
		if (o->cancel && *o->cancel)
			return -ECANCELED;
		if (now_seconds() >= deadline)
			return -ETIMEDOUT;
		nanosleep(&step, NULL);
	}
}

/* The last non-empty console line: what a boot failure said last. */
static void last_console_line(const char *console, char *buf, size_t len)
{
	const char *best = NULL;
	int best_len = 0;

	for (const char *p = console; p && *p;) {
		int n = (int)strcspn(p, "\r\n");

		if (n > 0)
			best = p, best_len = n;
		p += n;
		p += strspn(p, "\r\n");
	}
	snprintf(buf, len, "%.*s", best ? best_len : 0, best ? best : "");
}

static int read_exit_marker(const struct vm_session *s, struct vm_result *r, struct koff_error *err,
			    const char *image)
{
	char marker[64], last[160];
	const char *at;

	snprintf(marker, sizeof(marker), EXIT_MARKER " %s ", s->nonce);
	at = r->console ? strstr(r->console, marker) : NULL;
	if (at && sscanf(at + strlen(marker), "%d", &r->exit_code) == 1) {
		r->failure = VM_OK;
		return 0;
	}
	r->failure = VM_BOOT_FAILED;
	last_console_line(r->console, last, sizeof(last));
	if (!last[0]) {
		char *qlog = read_whole_file(s->qemu_log, NULL);

		if (qlog)
			last_console_line(qlog, last, sizeof(last));
		free(qlog);
	}
	return koff_fail(err, -EIO, "%s: the guest did not finish the script (last words: %s)", image,
			 last[0] ? last : "none");
}

static int boot(struct vm_session *s, const struct vm_run_opts *o, const char *qemu,
		struct vm_result *r, struct koff_error *err)
{
	double start = now_seconds();
	int status = 0, rc;

	s->qemu = fork();
	if (s->qemu < 0) {
		s->qemu = 0;
		return koff_fail(err, -errno, "fork: %s", strerror(errno));
	}
	if (s->qemu == 0)
		exec_qemu(s, o, qemu);
	rc = wait_for_qemu(s, o, &status);
	r->seconds = now_seconds() - start;
	kill_qemu(s);
	r->console = read_whole_file(s->console, NULL);
	r->output = read_whole_file(s->output, &r->output_len);
	if (rc == -ETIMEDOUT) {
		r->failure = VM_TIMEOUT;
		return koff_fail(err, rc, "%s: timed out after %u s, QEMU killed", o->image,
				 o->timeout_sec ? o->timeout_sec : VM_DEFAULT_TIMEOUT_SEC);
	}
	if (rc)
		return koff_fail(err, rc, "%s: %s", o->image,
				 rc == -ECANCELED ? "cancelled, QEMU killed" : strerror(-rc));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && !r->console)
		return koff_fail(err, -ENOEXEC, "cannot run %s", qemu);
	return read_exit_marker(s, r, err, o->image);
}

/* ---- The session ----------------------------------------------------------- */

static int session_open(struct vm_session *s, struct koff_error *err)
{
	const char *tmp = getenv("TMPDIR");
	unsigned char raw[8];

	if (getrandom(raw, sizeof(raw), 0) != sizeof(raw))
		return koff_fail(err, -EIO, "getrandom: %s", strerror(errno));
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(s->nonce + 2 * i, 3, "%02x", raw[i]);
	if ((size_t)snprintf(s->dir, sizeof(s->dir), "%s/koff-vm.XXXXXX", tmp && *tmp ? tmp : "/tmp") >=
	    sizeof(s->dir)) {
		s->dir[0] = '\0';
		return koff_fail(err, -ENAMETOOLONG, "TMPDIR is too long");
	}
	if (!mkdtemp(s->dir)) {
		int e = errno;

		s->dir[0] = '\0';
		return koff_fail(err, -e, "cannot create a temporary directory: %s", strerror(e));
	}
	snprintf(s->initrd, sizeof(s->initrd), "%s/initrd.cpio", s->dir);
	snprintf(s->console, sizeof(s->console), "%s/console.log", s->dir);
	snprintf(s->output, sizeof(s->output), "%s/output.log", s->dir);
	snprintf(s->qemu_log, sizeof(s->qemu_log), "%s/qemu.log", s->dir);
	return 0;
}

static void session_close(struct vm_session *s)
{
	const char *files[] = { s->initrd, s->console, s->output, s->qemu_log };

	kill_qemu(s);
	if (!s->dir[0])
		return;
	for (size_t i = 0; i < KOFF_ARRAY_SIZE(files); i++)
		unlink(files[i]);
	rmdir(s->dir);
	s->dir[0] = '\0';
}

int vm_run(const struct vm_run_opts *o, struct vm_result *r, struct koff_error *err)
{
	struct vm_session s = { 0 };
	char qemu[PATH_MAX];
	struct stat st;
	int rc;

	memset(r, 0, sizeof(*r));
	r->failure = VM_HOST_ERROR;
	r->exit_code = -1;
	if (!o->image || stat(o->image, &st) || !S_ISREG(st.st_mode)) {
		r->failure = VM_NO_IMAGE;
		return koff_fail(err, -ENOENT, "%s: no kernel image there (kernel/fetch-kernel.sh SERIES)",
				 o->image ? o->image : "(none)");
	}
	if (!find_in_path(QEMU, qemu, sizeof(qemu))) {
		r->failure = VM_NO_QEMU;
		return koff_fail(err, -ENOENT, QEMU " not found (apt-get install qemu-system-x86)");
	}
	rc = session_open(&s, err);
	if (!rc)
		rc = write_initramfs(&s, o, err);
	if (!rc)
		rc = boot(&s, o, qemu, r, err);
	session_close(&s);
	return rc;
}

void vm_result_free(struct vm_result *r)
{
	free(r->output);
	free(r->console);
	r->output = r->console = NULL;
}
