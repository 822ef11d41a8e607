#!/usr/bin/env bash
# t-kernels: koff's programs on the kernels production runs, not only on this
# host: Debian 12's 6.1 and Debian 13's 6.12, booted under QEMU (koff-vm).
#
# For both samples, kv, tok, tlv and a slice of the generated corpus (12 handlers):
#   - the default output's portable OUT.bpf.o and, for the samples, the
#     --kernel SERIES output are run by tests/koffdiff.c inside each kernel:
#     they load, agree with the native handler on every request (file,
#     mutations, random), and complete exactly the requests they complete on
#     the host (koffdiff's tx/drop/pass lines equal the host's run of the same
#     program with the same seeds).  OUT.6.18.bpf.o, the may_goto variant,
#     runs on the host only: it is for kernels whose verifier prunes loops
#     soundly (6.17+), and 6.12's accepts it and can run it wrong (gen5
#     below did: a 0-byte request answered 0xe0, not 0x93).  kv, tok and tlv
#     (bench/handlers), some or all of whose loops the verifier can walk,
#     also have OUT.walked.bpf.o, verified on the host only: it runs in
#     both guests;
#   - --kernel 6.1 and 6.12 get the bpf_loop shape, --kernel host may_goto;
#   - koff-link --kernel SERIES verified the program in that kernel (the
#     manifest says so); 6.1 refuses the may_goto variant and --kernel host's
#     shape, and stock bpftool loads the portable program there;
#   - koff-load in each guest attaches the portable program, on 6.12 because
#     the kernel lacks loop_marks, and dig gets its answers from XDP.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || koff_skip "needs root to load and test-run BPF programs"
cd "$KOFF_ROOT"
command -v jq >/dev/null || koff_skip "needs jq to read koff-link's manifest"
SERIES="6.1 6.12"
koff_need_vms $SERIES
tmp=$(mktemp -d)
koff_on_exit "rm -rf '$tmp'"
mkdir -p "$tmp/w"
KD_ARGS="--mutate 200 --random 200 --seed 20261130"

# koffdiff for an object: $1 name, $2 object, $3 requests, $4 port.
build_koffdiff() {
	objcopy --localize-symbol=main "$2" "$tmp/$1_nomain.o" &&
		cc -std=c11 -D_GNU_SOURCE -O2 tests/koffdiff.c "$tmp/$1_nomain.o" -lbpf -lelf -lz \
			-o "$tmp/w/kd-$1" || koff_fail "cannot build koffdiff for $1"
	cp "$3" "$tmp/w/req-$1.txt"
	echo "$4" >"$tmp/w/port-$1"
}

# koff-link an object for one target: $1 name, $2 port, $3 target, then the link inputs.
link_for() {
	local name=$1 port=$2 target=$3 out="$tmp/w/$1-$3"
	shift 3
	./koff-link "$@" -o "$out" --udp-port "$port" $([ "$target" = portable ] || echo "--kernel $target") \
		>"$tmp/link-$name-$target.log" 2>&1 ||
		{ cat "$tmp/link-$name-$target.log"; koff_fail "koff-link $name --kernel $target"; }
	[ -f "$out.bpf.o" ] ||
		koff_fail "$name for $target: not offloaded: $(jq -r .not_offloaded_because "$out.koff.json")"
}

# Linking for a series verifies in its VM (a boot each): the samples only.
units=""
add_unit() {	# name targets requests port object [more link inputs]
	local name=$1 targets=$2 req=$3 port=$4
	shift 4
	build_koffdiff "$name" "$1" "$req" "$port"
	for t in $targets; do link_for "$name" "$port" "$t" "$@"; done
	units="$units $name"
}
add_unit dns "portable $SERIES" samples/dns/requests.txt 5353 samples/dns/dns.o
add_unit echo "portable $SERIES" samples/echo/requests.txt 7 samples/echo/echo.o
# echo's only loop is its memcpy, whose word rounds the walked variant
# walks (lifter/builtins.c): a plain program the guests must run too.
koff_expect_eq "echo: walked variant, a plain program" \
	"$(jq -r '[.variants[] | select(.object | endswith(".walked.bpf.o")) | .kernel.loop_shape] | join(",")' \
		"$tmp/w/echo-portable.koff.json")" walked
[ -f "$tmp/w/dns-portable.6.18.bpf.o" ] || koff_fail "dns (has loops): no OUT.6.18.bpf.o variant beside OUT.bpf.o"
# kv (bench/handlers): every loop walkable, so also OUT.walked.bpf.o, the
# portable program with plain loops, verified on the host only: the guests
# must run it with the host's verdicts (an older verifier may refuse a walk
# in general; these must not).
# tok's and tlv's are walked inside the bpf_loop callback, beside loops
# that yield (tlv's string copy starts from a zeroing xor the verifier must
# see as 0: lifter/constprop.c).
for h in kv:11211 tok:7011 tlv:7013; do
	gcc -O2 -g -c "bench/handlers/${h%%:*}.c" -o "$tmp/${h%%:*}.o" || koff_fail "cannot compile ${h%%:*}.c"
	add_unit "${h%%:*}" portable "bench/handlers/${h%%:*}-requests.txt" "${h#*:}" "$tmp/${h%%:*}.o"
	[ -f "$tmp/w/${h%%:*}-portable.walked.bpf.o" ] || koff_fail "${h%%:*}: no OUT.walked.bpf.o" \
		"($(jq -r '.no_walked_variant_because // ""' "$tmp/w/${h%%:*}-portable.koff.json"))"
done
cc -std=c11 -D_GNU_SOURCE -O2 tests/gen/handlergen.c -o "$tmp/handlergen" || koff_fail "cannot build handlergen"
echo 'int main(void){return 0;}' >"$tmp/main.c" && cc -c "$tmp/main.c" -o "$tmp/main.o"
for seed in 1 2 3 4 5 6; do
	for cfg in gcc:-O2 clang:-O1; do
		cc=${cfg%%:*} opt=${cfg#*:}
		name=gen$seed$cc${opt#-}
		"$tmp/handlergen" $seed >"$tmp/$name.c" && "$tmp/handlergen" $seed --requests 200 >"$tmp/$name.txt" &&
			$cc $opt -g -w -c "$tmp/$name.c" -o "$tmp/$name.o" || koff_fail "cannot build $name"
		add_unit "$name" portable "$tmp/$name.txt" 5353 "$tmp/$name.o" "$tmp/main.o"
	done
done
koff_ok "linked $(echo $units | wc -w) handlers (the samples also for $SERIES)"

# koff-link verified each --kernel SERIES program in that kernel.
for u in dns echo; do
	for s in $SERIES; do
		m="$tmp/w/$u-$s.koff.json"
		[ "$(jq -r ".kernel.verified_on[] | select(.kernel == \"$s\") | .verified" "$m")" = true ] ||
			koff_fail "$u --kernel $s: not verified in $s: $(jq -c .kernel "$m")"
	done
done
koff_ok "every --kernel 6.1 / 6.12 program was verified in its kernel at link time"

# The script both the host and the guests run (busybox sh in the guests):
# every program through koffdiff, its summary lines and exit status; $2
# names more programs to run (the host: the 6.18 variant).
cat >"$tmp/w/run.sh" <<EOF
cd "\${1:-/w}" || exit 1
for kd in kd-*; do
	u=\${kd#kd-}
	for t in portable portable.walked \$2 $SERIES; do
		[ -f "\$u-\$t.bpf.o" ] || continue
		echo "== \$u \$t"
		./\$kd --port \$(cat port-\$u) $KD_ARGS "\$u-\$t.bpf.o" req-\$u.txt >out.txt 2>&1
		rc=\$?
		grep -E '^(file|mutated|random|frames|MISMATCH|koff_stats|too many)' out.txt
		echo "rc \$rc"
	done
done
rm -f out.txt
EOF
sh "$tmp/w/run.sh" "$tmp/w" portable.6.18 >"$tmp/host.out" 2>&1
grep -q '^== dns portable.6.18$' "$tmp/host.out" || koff_fail "the host did not run dns's 6.18 variant"
grep -q '^rc [^0]' "$tmp/host.out" && { cat "$tmp/host.out"; koff_fail "koffdiff fails on the host"; }
grep -q '^rc 0' "$tmp/host.out" || { cat "$tmp/host.out"; koff_fail "koffdiff did not run on the host"; }

files=()
for f in "$tmp"/w/*; do files+=(--file "$f:/w/$(basename "$f")"); done
for s in $SERIES; do
	./koff-vm --kernel "$s" --timeout 900 --mem 1024 "${files[@]}" -- "sh /w/run.sh /w" \
		>"$tmp/vm-$s.out" 2>&1
	rc=$?
	[ $rc -eq 0 ] || { tail -n 30 "$tmp/vm-$s.out"; koff_fail "the $s guest did not run the programs (koff-vm exit $rc)"; }
	if grep -q MISMATCH "$tmp/vm-$s.out"; then
		grep -B2 -A8 MISMATCH "$tmp/vm-$s.out" | head -40
		koff_fail "on $s a program disagrees with the native handler"
	fi
	# The programs meant for this kernel must give the host's figures: the
	# portable one and the series' own.  The others may be refused there
	# (they are not meant for it).
	meant="portable portable.walked $s"
	for u in $units; do
		for t in $meant; do
			want=$(sed -n "/^== $u $t\$/,/^rc /p" "$tmp/host.out")
			got=$(sed -n "/^== $u $t\$/,/^rc /p" "$tmp/vm-$s.out")
			# Only the samples have series programs; only handlers with loops a variant.
			if [ -z "$want" ]; then
				[ "$t" = portable ] && koff_fail "no host run of $u $t"
				case "$u $t" in "kv portable.walked" | "tok portable.walked" | "tlv portable.walked" | \
					"echo portable.walked")
					koff_fail "no host run of $u $t";; esac
				continue
			fi
			[ "$want" = "$got" ] || {
				echo "host:"; echo "$want"; echo "$s:"; echo "$got"
				koff_fail "$u ($t program) on $s: not the host's verdicts"
			}
		done
	done
	koff_ok "$s: $(echo $units | wc -w) handlers, programs for $meant: same verdicts as the host, 0 mismatches"
done

# Shapes differ: --kernel host (may_goto here) is not the portable program,
# and the 6.1 verifier refuses it.
./koff-link samples/dns/dns.o -o "$tmp/dnshost" --udp-port 5353 --kernel host >/dev/null 2>&1 ||
	koff_fail "koff-link --kernel host"
koff_expect_eq "--kernel host: loop shape" "$(jq -r .kernel.loop_shape "$tmp/dnshost.koff.json")" may_goto
koff_expect_eq "portable: loop shape" "$(jq -r .kernel.loop_shape "$tmp/w/dns-portable.koff.json")" bpf_loop
koff_expect_eq "portable: body copies" "$(jq -r .kernel.body_copies "$tmp/w/dns-portable.koff.json")" 4
koff_expect_eq "--kernel 6.1: loop shape" "$(jq -r .kernel.loop_shape "$tmp/w/dns-6.1.koff.json")" bpf_loop
koff_expect_eq "--kernel 6.12 (may_goto, but no loop_marks): loop shape" \
	"$(jq -r .kernel.loop_shape "$tmp/w/dns-6.12.koff.json")" bpf_loop
./koff-vm --kernel 6.1 --file "$tmp/dnshost.bpf.o:/w/h.bpf.o" --file "$tmp/w/dns-portable.bpf.o:/w/p.bpf.o" \
	--file "$tmp/w/dns-portable.6.18.bpf.o:/w/f.bpf.o" --file "$(command -v bpftool):/usr/sbin/bpftool" -- \
	'bpftool prog load /w/p.bpf.o /sys/fs/bpf/p && echo portable-loads
	 bpftool prog load /w/h.bpf.o /sys/fs/bpf/h 2>/dev/null && echo host-loads
	 bpftool prog load /w/f.bpf.o /sys/fs/bpf/f 2>/dev/null && echo variant-loads; true' \
	>"$tmp/shapes.out" 2>&1 || { cat "$tmp/shapes.out"; koff_fail "the 6.1 guest did not run bpftool"; }
grep -q '^portable-loads' "$tmp/shapes.out" || { cat "$tmp/shapes.out"; koff_fail "6.1: stock bpftool does not load the portable dns.bpf.o"; }
grep -q '^host-loads' "$tmp/shapes.out" && koff_fail "6.1 loaded the host-shaped (may_goto) program: the shapes do not differ"
grep -q '^variant-loads' "$tmp/shapes.out" && koff_fail "6.1 loaded OUT.6.18.bpf.o: the variant is not the may_goto shape"
koff_ok "6.1: bpftool loads the portable program and refuses the host-shaped one and the 6.18 variant"

# End to end inside each guest: the default dns output (both variants)
# under koff-load on the guest's lo (generic XDP).  koff-load attaches the
# portable program: 6.1 refuses the may_goto variant, and on 6.12 koff-load
# does not try it (no loop_marks: 6.12's verifier would accept it).  Real
# dig queries are answered from XDP (its counters).
command -v dig >/dev/null || koff_skip "needs dig (bind9-dnsutils) for the end to end runs in the guests"
cat >"$tmp/e2e.sh" <<'EOS'
cd /w
./koff-load --verbose --dev lo ./dns-portable -p 5353 >load.log 2>&1 &
loader=$!
i=0
while [ $i -lt 50 ] && ! grep -q attached load.log; do sleep 0.2; i=$((i + 1)); done
for q in "www.example.test A" "mail.example.test AAAA" "api.example.test A" "nope.example.test A"; do
	echo "q $q: $(dig @127.0.0.1 -p 5353 +tries=1 +time=3 +short $q | tr '\n' ' ')"
done
kill -TERM $loader
wait $loader
cat load.log
EOS
for s in $SERIES; do
	./koff-vm --kernel "$s" --timeout 600 --file ./build/koff-load:/w/koff-load --file "$tmp/w/dns-portable:/w/dns-portable" \
		--file "$tmp/w/dns-portable.bpf.o:/w/dns-portable.bpf.o" \
		--file "$tmp/w/dns-portable.6.18.bpf.o:/w/dns-portable.6.18.bpf.o" \
		--file "$tmp/w/dns-portable.koff.json:/w/dns-portable.koff.json" \
		--file "$(command -v dig):/usr/bin/dig" --file "$tmp/e2e.sh:/w/e2e.sh" -- 'sh /w/e2e.sh' \
		>"$tmp/e2e-$s.out" 2>&1 || { cat "$tmp/e2e-$s.out"; koff_fail "the $s guest did not run the end to end test"; }
	grep -q '^q www.example.test A: 192.0.2.10 $' "$tmp/e2e-$s.out" &&
		grep -q '^q mail.example.test AAAA: 2001:db8::25 $' "$tmp/e2e-$s.out" &&
		grep -q '^q api.example.test A: 192.0.2.30 192.0.2.31 $' "$tmp/e2e-$s.out" ||
		{ cat "$tmp/e2e-$s.out"; koff_fail "$s: dig got wrong answers through koff-load"; }
	grep -q 'dns-portable.bpf.o attached' "$tmp/e2e-$s.out" ||
		{ cat "$tmp/e2e-$s.out"; koff_fail "$s: koff-load did not fall back to the portable program"; }
	[ "$s" = 6.12 ] && { grep -q 'dns-portable.6.18.bpf.o: this kernel lacks loop_marks' "$tmp/e2e-$s.out" ||
		{ cat "$tmp/e2e-$s.out"; koff_fail "6.12: koff-load did not say why it skipped the 6.18 variant"; }; }
	tx=$(sed -n 's/.* tx=\([0-9]*\).*/\1/p' "$tmp/e2e-$s.out" | tail -n 1)
	[ "${tx:-0}" -ge 3 ] || { cat "$tmp/e2e-$s.out"; koff_fail "$s: the answers did not come from XDP (tx=${tx:-none})"; }
	koff_ok "$s: dig answered through koff-load from XDP (tx=$tx), portable program"
done
