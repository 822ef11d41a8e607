/* geoip - answers "ip 192.0.2.7", "cc DE", "name germany" with the country
 * record: an IPv4 range table searched by binary search, country records
 * found by code (switch on two letters packed in an int) and by name
 * (binary search with strcasecmp-like compare over a sorted string table).
 * Hard: dotted-quad parsing, binary searches over const arrays of structs
 * and of pointers to strings, strcmp results used for their sign only. */
#include <string.h>
#include <stdint.h>

struct country {
	char code[3];
	const char *name;
	const char *capital;
	uint32_t population_k;
};

static const struct country countries[] = {
	{ "AU", "australia", "Canberra", 26000 },
	{ "BR", "brazil", "Brasilia", 216000 },
	{ "CA", "canada", "Ottawa", 40000 },
	{ "DE", "germany", "Berlin", 84000 },
	{ "FR", "france", "Paris", 68000 },
	{ "IN", "india", "New Delhi", 1428000 },
	{ "JP", "japan", "Tokyo", 124000 },
	{ "NL", "netherlands", "Amsterdam", 17900 },
	{ "NZ", "new zealand", "Wellington", 5200 },
	{ "US", "united states", "Washington", 335000 },
};
#define NCOUNTRIES (sizeof(countries) / sizeof(countries[0]))

/* Sorted by name, as indices into countries[]. */
static const char *const by_name[] = {
	"australia", "brazil", "canada", "france", "germany", "india", "japan",
	"netherlands", "new zealand", "united states",
};
static const uint8_t by_name_idx[] = { 0, 1, 2, 4, 3, 5, 6, 7, 8, 9 };

struct range {
	uint32_t first, last;
	uint8_t country;
};

static const struct range ranges[] = {
	{ 0x01000000, 0x01ffffff, 0 }, { 0x08080000, 0x0808ffff, 9 }, { 0x0a000000, 0x0affffff, 255 },
	{ 0x2d000000, 0x2dffffff, 3 }, { 0x4e000000, 0x4effffff, 4 }, { 0x5d000000, 0x5dffffff, 7 },
	{ 0x7a000000, 0x7affffff, 5 }, { 0x85000000, 0x85ffffff, 6 }, { 0x8f000000, 0x8fffffff, 2 },
	{ 0xa8000000, 0xa8ffffff, 1 }, { 0xc0000200, 0xc00002ff, 255 }, { 0xcb000000, 0xcbffffff, 8 },
};

static int parse_ipv4(const char *s, unsigned long n, uint32_t *out)
{
	uint32_t ip = 0;
	unsigned part = 0, digits = 0, dots = 0;

	for (unsigned long i = 0; i < n; i++) {
		char c = s[i];

		if (c >= '0' && c <= '9') {
			part = part * 10 + (unsigned)(c - '0');
			if (part > 255 || ++digits > 3)
				return -1;
		} else if (c == '.' && digits && dots < 3) {
			ip = ip << 8 | part;
			part = digits = 0;
			dots++;
		} else {
			return -1;
		}
	}
	if (dots != 3 || !digits)
		return -1;
	*out = ip << 8 | part;
	return 0;
}

static const struct range *range_of(uint32_t ip)
{
	int lo = 0, hi = (int)(sizeof(ranges) / sizeof(ranges[0])) - 1;

	while (lo <= hi) {
		int mid = (lo + hi) / 2;

		if (ip < ranges[mid].first)
			hi = mid - 1;
		else if (ip > ranges[mid].last)
			lo = mid + 1;
		else
			return &ranges[mid];
	}
	return 0;
}

static const struct country *by_code(const char *s)
{
	switch ((s[0] & ~0x20) << 8 | (s[1] & ~0x20)) {
	case 'A' << 8 | 'U': return &countries[0];
	case 'B' << 8 | 'R': return &countries[1];
	case 'C' << 8 | 'A': return &countries[2];
	case 'D' << 8 | 'E': return &countries[3];
	case 'F' << 8 | 'R': return &countries[4];
	case 'I' << 8 | 'N': return &countries[5];
	case 'J' << 8 | 'P': return &countries[6];
	case 'N' << 8 | 'L': return &countries[7];
	case 'N' << 8 | 'Z': return &countries[8];
	case 'U' << 8 | 'S': return &countries[9];
	default: return 0;
	}
}

static const struct country *find_name(const char *name)
{
	unsigned lo = 0, hi = NCOUNTRIES;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		int c = strcmp(name, by_name[mid]);

		if (c == 0)
			return &countries[by_name_idx[mid]];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return 0;
}

static unsigned long emit(unsigned char *resp, unsigned long at, const char *s)
{
	unsigned long n = strlen(s);

	memcpy(resp + at, s, n);
	return at + n;
}

long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp,
		    unsigned long cap)
{
	char arg[32];
	const struct country *c = 0;
	unsigned long at, n;

	if (len < 4 || len > 40 || cap < 128)
		return -1;
	if (req[len - 1] == '\n')
		len--;
	if (!memcmp(req, "ip ", 3)) {
		uint32_t ip;
		const struct range *r;

		if (parse_ipv4((const char *)req + 3, len - 3, &ip))
			return -1;
		r = range_of(ip);
		if (r && r->country == 255)
			return (long)emit(resp, 0, "reserved\n");
		c = r ? &countries[r->country] : 0;
	} else if (!memcmp(req, "cc ", 3) && len == 5) {
		c = by_code((const char *)req + 3);
	} else if (!memcmp(req, "name ", 5)) {
		n = len - 5;
		if (n >= sizeof(arg))
			return -1;
		for (unsigned long i = 0; i < n; i++)
			arg[i] = (char)(req[5 + i] >= 'A' && req[5 + i] <= 'Z' ? req[5 + i] | 0x20 : req[5 + i]);
		arg[n] = 0;
		c = find_name(arg);
	} else {
		return -1;
	}
	if (!c)
		return (long)emit(resp, 0, "unknown\n");
	at = emit(resp, 0, c->code);
	resp[at++] = ' ';
	at = emit(resp, at, c->name);
	resp[at++] = ' ';
	at = emit(resp, at, c->capital);
	resp[at++] = '\n';
	return (long)at;
}
