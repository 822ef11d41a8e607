/* pbrpc - a protobuf-encoded RPC endpoint ("Sum", "Echo", "Stat" by method
 * number in field 1), decoding varints, zigzag sint64, fixed32/fixed64 and
 * length-delimited fields, and answering with an encoded message.
 * Hard: 64-bit varints built with shifts by a register count (shl rax, cl),
 * zigzag (sar/xor), wire-type switch, and a field loop bounded by the packet. */
#include <stdint.h>
#include <string.h>

enum wire { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

struct reader {
	const uint8_t *p, *end;
	int err;
};

static uint64_t read_varint(struct reader *r)
{
	uint64_t v = 0;
	unsigned shift = 0;

	while (r->p < r->end) {
		uint8_t b = *r->p++;

		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
		shift += 7;
		if (shift >= 64)
			break;
	}
	r->err = 1;
	return 0;
}

static int64_t unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static uint64_t zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static uint8_t *write_varint(uint8_t *p, uint8_t *end, uint64_t v)
{
	while (p && p < end) {
		if (v < 0x80) {
			*p++ = (uint8_t)v;
			return p;
		}
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	return 0;
}

static uint8_t *write_tag(uint8_t *p, uint8_t *end, unsigned field, enum wire wt)
{
	return write_varint(p, end, (uint64_t)field << 3 | wt);
}

struct call {
	uint64_t method;
	int64_t sum;
	uint64_t xor_fixed;
	unsigned nvalues;
	const uint8_t *payload;
	uint64_t payload_len;
	uint32_t max_u32;
};

static int decode(struct reader *r, struct call *c)
{
	while (r->p < r->end && !r->err) {
		uint64_t key = read_varint(r), v;
		unsigned field = (unsigned)(key >> 3);

		if (r->err || field == 0)
			return -1;
		switch (key & 7) {
		case WT_VARINT:
			v = read_varint(r);
			if (field == 1)
				c->method = v;
			else if (field == 2) {
				c->sum += unzigzag(v);
				c->nvalues++;
			}
			break;
		case WT_I64:
			if (r->end - r->p < 8)
				return -1;
			memcpy(&v, r->p, 8);
			c->xor_fixed ^= v;
			r->p += 8;
			break;
		case WT_I32: {
			uint32_t w;

			if (r->end - r->p < 4)
				return -1;
			memcpy(&w, r->p, 4);
			if (w > c->max_u32)
				c->max_u32 = w;
			r->p += 4;
			break;
		}
		case WT_LEN:
			v = read_varint(r);
			if (r->err || v > (uint64_t)(r->end - r->p))
				return -1;
			if (field == 3) {
				c->payload = r->p;
				c->payload_len = v;
			}
			r->p += v;
			break;
		default:
			return -1;
		}
	}
	return r->err ? -1 : 0;
}

long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp,
		    unsigned long cap)
{
	struct reader r = { req, req + len, 0 };
	struct call c = { 0 };
	uint8_t *p = resp, *end = resp + cap;

	if (len == 0)
		return -1;
	if (decode(&r, &c) < 0)
		return -1;
	switch (c.method) {
	case 1: /* Sum */
		p = write_tag(p, end, 1, WT_VARINT);
		p = write_varint(p, end, zigzag(c.sum));
		p = write_tag(p, end, 2, WT_VARINT);
		p = write_varint(p, end, c.nvalues);
		break;
	case 2: /* Echo */
		if (!c.payload)
			return -1;
		p = write_tag(p, end, 3, WT_LEN);
		p = write_varint(p, end, c.payload_len);
		if (!p || c.payload_len > (uint64_t)(end - p))
			return -1;
		memcpy(p, c.payload, c.payload_len);
		p += c.payload_len;
		break;
	case 3: /* Stat */
		p = write_tag(p, end, 4, WT_I64);
		if (!p || end - p < 12)
			return -1;
		memcpy(p, &c.xor_fixed, 8);
		p += 8;
		p = write_tag(p, end, 5, WT_I32);
		if (!p || end - p < 4)
			return -1;
		memcpy(p, &c.max_u32, 4);
		p += 4;
		break;
	case 0:
		return 0;
	default:
		p = write_tag(p, end, 15, WT_VARINT);
		p = write_varint(p, end, c.method);
		break;
	}
	return p ? p - resp : -1;
}
