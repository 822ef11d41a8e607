/* tlv - a table-driven parser: the benchmark's fifth handler
 * (bench/quick.sh, BENCHMARKS.md).  A binary "register" message of
 * type-length-value records, validated against a const table of field
 * descriptors (the way protocol code generated from a schema looks), and
 * answered with the normalized fields in the table's order.  One source,
 * two builds: gcc -O2 -g -c for koff-link (with the userspace server
 * below), and clang -O2 -target bpf through bench/ref/tlv_ref.bpf.c, which
 * defines TLV_BPF_REF and includes this file: the reference is the same C.
 *
 *   request  'K' VERSION(1) COUNT(1) then COUNT records TYPE(1) LEN(1) VALUE
 *            (integers big-endian, LEN bytes), at most TLV_REQ_MAX bytes.
 *   reply    'k' STATUS(1) SEEN(2, big-endian bitmask of descriptor
 *            indexes) then, when STATUS is 0, for each descriptor seen in
 *            table order TYPE(1) and its value: integers as 4 bytes
 *            big-endian (after the descriptor's range check), strings as
 *            LEN(1) and the bytes; then a one-byte XOR of everything before.
 *            STATUS: 0 ok, 1 bad header, 2 truncated record, 3 unknown
 *            type, 4 bad length, 5 duplicate, 6 out of range, 7 missing a
 *            required field, 8 bad string byte.
 *   A request starting with '#' is dropped. */
#ifndef TLV_HANDLER
#define TLV_HANDLER
#endif

#define TLV_REQ_MAX 192
#define TLV_RECORDS_MAX 12
#define TLV_STR_MAX 24

/* The reference build (bench/ref/tlv_ref.bpf.c) defines TLV_WIDEN as a
 * no-op the verifier cannot see through: it makes the BPF verifier forget
 * a position's exact value at a loop's head, so that states reached
 * through records of different lengths match and prune instead of
 * multiplying.  Here it is nothing. */
#ifndef TLV_WIDEN
#define TLV_WIDEN(x) ((void)0)
#endif

enum tlv_kind { TLV_UINT, TLV_STR };

struct tlv_field {
	unsigned char type;
	unsigned char kind;		/* enum tlv_kind */
	unsigned char min_len, max_len;	/* value bytes accepted */
	unsigned char required;
	unsigned char printable;	/* TLV_STR: only 0x20..0x7e */
	unsigned int min, max;		/* TLV_UINT: accepted range */
};

/* The schema: one descriptor per field, the reply's order. */
static const struct tlv_field tlv_fields[] = {
	{ .type = 0x01, .kind = TLV_UINT, .min_len = 4, .max_len = 4, .required = 1, .min = 1, .max = 0xfffffffe },	/* id */
	{ .type = 0x02, .kind = TLV_STR, .min_len = 1, .max_len = 16, .required = 1, .printable = 1 },			/* name */
	{ .type = 0x03, .kind = TLV_UINT, .min_len = 1, .max_len = 2, .min = 0, .max = 1000 },				/* weight */
	{ .type = 0x04, .kind = TLV_UINT, .min_len = 2, .max_len = 2, .min = 1, .max = 65535 },				/* port */
	{ .type = 0x05, .kind = TLV_STR, .min_len = 0, .max_len = TLV_STR_MAX, .printable = 1 },			/* zone */
	{ .type = 0x06, .kind = TLV_UINT, .min_len = 1, .max_len = 1, .min = 0, .max = 3 },				/* priority */
	{ .type = 0x07, .kind = TLV_STR, .min_len = 4, .max_len = 16 },						/* token (binary) */
	{ .type = 0x08, .kind = TLV_UINT, .min_len = 1, .max_len = 4, .min = 0, .max = 86400 },				/* ttl */
	{ .type = 0x09, .kind = TLV_UINT, .min_len = 1, .max_len = 1, .min = 0, .max = 1 },				/* flag */
};
#define TLV_FIELDS ((int)(sizeof(tlv_fields) / sizeof(tlv_fields[0])))

/* What the parse keeps of each descriptor's record. */
struct tlv_value {
	unsigned int number;
	unsigned char at, len;	/* TLV_STR: where in the request (< TLV_REQ_MAX) */
};

static inline int tlv_find(unsigned char type)
{
	for (int f = 0; f < TLV_FIELDS; f++)
		if (tlv_fields[f].type == type)
			return f;
	return -1;
}

/* Checks one record's value against its descriptor; 0 or a STATUS. */
static inline int tlv_check(const struct tlv_field *d, const unsigned char *v, unsigned long n,
			    struct tlv_value *out)
{
	if (n < d->min_len || n > d->max_len)
		return 4;
	if (d->kind == TLV_UINT) {
		unsigned int x = 0;

		for (unsigned long i = 0; i < n && i < 4; i++)
			x = (x << 8) | v[i];
		if (x < d->min || x > d->max)
			return 6;
		out->number = x;
		return 0;
	}
	if (d->printable)
		for (unsigned long i = 0; i < n && i < TLV_STR_MAX; i++)
			if (v[i] < 0x20 || v[i] > 0x7e)
				return 8;
	return 0;
}

static inline long tlv_status(unsigned char *resp, int status, unsigned int seen)
{
	resp[0] = 'k';
	resp[1] = (unsigned char)status;
	resp[2] = (unsigned char)(seen >> 8);
	resp[3] = (unsigned char)seen;
	resp[4] = (unsigned char)('k' ^ status ^ (seen >> 8) ^ (seen & 0xff));
	return 5;
}

/* The reply's fields in table order, then the XOR byte. */
static inline long tlv_encode(const unsigned char *req, const struct tlv_value *vals, unsigned int seen,
			      unsigned char *resp)
{
	unsigned long at = 4;
	unsigned char x = 0;

	tlv_status(resp, 0, seen);
	for (int f = 0; f < TLV_FIELDS; f++) {
		TLV_WIDEN(at);
		if (!(seen & (1u << f)))
			continue;
		resp[at++] = tlv_fields[f].type;
		if (tlv_fields[f].kind == TLV_UINT) {
			resp[at++] = (unsigned char)(vals[f].number >> 24);
			resp[at++] = (unsigned char)(vals[f].number >> 16);
			resp[at++] = (unsigned char)(vals[f].number >> 8);
			resp[at++] = (unsigned char)vals[f].number;
		} else {
			resp[at++] = (unsigned char)vals[f].len;
			for (unsigned long i = 0; i < vals[f].len && i < TLV_STR_MAX; i++)
				resp[at++] = req[vals[f].at + i];
		}
	}
	for (unsigned long i = 0; i < at && i < 512; i++)
		x ^= resp[i];
	resp[at++] = x;
	return (long)at;
}

TLV_HANDLER long handle_request(const unsigned char *req, unsigned long len,
				unsigned char *resp, unsigned long cap)
{
	struct tlv_value vals[TLV_FIELDS];
	unsigned int seen = 0;
	unsigned long at = 3, count;

	if (len == 0 || req[0] == '#')
		return -1;
	if (cap < 512)
		return -1;
	if (len < 3 || len > TLV_REQ_MAX || req[0] != 'K' || req[1] != 1 || req[2] > TLV_RECORDS_MAX)
		return tlv_status(resp, 1, 0);
	count = req[2];
	for (unsigned long r = 0; r < count && r < TLV_RECORDS_MAX; r++) {
		unsigned long n;
		int f, status;

		TLV_WIDEN(at);
		TLV_WIDEN(seen);
		if (at + 2 > len)
			return tlv_status(resp, 2, seen);
		n = req[at + 1];
		if (at + 2 + n > len)
			return tlv_status(resp, 2, seen);
		f = tlv_find(req[at]);
		if (f < 0)
			return tlv_status(resp, 3, seen);
		if (seen & (1u << f))
			return tlv_status(resp, 5, seen);
		status = tlv_check(&tlv_fields[f], req + at + 2, n, &vals[f]);
		if (status)
			return tlv_status(resp, status, seen);
		vals[f].at = (unsigned char)(at + 2);
		vals[f].len = (unsigned char)n;
		seen |= 1u << f;
		at += 2 + n;
	}
	if (at != len)
		return tlv_status(resp, 2, seen);
	for (int f = 0; f < TLV_FIELDS; f++)
		if (tlv_fields[f].required && !(seen & (1u << f)))
			return tlv_status(resp, 7, seen);
	return tlv_encode(req, vals, seen, resp);
}

#ifndef TLV_BPF_REF
#include "../../samples/udp_server.h"

int main(int argc, char **argv)
{
	return udp_server_main(argc, argv, "tlv", 7013);
}
#endif
