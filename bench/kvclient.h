/* kvclient.h - what bench/kvload.c and tests/kvstress.c, the two memcached
 * clients of koff's kvcache tests and benchmarks, both need: a connected
 * socket, a whole TCP send, and a cheap deterministic random sequence.
 * Header-only: each tool is one C file built on its own. */
#ifndef KOFF_KVCLIENT_H
#define KOFF_KVCLIENT_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* memcached's UDP frame header: request id, sequence 0, count 1, reserved. */
#define KV_UDP_HEADER 8

/* A socket of `type` connected to addr:port (TCP without Nagle); exits 2
 * with "PROG: cannot connect ..." when it cannot. */
static int kv_connect(const char *prog, const char *addr, int port, int type)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
	int fd = socket(AF_INET, type, 0), one = 1;

	if (fd < 0 || inet_pton(AF_INET, addr, &sa.sin_addr) != 1 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		fprintf(stderr, "%s: cannot connect to %s:%d: %s\n", prog, addr, port, strerror(errno));
		exit(2);
	}
	if (type == SOCK_STREAM)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

static int kv_send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* xorshift64: the same sequence from the same seed, on every machine. */
static unsigned long long kv_next_random(unsigned long long *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

#endif
