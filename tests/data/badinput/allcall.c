/* A handler whose every path calls a function koff cannot offload: koff-link
 * links it without an offload and names the call as the reason. */
#include <unistd.h>

long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp,
		    unsigned long cap)
{
	(void)req;
	(void)len;
	(void)resp;
	(void)cap;
	return getpid() & 1;
}

int main(void)
{
	return 0;
}
