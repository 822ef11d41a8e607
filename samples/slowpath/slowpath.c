/* slowpath - a sample built to test koff's offload decision: one server
 * whose requests are either cheap and answerable in the kernel, or costly
 * and mostly unanswerable there.
 *
 *   F...  (fast) the reply is "f" followed by the request's bytes after F;
 *   S...  (slow) the request is hashed SLOW_ROUNDS times over; one hash in
 *         eight is answered with the hash, the others are stamped with the
 *         server's process id.  getpid() has no kernel counterpart, so in
 *         XDP most S requests fall back to userspace after the whole hash
 *         has run in the kernel for nothing, and no analysis can tell which
 *         before the hash is known;
 *   U...  (unanswerable) a digest of the request, then stamped with the
 *         process id: every U request falls back, which is known as soon as
 *         the first byte is read (lifter/earlyfb.c moves the fallback there);
 *   else  malformed: dropped.
 *
 * A workload of mostly F requests favours the offload, one of mostly S
 * requests punishes it (samples/slowpath/favour.txt, punish.txt);
 * late.txt is mostly U requests.
 *
 *   slowpath [-p PORT] [-a ADDR]      default 127.0.0.1:7070
 */
#include <string.h>
#include <unistd.h>

#include "../udp_server.h"

#define SLOW_ROUNDS 64

/* FNV-1a over the request, SLOW_ROUNDS times: the expensive part. */
static unsigned long slow_hash(const unsigned char *req, unsigned long len)
{
	unsigned long h = 14695981039346656037ul;

	for (int round = 0; round < SLOW_ROUNDS; round++)
		for (unsigned long i = 0; i < len; i++)
			h = (h ^ req[i]) * 1099511628211ul;
	return h;
}

/* A different digest (rotate and add), as costly: U requests' own work. */
static unsigned long digest(const unsigned char *req, unsigned long len)
{
	unsigned long d = 0;

	for (int round = 0; round < SLOW_ROUNDS; round++)
		for (unsigned long i = 0; i < len; i++)
			d = ((d << 7) | (d >> 57)) + req[i] + (unsigned long)round;
	return d;
}

static long put_hex(unsigned char *resp, unsigned long v)
{
	static const char digits[] = "0123456789abcdef";

	resp[0] = 's';
	for (int i = 0; i < 16; i++)
		resp[1 + i] = (unsigned char)digits[(v >> (60 - 4 * i)) & 15];
	return 17;
}

long handle_request(const unsigned char *req, unsigned long len,
		    unsigned char *resp, unsigned long cap)
{
	if (len == 0 || len > cap)
		return -1;
	if (req[0] == 'F') {
		resp[0] = 'f';
		memcpy(resp + 1, req + 1, len - 1);
		return (long)len;
	}
	if (req[0] == 'S' && cap >= 17) {
		unsigned long h = slow_hash(req, len);

		if (h % 8 == 0)
			return put_hex(resp, h);
		return put_hex(resp, h ^ (unsigned long)getpid());
	}
	if (req[0] == 'U' && cap >= 17)
		return put_hex(resp, digest(req, len) ^ (unsigned long)getpid());
	return -1;
}

/* ---- The userspace server (samples/udp_server.h) -------------------------- */

int main(int argc, char **argv)
{
	return udp_server_main(argc, argv, "slowpath", 7070);
}
