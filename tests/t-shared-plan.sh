#!/usr/bin/env bash
# t-shared-plan: which globals koff-link shares (src/shared.c) and where,
# as the manifest ("shared"), --explain and OUT.bpf.o's .koff.shared say.
#   counter.c  .data and .bss shared, .data first at 0, .bss at 32; one page
#   big.c      5000 bytes: two pages, the control block on the second; the
#              stateful diff checks stores past 4 KiB
#   pointer.c  a pointer in .bss: refused with the reason ("`cursor` holds a
#              pointer"), no map, its requests fall back (pass_mem) and the
#              others still agree with the native handler (koffdiff)
#   reloc.c    an initialised pointer: its section holds a relocation: refused
. "$(dirname "$0")/lib.sh"
cd "$KOFF_ROOT"
[ -x ./koff-link ] || koff_fail "./koff-link is missing (make)"
tmp=$(mktemp -d)
koff_on_exit "rm -rf '$tmp'"
verify=--no-verify
[ "$(id -u)" -eq 0 ] && verify=
for h in counter big pointer reloc; do
	gcc -O2 -g -c "tests/shared/$h.c" -o "$tmp/$h.o" || koff_fail "cannot compile $h.c"
done
shared_of() {	# the manifest's "shared" object, one line
	python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["shared"], sort_keys=True))' "$1"
}

./koff-link "$tmp/counter.o" -o "$tmp/counter" --udp-port 9999 $verify --explain >"$tmp/counter.explain" ||
	koff_fail "koff-link failed on counter.o"
koff_expect_eq "counter's shared plan" "$(shared_of "$tmp/counter.koff.json")" \
	'{"data_size": 192, "mode": "lock", "roots": ["handle_request"], "sections": [{"name": ".data", "off": 0, "size": 4}, {"name": ".bss", "off": 32, "size": 160}], "used": true, "value_size": 4096, "why_not": "", "writer_roots": ["handle_request"]}'
grep -q 'shared state: lock mode, 192 bytes of globals in map koff_shared (4096 bytes): .data@0 .bss@32' \
	"$tmp/counter.explain" || koff_fail "--explain does not describe counter's shared state"
koff_expect_eq "counter.bpf.o's .koff.shared" "$(readelf -p .koff.shared "$tmp/counter.bpf.o" | sed 's/\\n/\n/g; s/^ *\[ *[0-9a-f]*\] *//' | awk '$1 ~ /^(mode|size|data|section)$/ { $1 = $1; print }' | tr '\n' ';')" \
	'mode lock;size 4096;data 192;section .data 0 4;section .bss 32 160;'
koff_ok "counter: .data and .bss shared at 0 and 32, lock mode, one page"

./koff-link "$tmp/big.o" -o "$tmp/big" --udp-port 9999 $verify || koff_fail "koff-link failed on big.o"
koff_expect_eq "big's region" "$(shared_of "$tmp/big.koff.json" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["data_size"] > 5000, d["value_size"], d["mode"])')" \
	"True 8192 lock"
koff_ok "big: over 5000 bytes of globals, two pages"

./koff-link "$tmp/pointer.o" -o "$tmp/pointer" --udp-port 9999 $verify --explain >"$tmp/pointer.explain" ||
	koff_fail "koff-link failed on pointer.o"
koff_expect_eq "pointer's refusal" "$(shared_of "$tmp/pointer.koff.json" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["used"], d["mode"], d["why_not"])')" \
	'False none handle_request uses `cursor` (.bss): `cursor` holds a pointer'
grep -q 'pass_mem .*writable global data that is not shared' "$tmp/pointer.explain" ||
	koff_fail "pointer: the fallback site is not named"
[ -f "$tmp/pointer.bpf.o" ] || koff_fail "pointer: its other requests should still be offloaded"
if readelf -S "$tmp/pointer.bpf.o" | grep -q '\.koff\.shared'; then
	koff_fail "pointer.bpf.o has a .koff.shared section though nothing is shared"
fi
koff_ok "pointer: .bss refused because cursor holds a pointer; no koff_shared map"

./koff-link "$tmp/reloc.o" -o "$tmp/reloc" --udp-port 9999 $verify || koff_fail "koff-link failed on reloc.o"
koff_expect_eq "reloc's refusal" "$(shared_of "$tmp/reloc.koff.json" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["used"], d["why_not"])')" \
	'False handle_request uses `limit_ptr` (.data.rel.local): holds 1 relocation (initialised pointers)'
koff_ok "reloc: .data.rel.local refused for its relocation"

[ "$(id -u)" -eq 0 ] || koff_skip "the rest needs root to load and test-run BPF programs"
koff_stateful_diff "$tmp/big.o" "$tmp" big-state lock tests/shared/big.txt --protocol --rounds 2 --random 300
objcopy --localize-symbol=main "$tmp/pointer.o" "$tmp/pointer_nomain.o" &&
cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 tests/koffdiff.c "$tmp/pointer_nomain.o" -lbpf -lelf -lz \
	-o "$tmp/koffdiff-pointer" || koff_fail "cannot build koffdiff for pointer"
"$tmp/koffdiff-pointer" --port 9999 --mutate 100 --random 100 --max-fallback-percent 100 \
	"$tmp/pointer.bpf.o" tests/shared/pointer.txt || koff_fail "pointer: the lifted program disagrees with the native handler"
koff_ok "pointer: requests that touch cursor fall back, the others agree with the native handler"
