#!/usr/bin/env bash
# The sample servers, built natively (no koff), answer real clients in a
# private network namespace: dig against the dns sample, every request of
# samples/*/requests.txt with its expected outcome, echo's three verdicts,
# and a clean exit on SIGTERM.
. "$(dirname "$0")/lib.sh"
cd "$KOFF_ROOT"

command -v gcc >/dev/null || koff_skip "needs gcc"
command -v dig >/dev/null || koff_skip "needs dig (bind9-dnsutils)"
koff_require_netns

out="$KOFF_OUT/t-samples"
mkdir -p "$out"
# Built the way a user builds a server, and warning-free.
for s in echo dns; do
	gcc -O2 -g -Wall -Wextra -Werror -c "samples/$s/$s.c" -o "$out/$s.o" ||
		koff_fail "samples/$s/$s.c does not build warning-free"
	cc "$out/$s.o" -o "$out/$s" || koff_fail "cannot link $s"
done
koff_build_udpclient

koff_netns_create samples
ns=$KOFF_NETNS

koff_bg "$ns" "$out/dns.log" "$out/dns" -p 5353
dns_pid=$KOFF_BG_PID
koff_bg "$ns" "$out/echo.log" "$out/echo" -p 7007
echo_pid=$KOFF_BG_PID
koff_wait_for_line "$out/dns.log" "^listening on 5353$" 5 || koff_fail "dns did not start: $(cat "$out/dns.log")"
koff_wait_for_line "$out/echo.log" "^listening on 7007$" 5 || koff_fail "echo did not start: $(cat "$out/echo.log")"

# ---- dns with dig --------------------------------------------------------
dq() { koff_nsexec "$ns" dig @127.0.0.1 -p 5353 +tries=1 +time=2 "$@"; }
dstatus() { dq "$@" | sed -n 's/.*status: \([A-Z]*\),.*/\1/p'; }
dflags() { dq "$@" | sed -n 's/.*;; flags: \([a-z ]*\);.*/\1/p'; }

for edns in +edns +noedns; do
	koff_expect_eq "www A $edns" "$(dq www.example.test A +short $edns)" "192.0.2.10"
	koff_expect_eq "www AAAA $edns" "$(dq www.example.test AAAA +short $edns)" "2001:db8::10"
	koff_expect_eq "mail A $edns" "$(dq mail.example.test A +short $edns)" "192.0.2.25"
	koff_expect_eq "mail AAAA $edns" "$(dq mail.example.test AAAA +short $edns)" "2001:db8::25"
	koff_expect_eq "api A $edns" "$(dq api.example.test A +short $edns | sort | tr '\n' ' ')" "192.0.2.30 192.0.2.31 "
	koff_expect_eq "api AAAA $edns" "$(dq api.example.test AAAA +short $edns)" "2001:db8::30"
	koff_expect_eq "ns1 A $edns" "$(dq ns1.example.test A +short $edns)" "192.0.2.53"
	koff_expect_eq "ns1 AAAA $edns" "$(dq ns1.example.test AAAA +short $edns)" "2001:db8::53"
	koff_expect_eq "apex A $edns" "$(dq example.test A +short $edns)" "192.0.2.1"
	koff_expect_eq "nxdomain status $edns" "$(dstatus nope.example.test A $edns)" "NXDOMAIN"
	koff_expect_eq "refused status $edns" "$(dstatus www.example.org A $edns)" "REFUSED"
done
koff_expect_eq "mixed case A" "$(dq WwW.eXaMpLe.TeSt A +short)" "192.0.2.10"
koff_expect_eq "mixed case question echoed" \
	"$(dq WwW.eXaMpLe.TeSt A +noall +answer +nottlid | awk '{print $1, $2, $3, $4}')" \
	"WwW.eXaMpLe.TeSt. IN A 192.0.2.10"
koff_expect_eq "ttl 300" "$(dq www.example.test A +noall +answer | awk '{print $2}')" "300"
koff_expect_eq "flags aa, rd copied" "$(dflags www.example.test A)" "qr aa rd"
koff_expect_eq "flags without rd" "$(dflags www.example.test A +norecurse)" "qr aa"
koff_expect_eq "refused is not authoritative" "$(dflags www.example.org A)" "qr rd"
koff_expect_eq "NODATA status" "$(dstatus ftp.example.test AAAA)" "NOERROR"
koff_expect_eq "NODATA has no answer" "$(dq ftp.example.test AAAA +short)" ""
koff_expect_eq "NODATA carries the SOA" \
	"$(dq ftp.example.test AAAA +noall +authority | awk '{print $1, $4, $5}')" \
	"example.test. SOA ns1.example.test."
koff_expect_eq "NXDOMAIN carries the SOA" \
	"$(dq nope.example.test A +noall +authority | awk '{print $1, $4}')" "example.test. SOA"
koff_expect_eq "MX is NODATA" "$(dstatus www.example.test MX)" "NOERROR"
koff_expect_eq "apex NS" "$(dq example.test NS +short)" "ns1.example.test."
koff_expect_eq "apex TXT" "$(dq example.test TXT +short)" '"koff sample zone"'
koff_expect_eq "api ANY" "$(dq api.example.test ANY +notcp +short | sort | tr '\n' ' ')" \
	"192.0.2.30 192.0.2.31 2001:db8::30 "
koff_expect_eq "class CH refused" "$(dstatus www.example.test CH A)" "REFUSED"

# ---- dns: every request of requests.txt, with its expected outcome --------
rcode_name() {
	case $1 in 0) echo NOERROR;; 1) echo FORMERR;; 3) echo NXDOMAIN;; 4) echo NOTIMP;; 5) echo REFUSED;; *) echo "RCODE$1";; esac
}
n=0
while read -r line; do
	if [[ $line =~ ^#\ expect\ ([A-Za-z]+)\ ([0-9]+):\ (.*) ]]; then
		want=${BASH_REMATCH[1]} want_an=${BASH_REMATCH[2]} what=${BASH_REMATCH[3]}
		continue
	fi
	[[ -z $line || $line == \#* ]] && continue
	reply=$(koff_nsexec "$ns" "$KOFF_UDPCLIENT" -t 500 5353 "$line")
	rc=$?
	n=$((n + 1))
	if [ "$want" = drop ]; then
		[ $rc -eq 3 ] || koff_fail "requests.txt '$what': want no reply, got rc=$rc '$reply'"
		continue
	fi
	[ $rc -eq 0 ] || koff_fail "requests.txt '$what': no reply (rc=$rc)"
	koff_expect_eq "'$what' id" "${reply:0:4}" "${line:0:4}"
	flags=$((16#${reply:4:4}))
	koff_expect_eq "'$what' QR" $((flags >> 15)) 1
	koff_expect_eq "'$what' rcode" "$(rcode_name $((flags & 15)))" "$want"
	koff_expect_eq "'$what' ancount" $((16#${reply:12:4})) "$want_an"
done <samples/dns/requests.txt
[ $n -ge 40 ] || koff_fail "only $n dns requests checked"
koff_ok "$n dns requests from requests.txt"

# ---- echo ----------------------------------------------------------------
n=0
while read -r line; do
	if [[ $line =~ ^#\ expect\ ([a-z]+):\ (.*) ]]; then
		want=${BASH_REMATCH[1]} what=${BASH_REMATCH[2]}
		continue
	fi
	[[ -z $line || $line == \#* ]] && continue
	reply=$(koff_nsexec "$ns" "$KOFF_UDPCLIENT" -t 500 7007 "$line")
	rc=$?
	n=$((n + 1))
	if [ "$want" = drop ]; then
		[ $rc -eq 3 ] || koff_fail "echo '$what': want no reply, got rc=$rc"
	else
		[ $rc -eq 0 ] || koff_fail "echo '$what': no reply (rc=$rc)"
		koff_expect_eq "echo '$what'" "$reply" "$line"
	fi
done <samples/echo/requests.txt
[ $n -ge 6 ] || koff_fail "only $n echo requests checked"
koff_nsexec "$ns" "$KOFF_UDPCLIENT" -t 300 7007 "" && koff_fail "echo replied to an empty datagram"
koff_ok "echo: empty datagram gets no reply"
# The server still answers after all that.
koff_expect_eq "echo still alive" "$(koff_nsexec "$ns" "$KOFF_UDPCLIENT" 7007 6f6b)" "6f6b"

# ---- clean exit on SIGTERM / SIGINT ----------------------------------------
kill -TERM "$dns_pid"
kill -INT "$echo_pid"
koff_wait_for_exit "$dns_pid" 3 || koff_fail "dns ignores SIGTERM"
koff_wait_for_exit "$echo_pid" 3 || koff_fail "echo ignores SIGINT"
wait "$dns_pid"; koff_expect_eq "dns exit status after SIGTERM" $? 0
wait "$echo_pid"; koff_expect_eq "echo exit status after SIGINT" $? 0
echo "t-samples: all checks passed"
