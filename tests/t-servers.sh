#!/usr/bin/env bash
# t-servers: a short slice of the realistic-servers corpus (tests/servers/,
# the full run is in COVERAGE.md): every server at two configurations,
# koffdiff on its requests + 100 mutations + 100 random requests.  Fails on
# any mismatch or koff-link error, and when the share of the servers'
# requests completed in the kernel falls below MIN_IN_KERNEL percent (what
# this slice measured when it was written, less a margin: a drop is a
# lifter regression).
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || koff_skip "needs root to load and test-run BPF programs"
cd "$KOFF_ROOT"
for tool in jq bc gcc clang; do command -v $tool >/dev/null || koff_skip "needs $tool"; done
[ -x ./koff-link ] || koff_fail "./koff-link is missing (make)"
tmp=$(mktemp -d)
koff_on_exit "rm -rf '$tmp'"
MIN_IN_KERNEL=97
CONFIGS="gcc:-O2:nopic clang:-O1:pic"
SERVERS="bitacl calc geoip httpfsm pbrpc radtlv statsd telemetry waf"

tests/servers/run.sh --servers "$SERVERS" --configs "$CONFIGS" --mutate 100 --random 100 --jobs 2 --out "$tmp/run"
rc=$?
[ $rc -eq 2 ] && koff_fail "tests/servers/run.sh could not run"
units=$(cat "$tmp"/run/results/*.res | wc -l)
koff_expect_eq "units run" "$units" 18
mism=$(awk -F'\t' '{ s += $9 } END { print s + 0 }' "$tmp"/run/results/*.res)
koff_expect_eq "mismatches" "$mism" 0
[ $rc -eq 0 ] || koff_fail "a koff-link error or a mismatch (see above)"
read -r req ink < <(awk -F'\t' '{ r += $7; k += $8 } END { print r, k }' "$tmp"/run/results/*.res)
pct=$((100 * ink / req))
[ "$pct" -ge $MIN_IN_KERNEL ] ||
	koff_fail "only $ink of $req requests ($pct%) completed in the kernel, expected >= $MIN_IN_KERNEL%"
koff_ok "$ink of $req server requests ($pct%) completed in the kernel, 0 mismatches"
