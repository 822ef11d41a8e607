/* koff_calibrate.h - what one request costs a UDP server in userspace on
 * this machine, measured: the cost model of koff-link's --trace decision
 * and koff-load's adaptive mode both weigh the kernel time of the offload
 * against it.  Shared by both tools (src/calibrate.c), no koff-link
 * internals. */
#ifndef KOFF_CALIBRATE_H
#define KOFF_CALIBRATE_H

struct userspace_cost {
	double ns;		/* per request: one datagram up to a socket and one reply down */
	int rounds;		/* ping-pong rounds timed (0: not measured) */
	char how[200];		/* how the figure was obtained, for reports */
};

/* Measures, quickly (about 0.1 s), the userspace path of a datagram: UDP
 * ping-pong between two sockets on lo in a private network namespace (a
 * forked child, so the caller's namespace is untouched), each round a
 * sendto -> recvfrom -> copy -> sendto -> recvfrom; a server's share is
 * half a round.  Without the rights to make a namespace, an AF_UNIX
 * datagram socketpair stands in (cheaper than UDP: the gain is then
 * underestimated), and `how` says so.  KOFF_USERSPACE_NS=N in the
 * environment replaces the measurement (reproducible experiments).
 * Returns 0 or a negative errno. */
int userspace_calibrate(struct userspace_cost *c);

#endif
