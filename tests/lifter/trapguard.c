/* trapguard - lets koffdiff run a native handler that may trap.
 *
 * Linked into koffdiff next to a handler that defines the global label
 * lifter_trap_recover (see div.c).  A SIGFPE in the handler (a division by
 * zero or INT_MIN / -1) resumes at that label with rax = TRAPPED_RESULT, a
 * return value larger than any cap: koffdiff then accepts only XDP_PASS
 * for the request, so a trapping division must fall back in XDP - anything
 * else is reported as a MISMATCH. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <ucontext.h>

#define TRAPPED_RESULT (1ll << 40)

void lifter_trap_recover(void);

static void on_sigfpe(int sig, siginfo_t *info, void *uctx)
{
	ucontext_t *uc = uctx;

	(void)sig;
	(void)info;
	uc->uc_mcontext.gregs[REG_RAX] = TRAPPED_RESULT;
	uc->uc_mcontext.gregs[REG_RIP] = (greg_t)(uintptr_t)lifter_trap_recover;
}

__attribute__((constructor)) static void install_trapguard(void)
{
	struct sigaction sa = { .sa_sigaction = on_sigfpe, .sa_flags = SA_SIGINFO | SA_NODEFER };

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGFPE, &sa, NULL)) {
		perror("trapguard: sigaction");
		exit(3);
	}
}
