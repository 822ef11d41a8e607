/* koff-load - run a server koff-link produced, with its XDP offload attached.
 *
 *   koff-load [--dev IFACE] [--mode skb|native] [--quiet] [--verbose] [--pin-dir DIR]
 *             [--adapt [--adapt-interval MS] [--adapt-userspace-ns N]] OUT [args...]
 *
 * Loads OUT.6.18.bpf.o where the kernel has its features and takes it, else
 * OUT.walked.bpf.o where the kernel takes it, else OUT.bpf.o (the variants
 * koff-link wrote, include/koff_abi.h), attaches its XDP program (KOFF_PROG_NAME) to IFACE
 * (default lo) through a BPF link, runs OUT with args, and removes the
 * program when OUT exits.  The attachment is a link held only by this
 * process: if koff-load dies, even by SIGKILL, the kernel detaches it.
 *
 * While OUT runs, SIGINT/SIGTERM/SIGHUP are forwarded to it and SIGUSR1
 * prints the counters (include/koff_abi.h) to stderr.  When OUT exits the
 * counters are printed once more and koff-load exits with OUT's status
 * (128 + signal when OUT was killed by a signal).
 *
 * --adapt keeps measuring the offload and detaches it while it is a loss
 * (loader/adapt.c).
 *
 * OUT.bpf.o (and its variant) is attached only beside the executable it was linked with: its
 * KOFF_IDENTITY_SECTION names OUT's SHA-256, checked before anything loads.
 * OUT gets SIGTERM if koff-load dies (PR_SET_PDEATHSIG); koff-load is a
 * child subreaper and reaps OUT and anything OUT leaves orphaned, so no
 * zombie remains while it runs.  After koff-load itself is killed, OUT (then
 * an orphan) is reaped by the nearest subreaper or init, as every orphan is.
 *
 * Every fd koff-load holds is close-on-exec (libbpf's and the kernel's BPF
 * fds are, the BPF link included): OUT inherits none of them, so the XDP
 * attachment lives exactly as long as koff-load.
 *
 * Shared state (docs/shared-state.md): when the attached variant has the
 * KOFF_MAP_SHARED map, koff-load pins it as DIR/<instance>/koff_shared
 * (default DIR /sys/fs/bpf/koff, instance directory 0700, pin 0600), and
 * OUT gets that map, and only that, as an inherited fd named by
 * KOFF_SHARED_ENV_FD.  The pins are removed when koff-load exits, whatever
 * the path; a small keeper process removes them if koff-load is killed
 * (even by SIGKILL), and each start removes the pins of instances whose
 * koff-load is gone (instance = PID namespace, pid and start time, so a
 * reused pid is not taken for a live instance).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gelf.h>

#include "adapt.h"
#include "koff_abi.h"
#include "koff_identity.h"
#include "pins.h"
#include "target.h"

struct load_options {
	const char *dev;
	unsigned int xdp_flags;
	const char *mode_name;
	bool quiet;
	bool verbose;
	const char *pin_dir;	/* where instances pin their shared map */
	char **child_argv;	/* child_argv[0] is OUT */
	struct adapt_options adapt;
};

/* Everything the loader holds; released by loader_close(). */
struct loader {
	struct bpf_object *obj;
	char path[4096];	/* the variant that loaded (OUT.6.18.bpf.o or OUT.bpf.o) */
	int link_fd;
	int stats_fd;
	int shared_fd;		/* the attached variant's KOFF_MAP_SHARED, or -1 */
	struct pins pins;	/* its pin, loader/pins.c */
	char shared_pin[4096];
	int ncpus;
	int sigfd;
	sigset_t saved_mask;	/* the mask before we blocked signals: the child's */
	pid_t child;
	struct adapt adapt;	/* --adapt */
};

/* ---- Messages ------------------------------------------------------------- */

/* One line "koff-load: ..." on stderr; returns -1 for `return load_fail(...)`
 * (pins.h declares it for pins.c too). */
int load_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("koff-load: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -1;
}

/* libbpf's codes (LIBBPF_ERRNO__*, 4000 and up) are no errno: strerror
 * would say "Unknown error 4001".  err is negative or positive. */
static const char *libbpf_error(int err, char *buf, size_t size)
{
	if (libbpf_strerror(err < 0 ? err : -err, buf, size) < 0)
		snprintf(buf, size, "error %d", err < 0 ? -err : err);
	return buf;
}

/* libbpf's own messages add lines to ours; show them only with --verbose. */
static int libbpf_print_verbose(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int libbpf_print_silent(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: koff-load [--dev IFACE] [--mode skb|native] [--quiet] [--verbose] [--pin-dir DIR]\n"
		"                 [--adapt [--adapt-interval MS] [--adapt-userspace-ns N]] OUT [args...]\n"
		"  loads OUT.6.18.bpf.o, OUT.walked.bpf.o or OUT.bpf.o, attaches its XDP program to IFACE (default lo),\n"
		"  runs OUT with args; SIGUSR1 prints the counters\n"
		"  a program with shared state (map " KOFF_MAP_SHARED "): the map is pinned as\n"
		"  DIR/<instance>/" KOFF_MAP_SHARED " (DIR default /sys/fs/bpf/koff, on a BPF filesystem),\n"
		"  removed when koff-load exits, and given to OUT as the fd in $" KOFF_SHARED_ENV_FD "\n"
		"  --adapt: measure the offload every interval (default 1000 ms) and detach it\n"
		"  while it costs more kernel time than it saves userspace time\n");
}

static int parse_options(int argc, char **argv, struct load_options *opt)
{
	static const struct option longopts[] = {
		{ "dev", required_argument, NULL, 'd' },
		{ "mode", required_argument, NULL, 'm' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "pin-dir", required_argument, NULL, 'P' },
		{ "adapt", no_argument, NULL, 'A' },
		{ "adapt-interval", required_argument, NULL, 'A' },
		{ "adapt-userspace-ns", required_argument, NULL, 'A' },
		{ NULL, 0, NULL, 0 },
	};
	int c, index = 0;

	*opt = (struct load_options){ .dev = "lo", .xdp_flags = XDP_FLAGS_SKB_MODE,
				      .mode_name = "skb", .pin_dir = "/sys/fs/bpf/koff" };
	adapt_defaults(&opt->adapt);
	/* '+': stop at OUT, so OUT's own options are left alone. */
	while ((c = getopt_long(argc, argv, "+d:m:qvh", longopts, &index)) != -1) {
		switch (c) {
		case 'A':
			if (adapt_option(&opt->adapt, longopts[index].name, optarg) < 0)
				return -1;
			break;
		case 'd':
			opt->dev = optarg;
			break;
		case 'm':
			if (strcmp(optarg, "skb") == 0)
				opt->xdp_flags = XDP_FLAGS_SKB_MODE;
			else if (strcmp(optarg, "native") == 0)
				opt->xdp_flags = XDP_FLAGS_DRV_MODE;
			else
				return load_fail("--mode must be skb or native, not '%s'", optarg);
			opt->mode_name = optarg;
			break;
		case 'P':
			opt->pin_dir = optarg;
			break;
		case 'q':
			opt->quiet = true;
			break;
		case 'v':
			opt->verbose = true;
			break;
		case 'h':
			usage();
			exit(0);
		default:
			usage();
			return -1;
		}
	}
	if (optind >= argc) {
		usage();
		return -1;
	}
	opt->child_argv = argv + optind;
	return 0;
}

/* ---- BPF: load, attach, counters ------------------------------------------ */

/* Open one program file; 0, or a negative errno with why filled. */
static int open_file(struct loader *ld, const char *path, char *why, size_t len)
{
	char msg[256];
	int err;

	ld->obj = bpf_object__open_file(path, NULL);
	if (!ld->obj) {
		err = -errno;
		snprintf(why, len, "%s: cannot open BPF object: %s", path, libbpf_error(err, msg, sizeof msg));
		return err;
	}
	return 0;
}

/* Load the opened program; 0, or a negative errno with why filled (the
 * object is closed then). */
static int load_opened(struct loader *ld, const char *path, char *why, size_t len)
{
	char msg[256];
	int err = bpf_object__load(ld->obj);

	if (err) {
		snprintf(why, len, "%s: the kernel refused to load it: %s (--verbose shows the verifier log)",
			 path, libbpf_error(err, msg, sizeof msg));
		bpf_object__close(ld->obj);
		ld->obj = NULL;
	}
	return err;
}

/* The executable's SHA-256 that OUT.bpf.o was linked with, from its
 * KOFF_IDENTITY_SECTION; 0, or -1 with the message printed. */
static int read_identity(const char *out, const char *path, char hex[KOFF_SHA256_HEX + 1])
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = -1;
	Elf *elf = NULL;
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	Elf_Data *d;

	if (fd >= 0 && elf_version(EV_CURRENT) != EV_NONE)
		elf = elf_begin(fd, ELF_C_READ, NULL);
	while (elf && elf_getshdrstrndx(elf, &shstrndx) == 0 && (scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		const char *name;

		if (!gelf_getshdr(scn, &sh) || !(name = elf_strptr(elf, shstrndx, sh.sh_name)) ||
		    strcmp(name, KOFF_IDENTITY_SECTION))
			continue;
		d = elf_getdata(scn, NULL);
		if (d && d->d_size >= strlen(KOFF_IDENTITY_KEY) + KOFF_SHA256_HEX &&
		    !memcmp(d->d_buf, KOFF_IDENTITY_KEY, strlen(KOFF_IDENTITY_KEY))) {
			memcpy(hex, (char *)d->d_buf + strlen(KOFF_IDENTITY_KEY), KOFF_SHA256_HEX);
			hex[KOFF_SHA256_HEX] = 0;
			rc = 0;
		}
		break;
	}
	if (elf)
		elf_end(elf);
	if (fd >= 0)
		close(fd);
	if (rc)
		load_fail("%s carries no identity of the executable it was linked with (%s): link %s again "
		     "with koff-link", path, KOFF_IDENTITY_SECTION, out);
	return rc;
}

/* OUT.bpf.o must come from the same koff-link run as OUT: a program of
 * another build would answer requests with another server's logic. */
static int check_pairing(const char *out, const char *path)
{
	char want[KOFF_SHA256_HEX + 1], have[KOFF_SHA256_HEX + 1];
	int err;

	if (read_identity(out, path, want) < 0)
		return -1;
	err = koff_sha256_file(out, have);
	if (err)
		return load_fail("%s: cannot read: %s", out, strerror(-err));
	if (strcmp(want, have))
		return load_fail("%s does not belong to %s: it was linked with an executable of SHA-256 "
			    "%.12s..., %s is %.12s...; link them again together with koff-link",
			    path, out, want, out, have);
	return 0;
}

/* Whether the running kernel has every feature of the fast variant's
 * target.  Its load succeeding is not enough: a verifier whose pruning in
 * loops is unsound (before 6.17) accepts the may_goto shape and can remove
 * a branch side it never walked (include/target.h, LOOP_MARKS).  When it
 * lacks one, `why` names it. */
static bool kernel_runs_fast_variant(char *why, size_t n)
{
	const struct kernel_target *fast = target_find(KOFF_FAST_VARIANT_TARGET);
	struct koff_error err = { 0 };
	enum koff_kfeature missing = KFEAT__COUNT;
	int rc = fast ? kernel_runs_target(fast, &missing, &err) : -ENOENT;

	if (rc < 0)
		snprintf(why, n, "cannot probe the kernel's features: %s", fast ? err.msg : "no such target");
	else if (rc == 0)
		snprintf(why, n, "this kernel lacks %s, which the %s variant needs", kfeature_name(missing),
			 KOFF_FAST_VARIANT_TARGET);
	return rc == 1;
}

/* The variants koff-link wrote beside OUT, fastest first (koff_abi.h).
 * Every one present must open and belong to OUT (a program of another
 * build, or a broken file, is refused outright: it is never silently
 * skipped); then the first the running kernel runs and accepts is loaded.
 * OUT.6.18.bpf.o needs sound may_goto loops and cpu v4
 * (kernel_runs_fast_variant); OUT.walked.bpf.o is the portable program with
 * loops the verifier walks, which an older verifier may refuse;
 * OUT.bpf.o loads on every supported kernel. */
#define NVARIANTS 3
static int open_and_load(struct loader *ld, const char *out, bool verbose)
{
	static const char *const suffixes[NVARIANTS] = { KOFF_FAST_VARIANT_SUFFIX, KOFF_WALKED_VARIANT_SUFFIX,
							 KOFF_PORTABLE_SUFFIX };
	struct bpf_object *objs[NVARIANTS] = { NULL };
	char paths[NVARIANTS][4096], why[4600] = "";
	int present = 0, rc = -1;

	for (int i = 0; i < NVARIANTS; i++) {
		if (snprintf(paths[i], sizeof paths[i], "%s%s", out, suffixes[i]) >= (int)sizeof paths[i]) {
			load_fail("%s: path too long", out);
			goto out;
		}
		if (access(paths[i], R_OK) < 0) {
			if (i == NVARIANTS - 1 && !present)
				snprintf(why, sizeof why, "%s: %s", paths[i], strerror(errno));
			continue;
		}
		if (open_file(ld, paths[i], why, sizeof why) < 0) {
			load_fail("%s", why);
			goto out;
		}
		objs[i] = ld->obj;
		ld->obj = NULL;
		present++;
		if (check_pairing(out, paths[i]) < 0)
			goto out;
	}
	for (int i = 0; i < NVARIANTS; i++) {
		if (!objs[i])
			continue;
		if (i == 0 && !kernel_runs_fast_variant(why, sizeof why)) {
			if (verbose)
				fprintf(stderr, "koff-load: %s: %s; trying the next variant\n", paths[i], why);
			continue;
		}
		ld->obj = objs[i];
		objs[i] = NULL;
		if (load_opened(ld, paths[i], why, sizeof why) == 0) {
			snprintf(ld->path, sizeof ld->path, "%s", paths[i]);
			rc = 0;
			goto out;
		}
		if (verbose && i < NVARIANTS - 1)
			fprintf(stderr, "koff-load: %s; trying the next variant\n", why);
	}
	load_fail("%s", why);
out:
	for (int i = 0; i < NVARIANTS; i++)
		bpf_object__close(objs[i]);
	return rc;
}

static int find_program_and_stats(struct loader *ld)
{
	struct bpf_program *prog = bpf_object__find_program_by_name(ld->obj, KOFF_PROG_NAME);
	struct bpf_map *stats = bpf_object__find_map_by_name(ld->obj, KOFF_MAP_STATS);

	if (!prog || bpf_program__type(prog) != BPF_PROG_TYPE_XDP)
		return load_fail("%s: no XDP program named %s", ld->path, KOFF_PROG_NAME);
	if (!stats || bpf_map__type(stats) != BPF_MAP_TYPE_PERCPU_ARRAY ||
	    bpf_map__value_size(stats) != sizeof(__u64) ||
	    bpf_map__max_entries(stats) < KOFF_STAT__COUNT)
		return load_fail("%s: no per-CPU array map %s with %d u64 counters",
			    ld->path, KOFF_MAP_STATS, KOFF_STAT__COUNT);
	ld->stats_fd = bpf_map__fd(stats);
	ld->ncpus = libbpf_num_possible_cpus();
	if (ld->ncpus <= 0)
		return load_fail("cannot count the possible CPUs: %s", strerror(-ld->ncpus));
	return bpf_program__fd(prog);
}

/* The attached variant's shared-state map, if it has one (the variant
 * that loaded: each variant has its own map).  It must be what OUT will
 * check (include/koff_abi.h); then it is pinned for this instance. */
static int find_and_pin_shared(struct loader *ld, const struct load_options *opt)
{
	struct bpf_map *m = bpf_object__find_map_by_name(ld->obj, KOFF_MAP_SHARED);

	if (!m)
		return 0;
	if (bpf_map__type(m) != BPF_MAP_TYPE_ARRAY || bpf_map__max_entries(m) != 1 ||
	    !(bpf_map__map_flags(m) & BPF_F_MMAPABLE) || bpf_map__value_size(m) % KOFF_SHARED_PAGE)
		return load_fail("%s: map %s is not a one-entry mmapable array of whole pages",
			    ld->path, KOFF_MAP_SHARED);
	ld->shared_fd = bpf_map__fd(m);
	if (pins_open(&ld->pins, opt->pin_dir, opt->quiet) < 0)
		return -1;
	return pins_add(&ld->pins, ld->shared_fd, KOFF_MAP_SHARED, ld->shared_pin, sizeof ld->shared_pin);
}

/* A BPF link, not a netlink attachment: it dies with our file descriptor,
 * so nothing stays attached whatever happens to this process. */
static int attach_xdp(struct loader *ld, int prog_fd, const struct load_options *opt)
{
	LIBBPF_OPTS(bpf_link_create_opts, lopts, .flags = opt->xdp_flags);
	unsigned int ifindex = if_nametoindex(opt->dev);

	if (ifindex == 0)
		return load_fail("no such network device: %s", opt->dev);
	ld->link_fd = bpf_link_create(prog_fd, (int)ifindex, BPF_XDP, &lopts);
	if (ld->link_fd < 0) {
		char msg[256];

		return load_fail("cannot attach %s to %s in %s mode: %s", KOFF_PROG_NAME,
			    opt->dev, opt->mode_name, libbpf_error(errno, msg, sizeof msg));
	}
	return 0;
}

/* Prints every counter, summed over the CPUs, on one line. */
static void print_counters(const struct loader *ld, const char *when)
{
	__u64 percpu[ld->ncpus];
	char line[1024];
	size_t used = 0;

	for (__u32 key = 0; key < KOFF_STAT__COUNT; key++) {
		__u64 sum = 0;

		if (bpf_map_lookup_elem(ld->stats_fd, &key, percpu) == 0)
			for (int cpu = 0; cpu < ld->ncpus; cpu++)
				sum += percpu[cpu];
		used += (size_t)snprintf(line + used, sizeof line - used, " %s=%llu",
					 koff_stat_name(key), (unsigned long long)sum);
		if (used >= sizeof line)
			break;
	}
	fprintf(stderr, "koff-load: counters (%s):%s\n", when, line);
}

/* ---- The child ------------------------------------------------------------ */

/* Blocks the signals we handle and routes them to a signalfd.  The child
 * gets the original mask back before exec. */
static int open_signal_fd(struct loader *ld)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGALRM);	/* --adapt's interval timer */
	if (sigprocmask(SIG_BLOCK, &mask, &ld->saved_mask) < 0)
		return load_fail("sigprocmask: %s", strerror(errno));
	ld->sigfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (ld->sigfd < 0)
		return load_fail("signalfd: %s", strerror(errno));
	return 0;
}

/* In the child: the shared map as the one fd OUT inherits from us (every
 * other fd of ours is close-on-exec), named in KOFF_SHARED_ENV_FD; without
 * a shared map, no such variable (not even one koff-load inherited). */
static int pass_shared_map(const struct loader *ld)
{
	char num[16];
	int fd;

	if (ld->shared_fd < 0)
		return unsetenv(KOFF_SHARED_ENV_FD);
	fd = fcntl(ld->shared_fd, F_DUPFD, 3);	/* a dup is not close-on-exec */
	if (fd < 0)
		return -1;
	snprintf(num, sizeof num, "%d", fd);
	return setenv(KOFF_SHARED_ENV_FD, num, 1);
}

/* In the child: exec OUT, or report errno through the close-on-exec pipe. */
static void exec_child(const struct loader *ld, char **argv, int report_fd, pid_t parent)
{
	int err;

	/* The server goes when the loader goes (its offload is gone already). */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(127);
	sigprocmask(SIG_SETMASK, &ld->saved_mask, NULL);
	if (pass_shared_map(ld) == 0)
		execv(argv[0], argv);
	err = errno;
	if (write(report_fd, &err, sizeof err) < 0)
		_exit(127);
	_exit(127);
}

/* Orphans of OUT (a daemonising helper, a worker whose parent died) come
 * to us instead of to init, and are reaped with OUT: koff-load leaves no
 * zombie behind, whatever init does. */
static int become_subreaper(void)
{
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		return load_fail("prctl(PR_SET_CHILD_SUBREAPER): %s", strerror(errno));
	return 0;
}

/* Forks and execs OUT; returns 0 once the exec has succeeded. */
static int start_child(struct loader *ld, char **argv)
{
	int pipefd[2], err = 0;
	ssize_t n;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return load_fail("pipe: %s", strerror(errno));
	pid_t parent = getpid();
	ld->child = fork();
	if (ld->child < 0) {
		close(pipefd[0]);
		close(pipefd[1]);
		return load_fail("fork: %s", strerror(errno));
	}
	if (ld->child == 0)
		exec_child(ld, argv, pipefd[1], parent);
	close(pipefd[1]);
	do
		n = read(pipefd[0], &err, sizeof err);	/* EOF: exec succeeded */
	while (n < 0 && errno == EINTR);
	close(pipefd[0]);
	if (n > 0) {
		waitpid(ld->child, NULL, 0);
		ld->child = 0;
		return load_fail("cannot run %s: %s", argv[0], strerror(err));
	}
	return 0;
}

static int exit_code_of(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 1;
}

/* Reaps every child that has exited: OUT, and the orphans of OUT that
 * came to us as subreaper.  True when OUT was among them (*status is its). */
static bool reap_children(const struct loader *ld, int *status)
{
	bool child_done = false;
	int st;
	pid_t pid;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
		if (pid == ld->child) {
			*status = st;
			child_done = true;
		}
	return child_done;
}

/* Serves signals until the child exits; returns its exit code. */
static int supervise(struct loader *ld)
{
	for (;;) {
		struct signalfd_siginfo si;
		int status;

		if (read(ld->sigfd, &si, sizeof si) != (ssize_t)sizeof si) {
			if (errno == EINTR)
				continue;
			load_fail("reading signals: %s", strerror(errno));
			kill(ld->child, SIGTERM);
			waitpid(ld->child, &status, 0);
			return exit_code_of(status);
		}
		switch (si.ssi_signo) {
		case SIGUSR1:
			print_counters(ld, "now");
			break;
		case SIGALRM:
			adapt_tick(&ld->adapt);
			break;
		case SIGCHLD:
			if (reap_children(ld, &status))
				return exit_code_of(status);
			break;
		default:	/* SIGINT, SIGTERM, SIGHUP */
			kill(ld->child, (int)si.ssi_signo);
			break;
		}
	}
}

/* --adapt: hand the attachment over to loader/adapt.c. */
static int start_adapting(struct loader *ld, const struct load_options *opt, int prog_fd)
{
	struct adapt_attach at = { .prog_fd = prog_fd, .ifindex = (int)if_nametoindex(opt->dev),
				   .xdp_flags = opt->xdp_flags, .link_fd = &ld->link_fd, .dev = opt->dev };

	return adapt_start(&ld->adapt, &opt->adapt, &at, ld->stats_fd, ld->ncpus);
}

static void loader_close(struct loader *ld)
{
	if (ld->link_fd >= 0)
		close(ld->link_fd);	/* detaches the program */
	pins_close(&ld->pins);
	bpf_object__close(ld->obj);
	if (ld->sigfd >= 0)
		close(ld->sigfd);
}

int main(int argc, char **argv)
{
	struct load_options opt;
	struct loader ld = { .link_fd = -1, .stats_fd = -1, .sigfd = -1, .shared_fd = -1,
			     .pins = { .keeper_fd = -1 } };
	const char *out;
	int prog_fd, code;

	if (parse_options(argc, argv, &opt) < 0)
		return 2;
	out = opt.child_argv[0];
	libbpf_set_print(opt.verbose ? libbpf_print_verbose : libbpf_print_silent);
	if (open_and_load(&ld, out, opt.verbose) < 0 ||
	    (prog_fd = find_program_and_stats(&ld)) < 0 ||
	    find_and_pin_shared(&ld, &opt) < 0 ||
	    attach_xdp(&ld, prog_fd, &opt) < 0 ||
	    open_signal_fd(&ld) < 0 || become_subreaper() < 0 ||
	    start_child(&ld, opt.child_argv) < 0) {
		loader_close(&ld);
		return 1;
	}
	if (!opt.quiet)
		fprintf(stderr, "koff-load: %s from %s attached to %s (%s mode), running %s (pid %d)\n",
			KOFF_PROG_NAME, ld.path, opt.dev, opt.mode_name, out, (int)ld.child);
	if (!opt.quiet && ld.shared_fd >= 0)
		fprintf(stderr, "koff-load: shared state %s pinned as %s, passed in $%s\n",
			KOFF_MAP_SHARED, ld.shared_pin, KOFF_SHARED_ENV_FD);
	if (start_adapting(&ld, &opt, prog_fd) < 0) {
		kill(ld.child, SIGTERM);
		waitpid(ld.child, NULL, 0);
		loader_close(&ld);
		return 1;
	}
	code = supervise(&ld);
	adapt_stop(&ld.adapt);
	print_counters(&ld, "exit");
	loader_close(&ld);
	return code;
}
