/* strchr on a NUL-terminated copy of the request: the offset of the first
 * byte equal to req[0] (the terminator included), or -1. */
#include <string.h>
long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp, unsigned long cap)
{
	char buf[64];
	unsigned long n = len < 63 ? len : 63;
	if (len < 2 || cap < 8) return -1;
	memcpy(buf, req + 1, n - 1);
	buf[n - 1] = 0;
	const char *p = strchr(buf, req[0]);
	long off = p ? p - buf : -1;
	memcpy(resp, &off, 8);
	return 8;
}
