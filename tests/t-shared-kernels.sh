#!/usr/bin/env bash
# t-shared-kernels: shared state on Debian's 6.1 and 6.12 kernels under
# QEMU: tests/koffstate.c runs the stateful handlers of tests/shared/
# (counter: LOCK, the cmpxchg lock; undo: LOCK with loops, undo after
# fallbacks; config: SEQ) inside each guest, the portable program, with
# the control-block refusals (--protocol); every reply and the shared bytes
# must match the native handler's.  (The may_goto variant is for 6.17+,
# which koff-load checks: no guest here runs it.)
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || koff_skip "needs root to load and test-run BPF programs"
cd "$KOFF_ROOT"
SERIES="6.1 6.12"
koff_need_vms $SERIES
tmp=$(mktemp -d)
koff_on_exit "rm -rf '$tmp'"
mkdir -p "$tmp/w"
for h in counter:lock undo:lock config:seq; do
	name=${h%%:*}
	gcc -O2 -g -c "tests/shared/$name.c" -o "$tmp/$name.o" || koff_fail "cannot compile $name.c"
	koff_build_koffstate "$tmp/$name.o" "$tmp" "$name" >"$tmp/link-$name.log" 2>&1 ||
		{ cat "$tmp/link-$name.log"; exit 1; }
	cp "$tmp/koffstate-$name" "$tmp/$name.bpf.o" "tests/shared/$name.txt" "$tmp/w/"
	echo "${h#*:}" >"$tmp/w/mode-$name"
done

# Run in the guest (busybox sh).
cat >"$tmp/w/run.sh" <<'EOS'
cd /w || exit 1
for u in counter undo config; do
	for obj in $u.bpf.o; do
		./koffstate-$u --expect-mode "$(cat mode-$u)" --protocol --rounds 2 --random 100 \
			"$obj" "$u.txt" >out.txt 2>&1
		echo "== $obj rc $?"
		grep -E '^(koffstate: mode|MISMATCH|protocol)' out.txt
	done
done
EOS
koff_vm_run_programs "$tmp/w" "$tmp" counter.bpf.o "a stateful program disagrees with the native handler" $SERIES
for s in $SERIES; do
	grep -E '^(==|koffstate: mode)' "$tmp/vm-$s.out"
	koff_ok "$s: $(grep -c '^== ' "$tmp/vm-$s.out") stateful programs agree with their native handlers, shared bytes included"
done
