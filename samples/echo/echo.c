/* echo - the smallest koff sample: a UDP echo server.
 *
 * handle_request() follows koff's handler convention (README.md, "The handler convention"):
 * it reads only req[0..len), writes only resp[0..cap), and calls nothing but
 * memcpy, so koff-link can lift it to XDP.  main() is the ordinary userspace
 * server that serves whatever the XDP side passes up.
 *
 *   echo [-p PORT] [-a ADDR]      default 127.0.0.1:7007
 */
#include <string.h>

#include "../udp_server.h"

/* Requests starting with this byte are treated as malformed and dropped. */
#define COMMENT_MARK '#'

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

/* ---- The userspace server (samples/udp_server.h) -------------------------- */

int main(int argc, char **argv)
{
	return udp_server_main(argc, argv, "echo", 7007);
}
