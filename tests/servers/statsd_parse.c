/* statsd_parse.c - the line parser of the statsd server (its own object,
 * as multi-file projects are: the handler calls it across objects). */
#include "statsd.h"

static int parse_fixed3(const char *s, unsigned long n, int64_t *out)
{
	int64_t v = 0;
	unsigned long i = 0;
	int neg = 0, frac = -1;

	if (i < n && (s[i] == '-' || s[i] == '+'))
		neg = s[i++] == '-';
	if (i == n)
		return -1;
	for (; i < n; i++) {
		if (s[i] == '.' && frac < 0) {
			frac = 0;
			continue;
		}
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (frac >= 3)
			continue;	/* beyond milli-units: truncated */
		if (v > INT64_MAX / 10 - 9)
			return -1;
		v = v * 10 + (s[i] - '0');
		if (frac >= 0)
			frac++;
	}
	for (int k = frac < 0 ? 0 : frac; k < 3; k++)
		v *= 10;
	*out = neg ? -v : v;
	return 0;
}

static int type_of(const char *s, unsigned long n, enum metric_type *t)
{
	if (n == 1 && s[0] == 'c') *t = MT_COUNTER;
	else if (n == 1 && s[0] == 'g') *t = MT_GAUGE;
	else if (n == 2 && s[0] == 'm' && s[1] == 's') *t = MT_TIMER;
	else if (n == 1 && s[0] == 's') *t = MT_SET;
	else if (n == 1 && s[0] == 'h') *t = MT_HISTOGRAM;
	else return -1;
	return 0;
}

int statsd_parse_line(const char *s, unsigned long n, struct metric *m)
{
	unsigned long colon = 0, bar1 = 0, bar2 = 0;
	int64_t rate;

	for (unsigned long i = 0; i < n; i++) {
		if (s[i] == ':' && !colon)
			colon = i;
		else if (s[i] == '|' && !bar1)
			bar1 = i;
		else if (s[i] == '|' && !bar2)
			bar2 = i;
	}
	if (!colon || bar1 <= colon + 1)
		return -1;
	m->name = s;
	m->name_len = (unsigned)colon;
	m->gauge_delta = s[colon + 1] == '+' || s[colon + 1] == '-';
	if (parse_fixed3(s + colon + 1, bar1 - colon - 1, &m->value))
		return -1;
	if (type_of(s + bar1 + 1, (bar2 ? bar2 : n) - bar1 - 1, &m->type))
		return -1;
	m->sample_per_mille = 1000;
	if (bar2) {
		if (bar2 + 2 >= n || s[bar2 + 1] != '@')
			return -1;
		if (parse_fixed3(s + bar2 + 2, n - bar2 - 2, &rate) || rate <= 0 || rate > 1000)
			return -1;
		m->sample_per_mille = (unsigned)rate;
	}
	return 0;
}

static uint32_t rotl32(uint32_t x, unsigned r)
{
	return x << (r & 31) | x >> (-r & 31);
}

/* Murmur3-style mixing: rotates by constants and by a data-dependent count. */
uint32_t statsd_hash(const char *s, unsigned n)
{
	uint32_t h = 0x9747b28c;

	for (unsigned i = 0; i < n; i++) {
		uint32_t k = (uint8_t)s[i] * 0xcc9e2d51u;

		k = rotl32(k, 15) * 0x1b873593u;
		h = rotl32(h ^ k, 13) * 5 + 0xe6546b64u;
		h = rotl32(h, (unsigned)s[i]);
	}
	h ^= n;
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	return h;
}
