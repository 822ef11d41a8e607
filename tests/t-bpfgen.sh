#!/usr/bin/env bash
# t-bpfgen: bpfgen on IR built by hand (tests/bpfgen_test.c): every ALU op,
# condition, memory access and control transfer, generated with
# codegen_program, loaded by libbpf and run with bpf_prog_test_run against
# the same operation computed in C; fallbacks pass the packet untouched
# and count the right reason.  Built plain and with ASan/UBSan.
# Every group runs for two kernel shapes: the newest (may_goto, cpu v4) and
# portable (6.1: loops as bpf_loop callbacks, no cpu v4).
# BPFGEN_SEED=N reproduces a run (the seed is printed first).
set -u
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
	echo "skip: loading BPF programs needs root"
	exit 77
fi

tmp=$(mktemp -d /tmp/koff-t-bpfgen.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

srcs="tests/bpfgen_test.c bpfgen/*.c lifter/ir.c lifter/liveness.c lifter/loops.c lifter/walkable.c src/util.c kernel/target.c"
flags="-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -Iinclude -Isrc -Ilifter -Ibpfgen -Ikernel"
libs="-lbpf -lelf -lz -lcapstone -ldw"
# shellcheck disable=SC2086
cc $flags -O2 $srcs $libs -o "$tmp/bpfgen_test" || { echo "FAIL: build"; exit 1; }
# shellcheck disable=SC2086
cc $flags -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
	$srcs $libs -o "$tmp/bpfgen_test_asan" || { echo "FAIL: build with sanitizers"; exit 1; }

seed=${BPFGEN_SEED:-$(( $(date +%s) ^ $$ ))}
rc=0
for kernel in 6.18 portable; do
	echo "== plain build, kernel $kernel"
	"$tmp/bpfgen_test" -k "$kernel" -s "$seed" -n 200 || rc=1
	echo "== ASan/UBSan build, kernel $kernel"
	ASAN_OPTIONS=detect_leaks=1 "$tmp/bpfgen_test_asan" -k "$kernel" -s "$((seed + 1))" -n 40 || rc=1
done
[ $rc = 0 ] && echo "PASS" || echo "FAIL (reproduce: BPFGEN_SEED=$seed tests/t-bpfgen.sh)"
exit $rc
