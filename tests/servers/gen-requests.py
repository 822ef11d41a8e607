#!/usr/bin/env python3
"""Writes tests/servers/NAME.req: one hex request per line, a realistic mix
for each server (mostly well-formed traffic, some errors).  Deterministic:
run it again after changing a server's protocol."""
import os
import random
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
rnd = random.Random(20261130)


def write(name, reqs, comment):
    with open(os.path.join(HERE, name + ".req"), "w") as f:
        f.write("# %s\n" % comment)
        for r in reqs:
            if isinstance(r, str):
                r = r.encode()
            assert 0 < len(r) <= 1472
            f.write(r.hex() + "\n")


def kvtext():
    keys = ["user:1", "user:2", "user:3", "counter", "motd", "cfg:timeout", "cfg:retries",
            "session:abc"]
    r = []
    for _ in range(40):
        k = rnd.sample(keys, rnd.randint(1, 3))
        r.append("get %s\r\n" % " ".join(k))
    r += ["gets user:1 motd\r\n", "get nosuch\r\n", "get user:1 nosuch user:3\r\n",
          "incr counter 1\r\n", "decr counter 100\r\n", "incr motd 1\r\n", "incr nosuch 1\r\n",
          "incr counter x1\r\n", "incr counter 18446744073709551615\r\n", "version\r\n", "quit\r\n",
          "stats\r\n", "GET user:1\r\n", "get\r\n", "   \r\n", "get  user:2\t counter\r\n",
          "get " + "k" * 40 + "\r\n", "get user:1"]
    write("kvtext", r, "memcached-style text: mostly gets, some incr/decr, errors")


def radtlv():
    def attr(t, v):
        return bytes([t, len(v) + 2]) + v

    def packet(code, ident, attrs, auth=None):
        auth = auth or bytes(rnd.randrange(256) for _ in range(16))
        body = b"".join(attrs)
        return struct.pack(">BBH", code, ident, 20 + len(body)) + auth + body

    def password(pw, auth):
        pw = pw.ljust(16, b"\0")
        return bytes(a ^ b for a, b in zip(pw, auth[:8] + bytes(8)))

    r = []
    users = [(b"alice", b"secret1"), (b"bob", b"hunter2"), (b"guest", b""), (b"mallory", b"x")]
    for i in range(40):
        u, pw = rnd.choice(users)
        if rnd.random() < 0.2:
            pw = b"wrong"
        auth = bytes(rnd.randrange(256) for _ in range(16))
        attrs = [attr(1, u)]
        if pw:
            attrs.append(attr(2, password(pw, auth)))
        attrs.append(attr(4, bytes([192, 0, 2, rnd.randrange(256)])))
        attrs.append(attr(5, struct.pack(">I", rnd.randrange(1 << 16))))
        if rnd.random() < 0.5:
            attrs.append(attr(6, struct.pack(">I", rnd.choice([2, 8, 1]))))
        if rnd.random() < 0.3:
            attrs.append(attr(24, b"state-%d" % i))
        if rnd.random() < 0.3:
            attrs.append(attr(31, b"00-11-22-33-44-55"))
        attrs.append(attr(32, b"nas-%d" % rnd.randrange(10)))
        rnd.shuffle(attrs)
        r.append(packet(1, i, attrs, auth))
    r.append(packet(12, 99, [attr(80, bytes(16))]))
    r.append(packet(4, 100, [attr(1, b"alice")]))
    r.append(packet(1, 101, [attr(1, b"alice"), bytes([2, 1])]))
    r.append(packet(1, 102, [attr(4, b"\x01\x02\x03")]))
    r.append(packet(1, 103, [attr(0, b"x")]))
    bad = packet(1, 104, [attr(1, b"bob")])
    r.append(bad[:2] + b"\x04\x00" + bad[4:])
    r.append(b"\x01\x02\x00")
    write("radtlv", r, "RADIUS-like Access-Request/Status-Server with TLV attributes")


def varint(v):
    out = b""
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def zz(v):
    return (v << 1) ^ (v >> 63) if v >= 0 else ((v << 1) ^ -1) & ((1 << 64) - 1)


def pbrpc():
    def field(n, wt, v):
        key = varint(n << 3 | wt)
        if wt == 0:
            return key + varint(v)
        if wt == 2:
            return key + varint(len(v)) + v
        if wt == 1:
            return key + struct.pack("<Q", v)
        return key + struct.pack("<I", v)

    r = []
    for i in range(50):
        m = rnd.choice([1, 1, 1, 2, 2, 3, 7])
        fs = [field(1, 0, m)]
        if m == 1:
            for _ in range(rnd.randint(1, 12)):
                fs.append(field(2, 0, zz(rnd.choice([rnd.randint(-100, 100),
                                                      rnd.randint(-(1 << 40), 1 << 40)]))))
        elif m == 2:
            fs.append(field(3, 2, bytes(rnd.randrange(256) for _ in range(rnd.randint(0, 60)))))
        else:
            for _ in range(rnd.randint(0, 4)):
                fs.append(field(rnd.choice([6, 7]), rnd.choice([1, 5]), rnd.randrange(1 << 32)))
        if rnd.random() < 0.2:
            fs.append(field(9, 2, b"trace-id-%d" % i))
        rnd.shuffle(fs)
        r.append(b"".join(fs))
    r += [field(1, 0, 0), field(1, 0, 2), b"\x08", b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
          b"\x00\x01", field(1, 0, 1) + b"\x0b", field(1, 0, 2) + b"\x1a\x10abc"]
    write("pbrpc", r, "protobuf RPC calls: Sum (zigzag varints), Echo (bytes), Stat (fixed), errors")


def httpfsm():
    paths = ["/", "/health", "/health", "/health", "/ready", "/metrics", "/version", "/admin",
             "/old", "/nope", "/health?verbose=1"]
    r = []
    for i in range(45):
        m = rnd.choice(["GET"] * 6 + ["HEAD", "POST", "OPTIONS", "PUT"])
        v = rnd.choice(["1.1", "1.1", "1.0"])
        hs = []
        if v == "1.1" or rnd.random() < 0.5:
            hs.append("Host: svc.example")
        if rnd.random() < 0.5:
            hs.append("User-Agent: kube-probe/1.29")
        if rnd.random() < 0.4:
            hs.append(rnd.choice(["Connection: close", "Connection: keep-alive",
                                  "connection: Keep-Alive"]))
        if rnd.random() < 0.3:
            hs.append("Accept: */*")
        nl = "\r\n" if rnd.random() < 0.85 else "\n"
        r.append("%s %s HTTP/%s%s%s%s" % (m, rnd.choice(paths), v, nl,
                                            "".join(h + nl for h in hs), nl))
    r += ["GET /health HTTP/1.1\r\n", "GET /health HTTP/2.0\r\nHost: x\r\n\r\n",
          "get /health HTTP/1.1\r\n\r\n", "GET health HTTP/1.1\r\n\r\n",
          "GET /health HTTX/1.1\r\n\r\n", "GET /a b HTTP/1.1\r\n\r\n",
          "GET /health HTTP/1.1\r\nBad Header\r\n\r\n", "\r\nGET / HTTP/1.0\r\n\r\n"]
    write("httpfsm", r, "HTTP/1.x health checks and status requests, some malformed")


def calc():
    ops = "+-*/%&|^"
    r = []
    for i in range(45):
        def term(d):
            if d > 2 or rnd.random() < 0.4:
                n = rnd.choice([rnd.randint(0, 99), rnd.randint(0, 1 << 31), rnd.randint(0, 9)])
                return hex(n) if rnd.random() < 0.15 else str(n)
            return "(" + expr(d + 1) + ")"

        def expr(d):
            s = term(d)
            for _ in range(rnd.randint(0, 3)):
                s += rnd.choice([" ", ""]) + rnd.choice(ops) + rnd.choice([" ", ""]) + term(d)
            return s
        r.append(expr(0) + rnd.choice(["\n", ""]))
    r += ["1/0\n", "9223372036854775807+1\n", "-5*3\n", "2*(3+4\n", "2+*3\n", "0x\n",
          "99999999999999999999\n", "7 % -2\n", "abc\n", "(((1)))\n"]
    write("calc", r, "arithmetic expressions, decimal and hex, some errors")


def bitacl():
    roles = [b"admin", b"ops", b"dev", b"audit", b"guest", b"", b"nobody"]
    uids = [1001, 1002, 1003, 1004, 1005, 4242, 7777]
    r = []
    for i in range(50):
        op = rnd.choice([1, 1, 1, 2, 3, 4, 5, 5, 6])
        head = bytes([op]) + struct.pack(">I", rnd.choice(uids))[1:] + rnd.choice(roles).ljust(8, b"\0")
        n = rnd.randint(0, 20)
        perms = bytes(rnd.randrange(128) for _ in range(n))
        r.append(head + perms)
    r += [b"\x02" + b"\x00\x03\xe9" + b"ops\0\0\0\0\0" + b"\x80", b"\x09" + b"\x00\x03\xe9" + b"ops".ljust(8, b"\0"),
          b"\x01" + b"\x00\x1e\x61" + b"nobody\0\0" + b"\x01\x02", b"\x05" + b"\x00\x03\xea" + b"opsxxxxx"]
    write("bitacl", r, "permission checks, grants, lists over 128-bit role sets")


def telemetry():
    r = []
    for i in range(50):
        kind = rnd.choice([1, 1, 2, 2, 3, 3, 4])
        hdr = b"TM" + bytes([kind, rnd.randrange(2)]) + struct.pack(">IH", rnd.randrange(1 << 32), i)
        if kind == 1:
            body = struct.pack("<4hB", *[rnd.randint(-4000, 4000) for _ in range(4)], rnd.randrange(256))
        elif kind == 2:
            body = struct.pack("<iiH", rnd.randint(-900000000, 900000000),
                               rnd.randint(-1800000000, 1800000000), rnd.randrange(65536)) + \
                struct.pack(">Q", rnd.randrange(1 << 63))
        elif kind == 3:
            n = rnd.randint(0, 8)
            body = bytes([n]) + b"".join(struct.pack("<Bh", rnd.randrange(16), rnd.randint(-32768, 32767))
                                         for _ in range(n))
        else:
            body = b""
        r.append(hdr + body)
    r += [b"TM\x01\x00\x00\x00\x00\x01\x00\x01", b"TX\x04\x01\x00\x00\x00\x01\x00\x01",
          b"TM\x09\x00\x00\x00\x00\x01\x00\x01", b"TM\x03\x00\x00\x00\x00\x01\x00\x01\x09",
          b"TM\x04\x01"]
    write("telemetry", r, "sensor messages: temperature, GPS, batches, pings")


def geoip():
    r = []
    ips = ["1.2.3.4", "8.8.8.8", "10.0.0.1", "45.1.2.3", "78.9.9.9", "93.184.216.34", "122.1.1.1",
           "133.7.0.1", "143.1.2.3", "168.0.0.1", "192.0.2.7", "203.0.113.5", "255.255.255.255",
           "127.0.0.1"]
    names = ["germany", "France", "new zealand", "Japan", "narnia", "united states", "india", "brazil"]
    for i in range(50):
        k = rnd.choice(["ip", "ip", "ip", "cc", "name"])
        if k == "ip":
            r.append("ip %s\n" % rnd.choice(ips))
        elif k == "cc":
            r.append("cc %s\n" % rnd.choice(["DE", "us", "Jp", "NZ", "XX", "ca", "BR"]))
        else:
            r.append("name %s\n" % rnd.choice(names))
    r += ["ip 1.2.3\n", "ip 256.1.1.1\n", "ip 1..2.3\n", "cc D\n", "who 1.2.3.4\n",
          "name " + "x" * 30 + "\n", "ip 1.2.3.4"]
    write("geoip", r, "lookups by IPv4 address, country code and name")


def statsd():
    names = ["api.requests", "api.latency", "db.pool.size", "cache.hits", "cache.misses",
             "users.online", "jobs.queue"]
    r = []
    for i in range(45):
        lines = []
        for _ in range(rnd.randint(1, 5)):
            t = rnd.choice(["c", "c", "ms", "g", "s", "h"])
            v = rnd.choice(["1", "%d" % rnd.randint(0, 5000), "%d.%d" % (rnd.randint(0, 99), rnd.randint(0, 999)),
                            "+3", "-2"]) if t == "g" else rnd.choice(["1", "%d" % rnd.randint(0, 5000),
                                                                       "%d.%03d" % (rnd.randint(0, 99), rnd.randint(0, 999))])
            line = "%s:%s|%s" % (rnd.choice(names), v, t)
            if t == "c" and rnd.random() < 0.3:
                line += "|@0.%d" % rnd.randint(1, 9)
            lines.append(line)
        r.append("\n".join(lines) + rnd.choice(["", "\n"]))
    r += ["api.requests:1|x", "api.requests|c", ":1|c", "a:1|c|@0", "a:1|c|@2", "a:1|c|0.5",
          "a:99999999999999999999|c", "\n\n"]
    write("statsd", r, "statsd lines: counters with sample rates, timers, gauges, sets")


def waf():
    # struct summary in tests/servers/waf.c: 24 one-byte fields
    clean = [1, 11, 3, 0, 20, 0, 0, 0, 12, 2, 60, 0, 1, 1, 0, 0, 44, 0, 2, 0, 0, 0, 0, 1]
    limits = [5, 20, 30, 3, 255, 5, 4, 40, 80, 50, 120, 3, 1, 1, 200, 4, 250, 2, 120, 30, 6, 2, 1, 1]
    r = []
    for _ in range(50):
        s = list(clean)
        for _ in range(rnd.choice([0, 0, 1, 1, 2, 3, 5, 8])):
            i = rnd.randrange(24)
            s[i] = rnd.randint(0, limits[i])
        r.append(bytes(s))
    r += [bytes(24), bytes([255] * 24), bytes(clean[:23]), bytes(clean) + b"x"]
    write("waf", r, "request summaries: mostly clean, some matching several rules, bad lengths")


for f in (kvtext, radtlv, pbrpc, httpfsm, calc, bitacl, telemetry, geoip, statsd, waf):
    f()
