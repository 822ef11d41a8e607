/* roles.c - three candidates for t-decide: two handlers (one cheap and
 * answerable in the kernel, one that always falls back after a loop) and
 * a parser (an early-drop filter: 'Q' requests of two bytes or more pass,
 * the rest are malformed). */
#include <string.h>
#include <unistd.h>

long fast_echo(const unsigned char *req, unsigned long len, unsigned char *resp, unsigned long cap)
{
	if (len > cap)
		return -1;
	memcpy(resp, req, len);
	return (long)len;
}

long slow_stamp(const unsigned char *req, unsigned long len, unsigned char *resp, unsigned long cap)
{
	unsigned long h = 0;

	for (int r = 0; r < 64; r++)
		for (unsigned long i = 0; i < len; i++)
			h = h * 31 + req[i];
	if (cap < 8)
		return -1;
	h ^= (unsigned long)getpid();
	memcpy(resp, &h, 8);
	return 8;
}

int check_request(const char *buf, size_t len, int *kind)
{
	if (len < 2 || buf[0] != 'Q')
		return -1;
	*kind = buf[1];
	return 0;
}

int main(void)
{
	return 0;
}
