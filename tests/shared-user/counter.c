/* counter.c - a test program for OUT's shared-state runtime (tests/t-shared-*.sh).
 * Commands on stdin (main waits there, so it is no root); every function
 * that touches the globals is entered from main or from a signal:
 *   req TEXT   handle_request (a writer root), prints its reply
 *   n N        N requests
 *   peek       peek_hits (a reader root)
 *   outer      outer, a writer root that calls inner, also a root
 *   sig        raise(SIGUSR1): on_usr1 is a root (its address is taken)
 *   sigin      a signal inside a writer section
 *   float X    scale(X): a root with a double argument and result
 *   fork       a child runs inner (+10 to its own copy of hits) and exits
 *   reexec     OUT execs itself with the argument "after" (same process:
 *              inner, print hits, exit)
 *   spawn      a child execs OUT with "after" (a new program: fresh globals)
 *   threads N M  N threads, each M pair_bump calls (a writer root that keeps
 *              pair_a == pair_b outside its section) */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

long hits;			/* .bss */
long total = 100;		/* .data: its initial value is copied in */
static double factor = 1.5;	/* .data */

static unsigned long put_number(unsigned char *out, unsigned long cap, long v)
{
	char tmp[24];
	unsigned long n = 0, k = 0;

	if (v < 0)
		v = -v;
	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10) && n < sizeof(tmp));
	while (n && k < cap)
		out[k++] = (unsigned char)tmp[--n];
	return k;
}

__attribute__((noinline)) long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp, unsigned long cap)
{
	unsigned long k;

	(void)req;
	hits++;
	total += (long)len;
	k = put_number(resp, cap, hits);
	if (k < cap)
		resp[k++] = ' ';
	return (long)(k + put_number(resp + k, cap - k, total));
}

__attribute__((noinline)) long peek_hits(void)
{
	return hits;
}

__attribute__((noinline)) void inner(void)
{
	hits += 10;
}

__attribute__((noinline)) void outer(void)
{
	hits += 100;
	inner();
}

static void on_usr1(int sig)
{
	(void)sig;
	hits += 1000;
}

__attribute__((noinline)) void bump_and_raise(void)
{
	hits += 1;
	raise(SIGUSR1);
}

__attribute__((noinline)) double scale(double x)
{
	return x * factor + (double)hits;
}

long pair_a, pair_b;

/* Atomic: the threads do not lose each other's increments (the program
 * itself is race-free), so the pair is equal whenever no section is open. */
__attribute__((noinline)) void pair_bump(void)
{
	__atomic_fetch_add(&pair_a, 1, __ATOMIC_RELAXED);
	for (volatile int i = 0; i < 2000; i++)
		;
	__atomic_fetch_add(&pair_b, 1, __ATOMIC_RELAXED);
}

/* poll() waits (for nothing): each pair_bump is a section of its own. */
static void *worker(void *arg)
{
	for (long m = (long)arg; m > 0; m--) {
		pair_bump();
		poll(NULL, 0, 0);
	}
	return NULL;
}

static void run_threads(const char *args)
{
	pthread_t t[8];
	long n = 0, m = 0;

	if (sscanf(args, "%ld %ld", &n, &m) != 2 || n < 1 || n > 8)
		return;
	for (long i = 0; i < n; i++)
		pthread_create(&t[i], NULL, worker, (void *)m);
	for (long i = 0; i < n; i++)
		pthread_join(t[i], NULL);
}

int main(int argc, char **argv)
{
	char line[256];
	unsigned char resp[64];

	if (argc > 1 && !strcmp(argv[1], "after")) {
		inner();
		printf("after exec: %ld\n", peek_hits());
		return 0;
	}

	signal(SIGUSR1, on_usr1);
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\n")] = 0;
		if (!strncmp(line, "req ", 4)) {
			long n = handle_request((const unsigned char *)line + 4, strlen(line + 4), resp, sizeof(resp));
			printf("%.*s\n", (int)n, resp);
		} else if (!strncmp(line, "n ", 2)) {
			for (long i = atol(line + 2); i > 0; i--)
				handle_request((const unsigned char *)"x", 1, resp, sizeof(resp));
		} else if (!strcmp(line, "peek")) {
			printf("%ld\n", peek_hits());
		} else if (!strcmp(line, "outer")) {
			outer();
		} else if (!strcmp(line, "inner")) {
			inner();
		} else if (!strcmp(line, "sig")) {
			raise(SIGUSR1);
		} else if (!strcmp(line, "sigin")) {
			bump_and_raise();
		} else if (!strcmp(line, "fork")) {
			pid_t pid = fork();

			if (pid == 0) {
				inner();
				_exit(0);
			}
			waitpid(pid, NULL, 0);
		} else if (!strcmp(line, "reexec")) {
			fflush(stdout);
			execl("/proc/self/exe", "counter", "after", (char *)NULL);
			return 2;
		} else if (!strcmp(line, "spawn")) {
			pid_t pid = fork();

			fflush(stdout);
			if (pid == 0) {
				execl("/proc/self/exe", "counter", "after", (char *)NULL);
				_exit(2);
			}
			waitpid(pid, NULL, 0);
		} else if (!strncmp(line, "threads ", 8)) {
			run_threads(line + 8);
		} else if (!strncmp(line, "float ", 6)) {
			printf("%.3f\n", scale(atof(line + 6)));
		}
		fflush(stdout);
	}
	return 0;
}
