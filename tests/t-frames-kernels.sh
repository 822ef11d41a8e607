#!/usr/bin/env bash
# t-frames-kernels: the XDP wrapper's frame kinds (IPv4, IPv6, 802.1Q,
# 802.1ad + 802.1Q) on Debian's 6.1 and 6.12 kernels under QEMU: koffdiff
# --frames all runs both samples' portable programs inside each guest (the
# may_goto variant is for 6.17+: no guest here runs it) and must find 0
# mismatches, IPv6 UDP checksums included (bpf_csum_diff differs between
# kernels).
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || koff_skip "needs root to load and test-run BPF programs"
cd "$KOFF_ROOT"
SERIES="6.1 6.12"
koff_need_vms $SERIES
tmp=$(mktemp -d)
koff_on_exit "rm -rf '$tmp'"
mkdir -p "$tmp/w"

for pair in dns:5353 echo:7007; do
	name=${pair%:*} port=${pair#*:}
	./koff-link "samples/$name/$name.o" -o "$tmp/w/$name" --udp-port "$port" >"$tmp/link-$name.log" 2>&1 ||
		koff_fail "koff-link failed on samples/$name: $(tail -n 3 "$tmp/link-$name.log")"
	objcopy --localize-symbol=main "samples/$name/$name.o" "$tmp/${name}_nomain.o" &&
	cc -std=c11 -D_GNU_SOURCE -O2 tests/koffdiff.c "$tmp/${name}_nomain.o" -lbpf -lelf -lz \
		-o "$tmp/w/kd-$name" || koff_fail "cannot build koffdiff for $name"
	cp "samples/$name/requests.txt" "$tmp/w/req-$name.txt"
	echo "$port" >"$tmp/w/port-$name"
done
rm -f "$tmp"/w/*.koff.json "$tmp/w/dns" "$tmp/w/echo"

# Run in the guest (busybox sh).
cat >"$tmp/w/run.sh" <<'EOF'
cd /w || exit 1
for u in dns echo; do
	for obj in $u.bpf.o; do
		./kd-$u --port "$(cat port-$u)" --mutate 100 --random 100 --seed 7 --frames all \
			"$obj" "req-$u.txt" >out.txt 2>&1
		echo "== $obj rc $?"
		grep -E '^(total|MISMATCH|koff_stats)' out.txt
	done
done
EOF
koff_vm_run_programs "$tmp/w" "$tmp" dns.bpf.o "a program disagrees with the native handler in some frame kind" $SERIES
for s in $SERIES; do
	koff_ok "$s: $(grep -c '^== ' "$tmp/vm-$s.out") programs agree in IPv4, IPv6, 802.1Q and 802.1ad frames"
done
