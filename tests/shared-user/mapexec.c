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
 *     --kernel MODE A B  while OUT runs, a thread plays the XDP program in
 *                     MODE lock or seq (include/koff_abi.h), or none (no
 *                     protocol: the control), reading the u64s at bytes A
 *                     and B, which OUT keeps equal outside its sections;
 *                     prints "kernel runs=R fallbacks=F violations=V"
 * Output: OUT's own output, then "status=N magic=M seq=S writers=W lock=L"
 * and the --show lines. */
#include <bpf/bpf.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "koff_abi.h"

struct kernel_sim {
	const char *mode;
	volatile uint64_t *a, *b;
	struct koff_shared_ctl *ctl;
	volatile int stop;
	unsigned long runs, fallbacks, violations;
};

/* Two reads of the pair with time in between, as a handler run would. */
static bool pair_read(struct kernel_sim *k, uint64_t *a, uint64_t *b)
{
	uint64_t a1 = *k->a, b1;

	for (volatile int i = 0; i < 100; i++)
		;
	b1 = *k->b;
	*a = a1;
	*b = b1;
	return a1 == b1;
}

static void sim_lock(struct kernel_sim *k)
{
	uint64_t zero = 0, a, b;

	if (!__atomic_compare_exchange_n(&k->ctl->lock, &zero, KOFF_SHARED_LOCK_KERNEL, 0, __ATOMIC_ACQUIRE,
					 __ATOMIC_RELAXED)) {
		k->fallbacks++;
		return;
	}
	if (!pair_read(k, &a, &b) || *k->a != a || *k->b != b)
		k->violations++;
	k->runs++;
	__atomic_store_n(&k->ctl->lock, 0, __ATOMIC_RELEASE);
}

static void sim_seq(struct kernel_sim *k)
{
	uint64_t seq = __atomic_load_n(&k->ctl->seq, __ATOMIC_SEQ_CST), a, b;
	bool same;

	if (__atomic_load_n(&k->ctl->writers, __ATOMIC_SEQ_CST)) {
		k->fallbacks++;
		return;
	}
	same = pair_read(k, &a, &b);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&k->ctl->seq, __ATOMIC_SEQ_CST) != seq ||
	    __atomic_load_n(&k->ctl->writers, __ATOMIC_SEQ_CST)) {
		k->fallbacks++;
		return;
	}
	k->violations += !same;
	k->runs++;
}

static void *kernel_thread(void *arg)
{
	struct kernel_sim *k = arg;
	uint64_t a, b;

	while (!k->stop) {
		if (__atomic_load_n(&k->ctl->magic, __ATOMIC_ACQUIRE) != KOFF_SHARED_MAGIC)
			continue;	/* the kernel side falls back until OUT set it */
		if (!strcmp(k->mode, "lock")) {
			sim_lock(k);
		} else if (!strcmp(k->mode, "seq")) {
			sim_seq(k);
		} else {
			k->violations += !pair_read(k, &a, &b);
			k->runs++;
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct kernel_sim sim = { 0 };
	pthread_t kthread;
	long ka = -1, kb = -1;
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
		else if (!strcmp(argv[i], "--kernel") && i + 3 < argc) {
			sim.mode = argv[++i];
			ka = strtol(argv[++i], NULL, 0);
			kb = strtol(argv[++i], NULL, 0);
		} else if (!strcmp(argv[i], "--magic"))
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
	if (sim.mode) {
		sim.a = (volatile uint64_t *)(region + ka);
		sim.b = (volatile uint64_t *)(region + kb);
		sim.ctl = (struct koff_shared_ctl *)(region + size - KOFF_SHARED_CTL_SIZE);
		if (!region || pthread_create(&kthread, NULL, kernel_thread, &sim)) {
			fprintf(stderr, "mapexec: cannot start the kernel thread\n");
			return 2;
		}
	}
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
	if (sim.mode) {
		sim.stop = 1;
		pthread_join(kthread, NULL);
	}
	printf("status=%d", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	if (region) {
		const struct koff_shared_ctl *c = (const void *)(region + size - KOFF_SHARED_CTL_SIZE);

		printf(" magic=%s seq=%llu writers=%llu lock=%llu", c->magic == KOFF_SHARED_MAGIC ? "set" : "unset",
		       c->seq, c->writers, c->lock);
	}
	printf("\n");
	if (sim.mode)
		printf("kernel runs=%lu fallbacks=%lu violations=%lu\n", sim.runs, sim.fallbacks, sim.violations);
	for (int k = 0; region && k < nshows; k++) {
		uint64_t v;

		memcpy(&v, region + shows[k], 8);
		printf("%ld=%llu\n", shows[k], (unsigned long long)v);
	}
	return 0;
}
