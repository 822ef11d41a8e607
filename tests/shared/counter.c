/* Counters and a sum table (LOCK mode): every request updates shared
 * globals and replies with them. */
#include <string.h>

static unsigned long counts[16];
static unsigned long total;
static unsigned int requests = 1000;

long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp,
		    unsigned long cap)
{
	unsigned int k;

	if (len < 2 || cap < 20)
		return -1;
	k = req[0] & 15;
	counts[k] += req[1];
	total += req[1];
	requests++;
	memcpy(resp, &counts[k], 8);
	memcpy(resp + 8, &total, 8);
	memcpy(resp + 16, &requests, 4);
	return 20;
}

int main(void)
{
	return 0;
}
