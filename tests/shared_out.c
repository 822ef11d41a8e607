/* shared_out - a stand-in for an OUT linked with shared state, for
 * tests/t-shared-loader.sh: reports what koff-load handed it and proves the
 * map is the one pinned.
 *   shared_out STOPFILE MARK
 * Prints "fd N TARGET" for each open fd, then "shared fd=N type=T entries=E
 * flags=F value_size=V name=NAME" (or "shared none"), writes MARK (a
 * number) into the first 8 bytes of the mapped region, prints "ready", and
 * exits 0 once STOPFILE exists (7 on SIGTERM). */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "koff_abi.h"

static void on_term(int sig)
{
	(void)sig;
	_exit(7);
}

static void list_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int self = dirfd(d);

	while ((e = readdir(d))) {
		char path[300], target[256];
		ssize_t n;

		if (e->d_name[0] == '.' || atoi(e->d_name) == self)
			continue;
		snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
		n = readlink(path, target, sizeof target - 1);
		target[n < 0 ? 0 : n] = 0;
		printf("fd %s %s\n", e->d_name, target);
	}
	closedir(d);
}

int main(int argc, char **argv)
{
	const char *env = getenv(KOFF_SHARED_ENV_FD);
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof info;
	unsigned long long *region;
	int fd;

	if (argc != 3)
		return 2;
	signal(SIGTERM, on_term);
	list_fds();
	if (!env) {
		printf("shared none\nready\n");
		fflush(stdout);
	} else {
		fd = atoi(env);
		if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0) {
			printf("shared fd=%d not a BPF object\n", fd);
			return 1;
		}
		printf("shared fd=%d type=%u entries=%u flags=%#x value_size=%u name=%s\n", fd, info.type,
		       info.max_entries, info.map_flags, info.value_size, info.name);
		region = mmap(NULL, info.value_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (region == MAP_FAILED) {
			perror("mmap");
			return 1;
		}
		region[0] = strtoull(argv[2], NULL, 0);
		printf("ready\n");
		fflush(stdout);
	}
	while (access(argv[1], F_OK) != 0)
		usleep(20000);
	return 0;
}
