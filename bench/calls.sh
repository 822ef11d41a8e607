#!/usr/bin/env bash
# bench/calls.sh - BPF-to-BPF calls against inlining, on the running kernel
# (needs root: BPF loads and test runs; no network).  Builds
# bench/calls.bpf.c eighteen ways (inline / static subprogram / global
# function x 1, 4, 16 call sites x position in memory / in registers),
# bench/calls_probe.bpf.c and bench/calls_bench.c, then prints:
#   1. the probes: what the verifier and clang accept at a call, each checked
#      against the EXPECT comment in calls_probe.bpf.c (a surprise fails);
#   2. one markdown table: sizes, verifier work, verification time, and ns
#      per packet with the ratio to the inline variant of the same K.
# Results and conclusions: bench/CALLS.md.
# Environment: CALLS_CPU (default 1: taskset), CALLS_RUNS (default 101),
#              CALLS_REPEAT (default 500), CALLS_LOADS (default 5).
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh
[ "$(id -u)" -eq 0 ] || { echo "bench/calls.sh: needs root (BPF loads and test runs)" >&2; exit 1; }

CPU=${CALLS_CPU:-1}
RUNS=${CALLS_RUNS:-101}
REPEAT=${CALLS_REPEAT:-500}
LOADS=${CALLS_LOADS:-5}
CC_FLAGS="-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2"
BPF_FLAGS="-O2 -g -target bpf -I/usr/include/x86_64-linux-gnu"
tmp=$(mktemp -d)
koff_on_exit "rm -rf '$tmp'"
trap koff_run_cleanups EXIT

cc $CC_FLAGS bench/calls_bench.c -lbpf -lelf -lz -o "$tmp/calls_bench" ||
	koff_fail "cannot build bench/calls_bench.c"
clang $BPF_FLAGS -c bench/calls_probe.bpf.c -o "$tmp/probe.o" ||
	koff_fail "cannot build bench/calls_probe.bpf.c"

variants=()
for mode in mem reg; do
	for kind in inline static global; do
		for k in 1 4 16; do
			flags="-DCALLS_${kind^^} -DCALLS_K=$k"
			[ "$mode" = reg ] && flags="$flags -DCALLS_REG_POS"
			obj="$tmp/$mode-$kind-$k.o"
			clang $BPF_FLAGS $flags -c bench/calls.bpf.c -o "$obj" ||
				koff_fail "cannot build calls.bpf.c $flags"
			# The call sites must survive clang: count the calls to label_step.
			sites=$(llvm-objdump -d "$obj" | grep -c 'call -1')
			want=$k
			[ "$kind" = inline ] && want=0
			[ "$sites" -eq "$want" ] ||
				koff_fail "$mode-$kind-$k: $sites BPF-to-BPF calls in the object, want $want"
			variants+=("$mode-$kind-$k=$obj")
		done
	done
done

echo "# kernel $(uname -r), CPU $CPU, $(nproc) CPUs, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# spec_rstack_overflow: $(cat /sys/devices/system/cpu/vulnerabilities/spec_rstack_overflow 2>/dev/null)"
echo
echo "## Probes (calls_probe.bpf.c)"
echo
surprises=0
while read -r name verdict rest; do
	expect=$(grep -B1 "int $name(" bench/calls_probe.bpf.c | sed -n 's/.*EXPECT: \([a-z]*\).*/\1/p')
	mark=""
	verdict=${verdict%:}
	[ "$expect" = "$verdict" ] || { mark=" **(expected $expect)**"; surprises=$((surprises + 1)); }
	[ "${rest#(}" = "$rest" ] && rest=${rest:+: $rest} || rest=" $rest"
	echo "- \`$name\`: $verdict$rest$mark"
done < <("$tmp/calls_bench" --probe "$tmp/probe.o")
for probe in PROBE_SIX_ARGS PROBE_INLINED_STACK; do
	if msg=$(clang $BPF_FLAGS -D$probe -c bench/calls_probe.bpf.c -o "$tmp/p.o" 2>&1); then
		echo "- clang -D$probe: compiled **(expected an error)**"
		surprises=$((surprises + 1))
	else
		echo "- clang -D$probe: $(echo "$msg" | grep -o 'error: .*' | head -n 1)"
	fi
done
echo
echo "## Variants (calls.bpf.c; medians of $RUNS runs x repeat $REPEAT, verification: median of $LOADS loads)"
echo
taskset -c "$CPU" "$tmp/calls_bench" --runs "$RUNS" --repeat "$REPEAT" --loads "$LOADS" \
	"${variants[@]}" || koff_fail "calls_bench failed"
echo
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
[ "$surprises" -eq 0 ] || koff_fail "$surprises probe(s) differ from their EXPECT"
