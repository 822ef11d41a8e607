#!/usr/bin/env bash
# t-vm: Debian's 6.1 and 6.12 kernels under QEMU (kernel/vm.c, koff-vm).
# For each: the guest runs the script on the cached kernel (uname -r equals
# its version file), a dynamic host program comes with its libraries, files
# arrive intact, the exit status comes back; the feature probe finds what each kernel is known
# to have; vm_verify_object (koff-vm verify) accepts a bpf_loop program and
# 6.1 refuses cpu v4 and may_goto code, naming the instruction where the
# kernel's log does.  The host's own probe is compared with the guests'.
# Failures of the machinery itself: no image, no qemu, not a kernel, timeout
# give their own exit status, and nothing is left behind (temporary
# directories, QEMU processes).  VMs run two at a time.
. "$(dirname "$0")/lib.sh"
cd "$KOFF_ROOT"

[ "$(id -u)" -eq 0 ] || koff_skip "needs root (BPF for the host's probe)"
command -v qemu-system-x86_64 >/dev/null || koff_skip "needs qemu-system-x86_64 (setup.sh installs it)"
command -v clang-19 >/dev/null || koff_skip "needs clang-19 (cpu v4 and may_goto test programs)"
kdir=${KOFF_KERNEL_DIR:-/var/cache/koff/kernels}
for k in 6.1 6.12; do
	[ -s "$kdir/$k/vmlinuz" ] && [ -s "$kdir/$k/version" ] ||
		koff_skip "no cached $k kernel in $kdir (kernel/fetch-kernel.sh $k)"
done
make -s build/koff-vm build/koff-vmagent koff-vm >&2 || koff_fail "cannot build koff-vm"

tmp=$(mktemp -d)
koff_on_exit "rm -rf '$tmp'"
# vm_run's private directories go here, so that leftovers can be counted.
export TMPDIR="$tmp/vmtmp"
mkdir -p "$TMPDIR"

bpf_cflags=(-O2 -g -target bpf -I/usr/include/x86_64-linux-gnu)
clang "${bpf_cflags[@]}" -c tests/vm/loop.bpf.c -o "$tmp/loop.bpf.o" &&
	clang-19 "${bpf_cflags[@]}" -mcpu=v4 -c tests/vm/sdiv.bpf.c -o "$tmp/sdiv.bpf.o" &&
	clang-19 "${bpf_cflags[@]}" -c tests/vm/maygoto.bpf.c -o "$tmp/maygoto.bpf.o" ||
	koff_fail "cannot build the test BPF programs"

# vm NAME ARGS...: ./koff-vm ARGS in the background; vm_wait NAME gives its
# status, its stdout in $tmp/NAME.out and stderr in $tmp/NAME.err.
declare -A pids
vm() {
	local name=$1; shift
	./koff-vm "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
	pids[$name]=$!
	koff_on_exit "kill -TERM ${pids[$name]}"
}
vm_wait() {
	wait "${pids[$1]}"
}
has_feature() { grep -qw -- "$2" "$tmp/$1.out"; }

# ---- The machinery's own failures (no boot needed, or a short one) --------
KOFF_KERNEL_DIR="$tmp/none" ./koff-vm --kernel 6.1 -- true 2>"$tmp/noimg.err"
koff_expect_eq "no cached image: status" "$?" 121
grep -q "no cached image for kernel 6.1" "$tmp/noimg.err" || koff_fail "no-image message: $(cat "$tmp/noimg.err")"
PATH=/nonexistent "$KOFF_ROOT/build/koff-vm" --kernel 6.1 -- true 2>"$tmp/noqemu.err"
koff_expect_eq "qemu missing: status" "$?" 122
grep -q "qemu-system-x86_64 not found" "$tmp/noqemu.err" || koff_fail "no-qemu message: $(cat "$tmp/noqemu.err")"
echo "not a kernel" >"$tmp/bogus-vmlinuz"
./koff-vm --image "$tmp/bogus-vmlinuz" -- true 2>"$tmp/bogus.err"
koff_expect_eq "not a kernel image: status" "$?" 123
[ "$(wc -l <"$tmp/bogus.err")" -eq 1 ] || koff_fail "boot failure: not one line: $(cat "$tmp/bogus.err")"

# ---- Boot, release, a dynamic program, exit status: both kernels at once ----
jq=$(command -v jq) || koff_fail "jq is missing (setup.sh installs it)"
script='uname -r; echo to-stderr >&2; echo "{\"a\":41}" | /opt/jq -M .a+1'
# 6.1 also runs the agent by hand on a may_goto program: the kernel refuses
# the opcode before its verifier walks the code, so no instruction is named.
vm basic-6.1 --kernel 6.1 --file "$jq:/opt/jq" --file build/koff-vmagent:/agent \
	--file "$tmp/maygoto.bpf.o:/m.bpf.o" -- "$script; /agent verify /m.bpf.o; exit 3"
# 6.12 gets a file at its host path (under /tmp): the same bytes arrive.
vm basic-6.12 --kernel 6.12 --file "$jq:/opt/jq" --file "$tmp/loop.bpf.o" \
	-- "$script; md5sum $tmp/loop.bpf.o; exit 3"
for k in 6.1 6.12; do
	vm_wait "basic-$k"
	koff_expect_eq "$k: the script's exit status" "$?" 3
	koff_expect_eq "$k: uname -r" "$(head -n 1 "$tmp/basic-$k.out")" "$(cat "$kdir/$k/version")"
	grep -qx "to-stderr" "$tmp/basic-$k.out" || koff_fail "$k: stderr not in the output"
	grep -qx "42" "$tmp/basic-$k.out" || koff_fail "$k: jq (shared libraries) did not run: $(cat "$tmp/basic-$k.out")"
done
grep -qxF "$(md5sum "$tmp/loop.bpf.o")" "$tmp/basic-6.12.out" ||
	koff_fail "6.12: $tmp/loop.bpf.o did not arrive intact: $(cat "$tmp/basic-6.12.out")"
grep -qx "fail_insn -1" "$tmp/basic-6.1.out" &&
	grep -q "^msg /m.bpf.o: verifier rejected koff_xdp at insn -1: unknown opcode e5$" "$tmp/basic-6.1.out" ||
	koff_fail "6.1 may_goto verdict: $(cat "$tmp/basic-6.1.out")"
koff_ok "6.1 refuses may_goto (unknown opcode e5, no instruction named)"

# ---- Feature probes ------------------------------------------------------
vm probe-6.1 --kernel 6.1 probe
vm probe-6.12 --kernel 6.12 probe
build/koff-vmagent probe >"$tmp/probe-host.out" || koff_fail "the host probe failed"
for k in 6.1 6.12; do
	vm_wait "probe-$k" || koff_fail "$k: koff-vm probe failed: $(cat "$tmp/probe-$k.err")"
	grep -q "^kernel $(cat "$kdir/$k/version"):" "$tmp/probe-$k.out" ||
		koff_fail "$k: probe names another kernel: $(cat "$tmp/probe-$k.out")"
done
for f in jmp32 bpf_loop xdp_load_bytes; do
	has_feature probe-6.1 "$f" || koff_fail "6.1 lacks $f: $(cat "$tmp/probe-6.1.out")"
done
for f in may_goto cpuv4; do
	has_feature probe-6.1 "$f" && koff_fail "6.1 has $f: $(cat "$tmp/probe-6.1.out")"
	has_feature probe-6.12 "$f" || koff_fail "6.12 lacks $f: $(cat "$tmp/probe-6.12.out")"
done
koff_ok "6.1: $(cut -d: -f2 "$tmp/probe-6.1.out")"
koff_ok "6.12: $(cut -d: -f2 "$tmp/probe-6.12.out")"
# Host and guests run the same probes: a newer kernel has what an older has.
host_features=$(sed -n 's/^features //p' "$tmp/probe-host.out")
for f in $(cut -d: -f2 "$tmp/probe-6.1.out"); do
	has_feature probe-6.12 "$f" || koff_fail "6.1 has $f but 6.12 does not"
done
for f in $(cut -d: -f2 "$tmp/probe-6.12.out"); do
	grep -qw -- "$f" <<<"$host_features" || koff_fail "6.12 has $f but the host ($(uname -r)) does not"
done
koff_ok "host $(uname -r): $host_features"

# ---- vm_verify_object through the agent ----------------------------------
vm loop-6.1 --kernel 6.1 verify "$tmp/loop.bpf.o"
vm loop-6.12 --kernel 6.12 verify "$tmp/loop.bpf.o"
for k in 6.1 6.12; do
	vm_wait "loop-$k" || koff_fail "$k: bpf_loop program rejected: $(cat "$tmp/loop-$k.err")"
	grep -qx "loaded 1" "$tmp/loop-$k.out" || koff_fail "$k: verdict not loaded"
	processed=$(sed -n 's/^processed //p' "$tmp/loop-$k.out")
	[ "${processed:-0}" -gt 0 ] || koff_fail "$k: processed '$processed' insns"
	koff_ok "$k: bpf_loop program accepted, $processed insns processed"
done

# A timeout runs beside the last verification.
vm sdiv-6.1 --kernel 6.1 verify "$tmp/sdiv.bpf.o"
start=$(date +%s)
vm timeout --kernel 6.1 --timeout 3 -- 'sleep 100'
vm_wait timeout
koff_expect_eq "timeout: status" "$?" 124
grep -q "timed out after 3 s, QEMU killed" "$tmp/timeout.err" || koff_fail "timeout message: $(cat "$tmp/timeout.err")"
[ $(($(date +%s) - start)) -lt 20 ] || koff_fail "the 3 s timeout took $(($(date +%s) - start)) s"
vm_wait sdiv-6.1
koff_expect_eq "6.1 rejects sdiv: status" "$?" 1
# The sdiv: opcode 3f (ALU64 DIV X) with off=1 (the fourth byte).
sdiv_insn=$(llvm-objdump -d "$tmp/sdiv.bpf.o" | awk '$2 == "3f" && $4 == "01" {sub(":", "", $1); print $1; exit}')
[ -n "$sdiv_insn" ] || koff_fail "no sdiv in sdiv.bpf.o"
grep -q "sdiv.bpf.o: verifier rejected koff_xdp at insn $sdiv_insn: BPF_ALU uses reserved fields (kernel $(cat "$kdir/6.1/version"))" \
	"$tmp/sdiv-6.1.err" || koff_fail "6.1 sdiv message: $(cat "$tmp/sdiv-6.1.err")"
koff_expect_eq "6.1 sdiv: fail_insn" "$(sed -n 's/^fail_insn //p' "$tmp/sdiv-6.1.out")" "$sdiv_insn"

# ---- Nothing left behind ---------------------------------------------------
left=$(find "$TMPDIR" -mindepth 1 | head -n 3)
[ -z "$left" ] || koff_fail "left behind: $left"
! pgrep -f "$TMPDIR" >/dev/null || koff_fail "a QEMU of this test is still running"
koff_ok "no temporary directory or QEMU left"
