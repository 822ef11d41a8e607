#!/usr/bin/env bash
# t-icount: bench/icount's executed-instruction counts can be trusted.
# icount interprets a program and runs every request in the kernel too
# (bpf_prog_test_run); any verdict or output byte (or array map) that
# differs is a mismatch.  Asserted here:
#  - the lifted echo and dns programs (portable and --kernel host) and their
#    clang references: 0 mismatches on the samples' requests (dns also in
#    IPv6 frames, whose replies' checksums come from bpf_csum_diff);
#  - tests/data/icount/ops.bpf.c (cpu v4 instructions, division by 0 and
#    -1, 32-bit forms, atomics, gotol, may_goto): 0 mismatches, every
#    request answered (TX);
#  - counts are deterministic: two runs print the same figures;
#  - counts mean what they say: nop's dropped '#' requests execute fewer
#    instructions than its replies (reference and lifted), and the lifted
#    dns program executes more than its reference (it does strictly more
#    work per request: bounds checks, spills, counters);
#  - calls are counted: the portable dns program's bpf_loop callback runs
#    and the reference's __noinline functions, none in the host program.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || koff_skip "needs root: icount loads each program and test-runs it in the kernel"
cd "$KOFF_ROOT"
command -v clang >/dev/null || koff_skip "needs clang for the reference programs"
command -v clang-19 >/dev/null || koff_skip "needs clang-19 (cpu v4 instructions in tests/data/icount/ops.bpf.c)"
[ -x ./koff-link ] || koff_fail "./koff-link is missing (make)"
tmp=$(mktemp -d)
koff_on_exit "rm -rf '$tmp'"
BPF_FLAGS="-O2 -g -target bpf -I/usr/include/x86_64-linux-gnu -Iinclude"
cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 bench/icount.c -lbpf -lelf -lz -o "$tmp/icount" ||
	koff_fail "cannot build bench/icount.c"

# Lifted (portable, host) and reference programs of handler $1 ($2: source, $3: port).
build() {
	gcc -O2 -g -c "$2" -o "$tmp/$1.o" &&
	./koff-link "$tmp/$1.o" -o "$tmp/$1" --udp-port "$3" >"$tmp/link-$1.log" 2>&1 &&
	./koff-link "$tmp/$1.o" -o "$tmp/$1-host" --udp-port "$3" --kernel host >>"$tmp/link-$1.log" 2>&1 &&
	clang $BPF_FLAGS -c "bench/ref/$1_ref.bpf.c" -o "$tmp/$1_ref.bpf.o" ||
		{ cat "$tmp/link-$1.log"; koff_fail "cannot build the $1 programs"; }
}

# icount on programs "$@" (the last argument: requests) with port $PORT -> stdout; fails on any mismatch.
icount() {
	local out rc
	out=$("$tmp/icount" --port "$PORT" "$@" 2>"$tmp/icount.err"); rc=$?
	echo "$out"
	[ "$rc" -eq 0 ] || { echo "$out" >&2; cat "$tmp/icount.err" >&2; koff_fail "icount exited $rc on $*"; }
}
field() { awk -v i="$1" -v k="$2" '$1 == "prog" && $2 == i { for (f = 4; f < NF; f++) if ($f == k) print $(f + 1) }'; }
mismatches() { awk '$1 == "prog" { for (f = 4; f < NF; f++) if ($f == "mismatch_vs_kernel") n += $(f + 1) } END { print n + 0 }'; }

build echo samples/echo/echo.c 7007
build dns samples/dns/dns.c 5353
build nop bench/handlers/nop.c 7009
for s in echo dns; do
	PORT=$([ "$s" = echo ] && echo 7007 || echo 5353)
	out=$(icount "$tmp/${s}_ref.bpf.o" "$tmp/$s.bpf.o" "$tmp/$s-host.bpf.o" "samples/$s/requests.txt")
	echo "$out"
	[ "$(echo "$out" | grep -c '^prog ')" -eq 3 ] || koff_fail "$s: expected a line per program"
	[ "$(echo "$out" | mismatches)" -eq 0 ] || koff_fail "$s: the interpreter and the kernel disagree"
	again=$(icount "$tmp/${s}_ref.bpf.o" "$tmp/$s.bpf.o" "$tmp/$s-host.bpf.o" "samples/$s/requests.txt")
	[ "$out" = "$again" ] || koff_fail "$s: two runs counted differently"
done
# IPv6 frames: the lifted dns program's UDP checksum comes from bpf_csum_diff.
out6=$(icount --frame v6 "$tmp/dns.bpf.o" "$tmp/dns-host.bpf.o" samples/dns/requests.txt)
echo "$out6"
[ "$(echo "$out6" | mismatches)" -eq 0 ] || koff_fail "dns (IPv6): the interpreter and the kernel disagree"
echo "$out6" | grep -q '^helpers 0 .* 28:' || koff_fail "dns (IPv6): bpf_csum_diff was never called: the check above misses it"
ref=$(echo "$out" | field 0 insns_per_req); lifted=$(echo "$out" | field 2 insns_per_req)
awk -v r="$ref" -v l="$lifted" 'BEGIN { exit !(r > 0 && l > r) }' ||
	koff_fail "dns: lifted ($lifted) should execute more instructions than the reference ($ref)"
# Calls into the program's own functions: the portable dns program runs its
# loops as bpf_loop callbacks, the reference calls its __noinline
# functions, the host program (may_goto loops) calls nothing.
for i in 0 1; do
	calls=$(echo "$out" | field "$i" calls_per_req)
	awk -v c="$calls" 'BEGIN { exit !(c >= 1) }' ||
		koff_fail "dns program $i: expected calls into its own functions, got '$calls'"
done
[ "$(echo "$out" | field 2 calls_per_req)" = "0.00" ] ||
	koff_fail "dns --kernel host: expected no calls into its own functions"

PORT=7009
for f in nop-requests nop-drop-requests; do
	icount "$tmp/nop_ref.bpf.o" "$tmp/nop.bpf.o" "bench/handlers/$f.txt" >"$tmp/$f.out"
	cat "$tmp/$f.out"
	[ "$(mismatches <"$tmp/$f.out")" -eq 0 ] || koff_fail "nop ($f): the interpreter and the kernel disagree"
done
for i in 0 1; do
	tx=$(field "$i" insns_tx <"$tmp/nop-requests.out"); drop=$(field "$i" insns_drop <"$tmp/nop-drop-requests.out")
	awk -v t="$tx" -v d="$drop" 'BEGIN { exit !(d > 0 && t > d) }' ||
		koff_fail "nop program $i: a dropped '#' request ($drop insns) should cost less than a reply ($tx)"
done

clang-19 -O2 -g -target bpf -mcpu=v4 -I/usr/include/x86_64-linux-gnu -c tests/data/icount/ops.bpf.c \
	-o "$tmp/ops.bpf.o" || koff_fail "cannot build tests/data/icount/ops.bpf.c"
PORT=5353
out=$(icount "$tmp/ops.bpf.o" tests/data/icount/ops-requests.txt)
echo "$out"
n=$(grep -c '^[0-9a-f]' tests/data/icount/ops-requests.txt)
echo "$out" | grep -q "verdicts tx=$n drop=0 pass=0 other=0 .* mismatch_vs_kernel 0 " ||
	koff_fail "ops: every one of the $n requests should be answered, as the kernel does"
koff_ok "icount agrees with the kernel on echo, dns, nop (reference, portable, host) and every instruction kind of ops.bpf.c; counts are deterministic"
