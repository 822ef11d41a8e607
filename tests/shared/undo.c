/* Writes shared state, then sometimes falls back (LOCK mode, undo): a
 * byte histogram over the whole request (long requests overflow the undo
 * log), and a request starting with '!' calls a function koff does not
 * translate after it has written. */
#include <unistd.h>

static unsigned int freq[64];
static unsigned long bytes;
static unsigned int last_len;

long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp,
		    unsigned long cap)
{
	if (len < 1 || cap < 8)
		return -1;
	bytes += len;
	for (unsigned long i = 0; i < len; i++)
		freq[req[i] & 63]++;
	if (req[0] == '!')
		last_len = (unsigned int)getpid();	/* not translated: falls back */
	else
		last_len = (unsigned int)len;
	resp[0] = (unsigned char)freq[req[0] & 63];
	resp[1] = (unsigned char)(bytes >> 8);
	resp[2] = (unsigned char)bytes;
	resp[3] = (unsigned char)last_len;
	return 4;
}

int main(void)
{
	return 0;
}
