#!/usr/bin/env bash
# samples/kvcache and samples/counters built natively (no koff), warning-free,
# against real clients in a private netns: a TCP transcript of every command
# kvcache knows (memcached's replies), Debian's memccp/memccat/memcrm,
# UDP requests with the frame header, the stress checker, counters' totals.
. "$(dirname "$0")/lib.sh"
cd "$KOFF_ROOT"

command -v python3 >/dev/null || koff_skip "needs python3"
koff_require_netns
koff_build_kvtools

tmp="$KOFF_OUT/t-kvcache-native"
rm -rf "$tmp"
mkdir -p "$tmp/files"
for s in kvcache counters; do
	gcc -O2 -g -Wall -Wextra -Werror -c "samples/$s/$s.c" -o "$tmp/$s.o" ||
		koff_fail "samples/$s/$s.c does not build warning-free"
	cc "$tmp/$s.o" -o "$tmp/$s" || koff_fail "cannot link $s"
done

koff_netns_create kvnative
ns=$KOFF_NETNS
port=11211
koff_bg "$ns" "$tmp/kvcache.log" "$tmp/kvcache" -p $port
koff_wait_for_line "$tmp/kvcache.log" "^listening on $port$" 5 || koff_fail "kvcache did not start"

# ---- the ASCII protocol over TCP ---------------------------------------------
tcp() {	# sends stdin over one connection, prints what comes back
	koff_nsexec "$ns" python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(sys.stdin.buffer.read())
s.settimeout(0.5)
out = b""
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        out += d
except socket.timeout:
    pass
sys.stdout.write(out.decode().replace("\r\n", "|\n"))' $port
}
big=$(head -c 2000 /dev/zero | tr '\0' x)
printf 'set a 5 0 3\r\nabc\r\nget a b\r\ngets a\r\nincr a 1\r\nset n 0 0 2\r\n10\r\nincr n 5\r\ndecr n 100\r\nadd n 0 0 1\r\nx\r\nreplace n 0 0 1\r\n7\r\nprepend n 0 0 2\r\n12\r\nappend n 0 0 2\r\n34\r\nget n\r\ncas n 0 0 1 1\r\nz\r\ndelete n\r\ndelete n\r\ntouch a 100\r\ntouch zz 1\r\nset e 0 -1 1\r\nx\r\nget e\r\nset b 0 0 2\r\nabc\r\nset big 0 0 2000\r\n%s\r\nverbosity 1\r\nversion\r\nget\r\nbogus\r\nflush_all\r\nget a\r\nquit\r\nget a\r\n' "$big" |
	tcp >"$tmp/transcript"
cat >"$tmp/want" <<'EOF2'
STORED|
VALUE a 5 3|
abc|
END|
VALUE a 5 3 1|
abc|
END|
CLIENT_ERROR cannot increment or decrement non-numeric value|
STORED|
15|
0|
NOT_STORED|
STORED|
STORED|
STORED|
VALUE n 0 5|
12734|
END|
EXISTS|
DELETED|
NOT_FOUND|
TOUCHED|
NOT_FOUND|
STORED|
END|
CLIENT_ERROR bad data chunk|
ERROR|
SERVER_ERROR object too large for cache|
OK|
VERSION 1.6.18-kvcache|
ERROR|
ERROR|
OK|
END|
EOF2
diff -u "$tmp/want" "$tmp/transcript" || koff_fail "the TCP transcript differs"
koff_ok "TCP transcript of every command"

# ---- Debian's clients ---------------------------------------------------------
mc() { koff_nsexec "$ns" "$@" --servers=127.0.0.1:$port; }
printf 'from memccp' >"$tmp/files/k1"
(cd "$tmp/files" && mc memccp k1) || koff_fail "memccp failed"
koff_expect_eq "memccat" "$(mc memccat k1)" "from memccp"
mc memcrm k1 || koff_fail "memcrm failed"
mc memccat k1 >/dev/null 2>&1 && koff_fail "memccat finds a removed key"
koff_ok "memcrm removed it"

# ---- UDP with the frame header ------------------------------------------------
udp() { koff_nsexec "$ns" "$KOFF_KVLOAD" udp -p $port "$1"; }
printf 'set u 3 0 2\r\nhi\r\n' | tcp >/dev/null
koff_expect_eq "UDP get" "$(udp 'get u')" "$(printf 'VALUE u 3 2\r\nhi\r\nEND\r\n')"
koff_expect_eq "UDP set" "$(udp "$(printf 'set v 0 0 3\r\nudp')")" "$(printf 'STORED\r\n')"
koff_expect_eq "UDP multi-get" "$(udp 'get v u')" "$(printf 'VALUE v 0 3\r\nudp\r\nVALUE u 3 2\r\nhi\r\nEND\r\n')"
koff_expect_eq "UDP miss" "$(udp 'get nope')" "$(printf 'END\r\n')"

# ---- the stress checker against the native server -----------------------------
out=$(koff_nsexec "$ns" "$KOFF_KVSTRESS" -p $port -k 16 -w 2 -r 2 -C 1 -d 2) || koff_fail "kvstress: $out"
koff_ok "$out"

# ---- counters: totals as sent ----------------------------------------------------
koff_bg "$ns" "$tmp/counters.log" "$tmp/counters" -p 8125
koff_wait_for_line "$tmp/counters.log" "^listening on 8125$" 5 || koff_fail "counters did not start"
koff_nsexec "$ns" "$KOFF_KVLOAD" statsd -p 8125 -n 1000 -k 10 -r 5 | sed 's/^expect \([^ ]*\) /\1=/' | sort >"$tmp/expect"
# shellcheck disable=SC2046
koff_nsexec "$ns" "$KOFF_KVLOAD" ask -p 8125 $(cut -d= -f1 "$tmp/expect") | sort >"$tmp/totals"
diff -u "$tmp/expect" "$tmp/totals" || koff_fail "counters' totals differ from what was sent"
koff_ok "counters: $(wc -l <"$tmp/totals") totals as sent"
echo "t-kvcache-native: all checks passed"
