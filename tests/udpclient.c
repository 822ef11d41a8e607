/* udpclient - send one hex-encoded UDP datagram and print the reply in hex.
 *
 *   udpclient [-a ADDR] [-t TIMEOUT_MS] PORT HEX      ADDR: IPv4 or IPv6
 *
 * Exit 0 and print the reply (lowercase hex, one line) when one arrives,
 * 3 when none arrives within the timeout (default 1000 ms), 2 on usage or
 * socket errors.  Used by the tests to send requests dig cannot make
 * (malformed DNS, echo payloads). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes hex into buf; returns the byte count or -1. */
static long decode_hex(const char *hex, unsigned char *buf, size_t cap)
{
	size_t n = 0;

	while (hex[0] && hex[1]) {
		int hi = hex_value(hex[0]), lo = hex_value(hex[1]);

		if (hi < 0 || lo < 0 || n == cap)
			return -1;
		buf[n++] = (unsigned char)(hi << 4 | lo);
		hex += 2;
	}
	return hex[0] ? -1 : (long)n;
}

int main(int argc, char **argv)
{
	const char *addr = "127.0.0.1";
	int timeout_ms = 1000, c, fd;
	unsigned char req[65536], resp[65536];
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct sockaddr_in6 sa6 = { .sin6_family = AF_INET6 };
	struct sockaddr *to = (struct sockaddr *)&sa;
	socklen_t tolen = sizeof(sa);
	struct pollfd pfd;
	long len;
	ssize_t n;

	while ((c = getopt(argc, argv, "a:t:")) != -1) {
		if (c == 'a')
			addr = optarg;
		else if (c == 't')
			timeout_ms = atoi(optarg);
		else
			return 2;
	}
	if (argc - optind != 2) {
		fprintf(stderr, "usage: udpclient [-a ADDR] [-t TIMEOUT_MS] PORT HEX\n");
		return 2;
	}
	sa.sin_port = sa6.sin6_port = htons((unsigned short)atoi(argv[optind]));
	len = decode_hex(argv[optind + 1], req, sizeof req);
	if (inet_pton(AF_INET6, addr, &sa6.sin6_addr) == 1) {	/* else IPv4 */
		to = (struct sockaddr *)&sa6;
		tolen = sizeof(sa6);
	}
	if (len < 0 || (to == (struct sockaddr *)&sa && inet_pton(AF_INET, addr, &sa.sin_addr) != 1)) {
		fprintf(stderr, "udpclient: bad hex request or address\n");
		return 2;
	}
	fd = socket(to->sa_family, SOCK_DGRAM, 0);
	if (fd < 0 || connect(fd, to, tolen) < 0 ||
	    send(fd, req, (size_t)len, 0) != len) {
		perror("udpclient");
		return 2;
	}
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	if (poll(&pfd, 1, timeout_ms) <= 0)
		return 3;
	n = recv(fd, resp, sizeof resp, 0);
	if (n < 0)
		return 3;	/* e.g. ECONNREFUSED: nobody listening */
	for (ssize_t i = 0; i < n; i++)
		printf("%02x", resp[i]);
	printf("\n");
	return 0;
}
