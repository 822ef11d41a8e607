#!/usr/bin/env bash
# Installs every Debian package koff needs, then builds.  Run as root on Debian 12.
set -euo pipefail
cd "$(dirname "$0")"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
	build-essential pkg-config gcc clang clang-19 llvm \
	libelf-dev libdw-dev libcapstone-dev libbpf-dev zlib1g-dev libpcap-dev libssl-dev \
	bpftool iproute2 bind9-dnsutils dnsperf valgrind procps \
	jq binutils python3 time qemu-system-x86 busybox-static xz-utils zstd \
	libmemcached-tools memcached >/dev/null
# Debian 12's and 13's kernels, booted under QEMU to verify programs for them
# (koff-vm).  Without them koff still builds and works; tests/t-vm.sh skips.
for series in 6.1 6.12; do
	kernel/fetch-kernel.sh "$series" >/dev/null ||
		echo "setup.sh: warning: no $series kernel image: koff-vm --kernel $series cannot run" >&2
done
make -j"$(nproc)"
