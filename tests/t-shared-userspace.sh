#!/usr/bin/env bash
# t-shared-userspace: OUT's side of shared state (docs/shared-state.md) with
# a real BPF map, for gcc -O0, gcc -O2 and clang -O2, PIE and -no-pie:
#  (a) alone (no KOFF_SHARED_FD) OUT prints what the plain cc link prints;
#  (b) with a fresh map: the same output (OUT's initial values were copied
#      in), magic set, and the map holds OUT's final globals (a fork child's
#      writes stay in the child, as in the original); with a map
#      already initialised (magic set), OUT reads the map's values;
#  (c) a wrong map (size, type, not mmapable), not a map, not a number:
#      one line "OUT: koff: ..." and exit 1 before main;
#  (d) the trampolines: N writer roots -> seq 2N; a reader root leaves seq;
#      nested roots and a signal handler inside a root count once; writers
#      and lock are 0 afterwards; a double argument and result pass through;
#      a lock and writers left by an OUT that died in a section are cleared;
#      OUT exec'ing itself maps the same map again (reset to its initial
#      values, like the original's new image), a child's exec runs alone;
#  (e) exact under concurrency: while OUT's threads run a writer root that
#      keeps pair_a == pair_b outside its sections, a thread plays the XDP
#      program (LOCK: cmpxchg ctl.lock; SEQ: seq/writers) and never sees
#      them differ; without the protocol the same thread does (the control).
# tests/shared-user/counter.c is the program, tests/shared-user/mapexec.c runs it
# against a map as koff-load will.
. "$(dirname "$0")/lib.sh"
cd "$KOFF_ROOT"
[ "$(id -u)" -eq 0 ] || koff_skip "needs root to create BPF maps"
command -v jq >/dev/null || koff_skip "needs jq to read the manifest"
make -s build/koff-link >&2 || koff_fail "cannot build koff-link"
tmp=$(mktemp -d /tmp/koff-shared-u.XXXXXX)
koff_on_exit "rm -rf '$tmp'"
cc -O2 -Wall -Wextra -Iinclude tests/shared-user/mapexec.c -lbpf -lpthread -o "$tmp/mapexec" || koff_fail "cannot build mapexec"

printf 'req hello\npeek\nn 5\npeek\nouter\npeek\nsig\npeek\nsigin\npeek\nfloat 2\nfork\npeek\n' >"$tmp/in"

# offset NAME: the variable's byte offset in the shared region of $out.
offset() {
	local start var
	start=$(nm "$out" | awk '$3 == "__koff_shared_start" { print $1 }')
	var=$(nm "$out" | awk -v n="$1" '$3 == n { print $1 }')
	[ -n "$start" ] && [ -n "$var" ] || koff_fail "$cfg: no symbol $1 or __koff_shared_start in OUT"
	echo $((0x$var - 0x$start))
}

# run_map LABEL STDIN [mapexec options]: $tmp/so (output), $tmp/se.
run_map() {
	local label=$1 input=$2
	shift 2
	timeout 20 "$tmp/mapexec" "$@" -- "$out" <"$input" >"$tmp/so" 2>"$tmp/se" ||
		koff_fail "$cfg: $label: mapexec failed: $(cat "$tmp/se")"
}
ctl_line() { grep '^status=' "$tmp/so"; }
word() { sed -n "s/^$1=//p" "$tmp/so"; }

refuse() {	# LABEL PATTERN [mapexec options]
	local label=$1 pattern=$2
	shift 2
	run_map "$label" "$tmp/in" "$@"
	grep -q '^status=1' "$tmp/so" || koff_fail "$cfg: $label: OUT did not exit 1: $(ctl_line)"
	koff_expect_eq "$cfg: $label: nothing from main" "$(grep -vc '^status=' "$tmp/so")" 0
	koff_expect_eq "$cfg: $label: one line" "$(wc -l <"$tmp/se")" 1
	grep -Eq "^$out: koff: $pattern" "$tmp/se" || koff_fail "$cfg: $label: '$(cat "$tmp/se")' lacks '$pattern'"
}

check_config() {	# CC OPT [-no-pie]
	local cc=$1 opt=$2 nopie=${3:-} pic="" size hits total
	cfg="$cc $opt${nopie:+ $nopie}"
	[ -n "$nopie" ] && pic=-fno-pie
	out="$tmp/counter"
	"$cc" $opt $pic -g -c tests/shared-user/counter.c -o "$tmp/counter.o" || koff_fail "$cfg: compile"
	"$cc" $opt $pic "$tmp/counter.o" $nopie -o "$tmp/plain" || koff_fail "$cfg: plain link"
	KOFF_CC=$cc build/koff-link "$tmp/counter.o" $nopie -o "$out" --no-verify >/dev/null 2>"$tmp/link.err" ||
		koff_fail "$cfg: koff-link: $(cat "$tmp/link.err")"
	[ "$(jq -r '.shared.roots | length' "$out.koff.json")" -ge 7 ] ||
		koff_fail "$cfg: roots: $(jq -c .shared "$out.koff.json")"
	size=$(readelf -SW "$out" | awk '$2 == ".koff_shared" { print $6 }')
	[ -n "$size" ] && size=$((0x$size))
	[ -n "$size" ] || koff_fail "$cfg: OUT has no .koff_shared"
	hits=$(offset hits) total=$(offset total)
	# The XDP program's map is the same region (OUT.bpf.o's .koff.shared).
	koff_expect_eq "$cfg: OUT.bpf.o's map value is OUT's .koff_shared" \
		"$(readelf -p .koff.shared "$out.bpf.o" | sed -n 's/.*size \([0-9]*\).*/\1/p')" "$size"

	# (a) alone
	"$tmp/plain" <"$tmp/in" >"$tmp/want" || koff_fail "$cfg: plain run"
	"$out" <"$tmp/in" >"$tmp/got" || koff_fail "$cfg: OUT alone failed"
	cmp -s "$tmp/want" "$tmp/got" || koff_fail "$cfg: OUT alone differs from the plain link"
	[ "$(wc -l <"$tmp/want")" -eq 8 ] || koff_fail "$cfg: the plain program printed $(wc -l <"$tmp/want") lines"
	koff_ok "$cfg: (a) alone, as the plain link"

	# (b) fresh map: initial values copied; then the map holds the globals.
	run_map fresh "$tmp/in" --size "$size" --show "$hits" --show "$total"
	cmp -s "$tmp/want" <(grep -v '^status=\|^[0-9]*=' "$tmp/so") || koff_fail "$cfg: with a fresh map the output differs"
	koff_expect_eq "$cfg: (b) fresh map: ctl" "$(ctl_line)" "status=0 magic=set seq=18 writers=0 lock=0"
	koff_expect_eq "$cfg: (b) the map holds hits" "$(word "$hits")" 2117
	koff_expect_eq "$cfg: (b) the map holds total (initial 100 copied in)" "$(word "$total")" 110
	# initialised map: OUT reads the map's values, not its own image.
	printf 'req abc\n' >"$tmp/in1"
	run_map initialised "$tmp/in1" --size "$size" --magic --set "$hits=41" --set "$total=7" --show "$hits" --show "$total"
	koff_expect_eq "$cfg: (b) initialised map: OUT replies from the map" "$(head -1 "$tmp/so")" "42 10"
	koff_expect_eq "$cfg: (b) initialised map: hits" "$(word "$hits")" 42

	# (d) the sections
	printf 'n 50\n' >"$tmp/in1"
	run_map writers "$tmp/in1" --size "$size" --show "$hits"
	koff_expect_eq "$cfg: (d) 50 writer roots: seq 100" "$(ctl_line)" "status=0 magic=set seq=100 writers=0 lock=0"
	printf 'peek\npeek\nfloat 1\n' >"$tmp/in1"
	run_map readers "$tmp/in1" --size "$size"
	koff_expect_eq "$cfg: (d) reader roots leave seq" "$(ctl_line)" "status=0 magic=set seq=0 writers=0 lock=0"
	koff_expect_eq "$cfg: (d) a double through a root" "$(sed -n 3p "$tmp/so")" "1.500"
	printf 'outer\npeek\n' >"$tmp/in1"
	run_map nested "$tmp/in1" --size "$size"
	koff_expect_eq "$cfg: (d) outer calls inner: counted once" "$(ctl_line)" "status=0 magic=set seq=2 writers=0 lock=0"
	koff_expect_eq "$cfg: (d) outer and inner both ran" "$(head -1 "$tmp/so")" 110
	printf 'sig\nsigin\npeek\n' >"$tmp/in1"
	run_map signal "$tmp/in1" --size "$size"
	koff_expect_eq "$cfg: (d) a handler root, and one inside a root" "$(ctl_line)" "status=0 magic=set seq=4 writers=0 lock=0"
	koff_expect_eq "$cfg: (d) the handlers ran" "$(head -1 "$tmp/so")" 2001

	# exec: OUT exec'ing itself maps the map again and starts it from its
	# initial values (in a writer section), as the original's new image
	# starts fresh; a child's exec is a new program with fresh globals, alone.
	printf 'n 3\nspawn\npeek\nreexec\n' >"$tmp/in1"
	"$out" <"$tmp/in1" >"$tmp/want1" || koff_fail "$cfg: exec alone"
	run_map exec "$tmp/in1" --size "$size" --show "$hits"
	cmp -s "$tmp/want1" <(grep -v '^status=\|^[0-9]*=' "$tmp/so") || koff_fail "$cfg: exec: output differs from alone"
	koff_expect_eq "$cfg: (d) exec: the child alone, the re-exec'd OUT on the map" \
		"$(tr '\n' ' ' <"$tmp/so")" "after exec: 10 3 after exec: 10 status=0 magic=set seq=10 writers=0 lock=0 $hits=10 "

	# An OUT that died inside a section left lock and writers set: cleared at start.
	printf 'peek\n' >"$tmp/in1"
	run_map stale "$tmp/in1" --size "$size" --magic --set $((size - 64 + 24))=9 --set $((size - 64 + 16))=2 \
		--set $((size - 64 + 8))=40
	koff_expect_eq "$cfg: (d) a dead OUT's section cleared at start" "$(ctl_line)" \
		"status=0 magic=set seq=41 writers=0 lock=0"

	# (e) a simulated kernel side against OUT's threads
	local a b m
	a=$(offset pair_a) b=$(offset pair_b)
	for m in lock seq none; do
		# On a busy machine the simulated kernel may not get a turn (or, for
		# the control, not meet a section): a few tries; every one must be exact.
		for try in 1 2 3 4 5; do
			printf 'threads 1 5000\n' >"$tmp/in1"
			run_map "kernel $m" "$tmp/in1" --size "$size" --kernel "$m" "$a" "$b" --show "$a" --show "$b"
			koff_expect_eq "$cfg: (e) $m: ctl" "$(ctl_line)" "status=0 magic=set seq=10000 writers=0 lock=0"
			koff_expect_eq "$cfg: (e) $m: pair_a" "$(word "$a")" 5000
			kline=$(grep '^kernel ' "$tmp/so")
			runs=$(sed -n 's/.*runs=\([0-9]*\).*/\1/p' <<<"$kline")
			viol=$(sed -n 's/.*violations=\([0-9]*\).*/\1/p' <<<"$kline")
			[ "$m" = none ] || koff_expect_eq "$cfg: (e) $m: no torn pair ($kline)" "$viol" 0
			if [ "$m" = none ]; then
				[ "$viol" -gt 0 ] && break
			else
				[ "$runs" -gt 0 ] && break
			fi
		done
		[ "$runs" -gt 0 ] || koff_fail "$cfg: (e) $m: the simulated kernel never ran: $kline"
		[ "$m" != none ] || [ "$viol" -gt 0 ] ||
			koff_fail "$cfg: (e) the control saw no torn pair: the test cannot tell"
		if [ "$m" != none ]; then
			printf 'threads 3 2000\n' >"$tmp/in1"
			run_map "kernel $m, 3 threads" "$tmp/in1" --size "$size" --kernel "$m" "$a" "$b" --show "$b"
			koff_expect_eq "$cfg: (e) $m, 3 threads: pair_b" "$(word "$b")" 6000
			kline=$(grep '^kernel ' "$tmp/so")
			koff_expect_eq "$cfg: (e) $m, 3 threads: ctl" "$(ctl_line)" "status=0 magic=set seq=12000 writers=0 lock=0"
			koff_expect_eq "$cfg: (e) $m, 3 threads: no torn pair ($kline)" \
				"$(sed -n 's/.*violations=\([0-9]*\).*/\1/p' <<<"$kline")" 0
		fi
	done

	# (c) wrong maps and fds
	refuse "wrong size" "KOFF_SHARED_FD: the map's value size differs" --size $((size + 4096))
	refuse "hash map" "KOFF_SHARED_FD is not koff's shared map" --type hash --size "$size"
	refuse "not mmapable" "KOFF_SHARED_FD: the map is not mmapable" --no-mmap --size "$size"
	refuse "not a number" "KOFF_SHARED_FD is not a file descriptor number" --fd abc --size "$size"
	refuse "not a map" "KOFF_SHARED_FD is not an open BPF map" --fd 0 --size "$size"
	refuse "closed fd" "KOFF_SHARED_FD is not an open BPF map" --fd 999 --size "$size"
	koff_ok "$cfg: (c) wrong maps refused before main"
}

check_config gcc -O0
check_config gcc -O2
check_config gcc -O2 -no-pie
check_config gcc -O0 -no-pie
if command -v clang >/dev/null; then
	check_config clang -O2
	check_config clang -O2 -no-pie
else
	echo "note: no clang here, its configurations skipped"
fi
