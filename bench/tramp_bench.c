/* tramp_bench - what koff's trampolines cost a userspace writer, measured
 * directly (bench/kvcache.sh).  A server-shaped program: handle_request
 * reads a global counter, bump() writes it.  main first waits for input
 * (a read of stdin), so it is no root: bump() is, and each call of it is
 * one writer section once koff-link has patched it.
 *   tramp_bench N      calls bump() N times, prints "ns_per_call X counter N"
 * Built with gcc -O2 -g -c like the samples; linked plain (cc) or by
 * koff-link, run alone or under koff-load (the map makes the sections real). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static unsigned long long counter;

long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp,
		    unsigned long cap)
{
	(void)req;
	if (len == 0 || cap < sizeof counter)
		return -1;
	memcpy(resp, &counter, sizeof counter);
	return sizeof counter;
}

__attribute__((noinline)) void bump(void)
{
	counter++;
}

/* A reader root: main itself touches no global (it waits for input). */
__attribute__((noinline)) unsigned long long current(void)
{
	return counter;
}

int main(int argc, char **argv)
{
	struct timespec t0, t1;
	char c;
	long n = argc > 1 ? atol(argv[1]) : 10000000;

	if (read(0, &c, 1) < 0)	/* a server waits for its input first */
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < n; i++)
		bump();
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("ns_per_call %.2f counter %llu\n",
	       ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / (double)n, current());
	return 0;
}
