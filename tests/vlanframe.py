#!/usr/bin/env python3
"""vlanframe.py - send one UDP request in a VLAN-tagged Ethernet frame on an
interface (AF_PACKET) and check the reply frame that comes back.

    vlanframe.py IFACE DST_MAC KIND SRC_IP DST_IP PORT HEX
    KIND: vlan4 vlan6 (one 802.1Q tag, VLAN 7), qinq4 qinq6 (802.1ad VLAN 100
    + 802.1Q VLAN 7)

The frame goes out with the tags in its bytes, so that an XDP program on the
other end sees them.  The reply must come back with the same tags (the
receiving kernel moves the outer one into packet metadata: it is read back
from PACKET_AUXDATA), swapped addresses and ports, right lengths, a valid
IPv4 header checksum and a valid UDP checksum (required for IPv6).  Prints
the reply's UDP payload in hex; exit 0 when the reply is right, 1 when it is
wrong, 3 when none comes within 2 s.  Used by tests/t-native-veth.sh, where
the kernel has no VLAN devices (CONFIG_VLAN_8021Q) to make such frames.
"""
import ipaddress
import select
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_AUXDATA = 8
TP_STATUS_VLAN_VALID = 1 << 4
TP_STATUS_VLAN_TPID_VALID = 1 << 6
PACKET_OUTGOING = 4
CLIENT_PORT = 40007
TAGS = {1: [(0x8100, 7)], 2: [(0x88A8, 100), (0x8100, 7)]}


def csum16(data, start=0):
    if len(data) % 2:
        data += b"\0"
    s = start + sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def pseudo_header(ipv6, src, dst, udp_len):
    return src + dst + (struct.pack("!IxxxB", udp_len, 17) if ipv6
                        else struct.pack("!xBH", 17, udp_len))


def udp_csum(ipv6, src, dst, udp):
    """The checksum to put in udp (whose checksum field is 0)."""
    return ~csum16(pseudo_header(ipv6, src, dst, len(udp)) + udp) & 0xFFFF


def build(kind, src_mac, dst_mac, src, dst, port, payload):
    ipv6 = kind.endswith("6")
    frame = dst_mac + src_mac
    for tpid, vid in TAGS[2 if kind.startswith("qinq") else 1]:
        frame += struct.pack("!HH", tpid, vid)
    udp = struct.pack("!HHHH", CLIENT_PORT, port, 8 + len(payload), 0) + payload
    c = udp_csum(ipv6, src, dst, udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", c) + udp[8:]
    if ipv6:
        ip = struct.pack("!IHBB", 0x60000000, len(udp), 17, 64) + src + dst
        return frame + struct.pack("!H", 0x86DD) + ip + udp
    ip = struct.pack("!BBHHHBBH", 0x45, 0, 20 + len(udp), 0x1234, 0x4000, 64, 17, 0) + src + dst
    ip = ip[:10] + struct.pack("!H", ~csum16(ip) & 0xFFFF) + ip[12:]
    return frame + struct.pack("!H", 0x0800) + ip + udp


def restore_outer_tag(data, ancdata):
    """The receiving kernel took the outer tag out of the frame: put it back."""
    for level, typ, aux in ancdata:
        if level != SOL_PACKET or typ != PACKET_AUXDATA:
            continue
        status, _, _, _, _, tci, tpid = struct.unpack("IIIHHHH", aux[:20])
        if status & TP_STATUS_VLAN_VALID:
            tpid = tpid if status & TP_STATUS_VLAN_TPID_VALID else 0x8100
            return data[:12] + struct.pack("!HH", tpid, tci) + data[12:]
    return data


def check(kind, sent, reply, port):
    """Returns (problem or None, payload)."""
    ipv6 = kind.endswith("6")
    l2 = 14 + 4 * (2 if kind.startswith("qinq") else 1)
    if reply[:6] != sent[6:12] or reply[6:12] != sent[:6]:
        return "MAC addresses not swapped", b""
    if reply[12:l2] != sent[12:l2]:
        return "VLAN tags or ethertype changed", b""
    ip, sip = reply[l2:], sent[l2:]
    if ipv6:
        udp, plen = ip[40:], struct.unpack("!H", ip[4:6])[0]
        if ip[6] != 17 or ip[8:24] != sip[24:40] or ip[24:40] != sip[8:24]:
            return "IPv6 header wrong (next header or addresses)", b""
        src, dst = ip[8:24], ip[24:40]
    else:
        udp, plen = ip[20:], struct.unpack("!H", ip[2:4])[0] - 20
        if csum16(ip[:20]) != 0xFFFF:
            return "IPv4 header checksum invalid", b""
        if ip[12:16] != sip[16:20] or ip[16:20] != sip[12:16]:
            return "IPv4 addresses not swapped", b""
        src, dst = ip[12:16], ip[16:20]
    sport, dport, ulen, ucsum = struct.unpack("!HHHH", udp[:8])
    if (sport, dport) != (port, CLIENT_PORT):
        return "UDP ports not swapped", b""
    if ulen != plen or ulen > len(udp):
        return "UDP length %d disagrees with the IP header (%d)" % (ulen, plen), b""
    udp = udp[:ulen]
    if ipv6 and ucsum == 0:
        return "IPv6 reply without UDP checksum", b""
    if ucsum and csum16(pseudo_header(ipv6, src, dst, ulen) + udp) != 0xFFFF:
        return "UDP checksum invalid", b""
    return None, udp[8:]


def main():
    if len(sys.argv) != 8:
        sys.exit(__doc__)
    iface, dst_mac, kind, src_ip, dst_ip, port, hexreq = sys.argv[1:]
    port = int(port)
    src = ipaddress.ip_address(src_ip).packed
    dst = ipaddress.ip_address(dst_ip).packed
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    s.bind((iface, 0))
    src_mac = s.getsockname()[4]
    frame = build(kind, src_mac, bytes.fromhex(dst_mac.replace(":", "")), src, dst, port,
                  bytes.fromhex(hexreq))
    s.send(frame)
    deadline = time.time() + 2
    while time.time() < deadline:
        if not select.select([s], [], [], max(0, deadline - time.time()))[0]:
            break
        data, anc, _, addr = s.recvmsg(65536, socket.CMSG_SPACE(64))
        if addr[2] == PACKET_OUTGOING or data[6:12] == src_mac:
            continue
        data = restore_outer_tag(data, anc)
        if data[:6] != src_mac:
            continue
        problem, payload = check(kind, frame, data, port)
        if problem:
            print("vlanframe: %s: %s" % (kind, problem), file=sys.stderr)
            print(data.hex(), file=sys.stderr)
            sys.exit(1)
        print(payload.hex())
        sys.exit(0)
    sys.exit(3)


if __name__ == "__main__":
    main()
