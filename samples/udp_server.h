/* udp_server.h - the userspace side both samples share: a UDP server that
 * calls the sample's handle_request() for each datagram (recvfrom ->
 * handler -> sendto when it returns > 0), exactly what koff's XDP program
 * stands in for.  Included by each sample, so that the sample stays one
 * object holding both the server and its handler.
 *
 *   SAMPLE [-p PORT] [-a ADDR]      prints "listening on PORT" once bound
 *   (ADDR default 127.0.0.1; an IPv6 address too, "::" for both families)
 *
 * The reply buffer is RESP_CAP (1472) bytes: koff-link's --resp-cap default. */
#ifndef SAMPLES_UDP_SERVER_H
#define SAMPLES_UDP_SERVER_H

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

#define RESP_CAP 1472

long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp,
		    unsigned long cap);

struct server_options {
	const char *name;	/* for messages */
	unsigned short port;
	const char *addr;
};

static int parse_options(int argc, char **argv, struct server_options *opt)
{
	int c;

	opt->addr = "127.0.0.1";
	while ((c = getopt(argc, argv, "p:a:")) != -1) {
		char *end;
		long port;

		switch (c) {
		case 'p':
			port = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || port <= 0 || port > 65535) {
				fprintf(stderr, "%s: bad port '%s'\n", opt->name, optarg);
				return -1;
			}
			opt->port = (unsigned short)port;
			break;
		case 'a':
			opt->addr = optarg;
			break;
		default:
			fprintf(stderr, "usage: %s [-p PORT] [-a ADDR]\n", opt->name);
			return -1;
		}
	}
	return 0;
}

/* ADDR is IPv4 or IPv6; "::" also takes IPv4 (dual stack). */
static int fill_address(const struct server_options *opt, struct sockaddr_storage *ss,
			socklen_t *len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, opt->addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(opt->port);
		*len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, opt->addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(opt->port);
		*len = sizeof(*sin6);
		return 0;
	}
	fprintf(stderr, "%s: bad address '%s'\n", opt->name, opt->addr);
	return -1;
}

static int open_udp_socket(const struct server_options *opt)
{
	struct sockaddr_storage sa;
	socklen_t salen;
	int fd, v6only = 0;

	if (fill_address(opt, &sa, &salen) < 0)
		return -1;
	fd = socket(sa.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "%s: socket: %s\n", opt->name, strerror(errno));
		return -1;
	}
	if (sa.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
	if (bind(fd, (struct sockaddr *)&sa, salen) < 0) {
		fprintf(stderr, "%s: bind %s:%u: %s\n", opt->name, opt->addr, opt->port, strerror(errno));
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

static int serve(int fd, int sigfd, const char *name)
{
	struct pollfd pfd[2] = {
		{ .fd = fd, .events = POLLIN },
		{ .fd = sigfd, .events = POLLIN },
	};

	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "%s: poll: %s\n", name, strerror(errno));
			return 1;
		}
		if (pfd[1].revents)
			return 0;	/* SIGINT or SIGTERM: clean exit */
		if (pfd[0].revents)
			serve_one(fd);
	}
}

static int udp_server_main(int argc, char **argv, const char *name, unsigned short default_port)
{
	struct server_options opt = { .name = name, .port = default_port };
	int fd, sigfd, rc;

	if (parse_options(argc, argv, &opt) < 0)
		return 2;
	sigfd = open_signal_fd();
	if (sigfd < 0) {
		fprintf(stderr, "%s: signalfd: %s\n", name, strerror(errno));
		return 1;
	}
	fd = open_udp_socket(&opt);
	if (fd < 0)
		return 1;
	fprintf(stderr, "listening on %u\n", opt.port);
	rc = serve(fd, sigfd, name);
	close(fd);
	close(sigfd);
	return rc;
}

#endif
