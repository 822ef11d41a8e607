/* udpload - closed-loop UDP load: keeps N requests outstanding against a
 * server for a fixed time and counts the replies.
 *
 *   udpload [-a ADDR] [-p PORT] [-c OUTSTANDING] [-d SECONDS] REQUESTS.txt
 * Requests are sent in file order, round robin; every reply (any datagram
 * from the server) releases the next request.  A request lost for 20 ms is
 * replaced, so a drop costs time but does not stall the loop; such losses
 * are counted.  After the run, replies still on their way are awaited (up
 * to DRAIN_MS), so that "unanswered" counts the requests that never got a
 * reply (each request gets one reply at most), where "lost" counts
 * timeouts, late replies included.
 * Prints: udpload outstanding N seconds S replies N lost N unanswered N rps R */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_common.h"

#define LOSS_TIMEOUT_MS 20
#define DRAIN_MS 1000

struct load_opts {
	const char *addr, *requests_path;
	unsigned port;
	int outstanding;
	double seconds;
};

struct load_state {
	int fd, next;
	long sent, replies, lost;
	const struct bench_requests *reqs;
};

static int parse_load_opts(int argc, char **argv, struct load_opts *o)
{
	*o = (struct load_opts){ .addr = "127.0.0.1", .port = 5353, .outstanding = 1,
				 .seconds = 5 };
	int ch;
	while ((ch = getopt(argc, argv, "a:p:c:d:")) != -1) {
		switch (ch) {
		case 'a': o->addr = optarg; break;
		case 'p': o->port = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'c': o->outstanding = atoi(optarg); break;
		case 'd': o->seconds = strtod(optarg, NULL); break;
		default: return -EINVAL;
		}
	}
	if (argc - optind != 1 || o->outstanding < 1 || o->seconds <= 0 || !o->port ||
	    o->port > 65535)
		return -EINVAL;
	o->requests_path = argv[optind];
	return 0;
}

static int open_client(const struct load_opts *o)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)o->port) };
	if (inet_pton(AF_INET, o->addr, &sa.sin_addr) != 1) {
		fprintf(stderr, "udpload: bad address %s\n", o->addr);
		return -EINVAL;
	}
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		perror("udpload: socket/connect");
		return -errno;
	}
	return fd;
}

static int send_next(struct load_state *s)
{
	const struct bench_request *r = &s->reqs->items[s->next];
	s->next = (s->next + 1) % s->reqs->n;
	if (send(s->fd, r->bytes, r->len, 0) < 0 && errno != ECONNREFUSED) {
		perror("udpload: send");
		return -errno;
	}
	s->sent++;
	return 0;
}

/* Receives what has arrived, at most `max` replies (an XDP responder on lo
 * answers within send(): without a limit this loop would never end);
 * sends one request per reply. */
static int drain_replies(struct load_state *s, int max)
{
	uint8_t buf[65536];
	for (int i = 0; i < max; i++) {
		ssize_t n = recv(s->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0)
			return errno == EAGAIN || errno == ECONNREFUSED ? 0 : -errno;
		s->replies++;
		int err = send_next(s);
		if (err)
			return err;
	}
	return 0;
}

static int run_load(const struct load_opts *o, struct load_state *s)
{
	for (int i = 0; i < o->outstanding; i++)
		if (send_next(s))
			return -EIO;
	double end = bench_now_ns() + o->seconds * 1e9;
	struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
	while (bench_now_ns() < end) {
		int ready = poll(&pfd, 1, LOSS_TIMEOUT_MS);
		if (ready < 0 && errno != EINTR)
			return -errno;
		if (ready == 0) {	/* everything outstanding was lost */
			s->lost += o->outstanding;
			for (int i = 0; i < o->outstanding; i++)
				if (send_next(s))
					return -EIO;
			continue;
		}
		if (ready > 0 && drain_replies(s, o->outstanding))
			return -EIO;
	}
	return 0;
}

/* Replies to requests already sent, until every one is answered or
 * DRAIN_MS pass without a reply. */
static void drain_late_replies(struct load_state *s)
{
	uint8_t buf[65536];
	struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
	while (s->replies < s->sent && poll(&pfd, 1, DRAIN_MS) > 0)
		if (recv(s->fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
			s->replies++;
}

int main(int argc, char **argv)
{
	struct load_opts o;
	struct bench_requests reqs = { 0 };
	if (parse_load_opts(argc, argv, &o)) {
		fprintf(stderr, "usage: udpload [-a ADDR] [-p PORT] [-c OUTSTANDING] "
				"[-d SECONDS] REQUESTS.txt\n");
		return 2;
	}
	if (bench_load_requests(o.requests_path, &reqs))
		return 1;
	struct load_state s = { .fd = open_client(&o), .reqs = &reqs };
	if (s.fd < 0)
		return 1;
	double t0 = bench_now_ns();
	int err = run_load(&o, &s);
	double secs = (bench_now_ns() - t0) / 1e9;
	long during = s.replies;	/* the rate counts the run only */
	if (!err)
		drain_late_replies(&s);
	close(s.fd);
	if (err)
		return 1;
	printf("udpload outstanding %d seconds %.2f replies %ld lost %ld unanswered %ld rps %.0f\n",
	       o.outstanding, secs, during, s.lost, s.sent - s.replies, (double)during / secs);
	return 0;
}
