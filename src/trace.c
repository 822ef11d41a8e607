/* trace.c - --trace FILE: the requests a server is expected to see.
 *
 * Either a capture (pcap or pcapng, read with libpcap; every IPv4 UDP
 * datagram, or only those to --udp-port) or text with one request per line
 * in hex, the format tests/koffdiff.c and the benchmarks read.  The format
 * is told by the file's first bytes, not its name. */
#include <ctype.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "koff_packet.h"
#include "workload.h"

#define TRACE_MAX_REQUEST 65535u

static int add_request(struct trace *t, const uint8_t *bytes, size_t len, struct koff_error *err)
{
	uint8_t *copy = malloc(len ? len : 1);

	if (!copy || koff_grow(&t->reqs, &t->cap, t->n, sizeof(*t->reqs))) {
		free(copy);
		return koff_fail(err, -ENOMEM, "out of memory");
	}
	memcpy(copy, bytes, len);
	t->reqs[t->n++] = (struct trace_request){ copy, len };
	return 0;
}

void trace_free(struct trace *t)
{
	for (int i = 0; i < t->n; i++)
		free(t->reqs[i].bytes);
	free(t->reqs);
	memset(t, 0, sizeof(*t));
}

/* ---- pcap ------------------------------------------------------------------ */

static bool is_capture(const uint8_t magic[4])
{
	static const uint8_t magics[][4] = {
		{ 0xd4, 0xc3, 0xb2, 0xa1 }, { 0xa1, 0xb2, 0xc3, 0xd4 },	/* pcap, µs */
		{ 0x4d, 0x3c, 0xb2, 0xa1 }, { 0xa1, 0xb2, 0x3c, 0x4d },	/* pcap, ns */
		{ 0x0a, 0x0d, 0x0d, 0x0a },				/* pcapng */
	};

	for (size_t i = 0; i < KOFF_ARRAY_SIZE(magics); i++)
		if (!memcmp(magic, magics[i], 4))
			return true;
	return false;
}

static unsigned get16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

/* Offset of the IPv4 header in a frame of link type `dlt`, or -1 when the
 * frame does not carry IPv4. */
static long ipv4_offset(int dlt, const uint8_t *p, size_t caplen)
{
	size_t off;
	unsigned proto;

	switch (dlt) {
	case DLT_EN10MB:
		if (caplen < 14)
			return -1;
		off = 14, proto = get16(p + 12);
		while ((proto == 0x8100 || proto == 0x88a8) && caplen >= off + 4)
			proto = get16(p + off + 2), off += 4;	/* VLAN tags */
		return proto == 0x0800 ? (long)off : -1;
	case DLT_LINUX_SLL:
		return caplen >= 16 && get16(p + 14) == 0x0800 ? 16 : -1;
	case DLT_LINUX_SLL2:
		return caplen >= 20 && get16(p) == 0x0800 ? 20 : -1;
	case DLT_NULL:
	case DLT_LOOP:
		return caplen >= 4 && (p[0] == 2 || p[3] == 2) ? 4 : -1;	/* AF_INET either order */
	case DLT_RAW:
	case DLT_IPV4:
		return caplen >= 1 && p[0] >> 4 == 4 ? 0 : -1;
	default:
		return -1;
	}
}

/* The UDP payload of one captured frame, if it is a whole IPv4 UDP
 * datagram to `port` (any port when 0). */
static bool udp_payload(int dlt, const uint8_t *p, size_t caplen, int port, const uint8_t **payload,
			size_t *len)
{
	long ip = ipv4_offset(dlt, p, caplen);
	size_t ihl, udp, ulen;

	if (ip < 0 || caplen < (size_t)ip + 20)
		return false;
	ihl = (size_t)(p[ip] & 15) * 4;
	if (p[ip + 9] != 17 || ihl < 20 || (get16(p + ip + 6) & 0x3fff))	/* UDP, not a fragment */
		return false;
	udp = (size_t)ip + ihl;
	if (caplen < udp + 8)
		return false;
	ulen = get16(p + udp + 4);
	if (ulen < 8 || caplen < udp + ulen || (port && get16(p + udp + 2) != (unsigned)port))
		return false;
	*payload = p + udp + 8;
	*len = ulen - 8;
	return true;
}

static int read_capture(const char *path, int udp_port, struct trace *t, struct koff_error *err)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	pcap_t *pc = pcap_open_offline(path, errbuf);
	struct pcap_pkthdr *h;
	const u_char *data;
	int dlt, rc = 0, got;

	if (!pc)
		return koff_fail(err, -EINVAL, "%s: cannot read the capture: %s", path, errbuf);
	t->format = "pcap";
	dlt = pcap_datalink(pc);
	while (!rc && (got = pcap_next_ex(pc, &h, &data)) == 1) {
		const uint8_t *payload;
		size_t len;

		if (udp_payload(dlt, data, h->caplen, udp_port, &payload, &len))
			rc = add_request(t, payload, len, err);
		else
			t->skipped++;
	}
	if (!rc && got == PCAP_ERROR)
		rc = koff_fail(err, -EINVAL, "%s: broken capture: %s", path, pcap_geterr(pc));
	pcap_close(pc);
	return rc;
}

/* ---- hex lines -------------------------------------------------------------- */



static int read_hex(FILE *f, const char *path, struct trace *t, struct koff_error *err)
{
	uint8_t *buf = malloc(TRACE_MAX_REQUEST);
	char *line = NULL;
	size_t cap = 0;
	int lineno = 0, rc = 0;

	if (!buf)
		return koff_fail(err, -ENOMEM, "out of memory");
	t->format = "hex";
	while (!rc && getline(&line, &cap, f) >= 0) {
		long n = koff_parse_hex_line(line, buf, TRACE_MAX_REQUEST);

		lineno++;
		if (n == -EINVAL)
			rc = koff_fail(err, -EINVAL, "%s:%d: not a hex request (one request per line, "
					"hex digits, '#' comments)", path, lineno);
		else if (n >= 0)
			rc = add_request(t, buf, (size_t)n, err);
	}
	free(line);
	free(buf);
	return rc;
}

int trace_read(const char *path, int udp_port, struct trace *t, struct koff_error *err)
{
	uint8_t magic[4] = { 0 };
	FILE *f = fopen(path, "rb");
	size_t got;
	int rc;

	memset(t, 0, sizeof(*t));
	if (!f)
		return koff_fail(err, -errno, "%s: cannot read the trace: %s", path, strerror(errno));
	got = fread(magic, 1, sizeof(magic), f);
	if (got == sizeof(magic) && is_capture(magic)) {
		fclose(f);
		rc = read_capture(path, udp_port, t, err);
	} else {
		rewind(f);
		rc = read_hex(f, path, t, err);
		fclose(f);
	}
	if (!rc && t->n == 0)
		rc = koff_fail(err, -EINVAL, "%s: no requests in the trace%s", path,
			       t->skipped ? " (no IPv4 UDP datagram to the handler's port)" : "");
	if (rc)
		trace_free(t);
	return rc;
}
