/* ubcheck - runs a generated handle_request natively on every request of a
 * file (one hex request per line, '#' comments), plus the empty request.
 * Built with -fsanitize=address,undefined it proves the generator's claim
 * that its programs have no undefined behaviour on these inputs: a program
 * with UB could differ from its lift legally, and a mismatch would prove
 * nothing.  Linked with the generated object; exits 0 when every call
 * returned, 1 on a malformed file (the sanitizers abort on their own).
 * Usage: ubcheck REQUESTS.txt [CAP]
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

long handle_request(const unsigned char *req, unsigned long len,
		    unsigned char *resp, unsigned long cap);

#define MAX_REQUEST 4096

static int hex_value(int c)
{
	if (isdigit(c))
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes one hex line into req; returns its length or -1. */
static long decode_line(const char *line, unsigned char *req)
{
	long n = 0;
	for (const char *p = line; *p && *p != '\n'; p += 2) {
		int hi = hex_value((unsigned char)p[0]), lo = hi < 0 ? -1 : hex_value((unsigned char)p[1]);
		if (lo < 0 || n >= MAX_REQUEST)
			return -1;
		req[n++] = (unsigned char)(hi << 4 | lo);
	}
	return n;
}

/* Calls the handler on a heap copy of exactly len bytes, so ASan sees any
 * read past the request. */
static long call_exact(const unsigned char *req, long len, unsigned long cap)
{
	unsigned char *copy = malloc(len ? (size_t)len : 1), *resp = malloc(cap ? cap : 1);
	if (!copy || !resp) {
		perror("ubcheck");
		exit(1);
	}
	memcpy(copy, req, (size_t)len);
	long r = handle_request(copy, (unsigned long)len, resp, cap);
	free(copy);
	free(resp);
	return r;
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: ubcheck REQUESTS.txt [CAP]\n");
		return 1;
	}
	unsigned long cap = argc == 3 ? strtoul(argv[2], NULL, 0) : 1472;
	FILE *f = fopen(argv[1], "r");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	static unsigned char req[MAX_REQUEST];
	static char line[2 * MAX_REQUEST + 2];
	long calls = 0, replies = 0;
	replies += call_exact(req, 0, cap) > 0;
	calls++;
	while (fgets(line, sizeof(line), f)) {
		if (line[0] == '#' || line[0] == '\n')
			continue;
		long n = decode_line(line, req);
		if (n < 0) {
			fprintf(stderr, "ubcheck: bad request line %ld\n", calls);
			fclose(f);
			return 1;
		}
		replies += call_exact(req, n, cap) > 0;
		calls++;
	}
	fclose(f);
	printf("ubcheck: %ld calls, %ld replies\n", calls, replies);
	return 0;
}
