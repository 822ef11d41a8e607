#!/usr/bin/env python3
"""mkpcap.py HEXFILE PORT OUT.pcap: every request of HEXFILE as an
Ethernet/IPv4/UDP frame to PORT, plus an ARP frame and a datagram to
another port (which --trace must skip)."""
import struct, sys

def frame(payload, dport):
    udp = struct.pack('!HHHH', 40000, dport, 8 + len(payload), 0) + payload
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0,
                     bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    return bytes(6) + bytes([2, 0, 0, 0, 0, 1]) + b'\x08\x00' + ip + udp

hexfile, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
frames = [frame(bytes.fromhex(l.split('#')[0].strip()), port)
          for l in open(hexfile) if l.split('#')[0].strip()]
frames.insert(1, bytes(12) + b'\x08\x06' + bytes(28))        # ARP
frames.insert(2, frame(b'other', port + 1))                   # another port
with open(out, 'wb') as f:
    f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
    for i, fr in enumerate(frames):
        f.write(struct.pack('<IIII', i, 0, len(fr), len(fr)) + fr)
