/* A read-only configuration and lookup table (SEQ mode): the handler only
 * reads shared globals; userspace changes them (fill_weights, a root of its
 * own: main waits for input in between). */
#include <string.h>
#include <unistd.h>

struct config {
	unsigned char ttl;
	unsigned short port;
	char banner[24];
	unsigned int limit;
};

static struct config config = { 64, 5353, "koff config v1", 1000 };
static unsigned char weights[256];	/* .bss: zero until userspace fills it */

long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp,
		    unsigned long cap)
{
	unsigned long n = strlen(config.banner);

	if (len < 1 || cap < n + 4)
		return -1;
	memcpy(resp, config.banner, n);
	resp[n] = config.ttl;
	resp[n + 1] = (unsigned char)(config.port >> 8);
	resp[n + 2] = weights[req[0]];
	resp[n + 3] = (unsigned char)(len > config.limit);
	return (long)n + 4;
}

__attribute__((noinline)) static void fill_weights(void)
{
	for (int i = 0; i < 256; i++)
		weights[i] = (unsigned char)(i * 7);
}

int main(void)
{
	char c;

	while (read(0, &c, 1) > 0)
		fill_weights();
	return 0;
}
