/* pins.c - per-instance pins of koff-load under bpffs (see pins.h). */
#include "pins.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>

/* Field 22 of /proc/PID/stat (start time in clock ticks since boot); 0
 * when the process does not exist. */
static unsigned long long start_time_of(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long t = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	/* The command name may hold spaces and parentheses: fields count from the last ')'. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
			 &t) != 1)
		return 0;
	return t;
}

static unsigned long pid_namespace(void)
{
	struct stat st;

	return stat("/proc/self/ns/pid", &st) == 0 ? (unsigned long)st.st_ino : 0;
}

/* Removes DIR and the pins in it (bpffs holds no subdirectories of ours). */
static int remove_instance_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return errno == ENOENT ? 0 : -1;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	return rmdir(dir) == 0 || errno == ENOENT ? 0 : -1;
}

/* Removes the directories of instances of this PID namespace whose
 * koff-load is gone.  Other namespaces' instances cannot be judged from
 * here: they are left alone.  Other names are not ours: left too. */
static void reap_dead_instances(const char *base, unsigned long ns, bool quiet)
{
	DIR *d = opendir(base);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		unsigned long ens;
		unsigned long long start;
		int pid, used = 0;
		char path[PATH_MAX];

		if (sscanf(e->d_name, "%lu-%d-%llu%n", &ens, &pid, &start, &used) != 3 ||
		    e->d_name[used] || ens != ns || pid <= 0)
			continue;
		if (start_time_of(pid) == start)
			continue;	/* that koff-load still runs */
		if (snprintf(path, sizeof path, "%s/%s", base, e->d_name) >= (int)sizeof path)
			continue;
		if (remove_instance_dir(path) == 0 && !quiet)
			fprintf(stderr, "koff-load: removed the pins of a koff-load that is gone: %s\n", path);
	}
	closedir(d);
}

static bool on_bpffs(const char *path)
{
	struct statfs fs;

	return statfs(path, &fs) == 0 && fs.f_type == BPF_FS_MAGIC;
}

/* BASE must be (or be created) on a BPF file system: pins live nowhere else. */
static int check_base(const char *base)
{
	char parent[PATH_MAX], *slash;
	int err = 0;

	snprintf(parent, sizeof parent, "%s", base);
	slash = strrchr(parent, '/');
	if (slash && slash != parent)
		*slash = 0;
	if (mkdir(base, 0700) < 0 && errno != EEXIST)
		err = errno;
	else if (on_bpffs(base))
		return 0;
	else
		rmdir(base);	/* ours if we just made it and it is empty; else it stays */
	if (err && (on_bpffs(parent) || access(parent, F_OK) < 0))
		return load_fail("cannot create %s: %s", base, strerror(err));
	return load_fail("%s is not on a BPF file system, so the shared map cannot be pinned there: "
			 "mount one (mount -t bpf bpf /sys/fs/bpf; ip netns exec hides the host's) "
			 "or give --pin-dir DIR on one", base);
}

/* The keeper: waits for EOF on its pipe (koff-load exited, however), then
 * removes the instance directory.  It holds no other fd: no BPF object, no
 * link, so it keeps nothing alive. */
static void run_keeper(const char *dir, int fd)
{
	char c;

	static const int ignored[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGPIPE };

	prctl(PR_SET_NAME, "koff-load-pins");
	/* Signals to koff-load's process group (^C, SIGUSR1 for counters) are
	 * koff-load's to act on: the keeper outlives them. */
	for (unsigned i = 0; i < sizeof ignored / sizeof ignored[0]; i++)
		signal(ignored[i], SIG_IGN);
	if (fd > 3)
		close_range(3, (unsigned int)fd - 1, 0);
	close_range((unsigned int)fd + 1, ~0u, 0);
	while (read(fd, &c, 1) != 0 && errno == EINTR)
		;
	remove_instance_dir(dir);
	_exit(0);
}

static int start_keeper(struct pins *p)
{
	int pipefd[2];
	sigset_t all, saved;

	/* O_CLOEXEC: OUT must not hold the write end, or the keeper would
	 * wait for OUT instead of koff-load. */
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return load_fail("pipe: %s", strerror(errno));
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &saved);
	p->keeper = fork();
	if (p->keeper == 0) {
		close(pipefd[1]);
		sigprocmask(SIG_SETMASK, &saved, NULL);
		run_keeper(p->dir, pipefd[0]);
	}
	sigprocmask(SIG_SETMASK, &saved, NULL);
	close(pipefd[0]);
	if (p->keeper < 0) {
		p->keeper = 0;
		close(pipefd[1]);
		return load_fail("fork: %s", strerror(errno));
	}
	p->keeper_fd = pipefd[1];
	return 0;
}

int pins_open(struct pins *p, const char *base, bool quiet)
{
	unsigned long ns = pid_namespace();
	unsigned long long start = start_time_of(getpid());

	*p = (struct pins){ .keeper_fd = -1 };
	if (!ns || !start)
		return load_fail("cannot read this process's PID namespace and start time from /proc");
	if (check_base(base) < 0)
		return -1;
	reap_dead_instances(base, ns, quiet);
	if (snprintf(p->dir, sizeof p->dir, "%s/%lu-%d-%llu", base, ns, (int)getpid(), start) >=
	    (int)sizeof p->dir) {
		p->dir[0] = 0;
		return load_fail("%s: path too long", base);
	}
	if (mkdir(p->dir, 0700) < 0) {
		int err = errno;

		p->dir[0] = 0;
		return load_fail("cannot create the pin directory %s/...: %s", base, strerror(err));
	}
	if (start_keeper(p) < 0) {
		pins_close(p);
		return -1;
	}
	return 0;
}

int pins_add(struct pins *p, int map_fd, const char *name, char *path, size_t len)
{
	if (snprintf(path, len, "%s/%s", p->dir, name) >= (int)len)
		return load_fail("%s: path too long", p->dir);
	if (bpf_obj_pin(map_fd, path) < 0)
		return load_fail("cannot pin the map %s as %s: %s", name, path, strerror(errno));
	if (chmod(path, 0600) < 0)
		return load_fail("chmod %s: %s", path, strerror(errno));
	return 0;
}

void pins_close(struct pins *p)
{
	if (p->dir[0] && remove_instance_dir(p->dir) < 0)
		fprintf(stderr, "koff-load: cannot remove %s: %s\n", p->dir, strerror(errno));
	p->dir[0] = 0;
	if (p->keeper_fd >= 0)
		close(p->keeper_fd);	/* EOF: the keeper finds nothing left and exits */
	p->keeper_fd = -1;
	if (p->keeper > 0)
		waitpid(p->keeper, NULL, 0);
	p->keeper = 0;
}
