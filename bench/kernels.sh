#!/usr/bin/env bash
# bench/kernels.sh - the cost of each kernel shape koff-link emits, on the
# host and on Debian's 6.1 and 6.12 under QEMU (koff-vm).  Prints a
# markdown section on stdout (bench/run.sh puts it in BENCHMARKS.md).
#
# Shapes, per sample (echo, dns):
#   portable      the default: loops as bpf_loop callbacks, no cpu v4
#   6.12          --kernel 6.12: bpf_loop loops (6.12 lacks loop_marks), cpu v4
#   host          --kernel host: what the running kernel offers (probed)
# For each kernel, every shape it loads: ns/request under bpf_prog_test_run
# (median of REPS repetitions, the empty program's cost subtracted), the
# verifier's processed instructions there, the program's size.
# Under QEMU/TCG the absolute times are an emulator's: compare shapes within
# one kernel's table, never across kernels.
# Environment: BENCH_CPU (default 1), KERNEL_BENCH_REPS (default 9).
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh
[ "$(id -u)" -eq 0 ] || { echo "bench/kernels.sh: needs root" >&2; exit 1; }
CPU=${BENCH_CPU:-1}
REPS=${KERNEL_BENCH_REPS:-9}
SHAPES="portable 6.12 host"
tmp=$(mktemp -d)
koff_on_exit "rm -rf '$tmp'"
port_of() { case $1 in echo) echo 7007;; dns) echo 5353;; esac; }

cc -std=c11 -D_GNU_SOURCE -O2 bench/xdp_bench.c -lbpf -lelf -lz -o "$tmp/xdp_bench" ||
	{ echo "bench/kernels.sh: cannot build xdp_bench" >&2; exit 1; }
for s in echo dns; do
	cp "samples/$s/requests.txt" "$tmp/req-$s.txt"
	for shape in $SHAPES; do
		k=$([ "$shape" = portable ] || echo "--kernel $shape")
		./koff-link "samples/$s/$s.o" -o "$tmp/$s-$shape" --udp-port "$(port_of "$s")" $k \
			--no-verify >/dev/null 2>&1 && [ -f "$tmp/$s-$shape.bpf.o" ] ||
			{ echo "bench/kernels.sh: koff-link $s $shape failed" >&2; exit 1; }
		jq -r '.program.insns' "$tmp/$s-$shape.koff.json" >"$tmp/insns-$s-$shape"
	done
done

# The measuring script, the same on the host and in the guests: one line
# per (sample, shape): "row SAMPLE SHAPE NS VERIFIER XLATED" or "refused".
cat >"$tmp/measure.sh" <<EOF
cd "\${1:-/b}" || exit 1
for s in echo dns; do
	./xdp_bench --empty --reps $REPS req-\$s.txt >empty.txt 2>&1
	e=\$(awk '\$1 == "xdp_ns_per_request" { print \$2 }' empty.txt)
	for shape in $SHAPES; do
		port=7007; [ \$s = dns ] && port=5353
		if ./xdp_bench --port \$port --reps $REPS \$s-\$shape.bpf.o req-\$s.txt >out.txt 2>/dev/null; then
			ns=\$(awk '\$1 == "xdp_ns_per_request" { print \$2 }' out.txt)
			v=\$(awk '\$1 == "xdp_prog" { print \$3 }' out.txt)
			x=\$(awk '\$1 == "xdp_prog" { print \$5 }' out.txt)
			echo "row \$s \$shape \$(awk -v a=\$ns -v b=\$e 'BEGIN { printf "%.1f", a - b }') \$v \$x"
		else
			echo "row \$s \$shape refused - -"
		fi
	done
done
EOF
(cd "$tmp" && taskset -c "$CPU" sh measure.sh "$tmp") >"$tmp/host.rows"
files=()
for f in "$tmp"/xdp_bench "$tmp"/*.bpf.o "$tmp"/req-*.txt "$tmp"/measure.sh; do
	files+=(--file "$f:/b/$(basename "$f")")
done
kernels="host"
for k in 6.1 6.12; do
	if ./koff-vm --kernel "$k" --timeout 900 "${files[@]}" -- "sh /b/measure.sh /b" >"$tmp/$k.rows" 2>&1; then
		kernels="$kernels $k"
	else
		echo "bench/kernels.sh: $k not measured: $(tail -n 1 "$tmp/$k.rows")" >&2
	fi
done

release() { [ "$1" = host ] && uname -r || ./koff-vm --kernel "$1" -- 'uname -r' 2>/dev/null | tail -n 1; }
echo "## Kernel shapes"
echo
echo "Measured by \`bench/kernels.sh\` (part of \`make bench\`): each sample linked with"
echo "\`koff-link\` (portable, the default), \`--kernel 6.12\` and \`--kernel host\`, then"
echo "\`xdp_bench --reps $REPS\` on the host (pinned to CPU $CPU) and inside Debian's 6.1 and"
echo "6.12 under QEMU/TCG (\`koff-vm\`).  ns/request has the empty program's cost"
echo "subtracted.  Guest times are an emulator's: compare shapes within one kernel, not"
echo "kernels.  \"refused\" is that kernel's verifier saying no, as it must for a shape"
echo "meant for a newer kernel."
echo
for k in $kernels; do
	rows="$tmp/$k.rows"
	[ "$k" = host ] && rows="$tmp/host.rows"
	echo "### $k ($(release "$k"))"
	echo
	echo "| sample | shape | ns/request | vs portable | verifier insns | BPF insns | xlated bytes |"
	echo "|---|---|---|---|---|---|---|"
	for s in echo dns; do
		base=$(awk -v s=$s '$1 == "row" && $2 == s && $3 == "portable" { print $4 }' "$rows")
		for shape in $SHAPES; do
			awk -v s=$s -v sh=$shape -v base="$base" -v n="$(cat "$tmp/insns-$s-$shape")" '
				$1 == "row" && $2 == s && $3 == sh {
					r = ($4 != "refused" && base + 0 > 0) ? sprintf("%.2f", $4 / base) : "-"
					printf "| %s | %s | %s | %s | %s | %s | %s |\n", s, sh, $4, r, $5, n, $6
				}' "$rows"
		done
	done
	echo
done
