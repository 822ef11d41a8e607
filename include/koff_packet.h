/* koff_packet.h - request files (hex lines) and the frame a request travels
 * in (Ethernet, VLAN tags, IPv4 or IPv6, UDP), for
 * everything that runs a koff program with bpf_prog_test_run (koff-link's
 * --trace measurement, the benchmarks).  Header-only, no koff-link
 * internals, so bench/ and tests/ can include it alone. */
#ifndef KOFF_PACKET_H
#define KOFF_PACKET_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define KOFF_FRAME_HDRS 42	/* Ethernet 14 + IPv4 20 + UDP 8 */

/* ---- Request files: one request per line, in hex ----------------------- */

static inline int koff_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		c += 'a' - 'A';
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes one line of hex (white space allowed, '#' starts a comment) into
 * buf (cap bytes); returns the byte count, -1 for a blank or comment line,
 * -EINVAL for anything that is not hex or does not fit. */
static inline long koff_parse_hex_line(const char *line, uint8_t *buf, size_t cap)
{
	size_t n = 0;
	int high = -1, any = 0;

	for (const char *p = line; *p && *p != '#'; p++) {
		int d;

		if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\v' || *p == '\f')
			continue;
		d = koff_hex_digit((unsigned char)*p);
		if (d < 0 || n >= cap)
			return -EINVAL;
		any = 1;
		if (high < 0) {
			high = d;
		} else {
			buf[n++] = (uint8_t)(high << 4 | d);
			high = -1;
		}
	}
	return high >= 0 ? -EINVAL : any ? (long)n : -1;
}

/* ---- Frames ------------------------------------------------------------- */

static inline void koff_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* One's complement sum of p[0..n) added to sum, folded to 16 bits. */
static inline uint32_t koff_csum_add(const uint8_t *p, size_t n, uint32_t sum)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

#define KOFF_FRAME_HDRS_MAX (14 + 8 + 40 + 8)	/* two VLAN tags, IPv6 */

/* The frames a request can travel in: tags 0 (plain), 1 (802.1Q), 2
 * (802.1ad + 802.1Q); IPv4 or IPv6. */
struct koff_frame_kind {
	const char *name;
	int tags, ipv6;
};

static const struct koff_frame_kind koff_frame_kinds[] = {
	{ "v4", 0, 0 }, { "v6", 0, 1 }, { "vlan4", 1, 0 },
	{ "vlan6", 1, 1 }, { "qinq4", 2, 0 }, { "qinq6", 2, 1 },
};

static inline const struct koff_frame_kind *koff_frame_kind(const char *name)
{
	for (size_t i = 0; i < sizeof(koff_frame_kinds) / sizeof(koff_frame_kinds[0]); i++)
		if (!strcmp(name, koff_frame_kinds[i].name))
			return &koff_frame_kinds[i];
	return NULL;
}

/* A request from 10.0.0.1 (fd00::1):40000 to 10.0.0.2 (fd00::2):port with
 * valid checksums, in a frame of kind k; frame must hold
 * KOFF_FRAME_HDRS_MAX + len bytes.  Returns the frame length. */
static inline size_t koff_build_frame_kind(uint8_t *frame, const uint8_t *req, size_t len,
					   uint16_t port, const struct koff_frame_kind *k)
{
	static const uint8_t macs[12] = { 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1 };
	static const uint8_t ip6s[32] = { 0xfd, [15] = 1, [16] = 0xfd, [31] = 2 };
	static const uint8_t ip4s[8] = { 10, 0, 0, 1, 10, 0, 0, 2 };
	uint8_t *p = frame + 12, *ip, *udp;
	uint32_t pseudo;
	uint16_t c;

	memcpy(frame, macs, 12);
	for (int t = k->tags; t > 0; t--, p += 4) {
		koff_put16(p, t == 2 ? 0x88a8 : 0x8100);
		koff_put16(p + 2, 7);
	}
	koff_put16(p, k->ipv6 ? 0x86dd : 0x0800);
	ip = p + 2;
	udp = ip + (k->ipv6 ? 40 : 20);
	if (k->ipv6) {
		memset(ip, 0, 8);
		ip[0] = 0x60;
		koff_put16(ip + 4, (uint16_t)(8 + len));
		ip[6] = 17;
		ip[7] = 64;
		memcpy(ip + 8, ip6s, 32);
		pseudo = koff_csum_add(ip + 8, 32, 17 + 8 + (uint32_t)len);
	} else {
		memset(ip, 0, 20);
		ip[0] = 0x45;
		koff_put16(ip + 2, (uint16_t)(28 + len));
		koff_put16(ip + 6, 0x4000);
		ip[8] = 64;
		ip[9] = 17;
		memcpy(ip + 12, ip4s, 8);
		koff_put16(ip + 10, (uint16_t)~koff_csum_add(ip, 20, 0));
		pseudo = koff_csum_add(ip + 12, 8, 17 + 8 + (uint32_t)len);
	}
	koff_put16(udp, 40000);
	koff_put16(udp + 2, port);
	koff_put16(udp + 4, (uint16_t)(8 + len));
	koff_put16(udp + 6, 0);
	memcpy(udp + 8, req, len);
	c = (uint16_t)~koff_csum_add(udp, 8 + len, pseudo);
	koff_put16(udp + 6, c ? c : 0xffff);
	return (size_t)(udp + 8 - frame) + len;
}

/* A request in an untagged IPv4 frame (KOFF_FRAME_HDRS + len bytes). */
static inline size_t koff_build_frame(uint8_t *frame, const uint8_t *req, size_t len, uint16_t port)
{
	return koff_build_frame_kind(frame, req, len, port, &koff_frame_kinds[0]);
}

#endif
