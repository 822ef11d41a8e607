#!/usr/bin/env bash
# t-combine: a handler that calls into another object or an archive
# (tests/servers/statsd.c calls statsd_parse_line in statsd_parse.c) is
# lifted whole: koff-link combines the inputs first (src/combine.c).  Checks,
# for two objects and for the parser in an archive: the manifest says what
# was combined, no call falls back, koffdiff agrees with the native handler
# on the requests, mutations and random ones, every request of the file is
# completed in the kernel, OUT runs, and no temporary is left.  And that a
# link line with -Wl options is left as it was (the call then falls back).
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || koff_skip "needs root to load and test-run BPF programs"
cd "$KOFF_ROOT"
for tool in jq gcc ar; do command -v $tool >/dev/null || koff_skip "needs $tool"; done
[ -x ./koff-link ] || koff_fail "./koff-link is missing (make)"
tmp=$(mktemp -d)
koff_on_exit "rm -rf '$tmp'"
export TMPDIR=$tmp/t	# where koff-link makes its combined object
mkdir -p "$TMPDIR"
srv=tests/servers
for f in statsd statsd_parse; do
	gcc -O2 -g -c "$srv/$f.c" -I"$srv" -o "$tmp/$f.o" || koff_fail "cannot compile $f.c"
done
printf 'int main(void) { return 0; }\n' >"$tmp/main.c"
gcc -O2 -g -c "$tmp/main.c" -o "$tmp/main.o" || koff_fail "cannot compile main.c"
ar rcs "$tmp/libsp.a" "$tmp/statsd_parse.o" || koff_fail "ar failed"
gcc -std=c11 -D_GNU_SOURCE -O2 -c tests/koffdiff.c -o "$tmp/koffdiff.o" || koff_fail "cannot build koffdiff"
gcc -no-pie "$tmp/koffdiff.o" "$tmp/statsd.o" "$tmp/statsd_parse.o" -lbpf -lelf -lz -o "$tmp/koffdiff" ||
	koff_fail "cannot link koffdiff"

# check NAME INPUTS...: link, then the manifest, koffdiff and OUT.
check() {
	local name=$1 json rc
	shift
	./koff-link "$@" -o "$tmp/$name" --udp-port 5353 >"$tmp/$name.log" 2>&1 ||
		{ cat "$tmp/$name.log"; koff_fail "$name: koff-link failed"; }
	json=$tmp/$name.koff.json
	koff_expect_eq "$name: object named in the manifest" "$(jq -r .object "$json")" "$tmp/statsd.o"
	koff_expect_eq "$name: combined because" "$(jq -r .combined.because "$json")" statsd_parse_line
	koff_expect_eq "$name: offloaded" "$(jq -r .offloaded "$json")" true
	koff_expect_eq "$name: call fallbacks" "$(jq '[.fallbacks[] | select(.counter == "pass_call")] | length' "$json")" 0
	"$tmp/koffdiff" --port 5353 --mutate 200 --random 200 --seed 3 --max-fallback-percent 0 \
		"$tmp/$name.bpf.o" "$srv/statsd.req" >"$tmp/$name.diff" 2>&1
	rc=$?
	[ $rc -eq 0 ] || { tail -n 20 "$tmp/$name.diff"; koff_fail "$name: koffdiff exit $rc"; }
	"$tmp/$name" || koff_fail "$name: OUT does not run"
	koff_expect_eq "$name: temporaries left" "$(ls -A "$TMPDIR")" ""
	koff_ok "$name: $(jq .combined.inputs "$json") inputs combined, every request of statsd.req in the kernel, 0 mismatches"
}
check objects "$tmp/statsd.o" "$tmp/statsd_parse.o" "$tmp/main.o"
check archive "$tmp/statsd.o" "$tmp/main.o" "$tmp/libsp.a"

# A link line koff-link does not rewrite: the call stays a fallback.
./koff-link "$tmp/statsd.o" "$tmp/statsd_parse.o" "$tmp/main.o" -Wl,--as-needed -o "$tmp/plain" \
	--udp-port 5353 >"$tmp/plain.log" 2>&1 || { cat "$tmp/plain.log"; koff_fail "plain: koff-link failed"; }
koff_expect_eq "-Wl line: not combined" "$(jq -r '.combined // "none"' "$tmp/plain.koff.json")" none
[ "$(jq '[.fallbacks[] | select(.counter == "pass_call")] | length' "$tmp/plain.koff.json")" -ge 1 ] ||
	koff_fail "-Wl line: the cross-object call should fall back"
koff_ok "a link line with -Wl options is linked as given, the call falls back"
