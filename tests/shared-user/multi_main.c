/* multi_main.c - main waits on stdin; every access to the shared globals
 * is in the other objects. */
#include <stdio.h>
#include <string.h>

long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp, unsigned long cap);
long stats_get(void);
long bytes_seen(void);

int main(void)
{
	char line[128];
	unsigned char resp[8];

	while (fgets(line, sizeof(line), stdin)) {
		long n = handle_request((const unsigned char *)line, strlen(line), resp, sizeof(resp));

		printf("%.*s %ld %ld\n", (int)n, resp, stats_get(), bytes_seen());
	}
	return 0;
}
