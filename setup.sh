#!/usr/bin/env bash
# Installs every Debian package koff needs, then builds.  Run as root on Debian 12.
set -euo pipefail
cd "$(dirname "$0")"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
	build-essential pkg-config gcc clang clang-19 llvm \
	libelf-dev libdw-dev libcapstone-dev libbpf-dev zlib1g-dev libssl-dev \
	bpftool iproute2 bind9-dnsutils dnsperf valgrind procps \
	jq binutils python3 time >/dev/null
make -j"$(nproc)"
