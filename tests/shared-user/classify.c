/* classify.c - which roots may write (tests/t-shared-classify.sh): the
 * readers take the address of a table (lea, mov $sym, a loop's end cmp,
 * SSE loads from clang) and only read through it; the writers store
 * through it, hand it to memset, or return it. */
#include <stdio.h>
#include <string.h>

long table[64];
struct ent {
	long key, val;
} ents[32];
long cnt;

__attribute__((noinline)) long sum_table(void)
{
	long s = 0;

	for (int i = 0; i < 64; i++)
		s += table[i];
	return s;
}

__attribute__((noinline)) long lookup(long k)
{
	for (int i = 0; i < 32; i++)
		if (ents[i].key == k)
			return ents[i].val;
	return -1;
}

__attribute__((noinline)) long get_idx(int i)
{
	return table[i & 63];
}

__attribute__((noinline)) long *addr_of(int i)
{
	return &table[i & 63];
}

__attribute__((noinline)) void store(long k, long v)
{
	ents[k & 31].key = k;
	ents[k & 31].val = v;
}

__attribute__((noinline)) void fill(long v)
{
	memset(table, (int)v, sizeof(table));
}

__attribute__((noinline)) long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp,
					      unsigned long cap)
{
	(void)len, (void)cap;
	resp[0] = (unsigned char)lookup(req[0]);
	cnt++;
	return 1;
}

int main(void)
{
	char line[64];
	unsigned char r[4];

	while (fgets(line, sizeof(line), stdin)) {
		handle_request((const unsigned char *)line, 1, r, sizeof(r));
		printf("%ld %ld %ld %ld %d\n", sum_table(), lookup(line[0]), *addr_of(2), get_idx(line[0]), r[0]);
		store(line[0], line[1]);
		fill(line[0] & 1);
	}
	return 0;
}
