#!/usr/bin/env bash
# tests/servers/run.sh - the realistic-servers corpus: what share of real
# traffic koff serves in the kernel, on code written without koff in mind.
#
# For each server (tests/servers/NAME.c, or several objects, see SERVERS
# below; also koff's samples echo and dns with --servers "echo dns", their
# requests.txt and their own main) and each configuration (compiler x level x PIC) it compiles every
# source with -g -c, links the objects through koff-link with a trivial main,
# and runs tests/koffdiff.c twice:
#   1. on NAME.req alone: the fraction of the realistic requests completed in
#      the kernel (XDP_TX or XDP_DROP; padded copies included), and the
#      koff_stats fallback counters that took the rest (the causes);
#   2. on NAME.req + --mutate M mutations + --random R random requests: the
#      translation must agree with the native handler (0 mismatches).
# One line per (server, configuration) in OUT/results/ID.res (tabs):
#   server cc level pic offloaded sites requests in_kernel mismatches
#   causes(counter=n,...) verifier_insns link_seconds refusal_or_error
# and OUT/results/ID.why: the manifest's fallback sites ("why<TAB>where").
# The tables are printed at the end (tests/servers/summary.sh OUT).
#
# Usage: tests/servers/run.sh [--servers "kvtext calc ..."] [--configs "gcc:-O2:pic ..."]
#          [--compilers "gcc clang clang-19"] [--levels "-O0 -O1 -O2 -O3 -Os"]
#          [--pic "nopic pic"] [--mutate M] [--random R] [--jobs J] [--out DIR]
#          [--koff-link PATH]
# Exit: 0 no mismatch and no koff-link crash; 1 otherwise; 2 setup error.
# Needs root (koff-link verifies in the kernel, koffdiff test-runs programs).
set -u
SRV_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$SRV_DIR/../.." && pwd)
PORT=5353
LINK_TIMEOUT=300
DIFF_TIMEOUT=300

# name: its sources (the first defines handle_request)
declare -A SERVERS=(
	[kvtext]="kvtext.c" [radtlv]="radtlv.c" [pbrpc]="pbrpc.c" [httpfsm]="httpfsm.c"
	[calc]="calc.c" [bitacl]="bitacl.c" [telemetry]="telemetry.c" [geoip]="geoip.c"
	[statsd]="statsd.c statsd_parse.c" [waf]="waf.c"
	# koff's own samples (with their main(), localized for koffdiff)
	[echo]="../../samples/echo/echo.c" [dns]="../../samples/dns/dns.c"
)

die() { echo "run.sh: $*" >&2; exit 2; }

# ---- one (server, configuration): called back through xargs ------------------
run_unit() {
	local name=$1 cc=$2 level=$3 pic=$4
	local id="$name-$cc$level-$pic"
	local u="$WORK/units/$id" res="$WORK/results/$id"
	local picflag="" objs="" src
	[ "$pic" = pic ] && picflag=-fPIC
	rm -rf "$u" && mkdir -p "$u"
	record() {	# offloaded sites requests in_kernel mismatches causes insns secs note
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$cc" "$level" "$pic" \
			"$@" >"$res.res"
	}
	local reqs="$SRV_DIR/$name.req" main="$WORK/main.o" diffobjs="" o
	for src in ${SERVER_SOURCES[$name]}; do
		o="$u/$(basename "${src%.c}").o"
		"$cc" $level $picflag -g -c "$SRV_DIR/$src" -o "$o" 2>"$u/cc.log" || {
			record ccerror 0 0 0 0 - 0 0 "$(head -n 1 "$u/cc.log")"; return; }
		objs="$objs $o"
	done
	diffobjs=$objs
	if [ ! -f "$reqs" ]; then	# a sample: its requests and its own main()
		reqs="$SRV_DIR/../../samples/$name/requests.txt"
		main=""
		objcopy --localize-symbol=main "$o" "$u/nomain.o" && diffobjs="$u/nomain.o"
	fi
	local t0 t1 rc
	t0=$(date +%s.%N)
	timeout "$LINK_TIMEOUT" "$KOFF_LINK" $objs $main -o "$u/out" --udp-port $PORT \
		>"$u/link.log" 2>&1
	rc=$?
	t1=$(date +%s.%N)
	local secs
	secs=$(echo "$t1 - $t0" | bc)
	if [ $rc -ne 0 ]; then
		record error 0 0 0 0 - 0 "$secs" "koff-link exit $rc: $(grep -m1 'koff-link:' "$u/link.log")"
		cp "$u/link.log" "$res.linklog"
		return
	fi
	local json="$u/out.koff.json" sites offl insns
	jq -r '.fallbacks[] | [.why, .where, .counter] | @tsv' "$json" >"$res.why" 2>/dev/null
	sites=$(wc -l <"$res.why")
	offl=$(jq -r .offloaded "$json")
	insns=$(jq -r '.verifier.processed_insns // 0' "$json")
	jq -r '.verifier.attempts // ""' "$json" >"$res.attempts"
	if [ "$offl" != true ]; then
		local nreq
		nreq=$(grep -cv '^#' "$reqs")
		record refused "$sites" "$nreq" 0 0 - "$insns" "$secs" "$(jq -r .not_offloaded_because "$json")"
		return
	fi
	cc -no-pie "$WORK/koffdiff.o" $diffobjs -lbpf -lelf -lz -o "$u/koffdiff" 2>"$u/kd.log" || {
		record differr "$sites" 0 0 0 - "$insns" "$secs" "cannot link koffdiff: $(head -n 1 "$u/kd.log")"
		return; }
	timeout "$DIFF_TIMEOUT" "$u/koffdiff" --port $PORT --seed 1 "$u/out.bpf.o" "$reqs" \
		>"$u/file.log" 2>&1
	rc=$?
	if [ $rc -ne 0 ] && [ $rc -ne 1 ]; then
		record differr "$sites" 0 0 0 - "$insns" "$secs" "koffdiff exit $rc: $(tail -n 1 "$u/file.log")"
		return
	fi
	# file: requests N, tx T, drop D, pass P (...), mismatches M
	local nreq tx drop mism causes
	read -r nreq tx drop < <(sed -n 's/^file: *requests \([0-9]*\), tx \([0-9]*\), drop \([0-9]*\),.*/\1 \2 \3/p' "$u/file.log")
	causes=$(sed -n 's/^koff_stats: //p' "$u/file.log" | tr ' ' '\n' |
		grep -E '^pass_' | grep -v '^pass_other=' | grep -v '=0$' | paste -sd, -)
	timeout "$DIFF_TIMEOUT" "$u/koffdiff" --port $PORT --seed "$SEED" --mutate "$MUTATE" \
		--random "$RANDOM_N" "$u/out.bpf.o" "$reqs" >"$u/diff.log" 2>&1
	rc=$?
	mism=$(sed -n 's/^total: .*mismatches \([0-9]*\)$/\1/p' "$u/diff.log")
	if [ $rc -eq 1 ] || [ "${mism:-0}" != 0 ]; then
		mkdir -p "$WORK/mismatches/$id" && cp "$u"/*.log "$json" "$WORK/mismatches/$id/"
		[ -z "$mism" ] || [ "$mism" = 0 ] && mism=1	# counters disagreed
	elif [ $rc -ne 0 ]; then
		record differr "$sites" "$nreq" "$((tx + drop))" 0 "${causes:--}" "$insns" "$secs" \
			"koffdiff exit $rc: $(tail -n 1 "$u/diff.log")"
		return
	fi
	record offloaded "$sites" "$nreq" "$((tx + drop))" "${mism:-0}" "${causes:--}" "$insns" "$secs" ""
	rm -rf "$u"
}

if [ "${1:-}" = --unit ]; then
	shift
	declare -A SERVER_SOURCES
	for k in "${!SERVERS[@]}"; do SERVER_SOURCES[$k]=${SERVERS[$k]}; done
	run_unit "$@"
	exit 0
fi

# ---- the run --------------------------------------------------------------------
NAMES="bitacl calc geoip httpfsm kvtext pbrpc radtlv statsd telemetry waf"
COMPILERS="gcc clang clang-19" LEVELS="-O0 -O1 -O2 -O3 -Os" PICS="nopic pic" CONFIGS=""
MUTATE=300 RANDOM_N=300 SEED=20261130 JOBS=2 OUT="" KOFF_LINK="$ROOT/koff-link"
while [ $# -gt 0 ]; do
	case $1 in
	--servers) NAMES=$2; shift 2;;
	--configs) CONFIGS=$2; shift 2;;
	--compilers) COMPILERS=$2; shift 2;;
	--levels) LEVELS=$2; shift 2;;
	--pic) PICS=$2; shift 2;;
	--mutate) MUTATE=$2; shift 2;;
	--random) RANDOM_N=$2; shift 2;;
	--jobs) JOBS=$2; shift 2;;
	--out) OUT=$2; shift 2;;
	--koff-link) KOFF_LINK=$(realpath "$2"); shift 2;;
	*) die "unknown option $1 (see the header of $0)";;
	esac
done
[ "$(id -u)" -eq 0 ] || die "needs root: koff-link verifies in the kernel, koffdiff test-runs"
[ -x "$KOFF_LINK" ] || die "$KOFF_LINK is missing (make)"
command -v jq >/dev/null || die "needs jq"
command -v bc >/dev/null || die "needs bc"
for n in $NAMES; do [ -n "${SERVERS[$n]:-}" ] || die "no server $n"; done
if [ -z "$CONFIGS" ]; then
	for cc in $COMPILERS; do for level in $LEVELS; do for pic in $PICS; do
		CONFIGS="$CONFIGS $cc:$level:$pic"
	done; done; done
fi
for c in $CONFIGS; do command -v "${c%%:*}" >/dev/null || die "compiler ${c%%:*} not found"; done

WORK=${OUT:-$(mktemp -d /tmp/koff-servers.XXXXXX)}
mkdir -p "$WORK/results" "$WORK/units" || die "cannot create $WORK"
rm -f "$WORK"/results/*
export WORK KOFF_LINK MUTATE RANDOM_N SEED
warn="-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2"
cc $warn -c "$ROOT/tests/koffdiff.c" -o "$WORK/koffdiff.o" || die "cannot build koffdiff"
echo 'int main(void) { return 0; }' >"$WORK/main.c"
cc -g -c "$WORK/main.c" -o "$WORK/main.o" || die "cannot build main.o"

commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "koff $commit; servers: $NAMES; configs:$CONFIGS; mutate $MUTATE random $RANDOM_N; work dir $WORK"
start=$(date +%s)
for n in $NAMES; do
	for c in $CONFIGS; do
		IFS=: read -r cc level pic <<<"$c"
		echo "$n $cc $level ${pic:-nopic}"
	done
done | xargs -P "$JOBS" -n 4 "$0" --unit
echo "elapsed $(( $(date +%s) - start ))s"
"$SRV_DIR/summary.sh" "$WORK" | tee "$WORK/summary.txt"
! awk -F'\t' '$9 != 0 || $5 == "error" { bad = 1 } END { exit !bad }' "$WORK"/results/*.res
