/* calibrate.c - the userspace cost of a request on this machine, measured
 * (see include/koff_calibrate.h).  Also linked into koff-load. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "koff_calibrate.h"

#define WARMUP_ROUNDS 1000
#define BATCH_ROUNDS 2000
#define BATCHES 5
#define REQUEST_BYTES 64

struct pair {
	int server, client;
	struct sockaddr_storage server_addr, client_addr;
	socklen_t addr_len;
};

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int bring_lo_up(void)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc = 0;

	if (fd < 0)
		return -errno;
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		rc = -errno;
	ifr.ifr_flags |= IFF_UP;
	if (!rc && ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

static int udp_socket_on_lo(struct sockaddr_storage *addr, socklen_t *len)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval timeout = { .tv_sec = 1 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	*len = sizeof(sa);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)addr, len) < 0) {
		close(fd);
		return -errno;
	}
	return fd;
}

static int open_udp_pair(struct pair *p)
{
	socklen_t len;

	if (unshare(CLONE_NEWNET) < 0 || bring_lo_up() < 0)
		return -errno;
	p->server = udp_socket_on_lo(&p->server_addr, &p->addr_len);
	p->client = udp_socket_on_lo(&p->client_addr, &len);
	return p->server < 0 ? p->server : p->client < 0 ? p->client : 0;
}

static int open_unix_pair(struct pair *p)
{
	int fds[2];
	struct timeval timeout = { .tv_sec = 1 };

	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, fds) < 0)
		return -errno;
	p->server = fds[0];
	p->client = fds[1];
	p->addr_len = 0;	/* connected: sendto without an address */
	setsockopt(p->server, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
	setsockopt(p->client, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
	return 0;
}

/* One request and its reply, the server's part being recvfrom, a copy
 * (the stand-in handler), sendto to the address the request came from. */
static int one_round(const struct pair *p)
{
	unsigned char req[REQUEST_BYTES] = { 1 }, buf[2048], resp[2048];
	struct sockaddr_storage from;
	socklen_t fromlen = sizeof(from);
	ssize_t n;

	if (sendto(p->client, req, sizeof(req), 0, (const struct sockaddr *)&p->server_addr,
		   p->addr_len) < 0)
		return -errno;
	n = recvfrom(p->server, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fromlen);
	if (n < 0)
		return -errno;
	memcpy(resp, buf, (size_t)n);
	if (sendto(p->server, resp, (size_t)n, 0, p->addr_len ? (struct sockaddr *)&from : NULL,
		   p->addr_len ? fromlen : 0) < 0)
		return -errno;
	return recv(p->client, buf, sizeof(buf), 0) < 0 ? -errno : 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median over BATCHES of the ns per round. */
static int time_rounds(const struct pair *p, double *round_ns)
{
	double batch[BATCHES];
	int rc = 0;

	for (int i = 0; !rc && i < WARMUP_ROUNDS; i++)
		rc = one_round(p);
	for (int b = 0; !rc && b < BATCHES; b++) {
		double t0 = now_ns();

		for (int i = 0; !rc && i < BATCH_ROUNDS; i++)
			rc = one_round(p);
		batch[b] = (now_ns() - t0) / BATCH_ROUNDS;
	}
	if (rc)
		return rc;
	qsort(batch, BATCHES, sizeof(double), cmp_double);
	*round_ns = batch[BATCHES / 2];
	return 0;
}

struct child_result {
	int rc;
	int on_udp;
	double round_ns;
};

static void measure_in_child(int report_fd)
{
	struct pair p = { -1, -1, { 0 }, { 0 }, 0 };
	struct child_result r = { 0 };

	r.on_udp = open_udp_pair(&p) == 0;
	if (!r.on_udp) {
		if (p.server >= 0)
			close(p.server);
		if (p.client >= 0)
			close(p.client);
		r.rc = open_unix_pair(&p);
	}
	if (!r.rc)
		r.rc = time_rounds(&p, &r.round_ns);
	_exit(write(report_fd, &r, sizeof(r)) == (ssize_t)sizeof(r) ? 0 : 1);
}

static int from_environment(struct userspace_cost *c)
{
	const char *s = getenv("KOFF_USERSPACE_NS");
	char *end;

	if (!s || !*s)
		return 0;
	c->ns = strtod(s, &end);
	if (*end || c->ns <= 0)
		return -EINVAL;
	c->rounds = 0;
	snprintf(c->how, sizeof(c->how), "given by KOFF_USERSPACE_NS (not measured)");
	return 1;
}

int userspace_calibrate(struct userspace_cost *c)
{
	struct child_result r = { .rc = -EIO };
	int fds[2], status, rc;
	pid_t pid;

	memset(c, 0, sizeof(*c));
	if ((rc = from_environment(c)))
		return rc < 0 ? rc : 0;
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	fflush(NULL);	/* the child must not flush our buffers again */
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -errno;
	}
	if (pid == 0) {
		close(fds[0]);
		measure_in_child(fds[1]);
	}
	close(fds[1]);
	if (read(fds[0], &r, sizeof(r)) != (ssize_t)sizeof(r))
		r.rc = -EIO;
	close(fds[0]);
	waitpid(pid, &status, 0);
	if (r.rc)
		return r.rc;
	c->ns = r.round_ns / 2;
	c->rounds = BATCHES * BATCH_ROUNDS;
	snprintf(c->how, sizeof(c->how),
		 "measured on this machine: %s ping-pong, median of %d x %d rounds, half a round",
		 r.on_udp ? "UDP on lo in a private netns" : "AF_UNIX socketpair (no netns allowed)",
		 BATCHES, BATCH_ROUNDS);
	return 0;
}
