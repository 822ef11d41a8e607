/* koff_packet.h - the Ethernet + IPv4 + UDP frame a request travels in, for
 * everything that runs a koff program with bpf_prog_test_run (koff-link's
 * --trace measurement, the benchmarks).  Header-only, no koff-link
 * internals, so bench/ and tests/ can include it alone. */
#ifndef KOFF_PACKET_H
#define KOFF_PACKET_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define KOFF_FRAME_HDRS 42	/* Ethernet 14 + IPv4 20 + UDP 8 */

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

/* A request from 10.0.0.1:40000 to 10.0.0.2:port with valid checksums;
 * frame must hold KOFF_FRAME_HDRS + len bytes.  Returns the frame length. */
static inline size_t koff_build_frame(uint8_t *frame, const uint8_t *req, size_t len, uint16_t port)
{
	static const uint8_t macs[12] = { 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1 };
	static const uint8_t addrs[8] = { 10, 0, 0, 1, 10, 0, 0, 2 };
	uint8_t *ip = frame + 14, *udp = ip + 20;
	uint32_t pseudo;
	uint16_t c;

	memcpy(frame, macs, 12);
	koff_put16(frame + 12, 0x0800);
	memset(ip, 0, 20);
	ip[0] = 0x45;
	koff_put16(ip + 2, (uint16_t)(28 + len));
	koff_put16(ip + 6, 0x4000);
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 12, addrs, 8);
	koff_put16(ip + 10, (uint16_t)~koff_csum_add(ip, 20, 0));
	koff_put16(udp, 40000);
	koff_put16(udp + 2, port);
	koff_put16(udp + 4, (uint16_t)(8 + len));
	koff_put16(udp + 6, 0);
	memcpy(udp + 8, req, len);
	/* pseudo header: addresses, protocol, UDP length */
	pseudo = koff_csum_add(ip + 12, 8, 17 + 8 + (uint32_t)len);
	c = (uint16_t)~koff_csum_add(udp, 8 + len, pseudo);
	koff_put16(udp + 6, c ? c : 0xffff);
	return KOFF_FRAME_HDRS + len;
}

#endif
