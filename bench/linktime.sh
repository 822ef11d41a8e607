#!/usr/bin/env bash
# bench/linktime.sh - how long koff-link takes, on small servers and on big
# inputs (issue 10, scope 7: at most 1 s per MB of input object, and never
# more than a few seconds for a small server).
#
# 1. The realistic corpus (tests/servers: every server, each configuration
#    of LINKTIME_CONFIGS): compile with -g -c, then time koff-link on the
#    objects plus a trivial main, one link at a time.  Wall seconds and CPU
#    seconds (user + sys of koff-link and its children: the kernel's
#    verifier runs as sys time of koff-link) are both reported; on this
#    shared machine the CPU figure is the one that load does not inflate.
# 2. Big inputs: samples/dns and samples/kvcache, each relocatably linked
#    (ld -r) with N generated handler-shaped functions (tests/gen/handlergen,
#    renamed) into one object of a few MB: what a server with much code
#    besides its handler costs, in seconds per MB of input.
# Prints the distribution (median, p90, p99, max), the slowest units, and
# the big inputs' s/MB.
# Environment: LINKTIME_CONFIGS (default: six configurations; "all" = the
#   corpus's 30), LINKTIME_BIG_FUNCS (default 300), BENCH_CPU (default 1:
#   every link pinned there).
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh
[ "$(id -u)" -eq 0 ] || { echo "bench/linktime.sh: needs root (koff-link verifies in the kernel)" >&2; exit 1; }
[ -x ./koff-link ] || koff_fail "./koff-link is missing (make)"
CPU=${BENCH_CPU:-1}
NFUNCS=${LINKTIME_BIG_FUNCS:-300}
CONFIGS=${LINKTIME_CONFIGS:-"gcc:-O0 gcc:-O2 gcc:-O3 clang:-O2 clang:-Os:pic clang-19:-O2"}
if [ "$CONFIGS" = all ]; then
	CONFIGS=""
	for cc in gcc clang clang-19; do for level in -O0 -O1 -O2 -O3 -Os; do for pic in nopic pic; do
		CONFIGS="$CONFIGS $cc:$level:$pic"
	done; done; done
fi
SERVERS="bitacl calc geoip httpfsm kvtext pbrpc radtlv statsd telemetry waf"
tmp=$(mktemp -d)
koff_on_exit "rm -rf '$tmp'"
results="$tmp/results.tsv"	# name config bytes wall cpu

sources_of() { case $1 in statsd) echo "statsd.c statsd_parse.c";; *) echo "$1.c";; esac; }

# Time one koff-link run: appends "label config bytes wall cpu" to $results.
time_link() {
	local label=$1 config=$2 bytes=$3 out=$4; shift 4
	/usr/bin/time -o "$out.time" -f "%e %U %S" taskset -c "$CPU" ./koff-link "$@" -o "$out" \
		>"$out.log" 2>&1 && [ -f "$out.koff.json" ] ||
		koff_fail "koff-link failed on $label $config: $(tail -n 1 "$out.log")"
	awk -v l="$label" -v c="$config" -v b="$bytes" '{ printf "%s\t%s\t%d\t%.2f\t%.2f\n", l, c, b, $1, $2 + $3 }' \
		"$out.time" >>"$results"
}

corpus() {
	local n c cc level pic flags objs bytes src u
	echo 'int main(void) { return 0; }' >"$tmp/main.c" && cc -g -c "$tmp/main.c" -o "$tmp/main.o" ||
		koff_fail "cannot build main.o"
	for n in $SERVERS; do
		for c in $CONFIGS; do
			IFS=: read -r cc level pic <<<"$c"
			flags="$level -g -c"
			[ "${pic:-nopic}" = pic ] && flags="$flags -fPIC"
			u="$tmp/u/$n-$cc$level-${pic:-nopic}"
			mkdir -p "$u"
			objs=""
			for src in $(sources_of "$n"); do
				"$cc" $flags "tests/servers/$src" -o "$u/${src%.c}.o" || koff_fail "$cc $flags $src failed"
				objs="$objs $u/${src%.c}.o"
			done
			bytes=$(cat $objs | wc -c)
			time_link "$n" "$cc $level ${pic:-nopic}" "$bytes" "$u/out" $objs "$tmp/main.o" --udp-port 5353
		done
	done
}

# $1 = name, $2 = the server's object: it plus NFUNCS generated functions.
big_input() {
	local name=$1 obj=$2 s bytes
	mkdir -p "$tmp/gen"
	for s in $(seq 1000 $((999 + NFUNCS))); do
		[ -f "$tmp/gen/g$s.o" ] && continue
		"$tmp/handlergen" "$s" >"$tmp/gen/g$s.c" &&
		gcc -O2 -g -Dhandle_request="gen_handler_$s" -c "$tmp/gen/g$s.c" -o "$tmp/gen/g$s.o" ||
			koff_fail "handlergen $s did not build"
	done
	ld -r "$obj" "$tmp"/gen/g*.o -o "$tmp/big-$name.o" || koff_fail "ld -r failed"
	bytes=$(wc -c <"$tmp/big-$name.o")
	time_link "$name" "alone" "$(wc -c <"$obj")" "$tmp/$name-alone" "$obj" --udp-port 5353
	time_link "$name+$NFUNCS" "gcc -O2" "$bytes" "$tmp/big-$name" "$tmp/big-$name.o" --udp-port 5353
}

big_inputs() {
	cc -std=c11 -D_GNU_SOURCE -O2 tests/gen/handlergen.c -o "$tmp/handlergen" || koff_fail "cannot build handlergen"
	gcc -O2 -g -Isamples -c samples/dns/dns.c -o "$tmp/dns.o" &&
	gcc -O2 -g -Isamples -c samples/kvcache/kvcache.c -o "$tmp/kvcache.o" || koff_fail "samples did not build"
	big_input dns "$tmp/dns.o"
	big_input kvcache "$tmp/kvcache.o"
}

# Percentile p (0-100) of column $2 of the lines on stdin (nearest rank).
percentile() {
	sort -n | awk -v p="$1" '{ v[NR] = $1 } END { i = int((p * NR + 99) / 100); if (i < 1) i = 1; print v[i] }'
}

report() {
	local corpus_lines="$tmp/corpus.tsv" col name
	grep -v -e '+' -e $'\talone\t' "$results" >"$corpus_lines"
	echo "koff $(git rev-parse --short HEAD 2>/dev/null) at $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) CPUs," \
		"load average $(cut -d' ' -f1-3 /proc/loadavg); links pinned to CPU $CPU, one at a time"
	echo
	echo "corpus: $(wc -l <"$corpus_lines") links ($(echo $SERVERS | wc -w) servers x configurations:$CONFIGS)"
	printf '%-12s %8s %8s %8s %8s %8s\n' seconds median p90 p99 max "s/MB med"
	for col in 4 5; do
		name=$([ $col = 4 ] && echo wall || echo cpu)
		printf '%-12s %8s %8s %8s %8s %8s\n' "$name" \
			"$(cut -f$col "$corpus_lines" | percentile 50)" "$(cut -f$col "$corpus_lines" | percentile 90)" \
			"$(cut -f$col "$corpus_lines" | percentile 99)" "$(cut -f$col "$corpus_lines" | percentile 100)" \
			"$(awk -F'\t' -v c=$col '{ printf "%.1f\n", $c / ($3 / 1048576) }' "$corpus_lines" | percentile 50)"
	done
	echo
	echo "per server: max wall / max cpu (s), input KB"
	for name in $SERVERS; do
		awk -F'\t' -v n="$name" '$1 == n { if ($4 > w) w = $4; if ($5 > c) c = $5; if ($3 > b) b = $3 }
			END { printf "  %-10s %6.2f %6.2f   %4d KB\n", n, w, c, b / 1024 }' "$corpus_lines"
	done
	echo
	echo "slowest 5 (wall s, cpu s):"
	sort -t$'\t' -k4,4 -rn "$corpus_lines" | head -n 5 | awk -F'\t' '{ printf "  %-10s %-22s %6.2f %6.2f\n", $1, $2, $4, $5 }'
	echo
	echo "big inputs (gcc -O2 -g; + N generated functions, ld -r into one object):"
	printf '  %-16s %9s %8s %8s %8s\n' input KB wall cpu "s/MB"
	grep -e '+' -e $'\talone\t' "$results" |
		awk -F'\t' '{ printf "  %-16s %9d %8.2f %8.2f %8.2f\n", $1, $3 / 1024, $4, $5, $4 / ($3 / 1048576) }'
}

corpus
big_inputs
report | tee "$tmp/report.txt"
