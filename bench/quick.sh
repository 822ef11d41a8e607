#!/usr/bin/env bash
# bench/quick.sh - make bench-quick: lifted/reference ratios and instruction
# counts in well under a minute, for use while working on code generation.
# For each handler (bench/handlers/nop, samples/echo, samples/dns, and three
# written like server code: bench/handlers/kv, a memcached-style get; tok, a
# tokenizer; tlv, a table-driven TLV parser) it links the object with
# koff-link (the variant koff-load attaches here, the portable OUT.bpf.o and
# --kernel host), builds the clang reference from the same handler
# (bench/ref/S_ref.bpf.c), checks both with koffdiff, and times the empty
# program, the reference and the lifted programs *interleaved* in one
# xdp_bench run (each repetition times all three, in rotating order; ns are
# medians over repetitions, "net" has the same repetition's empty program
# subtracted, and the ratio is the median of the per-repetition ratios, so
# that load on this shared machine moves both sides alike).
#
# Breakdown: nop's reply costs entry + reply + counter, its dropped requests
# entry + counter (the handler is two instructions), so the fixed part of a
# request and its two halves come from nop; a handler's body is its net time
# minus nop's reply.  Counts: the verifier's processed instructions, the
# xlated instructions, and the lifted program's instructions by kind from
# koff-link --dump-bpf (bpfgen/emit.h, enum emit_kind).
# Executed instructions: bench/icount runs the reference, the lifted program
# (and QUICK_BASE's) in its eBPF interpreter on every request and counts the
# BPF instructions executed (helper calls 1 each, bpf_loop callbacks and
# subprograms included): deterministic, so a code-generation change of 1%
# shows where the timing's noise (+-3-5% per handler here) hides it.  Every
# request also runs in the kernel; "mism" counts the requests whose verdict
# or reply differ from the interpreter's (must be 0, or the count is wrong).
# Shapes: the portable program (bpf_loop loops), what koff-load attaches
# on kernels below 6.17 (OUT.walked.bpf.o where the handler has one, else
# the portable program) and the --kernel host one run in the same
# interleaved runs, each with its own ratio to the reference; a shape whose
# object is byte-identical to one already timed shares that one's figures.
# Environment: BENCH_CPU (default 1), QUICK_REPS (default 31), QUICK_INNER (20),
#   QUICK_BASE: another koff-link (an older build, say) whose programs run in
#   the same interleaved runs: a "before" ratio beside each "after" one;
#   QUICK_RESULTS: a file to write the figures to, one "key value..." line
#   each (bench/run.sh's targets summary reads it).
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh
[ "$(id -u)" -eq 0 ] || { echo "bench/quick.sh: needs root (BPF test runs)" >&2; exit 1; }
[ -x ./koff-link ] || koff_fail "./koff-link is missing (make)"
CPU=${BENCH_CPU:-1}
REPS=${QUICK_REPS:-31}
INNER=${QUICK_INNER:-20}
CC_FLAGS="-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2"
BPF_FLAGS="-O2 -g -target bpf -I/usr/include/x86_64-linux-gnu -Iinclude"
KINDS="check spill move unlink launder loop body entry exit prologue stub"
tmp=$(mktemp -d)
koff_on_exit "rm -rf '$tmp'"

HANDLERS="nop echo dns kv tok tlv"
BODIES="echo dns kv tok tlv"	# handlers whose body the breakdown shows
port_of() {
	case $1 in echo) echo 7007;; dns) echo 5353;; kv) echo 11211;; nop) echo 7009;; tok) echo 7011;; tlv) echo 7013;; esac
}
source_of() { case $1 in echo|dns) echo "samples/$1/$1.c";; *) echo "bench/handlers/$1.c";; esac; }
requests_of() { case $1 in echo|dns) echo "samples/$1/requests.txt";; *) echo "bench/handlers/$1-requests.txt";; esac; }
lifted_of() { [ -f "$tmp/$1.6.18.bpf.o" ] && echo "$tmp/$1.6.18.bpf.o" || echo "$tmp/$1.bpf.o"; }
base_of() {
	[ -n "${QUICK_BASE:-}" ] || return 0
	[ -f "$tmp/base/$1.6.18.bpf.o" ] && echo "$tmp/base/$1.6.18.bpf.o" || echo "$tmp/base/$1.bpf.o"
}

# With QUICK_BASE: handler $1's program from that koff-link too.
link_base() {
	[ -n "${QUICK_BASE:-}" ] || return 0
	mkdir -p "$tmp/base" && "$QUICK_BASE" "$tmp/$1.o" -o "$tmp/base/$1" --udp-port "$2" >"$tmp/link-base-$1.log" 2>&1
}

# Object, lifted program (+ its --dump-bpf), reference and koffdiff of handler $1.
build_handler() {
	local s=$1 port
	port=$(port_of "$s")
	gcc -O2 -g -c "$(source_of "$s")" -o "$tmp/$s.o" &&
	./koff-link "$tmp/$s.o" -o "$tmp/$s" --udp-port "$port" >"$tmp/link-$s.log" 2>&1 &&
	./koff-link "$tmp/$s.o" -o "$tmp/$s-host" --udp-port "$port" --kernel host \
		--dump-bpf 2>"$tmp/$s.dump" >/dev/null &&
	[ -f "$tmp/$s-host.bpf.o" ] &&
	clang $BPF_FLAGS -c "bench/ref/${s}_ref.bpf.c" -o "$tmp/${s}_ref.bpf.o" &&
	link_base "$s" "$port" &&
	objcopy --localize-symbol=main "$tmp/$s.o" "$tmp/${s}_nomain.o" &&
	cc $CC_FLAGS tests/koffdiff.c "$tmp/${s}_nomain.o" -lbpf -lelf -lz -o "$tmp/koffdiff-$s" ||
		koff_fail "cannot build the $s pieces ($(tail -n 1 "$tmp/link-$s.log"))"
}

# "fallback F% mismatches M" of program $2 for handler $1 on its requests.
diff_of() {
	"$tmp/koffdiff-$1" --port "$(port_of "$1")" "$2" "$(requests_of "$1")" 2>/dev/null |
		sed -n 's/^file: .*(fallback \([0-9.]*\)%), mismatches \([0-9]*\)$/\1% \/ \2/p'
}

# The programs timed for handler $1, in xdp_bench's order (1 the reference,
# 2 the lifted program koff-load attaches, 3 QUICK_BASE's if any), then the
# shapes not already among them; "$tmp/shape-$1-NAME" holds the index that
# shape's figures are under.
programs_of() {
	local s=$1 progs=("$tmp/${1}_ref.bpf.o" "$(lifted_of "$1")") shape file i found
	[ -n "${QUICK_BASE:-}" ] && progs+=("$(base_of "$s")")
	for shape in portable older host; do
		file="$tmp/$s.bpf.o"
		[ "$shape" = host ] && file="$tmp/$s-host.bpf.o"
		[ "$shape" = older ] && [ -f "$tmp/$s.walked.bpf.o" ] && file="$tmp/$s.walked.bpf.o"
		found=""
		for ((i = 1; i < ${#progs[@]}; i++)); do
			cmp -s "${progs[i]}" "$file" && { found=$((i + 1)); break; }
		done
		if [ -z "$found" ]; then
			progs+=("$file")
			found=${#progs[@]}
		fi
		echo "$found" >"$tmp/shape-$s-$shape"
	done
	printf '%s\n' "${progs[@]}"
}

# Interleaved empty/reference/lifted run of handler $1 on requests $2 -> $tmp/run-$1[-$3].txt
time_handler() {
	local progs
	mapfile -t progs < <(programs_of "$1")
	taskset -c "$CPU" "$tmp/xdp_bench" --empty --port "$(port_of "$1")" --reps "$REPS" --inner "$INNER" \
		"${progs[@]}" "$2" 2>/dev/null >"$tmp/run-$1$3.txt" ||
		koff_fail "xdp_bench failed on $1"
}
shape_index() { cat "$tmp/shape-$1-$2"; }	# handler shape

# Field of `prog I` in a run file (xdp_bench's: net, ns, verifier_insns,
# xlated_bytes; icount's: insns_per_req, ...).
prog_field() {	# file index key
	awk -v i="$2" -v k="$3" '$1 == "prog" && $2 == i { for (f = 4; f < NF; f++) if ($f == k) print $(f + 1) }' "$1"
}
ratio_of() { awk -v k="${2:-2}" '$1 == "ratio" && $2 == k { print $4 }' "$1"; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a - b }'; }

kinds_of() {	# dump -> "check N spill N ..." for the kinds in $KINDS (of the last program: a verifier retry dumps each)
	awk -v kinds="$KINDS" '$1 == "0" && $3 == "code" { split("", n); t = 0 } $(NF - 1) == ";" { n[$NF]++; t++ }
		END { split(kinds, k, " "); for (i = 1; i in k; i++) printf "%s %d ", k[i], n[k[i]]; printf "total %d\n", t }' "$1"
}

# Executed instructions of handler $1's programs (reference, lifted, QUICK_BASE's)
# on requests $2 -> $tmp/icount-$1$3.txt; icount exits 3 when it disagrees with
# the kernel (the table shows it), anything else non-zero is a failure.
count_handler() {
	local progs=("$tmp/${1}_ref.bpf.o" "$(lifted_of "$1")") rc
	[ -n "${QUICK_BASE:-}" ] && progs+=("$(base_of "$1")")
	"$tmp/icount" --port "$(port_of "$1")" "${progs[@]}" "$2" >"$tmp/icount-$1$3.txt" 2>"$tmp/icount-$1$3.err"
	rc=$?
	[ "$rc" -eq 0 ] || [ "$rc" -eq 3 ] || koff_fail "icount failed on $1: $(head -n 3 "$tmp/icount-$1$3.err")"
}
icount_mismatches() { awk '$1 == "prog" { for (f = 4; f < NF; f++) if ($f == "mismatch_vs_kernel") n += $(f + 1) } END { print n + 0 }' "$1"; }

# Returns per request of program $2 in icount file $1: helper calls and
# calls into the program's own functions (subprograms, bpf_loop callback runs).
returns_of() { awk -v i="$2" '$1 == "prog" && $2 == i { for (f = 4; f < NF; f++) { if ($f == "helpers_per_req") h = $(f + 1); if ($f == "calls_per_req") c = $(f + 1) } } END { printf "%.2f", h + c }' "$1"; }

# The executed-instructions table; $1 the handler, $2 its label, $3 the run suffix.
icount_row() {
	local f="$tmp/icount-$1$3.txt" ref lifted ratio mism
	ref=$(prog_field "$f" 0 insns_per_req); lifted=$(prog_field "$f" 1 insns_per_req)
	ratio=$(ratio_of "$f" 1); mism=$(icount_mismatches "$f")
	printf '%-8s %9s %9s %7s %5s %8s %8s' "$2" "$ref" "$lifted" "$ratio" "$mism" \
		"$(returns_of "$f" 0)" "$(returns_of "$f" 1)"
	[ -z "${QUICK_BASE:-}" ] || printf '   %9s %7s' "$(prog_field "$f" 2 insns_per_req)" "$(ratio_of "$f" 2)"
	printf '\n'
	[ -n "$3" ] || result "icount $1 $ref $lifted $ratio $mism"
	[ "$mism" -eq 0 ] || echo "  ^ icount: $mism requests of $1 differ from the kernel's runs: these counts are wrong" \
		"($(head -n 1 "$tmp/icount-$1$3.err"))"
}

# One figure for QUICK_RESULTS (bench/run.sh's targets summary).
result() { [ -z "${QUICK_RESULTS:-}" ] || echo "$1" >>"$QUICK_RESULTS"; }

main() {
	cc $CC_FLAGS bench/xdp_bench.c -lbpf -lelf -lz -o "$tmp/xdp_bench" || koff_fail "cannot build xdp_bench"
	cc $CC_FLAGS bench/icount.c -lbpf -lelf -lz -o "$tmp/icount" || koff_fail "cannot build icount"
	[ -z "${QUICK_RESULTS:-}" ] || : >"$QUICK_RESULTS"
	local s handlers=$HANDLERS load_before
	load_before=$(cut -d' ' -f1-3 /proc/loadavg)
	for s in $handlers; do
		build_handler "$s"
	done
	for s in $handlers; do
		time_handler "$s" "$(requests_of "$s")" ""
	done
	time_handler nop bench/handlers/nop-drop-requests.txt -drop
	for s in $handlers; do
		count_handler "$s" "$(requests_of "$s")" ""
	done
	count_handler nop bench/handlers/nop-drop-requests.txt -drop
	echo "bench-quick at $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo '+changes'), $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "machine: $(nproc) CPUs, load average $load_before before, $(cut -d' ' -f1-3 /proc/loadavg) after; pinned to CPU $CPU;" \
	     "$REPS interleaved repetitions x $INNER runs of each request (bpf_prog_test_run)"
	echo
	echo "ns per request, empty program subtracted (median over repetitions); ratio = median of per-repetition lifted/ref"
	printf '%-6s %8s %8s %8s %7s  %-16s %-16s %10s %10s\n' handler empty ref lifted ratio \
		"ref fb%/mism" "lifted fb%/mism" "verif ref" "verif lift"
	for s in $handlers; do
		local f="$tmp/run-$s.txt"
		printf '%-6s %8s %8s %8s %7s  %-16s %-16s %10s %10s\n' "$s" "$(prog_field "$f" 0 ns)" \
			"$(prog_field "$f" 1 net)" "$(prog_field "$f" 2 net)" "$(ratio_of "$f")" \
			"$(diff_of "$s" "$tmp/${s}_ref.bpf.o")" "$(diff_of "$s" "$(lifted_of "$s")")" \
			"$(prog_field "$f" 1 verifier_insns)" "$(prog_field "$f" 2 verifier_insns)"
		result "ratio $s $(ratio_of "$f")"
		result "verifier $s $(prog_field "$f" 1 verifier_insns) $(prog_field "$f" 2 verifier_insns)"
		result "fallback $s $(diff_of "$s" "$(lifted_of "$s")" | tr -d '%/' | awk '{ print $1, $2 }')"
	done
	echo
	echo "executed BPF instructions per request (bench/icount, deterministic): mean over the requests;" \
	     "ratio = lifted/ref; mism = requests whose kernel run disagrees with the interpreter's (must be 0);" \
	     "rets = helper calls + calls into the program's own functions (subprograms, bpf_loop callbacks) per request: each return costs ~20 ns under SRSO's safe RET"
	printf '%-8s %9s %9s %7s %5s %8s %8s' handler ref lifted ratio mism "rets ref" "rets lift"
	[ -z "${QUICK_BASE:-}" ] || printf '   %9s %7s' "before" "ratio"
	printf '\n'
	for s in $handlers; do
		icount_row "$s" "$s" ""
	done
	icount_row nop "nop '#'" -drop
	echo
	echo "kernel shapes, same interleaved runs: lifted net ns and lifted/ref per shape" \
	     "(portable = OUT.bpf.o, bpf_loop loops; older = what koff-load attaches below 6.17:" \
	     "OUT.walked.bpf.o where written, else OUT.bpf.o; host = --kernel host;" \
	     "a shape byte-identical to the lifted program shares its figures)"
	printf '%-6s %8s  %8s %7s  %8s %7s  %8s %7s\n' handler ref portable ratio older ratio host ratio
	for s in $handlers; do
		local f="$tmp/run-$s.txt" p o h
		p=$(shape_index "$s" portable); o=$(shape_index "$s" older); h=$(shape_index "$s" host)
		printf '%-6s %8s  %8s %7s  %8s %7s  %8s %7s\n' "$s" "$(prog_field "$f" 1 net)" \
			"$(prog_field "$f" "$p" net)" "$(ratio_of "$f" "$p")" \
			"$(prog_field "$f" "$o" net)" "$(ratio_of "$f" "$o")" \
			"$(prog_field "$f" "$h" net)" "$(ratio_of "$f" "$h")"
		result "shape $s portable $(ratio_of "$f" "$p")"
		result "shape $s older $(ratio_of "$f" "$o")"
		result "shape $s host $(ratio_of "$f" "$h")"
	done
	if [ -n "${QUICK_BASE:-}" ]; then
		echo
		echo "before (QUICK_BASE=$QUICK_BASE), same runs: lifted net ns and lifted/ref ratio"
		for s in $handlers; do
			printf '%-6s before %8s %7s   after %8s %7s\n' "$s" "$(prog_field "$tmp/run-$s.txt" 3 net)" \
				"$(ratio_of "$tmp/run-$s.txt" 3)" "$(prog_field "$tmp/run-$s.txt" 2 net)" "$(ratio_of "$tmp/run-$s.txt")"
		done
	fi
	echo
	local nr nl dr dl
	nr=$(prog_field "$tmp/run-nop.txt" 1 net); nl=$(prog_field "$tmp/run-nop.txt" 2 net)
	dr=$(prog_field "$tmp/run-nop-drop.txt" 1 net); dl=$(prog_field "$tmp/run-nop-drop.txt" 2 net)
	echo "breakdown (ns; ref = minimal hand-written responder / clang body, lifted = koff):"
	printf '  %-34s %8s %8s %7s\n' part ref lifted ratio
	printf '  %-34s %8s %8s %7s\n' "entry + drop + counter (nop, '#')" "$dr" "$dl" "$(ratio_of "$tmp/run-nop-drop.txt")"
	printf '  %-34s %8s %8s %7s\n' "reply: tail, copy, swaps, csum" "$(sub "$nr" "$dr")" "$(sub "$nl" "$dl")" \
		"$(div "$(sub "$nl" "$dl")" "$(sub "$nr" "$dr")")"
	printf '  %-34s %8s %8s %7s\n' "fixed part (nop, 1-byte reply)" "$nr" "$nl" "$(ratio_of "$tmp/run-nop.txt")"
	result "fixed $(ratio_of "$tmp/run-nop.txt")"
	for s in $BODIES; do
		local r l
		r=$(prog_field "$tmp/run-$s.txt" 1 net); l=$(prog_field "$tmp/run-$s.txt" 2 net)
		printf '  %-34s %8s %8s %7s\n' "$s body (net - fixed part)" "$(sub "$r" "$nr")" "$(sub "$l" "$nl")" \
			"$(div "$(sub "$l" "$nl")" "$(sub "$r" "$nr")")"
	done
	echo
	echo "instructions: xlated (ref, lifted) and the lifted program's by kind (koff-link --kernel host --dump-bpf)"
	for s in $handlers; do
		printf '  %-6s ref %5d lifted %5d | %s\n' "$s" "$(($(prog_field "$tmp/run-$s.txt" 1 xlated_bytes) / 8))" \
			"$(($(prog_field "$tmp/run-$s.txt" 2 xlated_bytes) / 8))" "$(kinds_of "$tmp/$s.dump")"
	done
}

main
