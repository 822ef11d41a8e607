#!/usr/bin/env bash
# t-pairing: OUT, OUT.bpf.o and OUT.koff.json carry one identity, the
# SHA-256 of OUT as linked (OUT.bpf.o's .koff.identity section, the
# manifest's executable_sha256), and koff-load refuses a program that does
# not belong to the executable it would run, naming both files, before
# anything is loaded (so this runs without root).  The case that prompted
# it: echo's program placed beside the dns executable answered DNS queries
# with echoes.
. "$(dirname "$0")/lib.sh"
cd "$KOFF_ROOT"
command -v jq >/dev/null || koff_skip "needs jq to read the manifest"
make -s build/koff-link build/koff-load >&2 || koff_fail "cannot build"
tmp=$(mktemp -d /tmp/koff-pairing.XXXXXX)
koff_on_exit "rm -rf '$tmp'"
for s in echo dns; do
	[ -f "samples/$s/$s.o" ] || koff_fail "samples/$s/$s.o is missing (make samples)"
	build/koff-link "samples/$s/$s.o" -o "$tmp/$s" --udp-port 5353 --no-verify >/dev/null 2>&1 ||
		koff_fail "koff-link $s failed"
done

identity() { readelf -p .koff.identity "$1" | sed -n 's/.*executable-sha256 \([0-9a-f]\{64\}\).*/\1/p'; }
for s in echo dns; do
	sum=$(sha256sum "$tmp/$s" | cut -d' ' -f1)
	koff_expect_eq "$s: manifest executable_sha256 is OUT's" "$(jq -r .executable_sha256 "$tmp/$s.koff.json")" "$sum"
	koff_expect_eq "$s: OUT.bpf.o's .koff.identity is OUT's" "$(identity "$tmp/$s.bpf.o")" "$sum"
done

# refuse NAME PATTERN: koff-load $tmp/dns must fail with PATTERN, running nothing.
refuse() {
	local name=$1 pattern=$2
	# A koff-load that wrongly accepted would attach and serve for ever: bounded.
	timeout 20 build/koff-load --dev lo "$tmp/dns" >"$tmp/so" 2>"$tmp/se"
	rc=$?
	[ $rc -ne 0 ] || koff_fail "$name: koff-load exit 0"
	koff_expect_eq "$name: one line" "$(wc -l <"$tmp/se")" 1
	grep -Eq "^koff-load: $pattern" "$tmp/se" || koff_fail "$name: message '$(cat "$tmp/se")' lacks '$pattern'"
	grep -q "attached" "$tmp/se" && koff_fail "$name: something was attached"
	koff_ok "$name: $(cat "$tmp/se")"
}
# The issue's case: echo's program beside the dns executable.
cp "$tmp/dns.bpf.o" "$tmp/dns.bpf.o.good"
cp "$tmp/echo.bpf.o" "$tmp/dns.bpf.o"
refuse "echo's program beside dns" "$tmp/dns\.bpf\.o does not belong to $tmp/dns: it was linked with an executable of SHA-256 $(sha256sum "$tmp/echo" | cut -c1-12)\.\.\., $tmp/dns is $(sha256sum "$tmp/dns" | cut -c1-12)"
# echo's may_goto variant beside dns's (dns has loops: koff-load checks
# every variant before it loads any).
cp "$tmp/dns.bpf.o.good" "$tmp/dns.bpf.o"
cp "$tmp/dns.6.18.bpf.o" "$tmp/dns.6.18.bpf.o.good"
cp "$tmp/echo.6.18.bpf.o" "$tmp/dns.6.18.bpf.o"
refuse "echo's variant beside dns" "$tmp/dns\.6\.18\.bpf\.o does not belong to $tmp/dns"
cp "$tmp/dns.6.18.bpf.o.good" "$tmp/dns.6.18.bpf.o"
# The executable changed after the link (one byte), its program did not.
cp "$tmp/dns.bpf.o.good" "$tmp/dns.bpf.o"
printf 'X' | dd of="$tmp/dns" bs=1 seek=600 conv=notrunc status=none
# (Both variants of dns were linked with it: the first checked is named.)
refuse "dns rewritten after the link" "$tmp/dns(\.6\.18)?\.bpf\.o does not belong to $tmp/dns"
# A program without an identity (not written by this koff-link), alone.
rm -f "$tmp/dns.6.18.bpf.o"
llvm-objcopy --remove-section .koff.identity "$tmp/dns.bpf.o.good" "$tmp/dns.bpf.o" ||
	koff_fail "cannot strip .koff.identity"
refuse "program without identity" "$tmp/dns\.bpf\.o carries no identity"
echo "t-pairing: all checks passed"
