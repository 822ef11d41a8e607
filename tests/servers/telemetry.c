/* telemetry - a sensor gateway: fixed-layout messages decoded by copying
 * the datagram into a union of packed structs (header + one of several
 * bodies), normalised into a record (struct assignment), and answered with
 * a summary struct.  Hard: unions and type punning through memcpy, packed
 * unaligned fields, struct copies (rep movs / SSE moves), float-free fixed
 * point scaling, byte swapping of 16/32/64-bit fields. */
#include <stdint.h>
#include <string.h>

enum kind { K_TEMP = 1, K_GPS = 2, K_BATCH = 3, K_PING = 4 };

struct __attribute__((packed)) hdr {
	uint8_t magic[2];	/* "TM" */
	uint8_t kind;
	uint8_t flags;
	uint32_t device;	/* big endian */
	uint16_t seq;		/* big endian */
};

struct __attribute__((packed)) temp_body {
	int16_t centi_celsius[4];
	uint8_t humidity;
};

struct __attribute__((packed)) gps_body {
	int32_t lat_e7, lon_e7;
	uint16_t alt_dm;
	uint64_t when;		/* big endian */
};

struct __attribute__((packed)) batch_body {
	uint8_t count;
	struct { uint8_t channel; int16_t value; } sample[16];
};

union message {
	uint8_t raw[64];
	struct __attribute__((packed)) {
		struct hdr h;
		union {
			struct temp_body temp;
			struct gps_body gps;
			struct batch_body batch;
		} u;
	} m;
};

struct record {
	uint32_t device;
	uint16_t seq;
	uint8_t kind, nvalues;
	int32_t values[8];
	uint64_t stamp;
};

struct __attribute__((packed)) summary {
	uint8_t magic[2];
	uint8_t kind, nvalues;
	uint32_t device;
	uint16_t seq;
	int32_t min, max;
	int64_t sum;
	uint64_t stamp;
};

static const struct record empty_record = { .kind = 0 };

static int32_t clamp16(int32_t v)
{
	return v < -32768 ? -32768 : v > 32767 ? 32767 : v;
}

static int decode(const union message *msg, unsigned long len, struct record *out)
{
	struct record r = empty_record;
	const struct hdr *h = &msg->m.h;

	r.device = __builtin_bswap32(h->device);
	r.seq = __builtin_bswap16(h->seq);
	r.kind = h->kind;
	switch (h->kind) {
	case K_TEMP: {
		struct temp_body t = msg->m.u.temp;

		if (len < sizeof(struct hdr) + sizeof(t))
			return -1;
		for (int i = 0; i < 4; i++)
			r.values[i] = t.centi_celsius[i];
		r.values[4] = t.humidity * 100 / 255;
		r.nvalues = 5;
		break;
	}
	case K_GPS: {
		struct gps_body g;

		if (len < sizeof(struct hdr) + sizeof(g))
			return -1;
		memcpy(&g, &msg->m.u.gps, sizeof(g));
		r.values[0] = g.lat_e7 / 100;
		r.values[1] = g.lon_e7 / 100;
		r.values[2] = g.alt_dm;
		r.nvalues = 3;
		r.stamp = __builtin_bswap64(g.when);
		break;
	}
	case K_BATCH: {
		const struct batch_body *b = &msg->m.u.batch;

		if (b->count > 8 || len < sizeof(struct hdr) + 1 + b->count * 3u)
			return -1;
		for (int i = 0; i < b->count; i++)
			r.values[b->sample[i].channel & 7] += clamp16(b->sample[i].value * 2);
		r.nvalues = 8;
		break;
	}
	case K_PING:
		break;
	default:
		return -1;
	}
	*out = r;
	return 0;
}

long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp,
		    unsigned long cap)
{
	union message msg;
	struct record rec;
	struct summary s;

	if (len < sizeof(struct hdr) || len > sizeof(msg) || cap < sizeof(s))
		return -1;
	memset(&msg, 0, sizeof(msg));
	memcpy(msg.raw, req, len);
	if (msg.m.h.magic[0] != 'T' || msg.m.h.magic[1] != 'M')
		return -1;
	if (decode(&msg, len, &rec) < 0)
		return -1;
	if (rec.kind == K_PING && !(msg.m.h.flags & 1))
		return 0;
	memset(&s, 0, sizeof(s));
	s.magic[0] = 'T';
	s.magic[1] = 'S';
	s.kind = rec.kind;
	s.nvalues = rec.nvalues;
	s.device = __builtin_bswap32(rec.device);
	s.seq = __builtin_bswap16((uint16_t)(rec.seq + 1));
	s.min = INT32_MAX;
	s.max = INT32_MIN;
	for (int i = 0; i < rec.nvalues; i++) {
		if (rec.values[i] < s.min)
			s.min = rec.values[i];
		if (rec.values[i] > s.max)
			s.max = rec.values[i];
		s.sum += rec.values[i];
	}
	s.stamp = rec.stamp;
	memcpy(resp, &s, sizeof(s));
	return sizeof(s);
}
