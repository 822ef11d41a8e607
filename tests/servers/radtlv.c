/* radtlv - a RADIUS-like access server: 20-byte header, then attributes as
 * type/length/value; replies Access-Accept/Reject with echoed attributes.
 * Hard: a pointer-walking TLV loop whose bounds come from the packet,
 * big-endian fields (ntohs/rol), a switch on attribute types, a byte-wise
 * XOR "authenticator" and struct copies of the header. */
#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

enum { ACCESS_REQUEST = 1, ACCESS_ACCEPT = 2, ACCESS_REJECT = 3, STATUS_SERVER = 12 };
enum { ATTR_USER_NAME = 1, ATTR_USER_PASSWORD = 2, ATTR_NAS_IP = 4, ATTR_NAS_PORT = 5,
       ATTR_SERVICE_TYPE = 6, ATTR_REPLY_MESSAGE = 18, ATTR_STATE = 24, ATTR_CLASS = 25,
       ATTR_SESSION_TIMEOUT = 27, ATTR_CALLING_STATION = 31, ATTR_NAS_ID = 32,
       ATTR_MSG_AUTH = 80 };

struct rad_hdr {
	uint8_t code;
	uint8_t id;
	uint16_t length;
	uint8_t auth[16];
};

struct user {
	char name[12];
	uint8_t secret[8];
	uint32_t timeout;
};

static const struct user users[] = {
	{ "alice", { 's', 'e', 'c', 'r', 'e', 't', '1', 0 }, 3600 },
	{ "bob", { 'h', 'u', 'n', 't', 'e', 'r', '2', 0 }, 600 },
	{ "guest", { 0 }, 60 },
};

struct request_info {
	const uint8_t *user, *pass, *state;
	uint8_t user_len, pass_len, state_len;
	uint32_t nas_ip;
	uint32_t nas_port;
	int service;
};

static int parse_attrs(const uint8_t *p, const uint8_t *end, struct request_info *ri)
{
	while (p < end) {
		uint8_t type, alen;

		if (end - p < 2)
			return -1;
		type = p[0];
		alen = p[1];
		if (alen < 2 || alen > end - p)
			return -1;
		switch (type) {
		case ATTR_USER_NAME:
			ri->user = p + 2;
			ri->user_len = (uint8_t)(alen - 2);
			break;
		case ATTR_USER_PASSWORD:
			if ((alen - 2) % 16 != 0 && alen - 2 > 8)
				return -1;
			ri->pass = p + 2;
			ri->pass_len = (uint8_t)(alen - 2);
			break;
		case ATTR_NAS_IP:
			if (alen != 6)
				return -1;
			memcpy(&ri->nas_ip, p + 2, 4);
			ri->nas_ip = ntohl(ri->nas_ip);
			break;
		case ATTR_NAS_PORT:
			if (alen != 6)
				return -1;
			ri->nas_port = (uint32_t)p[2] << 24 | (uint32_t)p[3] << 16 | (uint32_t)p[4] << 8 | p[5];
			break;
		case ATTR_SERVICE_TYPE:
			if (alen != 6)
				return -1;
			ri->service = p[5];
			break;
		case ATTR_STATE:
			ri->state = p + 2;
			ri->state_len = (uint8_t)(alen - 2);
			break;
		case ATTR_CALLING_STATION:
		case ATTR_NAS_ID:
		case ATTR_MSG_AUTH:
			break;
		default:
			if (type == 0)
				return -1;
			break;
		}
		p += alen;
	}
	return 0;
}

static const struct user *check_user(const struct request_info *ri, const uint8_t *auth)
{
	for (unsigned i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
		const struct user *u = &users[i];
		uint8_t plain[8];

		if (strlen(u->name) != ri->user_len || memcmp(u->name, ri->user, ri->user_len))
			continue;
		if (!ri->pass)
			return u->secret[0] ? 0 : u;
		if (ri->pass_len < 8)
			return 0;
		for (int k = 0; k < 8; k++)
			plain[k] = ri->pass[k] ^ auth[k];
		return memcmp(plain, u->secret, 8) == 0 ? u : 0;
	}
	return 0;
}

static uint8_t *put_attr(uint8_t *p, uint8_t *end, uint8_t type, const void *v, uint8_t n)
{
	if (!p || end - p < n + 2)
		return 0;
	p[0] = type;
	p[1] = (uint8_t)(n + 2);
	memcpy(p + 2, v, n);
	return p + 2 + n;
}

long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp,
		    unsigned long cap)
{
	struct request_info ri = { 0 };
	struct rad_hdr h, out;
	const struct user *u;
	uint8_t *p, *end = resp + cap;
	uint16_t plen;

	if (len < sizeof(h) || cap < 64)
		return -1;
	memcpy(&h, req, sizeof(h));
	plen = ntohs(h.length);
	if (plen < sizeof(h) || plen > len)
		return -1;
	if (h.code == STATUS_SERVER) {
		static const char msg[] = "radtlv up";

		out = h;
		out.code = ACCESS_ACCEPT;
		p = put_attr(resp + sizeof(out), end, ATTR_REPLY_MESSAGE, msg, sizeof(msg) - 1);
		out.length = htons((uint16_t)(p - resp));
		memcpy(resp, &out, sizeof(out));
		return p - resp;
	}
	if (h.code != ACCESS_REQUEST)
		return 0;
	if (parse_attrs(req + sizeof(h), req + plen, &ri) < 0)
		return -1;
	if (!ri.user)
		return -1;
	u = check_user(&ri, h.auth);
	out = h;
	p = resp + sizeof(out);
	if (u && (ri.service == 0 || ri.service == 2 || ri.service == 8)) {
		uint32_t t = htonl(u->timeout);

		out.code = ACCESS_ACCEPT;
		p = put_attr(p, end, ATTR_SESSION_TIMEOUT, &t, 4);
		p = put_attr(p, end, ATTR_CLASS, u->name, (uint8_t)strlen(u->name));
		if (ri.state)
			p = put_attr(p, end, ATTR_STATE, ri.state, ri.state_len);
	} else {
		static const char deny[] = "access denied";

		out.code = ACCESS_REJECT;
		p = put_attr(p, end, ATTR_REPLY_MESSAGE, deny, sizeof(deny) - 1);
	}
	if (!p)
		return -1;
	for (int k = 0; k < 16; k++)
		out.auth[k] = (uint8_t)(h.auth[k] ^ (uint8_t)(ri.nas_port >> (k & 3) * 8) ^ (uint8_t)ri.nas_ip);
	out.length = htons((uint16_t)(p - resp));
	memcpy(resp, &out, sizeof(out));
	return p - resp;
}
