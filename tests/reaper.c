/* reaper.c - runs a command the way init or a service manager does for
 * orphans: as a child subreaper that reaps every process reparented to it.
 * tests/t-loader.sh runs koff-load under it to check who reaps OUT after
 * koff-load was killed (this machine's PID 1 may not reap at all).
 *   reaper COMMAND [ARGS...]
 * prints "reaper: started PID" and, for each process it reaps,
 * "reaper: reaped PID" on stderr; exits once no child is left, with the
 * command's exit status (128 + signal if it was killed). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int status, code = 127;
	pid_t cmd, pid;

	if (argc < 2 || prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
		fprintf(stderr, "usage: reaper COMMAND [ARGS...]\n");
		return 2;
	}
	cmd = fork();
	if (cmd == 0) {
		execvp(argv[1], argv + 1);
		_exit(127);
	}
	fprintf(stderr, "reaper: started %d\n", (int)cmd);
	while ((pid = wait(&status)) > 0 || errno == EINTR) {
		if (pid <= 0)
			continue;
		fprintf(stderr, "reaper: reaped %d\n", (int)pid);
		if (pid == cmd)
			code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	}
	return code;
}
