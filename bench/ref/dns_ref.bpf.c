/* dns_ref - samples/dns's handle_request() as a BPF expert would port it:
 * the sample's handler and zone table, compiled by clang -target bpf, with
 * the additions the verifier needs and nothing else:
 *   - every request/reply index masked to its scratch region (the sample's
 *     own length checks already keep it in range, so the masks never change
 *     a value: they only let the verifier see that);
 *   - memcpy/memcmp as byte loops with a constant trip bound;
 *   - the wire name buffer one byte larger so an 8-bit mask fits it.
 * Keep in step with samples/dns/dns.c (koffdiff checks that it is). */
#define REF_DEFAULT_PORT 5353
#include "ref_wrap.h"

#define REQ_MASK  (REF_REQ_MAX - 1)
#define RESP_MASK (REF_RESP_MAX - 1)

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

/* ---- The zone (copied from the sample) ------------------------------------ */

static const unsigned char zone_apex[] = "\7example\4test";
#define ZONE_APEX_LEN (sizeof zone_apex)

struct zone_record {
	unsigned char owner[16];
	unsigned char owner_len;
	__u16 type;
	__u16 rdlength;
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
#define ZONE_SIZE (sizeof zone / sizeof zone[0])
#define ZONE_SOA (&zone[0])

/* ---- Parsing the query --------------------------------------------------- */

struct query {
	__u16 id;
	__u16 flags;
	unsigned char name[DNS_MAX_NAME + 1];	/* +1: indexable with & 0xff */
	unsigned int name_len;
	unsigned int question_len;
	__u16 qtype;
	__u16 qclass;
};

static __always_inline unsigned int get16(const unsigned char *req, unsigned long pos)
{
	return (unsigned int)req[pos & REQ_MASK] << 8 | req[(pos + 1) & REQ_MASK];
}

static __always_inline void put16(unsigned char *resp, unsigned long pos, unsigned int v)
{
	resp[pos & RESP_MASK] = (unsigned char)(v >> 8);
	resp[(pos + 1) & RESP_MASK] = (unsigned char)v;
}

static __always_inline unsigned char ascii_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* The sample's label loop, flattened into one loop over the name's bytes
 * (a length byte starts each label): the nested loops made the verifier
 * walk every combination of label lengths.  Same checks, same result.
 * A global function, verified once on its own: inlined, every possible
 * name length would be a separate path through the rest of the handler. */
__noinline int parse_qname(struct ref_scratch *s, __u32 len, struct query *q)
{
	if (!s || !q || len > REF_MAX_REQ)
		return -1;
	const unsigned char *req = s->req;
	unsigned int label_left = 0;	/* bytes of the current label still to copy */

	for (unsigned int out = 0; out < DNS_MAX_NAME; out++) {
		unsigned long pos = DNS_HEADER_LEN + out;
		unsigned int c;

		if (label_left) {	/* inside a label: in range, checked below */
			q->name[out] = ascii_lower(req[pos & REQ_MASK]);
			label_left--;
			/* A no-op mask the compiler cannot drop: it widens the
			 * verifier's range of label_left to 0..255, so states of
			 * paths at different depths in a label match and prune. */
			asm volatile("%0 &= 0xff" : "+r"(label_left));
			continue;
		}
		if (pos >= len)
			return -1;
		c = req[pos & REQ_MASK];
		if (c == 0) {
			q->name[out] = 0;
			q->name_len = out + 1;
			return 0;
		}
		if (c > DNS_MAX_LABEL)
			return -1;	/* 0xC0 pointers and the reserved 0x40/0x80 types */
		if (pos + 1 + c > len || out + 1 + c + 1 > DNS_MAX_NAME)
			return -1;
		q->name[out] = (unsigned char)c;
		label_left = c;
	}
	return -1;	/* not reached: the name length check ends the loop first */
}

enum parse_result { PARSE_OK, PARSE_DROP, PARSE_FORMERR, PARSE_NOTIMP };

static __always_inline enum parse_result parse_query(const unsigned char *req,
						     unsigned long len, struct query *q)
{
	unsigned long type_pos;

	if (len < DNS_HEADER_LEN)
		return PARSE_DROP;
	q->id = (__u16)get16(req, 0);
	q->flags = (__u16)get16(req, 2);
	if (q->flags & FLAG_QR)
		return PARSE_DROP;
	if ((q->flags >> OPCODE_SHIFT & OPCODE_MASK) != 0)
		return PARSE_NOTIMP;
	if (get16(req, 4) != 1 || get16(req, 6) != 0 || get16(req, 8) != 0 ||
	    get16(req, 10) > 1)
		return PARSE_FORMERR;
	if (parse_qname((void *)req, len, q) < 0)	/* req is scratch->req */
		return PARSE_FORMERR;
	type_pos = DNS_HEADER_LEN + q->name_len;
	if (type_pos + 4 > len)
		return PARSE_FORMERR;
	q->qtype = (__u16)get16(req, type_pos);
	q->qclass = (__u16)get16(req, type_pos + 2);
	q->question_len = q->name_len + 4;
	return PARSE_OK;
}

/* ---- Looking up the zone ------------------------------------------------- */

static __always_inline int relative_owner_len(const struct query *q)
{
	unsigned int rel, pos = 0;

	if (q->name_len < ZONE_APEX_LEN)
		return -1;
	rel = q->name_len - ZONE_APEX_LEN;
	for (unsigned int i = 0; i < ZONE_APEX_LEN; i++)	/* memcmp */
		if (q->name[(rel + i) & 0xff] != zone_apex[i])
			return -1;
	for (int n = 0; n < 128 && pos < rel; n++)	/* labels: >= 2 bytes each */
		pos += 1u + q->name[pos & 0xff];
	return pos == rel ? (int)rel : -1;
}

static __always_inline int owner_matches(const struct zone_record *rr, const struct query *q,
					 unsigned int rel)
{
	if (rr->owner_len != rel)
		return 0;
	for (unsigned int i = 0; i < rel && i < sizeof rr->owner; i++)	/* memcmp */
		if (rr->owner[i] != q->name[i])
			return 0;
	return 1;
}

enum qtype_kind { QTYPE_LOOKUP, QTYPE_FORMERR, QTYPE_REFUSED };

static __always_inline enum qtype_kind classify_qtype(unsigned int qtype)
{
	switch (qtype) {
	case 0:
	case TYPE_OPT:
		return QTYPE_FORMERR;
	case TYPE_IXFR:
	case TYPE_AXFR:
	case TYPE_MAILB:
	case TYPE_MAILA:
		return QTYPE_REFUSED;
	default:
		return QTYPE_LOOKUP;
	}
}

/* ---- Writing the reply --------------------------------------------------- */

struct reply {
	unsigned char *buf;
	unsigned long cap;
	unsigned long len;
};

/* reply_put for bytes of the request (the question). */
static __always_inline int reply_put_req(struct reply *r, const unsigned char *req,
					 unsigned long from, unsigned long n)
{
	if (n > r->cap - r->len)
		return -1;
	for (unsigned long i = 0; i < n && i < DNS_MAX_NAME + 4; i++)	/* memcpy */
		r->buf[(r->len + i) & RESP_MASK] = req[(from + i) & REQ_MASK];
	r->len += n;
	return 0;
}

/* reply_put for constant bytes (record headers, rdata). */
static __always_inline int reply_put(struct reply *r, const unsigned char *data,
				     unsigned long n, unsigned long max)
{
	if (n > r->cap - r->len)
		return -1;
	for (unsigned long i = 0; i < n && i < max; i++)	/* memcpy */
		r->buf[(r->len + i) & RESP_MASK] = data[i];
	r->len += n;
	return 0;
}

static __always_inline int reply_put_record(struct reply *r, unsigned int name_offset,
					    const struct zone_record *rr)
{
	unsigned char fixed[12];

	put16(fixed, 0, 0xC000 | name_offset);
	put16(fixed, 2, rr->type);
	put16(fixed, 4, CLASS_IN);
	put16(fixed, 6, ANSWER_TTL >> 16);
	put16(fixed, 8, ANSWER_TTL & 0xffff);
	put16(fixed, 10, rr->rdlength);
	if (reply_put(r, fixed, sizeof fixed, sizeof fixed) < 0)
		return -1;
	return reply_put(r, rr->rdata, rr->rdlength, sizeof rr->rdata);
}

static __always_inline void put_header(unsigned char *hdr, const struct query *q,
				       unsigned int flags, unsigned int rcode,
				       unsigned int qdcount, unsigned int ancount,
				       unsigned int nscount)
{
	put16(hdr, 0, q->id);
	put16(hdr, 2, FLAG_QR | (q->flags & (FLAG_RD | OPCODE_MASK << OPCODE_SHIFT)) |
			      flags | rcode);
	put16(hdr, 4, qdcount);
	put16(hdr, 6, ancount);
	put16(hdr, 8, nscount);
	put16(hdr, 10, 0);
}

static __always_inline long error_reply(const struct query *q, unsigned int rcode,
					unsigned char *resp, unsigned long cap)
{
	if (cap < DNS_HEADER_LEN)
		return -1;
	put_header(resp, q, 0, rcode, 0, 0, 0);
	return DNS_HEADER_LEN;
}

static __always_inline int start_reply(struct reply *r, const unsigned char *req,
				       const struct query *q)
{
	r->len = DNS_HEADER_LEN;
	if (r->cap < DNS_HEADER_LEN)
		return -1;
	return reply_put_req(r, req, DNS_HEADER_LEN, q->question_len);
}

static __always_inline long answer_without_records(struct reply *r, const unsigned char *req,
						   const struct query *q, unsigned int flags,
						   unsigned int rcode)
{
	if (start_reply(r, req, q) < 0)
		return -1;
	put_header(r->buf, q, flags, rcode, 1, 0, 0);
	return (long)r->len;
}

/* The record writer as a global function: the verifier checks it once on
 * its own instead of once per path through the zone loop (inlined, the
 * paths multiply past the 1M-instruction budget).  Returns the new reply
 * length or -1. */
__noinline long ref_put_record(struct ref_scratch *s, __u32 at, __u32 name_offset, __u32 rec)
{
	if (!s || rec >= ZONE_SIZE || at > REF_CAP)
		return -1;
	struct reply r = { .buf = s->resp, .cap = REF_CAP, .len = at };
	if (reply_put_record(&r, name_offset, &zone[rec]) < 0)
		return -1;
	return (long)r.len;
}

static __always_inline int reply_put_zone_record(struct reply *r, unsigned int name_offset,
						 unsigned int rec)
{
	struct ref_scratch *s = (void *)(r->buf - REF_REQ_MAX);
	long len = ref_put_record(s, (__u32)r->len, name_offset, rec);
	if (len < 0)
		return -1;
	r->len = (unsigned long)len;
	return 0;
}

/* One step of the zone loop as a global function, for the same reason:
 * returns the new reply length, -1 when the record does not fit, or why
 * the record does not answer q. */
#define REC_OTHER_OWNER (-2)
#define REC_OTHER_TYPE  (-3)
__noinline long ref_answer_record(struct ref_scratch *s, struct query *q, __u32 rec,
				  __u32 rel, __u32 at)
{
	if (!s || !q || rec >= ZONE_SIZE)
		return -1;
	const struct zone_record *rr = &zone[rec];

	if (!owner_matches(rr, q, rel))
		return REC_OTHER_OWNER;
	if (q->qtype != TYPE_ANY && q->qtype != rr->type)
		return REC_OTHER_TYPE;
	return ref_put_record(s, at, DNS_HEADER_LEN, rec);
}

static __always_inline long answer_from_zone(struct reply *r, const unsigned char *req,
					     const struct query *q, unsigned int rel)
{
	unsigned int i, ancount = 0, nscount = 0, rcode = RCODE_NXDOMAIN;

	if (start_reply(r, req, q) < 0)
		return -1;
	for (i = 0; i < ZONE_SIZE; i++) {
		struct ref_scratch *s = (void *)(r->buf - REF_REQ_MAX);
		long len = ref_answer_record(s, (struct query *)q, i, rel, (__u32)r->len);

		if (len == REC_OTHER_OWNER)
			continue;
		rcode = RCODE_NOERROR;
		if (len == REC_OTHER_TYPE)
			continue;
		if (len < 0)
			return answer_without_records(r, req, q, FLAG_AA | FLAG_TC, RCODE_NOERROR);
		r->len = (unsigned long)len;
		ancount++;
	}
	if (ancount == 0) {
		if (reply_put_zone_record(r, DNS_HEADER_LEN + rel, 0) < 0)	/* the SOA */
			return answer_without_records(r, req, q, FLAG_AA | FLAG_TC, rcode);
		nscount = 1;
	}
	put_header(r->buf, q, FLAG_AA, rcode, 1, ancount, nscount);
	return (long)r->len;
}

static __always_inline long ref_handle(const __u8 *req, __u32 len, __u8 *resp, __u32 cap)
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

REF_XDP_PROGRAM
