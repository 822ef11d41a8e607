/* dns - a small authoritative DNS server for one compiled-in zone.
 *
 * The zone (example.test) lives in const tables.  handle_request() follows
 * koff's handler convention (README.md, "The handler convention"): it reads only
 * req[0..len), writes only resp[0..cap), uses its own stack, and calls only
 * local static functions and memcmp/memcpy, so koff-link can lift it to XDP.
 * main() is the ordinary userspace server that serves whatever XDP passes up.
 *
 *   dns [-p PORT] [-a ADDR]      default 127.0.0.1:5353
 *
 * Answers: NOERROR with the records of the asked type (ANY: all of them),
 * NOERROR/NODATA with the zone's SOA when the name exists without that type,
 * NXDOMAIN with the SOA for other names in the zone, REFUSED outside it,
 * FORMERR for malformed queries whose header is readable, NOTIMP for opcodes
 * other than QUERY.  Queries shorter than a header and messages with QR=1
 * (responses) are dropped: answering a response invites reply loops.
 * An EDNS OPT record in the additional section is accepted and not echoed
 * (RFC 6891 allows a responder without EDNS support to ignore it).
 */
#include <stdint.h>
#include <string.h>

#include "../udp_server.h"

/* ---- DNS wire format constants (RFC 1035, 3596, 6891) --------------------- */

#define DNS_HEADER_LEN 12
#define DNS_MAX_NAME   255	/* wire length of a name, root byte included */
#define DNS_MAX_LABEL  63

#define FLAG_QR 0x8000
#define FLAG_AA 0x0400
#define FLAG_TC 0x0200
#define FLAG_RD 0x0100
#define OPCODE_SHIFT 11
#define OPCODE_MASK  0xf

enum dns_rcode { RCODE_NOERROR = 0, RCODE_FORMERR = 1, RCODE_NXDOMAIN = 3,
		 RCODE_NOTIMP = 4, RCODE_REFUSED = 5 };

enum dns_type { TYPE_A = 1, TYPE_NS = 2, TYPE_SOA = 6, TYPE_TXT = 16,
		TYPE_AAAA = 28, TYPE_OPT = 41, TYPE_IXFR = 251, TYPE_AXFR = 252,
		TYPE_MAILB = 253, TYPE_MAILA = 254, TYPE_ANY = 255 };

#define CLASS_IN 1
#define ANSWER_TTL 300

/* ---- The zone --------------------------------------------------------------- */

/* The apex in wire format, lowercase. */
static const unsigned char zone_apex[] = "\7example\4test";	/* + the root byte */
#define ZONE_APEX_LEN (sizeof zone_apex)	/* 14: the terminating NUL is the root */

/* One resource record.  Owner names are relative to the apex, in wire format
 * without the root byte, lowercase; the apex itself has an empty owner.
 * No pointers in the table, so it is plain read-only data. */
struct zone_record {
	unsigned char owner[16];
	unsigned char owner_len;
	uint16_t type;
	uint16_t rdlength;
	unsigned char rdata[64];
};

#define OWNER(s) .owner = s, .owner_len = sizeof(s) - 1
#define RDATA(...) .rdata = { __VA_ARGS__ }, .rdlength = sizeof((unsigned char[]){ __VA_ARGS__ })
#define IPV6(last) 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last

static const struct zone_record zone[] = {
	{ OWNER(""), .type = TYPE_SOA, RDATA(
		3, 'n', 's', '1', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 4, 't', 'e', 's', 't', 0,
		10, 'h', 'o', 's', 't', 'm', 'a', 's', 't', 'e', 'r',
		7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 4, 't', 'e', 's', 't', 0,
		0x78, 0x68, 0x2c, 0x01,	/* serial 2020092929 */
		0, 0, 0x0e, 0x10,	/* refresh 3600 */
		0, 0, 0x03, 0x84,	/* retry 900 */
		0, 0x09, 0x3a, 0x80,	/* expire 604800 */
		0, 0, 0x01, 0x2c) },	/* minimum 300 */
	{ OWNER(""), .type = TYPE_NS, RDATA(
		3, 'n', 's', '1', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 4, 't', 'e', 's', 't', 0) },
	{ OWNER(""), .type = TYPE_A, RDATA(192, 0, 2, 1) },
	{ OWNER(""), .type = TYPE_TXT, RDATA(16, 'k', 'o', 'f', 'f', ' ', 's', 'a', 'm',
					    'p', 'l', 'e', ' ', 'z', 'o', 'n', 'e') },
	{ OWNER("\3www"), .type = TYPE_A, RDATA(192, 0, 2, 10) },
	{ OWNER("\3www"), .type = TYPE_AAAA, RDATA(IPV6(0x10)) },
	{ OWNER("\4mail"), .type = TYPE_A, RDATA(192, 0, 2, 25) },
	{ OWNER("\4mail"), .type = TYPE_AAAA, RDATA(IPV6(0x25)) },
	{ OWNER("\3api"), .type = TYPE_A, RDATA(192, 0, 2, 30) },
	{ OWNER("\3api"), .type = TYPE_A, RDATA(192, 0, 2, 31) },
	{ OWNER("\3api"), .type = TYPE_AAAA, RDATA(IPV6(0x30)) },
	{ OWNER("\3ns1"), .type = TYPE_A, RDATA(192, 0, 2, 53) },
	{ OWNER("\3ns1"), .type = TYPE_AAAA, RDATA(IPV6(0x53)) },
	{ OWNER("\3ftp"), .type = TYPE_A, RDATA(192, 0, 2, 21) },
};
#define ZONE_SOA (&zone[0])

/* ---- Parsing the query --------------------------------------------------- */

struct query {
	uint16_t id;
	uint16_t flags;
	unsigned char name[DNS_MAX_NAME];	/* lowercase wire name, root included */
	unsigned int name_len;
	unsigned int question_len;		/* name + type + class, as sent */
	uint16_t qtype;
	uint16_t qclass;
};

static unsigned int get16(const unsigned char *p)
{
	return (unsigned int)p[0] << 8 | p[1];
}

static void put16(unsigned char *p, unsigned int v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

static unsigned char ascii_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* Copies the QNAME at req[DNS_HEADER_LEN] into q->name, lowercased.
 * Returns 0, or -1 when the name is malformed: a compression pointer (not
 * allowed in a query), an oversized label or name, or a truncated message. */
static int parse_qname(const unsigned char *req, unsigned long len, struct query *q)
{
	unsigned long pos = DNS_HEADER_LEN;
	unsigned int out = 0;

	for (;;) {
		unsigned int label, i;

		if (pos >= len)
			return -1;
		label = req[pos];
		if (label == 0)
			break;
		if (label > DNS_MAX_LABEL)
			return -1;	/* 0xC0 pointers and the reserved 0x40/0x80 types */
		if (pos + 1 + label > len || out + 1 + label + 1 > DNS_MAX_NAME)
			return -1;
		q->name[out++] = (unsigned char)label;
		for (i = 0; i < label; i++)
			q->name[out++] = ascii_lower(req[pos + 1 + i]);
		pos += 1 + label;
	}
	q->name[out++] = 0;
	q->name_len = out;
	return 0;
}

enum parse_result { PARSE_OK, PARSE_DROP, PARSE_FORMERR, PARSE_NOTIMP };

static enum parse_result parse_query(const unsigned char *req, unsigned long len, struct query *q)
{
	unsigned long type_pos;

	if (len < DNS_HEADER_LEN)
		return PARSE_DROP;
	q->id = (uint16_t)get16(req);
	q->flags = (uint16_t)get16(req + 2);
	if (q->flags & FLAG_QR)
		return PARSE_DROP;
	if ((q->flags >> OPCODE_SHIFT & OPCODE_MASK) != 0)
		return PARSE_NOTIMP;
	if (get16(req + 4) != 1 || get16(req + 6) != 0 || get16(req + 8) != 0 ||
	    get16(req + 10) > 1)
		return PARSE_FORMERR;	/* one question; at most an OPT record */
	if (parse_qname(req, len, q) < 0)
		return PARSE_FORMERR;
	type_pos = DNS_HEADER_LEN + q->name_len;
	if (type_pos + 4 > len)
		return PARSE_FORMERR;
	q->qtype = (uint16_t)get16(req + type_pos);
	q->qclass = (uint16_t)get16(req + type_pos + 2);
	q->question_len = q->name_len + 4;
	return PARSE_OK;
}

/* ---- Looking up the zone ------------------------------------------------- */

/* Length of the owner name relative to the apex, or -1 when the name is not
 * at or below example.test. */
static int relative_owner_len(const struct query *q)
{
	unsigned int rel, pos = 0;

	if (q->name_len < ZONE_APEX_LEN)
		return -1;
	rel = q->name_len - ZONE_APEX_LEN;
	if (memcmp(q->name + rel, zone_apex, ZONE_APEX_LEN) != 0)
		return -1;
	while (pos < rel)	/* the apex must start on a label boundary */
		pos += 1u + q->name[pos];
	return pos == rel ? (int)rel : -1;
}

static int owner_matches(const struct zone_record *rr, const struct query *q, unsigned int rel)
{
	return rr->owner_len == rel && memcmp(rr->owner, q->name, rel) == 0;
}

/* What a query type asks for: records of the zone, or something this
 * server does not offer over UDP. */
enum qtype_kind { QTYPE_LOOKUP, QTYPE_FORMERR, QTYPE_REFUSED };

static enum qtype_kind classify_qtype(unsigned int qtype)
{
	switch (qtype) {
	case TYPE_A:
	case TYPE_NS:
	case TYPE_SOA:
	case TYPE_TXT:
	case TYPE_AAAA:
	case TYPE_ANY:
		return QTYPE_LOOKUP;
	case 0:
	case TYPE_OPT:
		return QTYPE_FORMERR;	/* not a type one can ask for */
	case TYPE_IXFR:
	case TYPE_AXFR:
	case TYPE_MAILB:
	case TYPE_MAILA:
		return QTYPE_REFUSED;	/* zone transfers and obsolete meta types */
	default:
		return QTYPE_LOOKUP;	/* a type we hold no records of: NODATA */
	}
}

/* ---- Writing the reply --------------------------------------------------- */

struct reply {
	unsigned char *buf;
	unsigned long cap;
	unsigned long len;
};

static int reply_put(struct reply *r, const void *data, unsigned long n)
{
	if (n > r->cap - r->len)
		return -1;
	memcpy(r->buf + r->len, data, n);
	r->len += n;
	return 0;
}

/* A record whose owner is a compression pointer to `name_offset`. */
static int reply_put_record(struct reply *r, unsigned int name_offset,
			    const struct zone_record *rr)
{
	unsigned char fixed[12];

	put16(fixed, 0xC000 | name_offset);
	put16(fixed + 2, rr->type);
	put16(fixed + 4, CLASS_IN);
	put16(fixed + 6, ANSWER_TTL >> 16);
	put16(fixed + 8, ANSWER_TTL & 0xffff);
	put16(fixed + 10, rr->rdlength);
	if (reply_put(r, fixed, sizeof fixed) < 0)
		return -1;
	return reply_put(r, rr->rdata, rr->rdlength);
}

static void put_header(unsigned char *hdr, const struct query *q, unsigned int flags,
		       unsigned int rcode, unsigned int qdcount, unsigned int ancount,
		       unsigned int nscount)
{
	put16(hdr, q->id);
	put16(hdr + 2, FLAG_QR | (q->flags & (FLAG_RD | OPCODE_MASK << OPCODE_SHIFT)) |
			       flags | rcode);
	put16(hdr + 4, qdcount);
	put16(hdr + 6, ancount);
	put16(hdr + 8, nscount);
	put16(hdr + 10, 0);
}

/* A reply with no question: used when the question itself is unusable. */
static long error_reply(const struct query *q, unsigned int rcode,
			unsigned char *resp, unsigned long cap)
{
	if (cap < DNS_HEADER_LEN)
		return -1;
	put_header(resp, q, 0, rcode, 0, 0, 0);
	return DNS_HEADER_LEN;
}

/* Header + the question exactly as the client sent it (case preserved). */
static int start_reply(struct reply *r, const unsigned char *req, const struct query *q)
{
	r->len = DNS_HEADER_LEN;
	if (r->cap < DNS_HEADER_LEN)
		return -1;
	return reply_put(r, req + DNS_HEADER_LEN, q->question_len);
}

static long answer_without_records(struct reply *r, const unsigned char *req,
				   const struct query *q, unsigned int flags,
				   unsigned int rcode)
{
	if (start_reply(r, req, q) < 0)
		return -1;
	put_header(r->buf, q, flags, rcode, 1, 0, 0);
	return (long)r->len;
}

/* The records of the owner at `rel` that answer q, then the SOA when there
 * are none (a negative answer carries the SOA in the authority section). */
static long answer_from_zone(struct reply *r, const unsigned char *req,
			     const struct query *q, unsigned int rel)
{
	unsigned int i, ancount = 0, nscount = 0, rcode = RCODE_NXDOMAIN;

	if (start_reply(r, req, q) < 0)
		return -1;
	for (i = 0; i < sizeof zone / sizeof zone[0]; i++) {
		const struct zone_record *rr = &zone[i];

		if (!owner_matches(rr, q, rel))
			continue;
		rcode = RCODE_NOERROR;	/* the name exists */
		if (q->qtype != TYPE_ANY && q->qtype != rr->type)
			continue;
		if (reply_put_record(r, DNS_HEADER_LEN, rr) < 0)
			return answer_without_records(r, req, q, FLAG_AA | FLAG_TC, RCODE_NOERROR);
		ancount++;
	}
	if (ancount == 0) {
		/* The apex inside the question name starts `rel` bytes in. */
		if (reply_put_record(r, DNS_HEADER_LEN + rel, ZONE_SOA) < 0)
			return answer_without_records(r, req, q, FLAG_AA | FLAG_TC, rcode);
		nscount = 1;
	}
	put_header(r->buf, q, FLAG_AA, rcode, 1, ancount, nscount);
	return (long)r->len;
}

long handle_request(const unsigned char *req, unsigned long len,
		    unsigned char *resp, unsigned long cap)
{
	struct query q;
	struct reply r = { .buf = resp, .cap = cap, .len = 0 };
	int rel;

	switch (parse_query(req, len, &q)) {
	case PARSE_DROP:
		return -1;
	case PARSE_FORMERR:
		return error_reply(&q, RCODE_FORMERR, resp, cap);
	case PARSE_NOTIMP:
		return error_reply(&q, RCODE_NOTIMP, resp, cap);
	case PARSE_OK:
		break;
	}
	switch (classify_qtype(q.qtype)) {
	case QTYPE_FORMERR:
		return error_reply(&q, RCODE_FORMERR, resp, cap);
	case QTYPE_REFUSED:
		return answer_without_records(&r, req, &q, 0, RCODE_REFUSED);
	case QTYPE_LOOKUP:
		break;
	}
	rel = relative_owner_len(&q);
	if (q.qclass != CLASS_IN || rel < 0)
		return answer_without_records(&r, req, &q, 0, RCODE_REFUSED);
	return answer_from_zone(&r, req, &q, (unsigned int)rel);
}

/* ---- The userspace server (samples/udp_server.h) -------------------------- */

int main(int argc, char **argv)
{
	return udp_server_main(argc, argv, "dns", 5353);
}
