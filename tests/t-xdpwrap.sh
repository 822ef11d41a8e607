#!/usr/bin/env bash
# The XDP entry/exit (bpfgen/xdp.c) around a hand-written handler:
# bpf_prog_test_run on crafted packets, then generic XDP on the lo of a
# private netns with real UDP sockets.
set -u
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
	echo "skip: loading BPF programs needs root"
	exit 77
fi

tmp=$(mktemp -d)
ns=koff-xdpwrap-$$
cleanup() {
	ip netns del "$ns" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

${CC:-cc} -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -g \
	-Iinclude -Isrc -Ibpfgen \
	tests/xdpwrap_test.c bpfgen/xdp.c bpfgen/xdpcopy.c bpfgen/xdpshared.c bpfgen/emit.c src/util.c \
	-lbpf -lelf -lz -o "$tmp/xdpwrap_test" || { echo "FAIL: build"; exit 1; }

echo "== bpf_prog_test_run"
"$tmp/xdpwrap_test" unit || { echo "FAIL: unit cases"; exit 1; }

echo "== generic XDP on lo in netns $ns"
ip netns add "$ns" || { echo "FAIL: ip netns add"; exit 1; }
ip -n "$ns" link set lo up || exit 1
ip netns exec "$ns" "$tmp/xdpwrap_test" live 7777 || { echo "FAIL: live"; exit 1; }
echo "PASS"
