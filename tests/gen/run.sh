#!/usr/bin/env bash
# tests/gen/run.sh - the generated-programs corpus: how much of what gcc and
# clang make from handler-shaped C the lifter takes, and whether what it
# takes agrees with the native code.
#
# For each of N functions (tests/gen/handlergen SEED, SEED = S, S+1, ...) and
# each configuration (compiler x level x PIC), it compiles with -g -c, links
# with a trivial main through koff-link, and when something was offloaded
# runs tests/koffdiff.c on K generated requests plus K/10 mutations and K/10
# random requests.  Each (function, configuration) is classified:
#   full       offloaded, no fallback site in OUT.koff.json
#   fallbacks  offloaded, with fallback sites (XDP_PASS on those paths)
#   refused    koff-link exit 0, offloaded=false (not_offloaded_because)
#   error      koff-link exit != 0 (bucketed by its message)
#   crash      koff-link killed by a signal, or timed out
#   mismatch   koffdiff found a difference: the case is kept in OUT/mismatches/
#   differr    koffdiff could not run (exit 2/3)
# and, per unit, the share of the function's requests the kernel completed
# (XDP_TX or XDP_DROP: what users feel, where "offloaded" counts a unit
# whose main path falls back as much as one that serves everything);
# a summary table is printed (also to OUT/summary.txt).
#
# Usage: tests/gen/run.sh [--count N] [--seed S] [--inputs K] [--jobs J]
#          [--compilers "gcc clang clang-19"] [--levels "-O0 -O1 -O2 -O3 -Os"]
#          [--pic "nopic pic"] [--configs "gcc:-O2 clang:-O1:pic ..."]
#          [--koff-link PATH] [--out DIR]
# --configs replaces the compilers x levels x pic product by a list.
# Exit: 0 no mismatch and no crash; 1 otherwise; 2 setup or usage error.
# Needs root (koff-link verifies in the kernel, koffdiff test-runs programs).
set -u
GEN_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$GEN_DIR/../.." && pwd)
PORT=5353		# koff-link --udp-port = koffdiff --port
LINK_TIMEOUT=300	# seconds: koff-link retries the verifier with smaller caps
DIFF_TIMEOUT=600

die() { echo "run.sh: $*" >&2; exit 2; }

# ---- one (function, configuration): called back through xargs ----------------

# Writes one result line "seed cc level pic class sites detail requests
# in_kernel" to
# $WORK/results/ID.res and the fallback whys to $WORK/results/ID.why.
run_unit() {
	local seed=$1 cc=$2 level=$3 pic=$4
	local id="$seed-$cc$level-$pic" fdir="$WORK/fn/$seed"
	local u="$WORK/units/$id" res="$WORK/results/$id"
	local picflag=""
	[ "$pic" = pic ] && picflag=-fPIC
	mkdir -p "$u"
	# requests / in_kernel: the function's file requests (padded copies
	# included) and how many the kernel completed (XDP_TX or XDP_DROP);
	# a unit that offloads nothing completes none of its requests.
	local nreq_lines
	nreq_lines=$(grep -cv '^#' "$fdir/requests.txt")
	record() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$seed" "$cc" "$level" "$pic" "$1" "$2" "$3" \
		"${4:-$nreq_lines}" "${5:-0}" >"$res.res"; }

	if ! "$cc" $level $picflag -g -c "$fdir/f.c" -o "$u/f.o" 2>"$u/cc.log"; then
		record ccerror 0 "$(head -n 1 "$u/cc.log")"
		return
	fi
	timeout "$LINK_TIMEOUT" "$KOFF_LINK" "$u/f.o" "$WORK/main.o" -o "$u/out" --udp-port $PORT \
		>"$u/link.log" 2>&1
	local rc=$?
	if [ $rc -ge 124 ]; then
		record crash 0 "koff-link exit $rc ($( [ $rc = 124 ] && echo timeout || echo signal $((rc - 128)) ))"
		keep_case "$u" "$fdir" "$cc $level $picflag" crashes "$id"
		return
	fi
	if [ $rc -ne 0 ]; then
		record error 0 "$(grep -m1 'koff-link:' "$u/link.log" || tail -n 1 "$u/link.log")"
		return
	fi
	local json="$u/out.koff.json"
	jq -r '.fallbacks[] | [.why, .counter] | @tsv' "$json" >"$res.why" 2>/dev/null
	local sites
	sites=$(wc -l <"$res.why")
	if [ "$(jq -r .offloaded "$json")" != true ]; then
		record refused "$sites" "$(jq -r .not_offloaded_because "$json")"
		return
	fi
	local class=full
	[ "$sites" -gt 0 ] && class=fallbacks
	if ! cc -no-pie "$WORK/koffdiff.o" "$u/f.o" -lbpf -lelf -lz -o "$u/koffdiff" 2>"$u/kd.log"; then
		record differr "$sites" "cannot link koffdiff: $(head -n 1 "$u/kd.log")"
		return
	fi
	timeout "$DIFF_TIMEOUT" "$u/koffdiff" --port $PORT --seed "$seed" --mutate $((INPUTS / 10)) \
		--random $((INPUTS / 10)) "$u/out.bpf.o" "$fdir/requests.txt" >"$u/diff.log" 2>&1
	rc=$?
	local total nreq tx drop
	total=$(grep -m1 '^total:' "$u/diff.log" | sed 's/^total: *//')
	read -r nreq tx drop < <(sed -n 's/^file: *requests \([0-9]*\), tx \([0-9]*\), drop \([0-9]*\),.*/\1 \2 \3/p' \
		"$u/diff.log")
	case $rc in
	0) record "$class" "$sites" "$total" "$nreq" "$((tx + drop))";;
	1) record mismatch "$sites" "$(grep -m1 MISMATCH "$u/diff.log")" "$nreq" "$((tx + drop))"
	   explain_mismatch "$u" "$seed"
	   keep_case "$u" "$fdir" "$cc $level $picflag" mismatches "$id";;
	*) record differr "$sites" "koffdiff exit $rc: $(tail -n 1 "$u/diff.log")";;
	esac
	# Keep disk use flat: only kept cases survive.
	rm -rf "$u"
}

# A mismatch again, on a --record-path build: trace.log names the x86 instruction
# where the native and the lifted paths part (tests/koffdiff.c).
explain_mismatch() {
	local u=$1 seed=$2
	timeout "$LINK_TIMEOUT" "$KOFF_LINK" "$u/f.o" "$WORK/main.o" -o "$u/traced" --udp-port $PORT \
		--record-path >"$u/trace-link.log" 2>&1 &&
	timeout "$DIFF_TIMEOUT" "$u/koffdiff" --port $PORT --seed "$seed" --mutate $((INPUTS / 10)) \
		--random $((INPUTS / 10)) "$u/traced.bpf.o" "$WORK/fn/$seed/requests.txt" >"$u/trace.log" 2>&1
}

# Copies what reproduces a case to $WORK/KIND/ID, with a repro.sh.
keep_case() {
	local u=$1 fdir=$2 flags=$3 kind=$4 id=$5 dir="$WORK/$4/$5"
	mkdir -p "$dir"
	cp "$fdir/f.c" "$fdir/requests.txt" "$dir/"
	cp "$u"/*.log "$u"/out.koff.json "$dir/" 2>/dev/null
	cat >"$dir/repro.sh" <<EOF
#!/bin/sh
# $kind: handlergen ${id%%-*}, $flags
set -x
$flags -g -c f.c -o f.o
echo 'int main(void){return 0;}' > main.c && cc -c main.c -o main.o
koff-link f.o main.o -o out --udp-port $PORT
cc -no-pie -I. koffdiff.o f.o -lbpf -lelf -lz -o koffdiff   # koffdiff.o: cc -c tests/koffdiff.c
./koffdiff --port $PORT --seed ${id%%-*} --mutate $((INPUTS / 10)) --random $((INPUTS / 10)) out.bpf.o requests.txt
# Where the paths part (trace.log): the same with koff-link --record-path, koffdiff on out.bpf.o of that link.
EOF
}

if [ "${1:-}" = --unit ]; then
	shift
	run_unit "$@"
	exit 0
fi

# ---- the run --------------------------------------------------------------------

COUNT=10 SEED=1 INPUTS=1000 JOBS=2 OUT=""
COMPILERS="gcc clang clang-19" LEVELS="-O0 -O1 -O2 -O3 -Os" PICS="nopic pic" CONFIGS=""
KOFF_LINK="$ROOT/koff-link"
while [ $# -gt 0 ]; do
	case $1 in
	--count) COUNT=$2; shift 2;;
	--seed) SEED=$2; shift 2;;
	--inputs) INPUTS=$2; shift 2;;
	--jobs) JOBS=$2; shift 2;;
	--compilers) COMPILERS=$2; shift 2;;
	--levels) LEVELS=$2; shift 2;;
	--pic) PICS=$2; shift 2;;
	--configs) CONFIGS=$2; shift 2;;
	--koff-link) KOFF_LINK=$(realpath "$2"); shift 2;;
	--out) OUT=$2; shift 2;;
	*) die "unknown option $1 (see the header of $0)";;
	esac
done
[ "$(id -u)" -eq 0 ] || die "needs root: koff-link verifies in the kernel, koffdiff test-runs"
[ -x "$KOFF_LINK" ] || die "$KOFF_LINK is missing (make)"
command -v jq >/dev/null || die "needs jq to read OUT.koff.json"
if [ -z "$CONFIGS" ]; then
	for cc in $COMPILERS; do for level in $LEVELS; do for pic in $PICS; do
		CONFIGS="$CONFIGS $cc:$level:$pic"
	done; done; done
fi
for c in $CONFIGS; do
	command -v "${c%%:*}" >/dev/null || die "compiler ${c%%:*} not found"
done

WORK=${OUT:-$(mktemp -d /tmp/koff-fuzz.XXXXXX)}
mkdir -p "$WORK/results" "$WORK/fn" "$WORK/units" || die "cannot create $WORK"
rm -f "$WORK"/results/*
export WORK KOFF_LINK INPUTS

warn="-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2"
cc $warn "$GEN_DIR/handlergen.c" -o "$WORK/handlergen" || die "cannot build handlergen"
cc $warn -c "$ROOT/tests/koffdiff.c" -o "$WORK/koffdiff.o" || die "cannot build koffdiff"
echo 'int main(void) { return 0; }' >"$WORK/main.c"
cc -g -c "$WORK/main.c" -o "$WORK/main.o" || die "cannot build main.o"

seeds=$(seq "$SEED" $((SEED + COUNT - 1)))
for s in $seeds; do
	mkdir -p "$WORK/fn/$s"
	"$WORK/handlergen" "$s" >"$WORK/fn/$s/f.c" &&
	"$WORK/handlergen" "$s" --requests "$INPUTS" >"$WORK/fn/$s/requests.txt" || die "handlergen $s failed"
done

commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$ROOT" status --porcelain -- src lifter bpfgen include 2>/dev/null | grep -c .)
echo "koff $commit (+$dirty uncommitted files in src lifter bpfgen include); $COUNT functions from seed $SEED," \
	"$INPUTS inputs each; configs:$CONFIGS; $JOBS jobs; work dir $WORK"
start=$(date +%s)
for s in $seeds; do
	for c in $CONFIGS; do
		IFS=: read -r cc level pic <<<"$c"
		echo "$s $cc $level ${pic:-nopic}"
	done
done | xargs -P "$JOBS" -n 4 "$0" --unit
echo "elapsed $(( $(date +%s) - start ))s"

"$GEN_DIR/summary.sh" "$WORK" | tee "$WORK/summary.txt"
! grep -q -P '\t(mismatch|crash)\t' "$WORK"/results/*.res
