/* A comparison result kept beyond its sign: glibc's memcmp returns -1/1 or
 * a byte difference depending on the CPU, so koff must not guess it.  The
 * path that stores memcmp's value (req[0] == 'X') falls back when the
 * compiler calls glibc for it (gcc does; clang expands this memcmp itself,
 * and its value is then the program's own); every other path, which tests
 * only the sign, runs in XDP.
 * Request: op = req[0], then at least 7 bytes compared with a key. */
#include <string.h>

long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp,
		    unsigned long cap)
{
	static const char key[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	unsigned long n;
	int v;

	if (len < 8 || cap < 8)
		return -1;
	n = len - 1 < sizeof(key) ? len - 1 : sizeof(key);
	if (req[0] != 'X') {
		int s = memcmp(req + 1, key, n);	/* a length unknown to the compiler */

		resp[0] = s < 0 ? 'L' : s == 0 ? 'E' : 'G';
		return 1;
	}
	v = memcmp(req + 1, key + 1, n - 1);	/* not the call above: no sharing */
	memcpy(resp, &v, sizeof(v));	/* the value itself escapes */
	return 4;
}
