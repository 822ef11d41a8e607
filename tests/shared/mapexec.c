/* mapexec.c - runs a koff-linked OUT against a koff_shared-like map
 * (tests/t-shared-*.sh), as koff-load will: a one-entry BPF_F_MMAPABLE
 * array, its fd inherited in KOFF_SHARED_FD.  Afterwards it prints the
 * control block and the u64 words asked for, from the map itself.
 *
 *   mapexec [options] -- OUT [ARGS...]
 *     --size N        value size (default 4096)
 *     --type hash     a hash map instead (a wrong map)
 *     --no-mmap       without BPF_F_MMAPABLE
 *     --set OFF=V     u64 V at byte OFF before OUT starts (repeatable)
 *     --magic         set ctl.magic (the region already initialised)
 *     --fd VALUE      put VALUE in KOFF_SHARED_FD instead of the map's fd
 *     --show OFF      print "OFF=V" for the u64 at byte OFF afterwards
 * Output: OUT's own output, then "status=N magic=M seq=S writers=W lock=L"
 * and the --show lines. */
#include <bpf/bpf.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "koff_abi.h"

int main(int argc, char **argv)
{
	unsigned size = 4096, flags = BPF_F_MMAPABLE;
	enum bpf_map_type type = BPF_MAP_TYPE_ARRAY;
	const char *fdtext = NULL;
	long shows[32], sets[32][2];
	int nshows = 0, nsets = 0, magic = 0, i, fd, status;
	char fdbuf[16];
	uint8_t *region;
	pid_t pid;

	for (i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		if (!strcmp(argv[i], "--size") && i + 1 < argc)
			size = (unsigned)atol(argv[++i]);
		else if (!strcmp(argv[i], "--type") && i + 1 < argc && !strcmp(argv[++i], "hash"))
			type = BPF_MAP_TYPE_HASH, flags = 0;
		else if (!strcmp(argv[i], "--no-mmap"))
			flags = 0;
		else if (!strcmp(argv[i], "--magic"))
			magic = 1;
		else if (!strcmp(argv[i], "--fd") && i + 1 < argc)
			fdtext = argv[++i];
		else if (!strcmp(argv[i], "--show") && i + 1 < argc && nshows < 32)
			shows[nshows++] = strtol(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--set") && i + 1 < argc && nsets < 32 && strchr(argv[i + 1], '=')) {
			sets[nsets][0] = strtol(argv[++i], NULL, 0);
			sets[nsets++][1] = strtol(strchr(argv[i], '=') + 1, NULL, 0);
		} else {
			fprintf(stderr, "mapexec: bad option %s\n", argv[i]);
			return 2;
		}
	}
	if (i + 1 >= argc) {
		fprintf(stderr, "usage: mapexec [options] -- OUT [ARGS...]\n");
		return 2;
	}
	{
		LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = flags);
		fd = bpf_map_create(type, KOFF_MAP_SHARED, 4, size, 1, &opts);
	}
	if (fd < 0) {
		perror("mapexec: bpf_map_create");
		return 2;
	}
	region = flags & BPF_F_MMAPABLE ? mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : NULL;
	if (region == MAP_FAILED) {
		perror("mapexec: mmap");
		return 2;
	}
	for (int k = 0; region && k < nsets; k++)
		memcpy(region + sets[k][0], &sets[k][1], 8);
	if (region && magic)
		((struct koff_shared_ctl *)(region + size - KOFF_SHARED_CTL_SIZE))->magic = KOFF_SHARED_MAGIC;
	fd = fcntl(fd, F_DUPFD, 3);	/* libbpf's fds are O_CLOEXEC: OUT inherits this one */
	snprintf(fdbuf, sizeof(fdbuf), "%d", fd);
	setenv(KOFF_SHARED_ENV_FD, fdtext ? fdtext : fdbuf, 1);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		execv(argv[i + 1], argv + i + 1);
		perror("mapexec: exec");
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0) {
		perror("mapexec: fork");
		return 2;
	}
	printf("status=%d", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	if (region) {
		const struct koff_shared_ctl *c = (const void *)(region + size - KOFF_SHARED_CTL_SIZE);

		printf(" magic=%s seq=%llu writers=%llu lock=%llu", c->magic == KOFF_SHARED_MAGIC ? "set" : "unset",
		       c->seq, c->writers, c->lock);
	}
	printf("\n");
	for (int k = 0; region && k < nshows; k++) {
		uint64_t v;

		memcpy(&v, region + shows[k], 8);
		printf("%ld=%llu\n", shows[k], (unsigned long long)v);
	}
	return 0;
}
