/* statsd - a statsd-protocol aggregator front end: "name:value|type[|@rate]"
 * lines, several per datagram; it answers a per-datagram digest (name
 * hashes, totals, a shard per metric) and drops malformed datagrams.
 * Hard: two objects (the parser and the hash live in statsd_parse.c and
 * are called across objects), murmur-style rotates, including by a
 * data-dependent count, fixed-point parsing with 64-bit overflow checks. */
#include <string.h>

#include "statsd.h"

#define SHARDS 16

long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp,
		    unsigned long cap)
{
	const char *s = (const char *)req;
	unsigned long start = 0, at = 4;
	unsigned lines = 0, shard_hits = 0;
	int64_t total = 0;

	if (len == 0 || cap < 256)
		return -1;
	while (start < len) {
		const char *nl = memchr(s + start, '\n', len - start);
		unsigned long end = nl ? (unsigned long)(nl - s) : len;
		struct metric m;
		uint32_t h;

		if (end > start) {
			if (statsd_parse_line(s + start, end - start, &m))
				return -1;
			h = statsd_hash(m.name, m.name_len);
			shard_hits |= 1u << (h % SHARDS);
			if (m.type == MT_COUNTER)
				total += m.value * 1000 / (int64_t)m.sample_per_mille;
			if (at + 6 > cap)
				return -1;
			memcpy(resp + at, &h, 4);
			resp[at + 4] = (unsigned char)m.type;
			resp[at + 5] = (unsigned char)(h % SHARDS);
			at += 6;
			lines++;
		}
		start = end + 1;
	}
	if (lines == 0)
		return 0;
	resp[0] = (unsigned char)lines;
	resp[1] = (unsigned char)__builtin_popcount(shard_hits);
	resp[2] = (unsigned char)(shard_hits & 0xff);
	resp[3] = (unsigned char)(shard_hits >> 8);
	memcpy(resp + at, &total, 8);
	return (long)(at + 8);
}
