#!/usr/bin/env bash
# t-bpfobj: bpfgen/bpfobj.c writes a BPF object that stock bpftool loads and
# runs, and bpfgen/verify.c reports the verifier's verdict (accepted with
# its instruction count, or rejected at the right instruction).
set -eu
cd "$(dirname "$0")/.."
# One counter per KOFF_STATS entry of include/koff_abi.h.
nstats=$(grep -c '^[[:space:]]*X([A-Z_]*, "' include/koff_abi.h)

if [ "$(id -u)" != 0 ]; then
	echo "skip: loading BPF programs needs root"
	exit 77
fi
for tool in bpftool jq readelf; do
	command -v "$tool" >/dev/null || { echo "skip: $tool not installed"; exit 77; }
done

tmp=$(mktemp -d /tmp/koff-bpfobj.XXXXXX)
pin=/sys/fs/bpf/koff-test-$$
cleanup() {
	rm -f "$pin"
	rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*"
	exit 1
}

cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -g -Iinclude -Isrc -Ilifter -Ibpfgen \
	tests/bpfobj_test.c bpfgen/bpfobj.c bpfgen/verify.c bpfgen/emit.c src/util.c \
	-lbpf -lelf -ldw -lz -o "$tmp/bpfobj_test"
t="$tmp/bpfobj_test"

# Sum of a per-CPU u64 counter: bpftool prints each CPU's value.
counter() {
	bpftool -j map lookup id "$1" key "$2" 0 0 0 | jq '[.formatted.values[].value] | add'
}

# ---- The object's shape --------------------------------------------------
obj="$tmp/good.bpf.o"
"$t" write "$obj"
readelf -h "$obj" | grep -q 'Machine: *Linux BPF' || fail "not EM_BPF"
readelf -h "$obj" | grep -q 'Type: *REL' || fail "not ET_REL"
for sec in xdp .relxdp .maps .rodata license .BTF .symtab .strtab; do
	readelf -S "$obj" | grep -q " $sec " || fail "section $sec missing"
done
[ "$(readelf -r "$obj" | grep -c R_BPF_INSN_64)" = 3 ] || fail "expected 3 map relocations"
readelf -s "$obj" | grep -q 'FUNC *GLOBAL .* koff_xdp$' || fail "no global koff_xdp"
bpftool btf dump file "$obj" | grep -q "FUNC 'koff_xdp'" || fail "no BTF FUNC koff_xdp"
bpftool btf dump file "$obj" | grep -q "DATASEC '.rodata' size=64" || fail "no .rodata DATASEC"

# ---- Stock bpftool loads it, runs it, and the maps say what happened -----
bpftool prog load "$obj" "$pin" || fail "bpftool prog load rejected the object"
prog=$(bpftool -j prog show pinned "$pin")
[ "$(jq -r .name <<<"$prog")" = koff_xdp ] || fail "prog name: $(jq -r .name <<<"$prog")"
[ "$(jq -r .type <<<"$prog")" = xdp ] || fail "prog type: $(jq -r .type <<<"$prog")"
# The scratch value size is the one include/ir.h defines.
scratch_size=$(( $(printf '#include "ir.h"\nIR_SCRATCH_SIZE\n' | cpp -P -Iinclude - | tail -n 1 | tr -d u) ))
scratch="" stats="" rodata=""
for id in $(jq '.map_ids[]' <<<"$prog"); do
	m=$(bpftool -j map show id "$id")
	case $(jq -r .name <<<"$m") in
	koff_scratch) scratch=$id
		[ "$(jq -r '"\(.type) \(.bytes_key) \(.bytes_value) \(.max_entries)"' <<<"$m")" = \
		  "percpu_array 4 $scratch_size 1" ] || fail "koff_scratch: $m";;
	koff_stats) stats=$id
		[ "$(jq -r '"\(.type) \(.bytes_key) \(.bytes_value) \(.max_entries)"' <<<"$m")" = \
		  "percpu_array 4 8 $nstats" ] || fail "koff_stats: $m";;
	*.rodata) rodata=$id
		[ "$(jq -r .frozen <<<"$m")" = 1 ] || fail ".rodata map not frozen: $m";;
	esac
done
[ -n "$scratch" ] && [ -n "$stats" ] && [ -n "$rodata" ] || fail "maps: $(jq -c .map_ids <<<"$prog")"
# byte 37 holds 0xa5, byte 5 holds 5: the image arrived intact.
bytes=$(bpftool -j map lookup id "$rodata" key 0 0 0 0 | jq -r '.value | "\(.[37]) \(.[5]) \(length)"')
[ "$bytes" = "0xa5 0x05 64" ] || fail ".rodata contents: $bytes"

pass_other=2	# KOFF_STAT_PASS_OTHER
[ "$(counter "$stats" $pass_other)" = 0 ] || fail "counter not zero before the run"
head -c 64 /dev/zero >"$tmp/pkt"
out=$(bpftool prog run pinned "$pin" data_in "$tmp/pkt" repeat 1)
echo "$out"
# XDP_PASS (2) only if the program read 0xa5 at .rodata+37.
grep -q 'Return value: 2,' <<<"$out" || fail "expected XDP_PASS: $out"
[ "$(counter "$stats" $pass_other)" = 1 ] || fail "counter after one run: $(counter "$stats" $pass_other)"
bpftool prog run pinned "$pin" data_in "$tmp/pkt" repeat 5 >/dev/null
[ "$(counter "$stats" $pass_other)" = 6 ] || fail "counter after six runs: $(counter "$stats" $pass_other)"
[ "$(counter "$stats" 0)" = 0 ] || fail "another counter moved"
rm -f "$pin"

# ---- Without .rodata: no section, no map, still loads ---------------------
"$t" write "$tmp/plain.bpf.o" --no-rodata
readelf -S "$tmp/plain.bpf.o" | grep -q ' .rodata ' && fail "empty .rodata was written"
bpftool prog load "$tmp/plain.bpf.o" "$pin" || fail "object without .rodata rejected"
[ "$(bpftool -j prog show pinned "$pin" | jq '.map_ids | length')" = 2 ] || fail "expected 2 maps"
bpftool prog run pinned "$pin" data_in "$tmp/pkt" repeat 1 | grep -q 'Return value: 2,' ||
	fail "plain program did not pass"
rm -f "$pin"

# ---- Link-time verification ------------------------------------------------
"$t" verify-good "$tmp/verify-good.bpf.o" || fail "verify-good"
"$t" verify-bad-uninit "$tmp/bad-uninit.bpf.o" || fail "verify-bad-uninit"
"$t" verify-bad-oob "$tmp/bad-oob.bpf.o" || fail "verify-bad-oob"
"$t" verify-bad-long "$tmp/bad-long.bpf.o" || fail "verify-bad-long"
if command -v setpriv >/dev/null; then
	chmod 755 "$tmp" && chmod 644 "$tmp/verify-good.bpf.o"
	setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all \
		"$t" verify-noperm "$tmp/verify-good.bpf.o" || fail "verify-noperm"
fi

# ---- Writes that must fail cleanly -----------------------------------------
mkdir "$tmp/uw"
"$t" unwritable "$tmp/uw" || fail "unwritable"
if command -v unshare >/dev/null; then
	mkdir "$tmp/ro"
	# A private mount namespace: the read-only mount vanishes with it.
	unshare -m sh -c 'mount -t tmpfs -o ro koff-ro "$1" && "$2" unwritable-ro "$1"' sh \
		"$tmp/ro" "$t" || fail "unwritable-ro"
fi
echo "all bpfobj checks passed"
