/* echo - the smallest koff sample: a UDP echo server.
 *
 * handle_request() follows koff's handler convention (DESIGN.md section 2):
 * it reads only req[0..len), writes only resp[0..cap), and calls nothing but
 * memcpy, so koff-link can lift it to XDP.  main() is the ordinary userspace
 * server that serves whatever the XDP side passes up.
 *
 *   echo [-p PORT] [-a ADDR]      default 127.0.0.1:7007
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

/* Requests starting with this byte are treated as malformed and dropped. */
#define COMMENT_MARK '#'

/* The reply buffer size.  The XDP side must be given the same capacity
 * (koff-link --resp-cap, default 1472: the UDP payload of a 1500-byte MTU),
 * otherwise the two sides could disagree about what fits. */
#define RESP_CAP 1472

long handle_request(const unsigned char *req, unsigned long len,
		    unsigned char *resp, unsigned long cap)
{
	if (len == 0)
		return 0;
	if (req[0] == COMMENT_MARK)
		return -1;
	if (len > cap)
		return -1;	/* cannot echo it whole: drop rather than truncate */
	memcpy(resp, req, len);
	return (long)len;
}

/* ---- The userspace server ------------------------------------------------ */

struct server_options {
	unsigned short port;
	const char *addr;
};

static int parse_options(int argc, char **argv, struct server_options *opt)
{
	int c;

	opt->port = 7007;
	opt->addr = "127.0.0.1";
	while ((c = getopt(argc, argv, "p:a:")) != -1) {
		char *end;
		long port;

		switch (c) {
		case 'p':
			port = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || port <= 0 || port > 65535) {
				fprintf(stderr, "echo: bad port '%s'\n", optarg);
				return -1;
			}
			opt->port = (unsigned short)port;
			break;
		case 'a':
			opt->addr = optarg;
			break;
		default:
			fprintf(stderr, "usage: echo [-p PORT] [-a ADDR]\n");
			return -1;
		}
	}
	return 0;
}

static int open_udp_socket(const struct server_options *opt)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(opt->port) };
	int fd;

	if (inet_pton(AF_INET, opt->addr, &sa.sin_addr) != 1) {
		fprintf(stderr, "echo: bad address '%s'\n", opt->addr);
		return -1;
	}
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("echo: socket");
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		fprintf(stderr, "echo: bind %s:%u: %s\n", opt->addr, opt->port, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* SIGINT/SIGTERM arrive through a signalfd, so the loop needs no global
 * flag and cannot miss a signal between two recvfrom calls. */
static int open_signal_fd(void)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -1;
	return signalfd(-1, &mask, SFD_CLOEXEC);
}

static void serve_one(int fd)
{
	unsigned char req[65536], resp[RESP_CAP];
	struct sockaddr_storage peer;
	socklen_t peerlen = sizeof peer;
	ssize_t n;
	long r;

	n = recvfrom(fd, req, sizeof req, MSG_DONTWAIT, (struct sockaddr *)&peer, &peerlen);
	if (n < 0)
		return;
	r = handle_request(req, (unsigned long)n, resp, sizeof resp);
	if (r > 0)
		sendto(fd, resp, (size_t)r, 0, (struct sockaddr *)&peer, peerlen);
}

static int serve(int fd, int sigfd)
{
	struct pollfd pfd[2] = {
		{ .fd = fd, .events = POLLIN },
		{ .fd = sigfd, .events = POLLIN },
	};

	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			perror("echo: poll");
			return 1;
		}
		if (pfd[1].revents)
			return 0;	/* SIGINT or SIGTERM: clean exit */
		if (pfd[0].revents)
			serve_one(fd);
	}
}

int main(int argc, char **argv)
{
	struct server_options opt;
	int fd, sigfd, rc;

	if (parse_options(argc, argv, &opt) < 0)
		return 2;
	sigfd = open_signal_fd();
	if (sigfd < 0) {
		perror("echo: signalfd");
		return 1;
	}
	fd = open_udp_socket(&opt);
	if (fd < 0)
		return 1;
	fprintf(stderr, "listening on %u\n", opt.port);
	rc = serve(fd, sigfd);
	close(fd);
	close(sigfd);
	return rc;
}
