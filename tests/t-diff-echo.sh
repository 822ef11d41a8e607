#!/usr/bin/env bash
# t-diff-echo: translation validation of koff-link on samples/echo.  The XDP
# program koff-link writes must agree with the native handle_request() on
# the sample's requests, 300 mutations of them and 300 random byte strings
# (tests/koffdiff.c: same verdict, byte-identical replies, untouched frames
# on XDP_PASS, koff_stats consistent), and fall back on at most 0% of
# the file's requests: every echo request must be served in XDP.
# Fails (never skips) when koff-link is missing or refuses the sample.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || koff_skip "needs root to load and test-run BPF programs"
cd "$KOFF_ROOT"
tmp=$(mktemp -d)
koff_on_exit "rm -rf '$tmp'"
PORT=7007
MAX_FALLBACK=0

[ -x ./koff-link ] || koff_fail "./koff-link is missing (make)"
[ -f samples/echo/echo.o ] || koff_fail "samples/echo/echo.o is missing (make samples)"
./koff-link samples/echo/echo.o -o "$tmp/echo" --udp-port $PORT ||
	koff_fail "koff-link failed on samples/echo/echo.o"
[ -f "$tmp/echo.bpf.o" ] || koff_fail "koff-link wrote no echo.bpf.o"

objcopy --localize-symbol=main samples/echo/echo.o "$tmp/echo_nomain.o" &&
cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 tests/koffdiff.c "$tmp/echo_nomain.o" \
	-lbpf -lelf -lz -o "$tmp/koffdiff-echo" || koff_fail "cannot build koffdiff"

"$tmp/koffdiff-echo" --port $PORT --mutate 300 --random 300 --seed 20261125 \
	--max-fallback-percent $MAX_FALLBACK "$tmp/echo.bpf.o" samples/echo/requests.txt
rc=$?
case $rc in
0) ;;
1) koff_fail "koff's XDP program disagrees with the native handler (see MISMATCH above)";;
2) koff_fail "more than $MAX_FALLBACK% of samples/echo/requests.txt fell back to userspace";;
*) koff_fail "koffdiff could not run (exit $rc)";;
esac
koff_ok "samples/echo: lifted program agrees with the native handler"
