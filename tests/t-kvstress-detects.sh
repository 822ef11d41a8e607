#!/usr/bin/env bash
# tests/kvstress.c must see what it claims to see: against a fake memcached
# (Python, TCP sets acknowledged, UDP gets) that serves stale values, torn
# values, or forgets acknowledged writes, kvstress reports them and fails;
# against the honest fake it passes.  (t-shared-stress relies on this.)
. "$(dirname "$0")/lib.sh"
cd "$KOFF_ROOT"

command -v python3 >/dev/null || koff_skip "needs python3"
koff_require_netns
koff_build_kvtools

tmp="$KOFF_OUT/t-kvstress-detects"
rm -rf "$tmp"
mkdir -p "$tmp"
cat >"$tmp/fake.py" <<'EOF'
# fake.py PORT MODE: a memcached that only knows set (TCP) and get (UDP).
#   honest  serves the last value set
#   stale   serves the first value ever set for the key
#   torn    serves the last value with one byte changed, now and then
#   lost    acknowledges every set after the 50th without storing it
import socket, sys, threading
port, mode = int(sys.argv[1]), sys.argv[2]
last, first, lock, sets = {}, {}, threading.Lock(), [0]

def serve_tcp(conn):
    buf = b""
    while True:
        while b"\r\n" not in buf:
            data = conn.recv(65536)
            if not data:
                return
            buf += data
        line, buf = buf.split(b"\r\n", 1)
        words = line.split()
        if words[0] == b"set":
            n = int(words[4])
            while len(buf) < n + 2:
                buf += conn.recv(65536)
            value, buf = buf[:n], buf[n + 2:]
            with lock:
                sets[0] += 1
                first.setdefault(words[1], value)
                if mode != "lost" or sets[0] <= 50:
                    last[words[1]] = value
            conn.sendall(b"STORED\r\n")
        elif words[0] == b"get":
            out = b""
            with lock:
                for k in words[1:]:
                    if k in last:
                        out += b"VALUE %s 0 %d\r\n%s\r\n" % (k, len(last[k]), last[k])
            conn.sendall(out + b"END\r\n")

def serve_udp(sock):
    count = 0
    while True:
        req, peer = sock.recvfrom(2048)
        key = req[8:].split()[1]
        with lock:
            value = (first if mode == "stale" else last).get(key)
        count += 1
        if value is not None and mode == "torn" and count % 50 == 0:
            value = value[:30] + (b"X" if value[30:31] != b"X" else b"Y") + value[31:]
        body = b"END\r\n" if value is None else b"VALUE %s 0 %d\r\n%s\r\nEND\r\n" % (key, len(value), value)
        sock.sendto(req[:2] + b"\0\0\0\1\0\0" + body, peer)

udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("127.0.0.1", port))
tcp = socket.socket()
tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
tcp.bind(("127.0.0.1", port))
tcp.listen(16)
threading.Thread(target=serve_udp, args=(udp,), daemon=True).start()
print("listening on %d" % port, flush=True)
while True:
    conn, _ = tcp.accept()
    threading.Thread(target=serve_tcp, args=(conn,), daemon=True).start()
EOF

koff_netns_create kvdetect
ns=$KOFF_NETNS
port=11311
# expect MODE FIELD: FIELD > 0 and exit 1 (FIELD "" for the honest run: all 0, exit 0).
expect() {
	local mode=$1 field=$2 pid rc line
	koff_bg "$ns" "$tmp/$mode.log" python3 "$tmp/fake.py" "$port" "$mode"
	pid=$KOFF_BG_PID
	koff_wait_for_line "$tmp/$mode.log" "^listening on $port$" 10 "$pid" || koff_fail "fake server did not start"
	line=$(koff_nsexec "$ns" "$KOFF_KVSTRESS" -p "$port" -k 8 -w 2 -r 2 -C 1 -d 2 2>"$tmp/$mode.err")
	rc=$?
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null
	echo "$mode: $line"
	if [ -z "$field" ]; then
		[ "$rc" -eq 0 ] || koff_fail "honest server: kvstress failed: $line $(cat "$tmp/$mode.err")"
		koff_ok "honest server passes"
		return
	fi
	[ "$rc" -eq 1 ] || koff_fail "$mode server: kvstress exit $rc, want 1"
	[ "$(echo "$line" | sed -n "s/.* $field \([0-9]*\).*/\1/p")" -gt 0 ] ||
		koff_fail "$mode server: no $field counted: $line"
	koff_ok "$mode server: kvstress counts $field and fails"
}
expect honest ""
expect stale stale
expect torn torn
expect lost lost
echo "t-kvstress-detects: all checks passed"
