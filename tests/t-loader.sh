#!/usr/bin/env bash
# koff-load with a hand-written stand-in for OUT.bpf.o (tests/xdp_pass_stats.bpf.c:
# the koff_xdp program and koff_stats map of include/koff_abi.h), in a
# private netns: the program is attached while OUT runs and gone after,
# counters are printed on SIGUSR1 and at exit, signals are forwarded, the
# exit status passes through, SIGKILL of the loader detaches, and every
# error case is one "koff-load:" line with nothing left attached.
. "$(dirname "$0")/lib.sh"
cd "$KOFF_ROOT"

command -v clang >/dev/null || koff_skip "needs clang for the BPF stand-in"
koff_require_netns
koff_build_loader
koff_build_udpclient

dir="$KOFF_OUT/t-loader"
rm -rf "$dir"
mkdir -p "$dir"
bpf_cflags=(-O2 -g -target bpf -I/usr/include/x86_64-linux-gnu -Iinclude)
clang "${bpf_cflags[@]}" -c tests/xdp_pass_stats.bpf.c -o "$dir/srv.bpf.o" ||
	koff_fail "cannot build the XDP stand-in"

# The "server": waits for its stop file, exits with the given code; exits 42
# on SIGTERM, so forwarding is visible in the status.
cat >"$dir/srv" <<'EOF'
#!/usr/bin/env bash
trap 'echo "server got TERM" >&2; exit 42' TERM
echo "server running: $*" >&2
while [ ! -e "$1" ]; do sleep 0.05; done
exit "$2"
EOF
chmod +x "$dir/srv"

koff_netns_create loader
ns=$KOFF_NETNS

# Starts koff-load on lo with OUT=$dir/srv; KOFF_BG_PID is the loader.
start_loader() {
	local log=$1; shift
	rm -f "$dir/stop"
	koff_bg "$ns" "$log" "$KOFF_LOAD" "$@" --dev lo "$dir/srv" "$dir/stop" 5
	koff_wait_for_line "$log" "server running: $dir/stop 5" 5 ||
		koff_fail "server not started under koff-load: $(cat "$log")"
}

# Last value of counter NAME printed in LOG by a "counters (WHEN)" line.
counter() {
	local log=$1 when=$2 name=$3
	grep "^koff-load: counters ($when):" "$log" | tail -n 1 | tr ' ' '\n' |
		sed -n "s/^$name=//p"
}

assert_detached() {
	koff_xdp_attached "$ns" lo && koff_fail "$1: XDP program still attached to lo"
	koff_ok "$1: nothing attached"
}

# ---- normal run: attached, counters, exit status, detached ----------------
log="$dir/run.log"
start_loader "$log"
loader=$KOFF_BG_PID
koff_xdp_attached "$ns" lo || koff_fail "koff_xdp not attached while OUT runs"
koff_expect_eq "attached program name" \
	"$(ip -n "$ns" -d link show dev lo | sed -n 's/.*prog\/xdp id [0-9]* name \([a-z_]*\).*/\1/p')" koff_xdp
koff_expect_eq "attached in generic (skb) mode" \
	"$(koff_nsexec "$ns" bpftool net show dev lo | grep -c 'lo(1) generic id')" 1
# Three datagrams on lo (nobody listens: each also brings an ICMP error back).
for i in 1 2 3; do koff_nsexec "$ns" "$KOFF_UDPCLIENT" -t 100 9999 abcd; done
kill -USR1 "$loader"
koff_wait_for_line "$log" "^koff-load: counters \(now\):" 3 || koff_fail "no counters on SIGUSR1"
now=$(counter "$log" now pass_other)
[ "$now" -ge 3 ] || koff_fail "pass_other after 3 datagrams is '$now', want >= 3"
koff_ok "SIGUSR1 prints counters (pass_other=$now)"
koff_expect_eq "all counters printed" \
	"$(grep "^koff-load: counters (now):" "$log" | tail -n 1 | grep -o '[a-z_]*=[0-9]*' | wc -l)" \
	"$(grep -c '^[[:space:]]*X([A-Z_]*, "' include/koff_abi.h)"	# one per KOFF_STATS entry
touch "$dir/stop"
koff_wait_for_exit "$loader" 5 || koff_fail "koff-load did not exit after OUT exited"
wait "$loader"
koff_expect_eq "exit status passed through" $? 5
grep -q "^koff-load: counters (exit):" "$log" || koff_fail "no counters at exit"
final=$(counter "$log" exit pass_other)
[ "$final" -ge "$now" ] || koff_fail "pass_other at exit ($final) < earlier reading ($now)"
koff_ok "counters printed at exit (pass_other=$final)"
assert_detached "after OUT exited"

# ---- SIGTERM is forwarded; OUT's status (42 from its trap) comes back -----
log="$dir/term.log"
start_loader "$log"
loader=$KOFF_BG_PID
kill -TERM "$loader"
koff_wait_for_exit "$loader" 5 || koff_fail "koff-load did not exit after SIGTERM"
wait "$loader"
koff_expect_eq "SIGTERM forwarded, status passed through" $? 42
grep -q "server got TERM" "$log" || koff_fail "OUT did not see SIGTERM"
assert_detached "after SIGTERM"

# ---- OUT killed by a signal: 128 + signal ----------------------------------
log="$dir/kill.log"
start_loader "$log"
loader=$KOFF_BG_PID
child=$(sed -n 's/.*running .* (pid \([0-9]*\)).*/\1/p' "$log")
[ -n "$child" ] || koff_fail "koff-load did not report OUT's pid"
kill -KILL "$child"
koff_wait_for_exit "$loader" 5 || koff_fail "koff-load did not exit after OUT was killed"
wait "$loader"
koff_expect_eq "OUT killed by SIGKILL -> 137" $? 137
assert_detached "after OUT was killed"

# ---- SIGKILL of the loader: the kernel detaches, OUT is told to stop -------
log="$dir/sigkill.log"
start_loader "$log"
loader=$KOFF_BG_PID
child=$(sed -n 's/.*running .* (pid \([0-9]*\)).*/\1/p' "$log")
koff_xdp_attached "$ns" lo || koff_fail "not attached before SIGKILL"
kill -KILL "$loader"
wait "$loader" 2>/dev/null
for ((i = 0; i < 40; i++)); do koff_xdp_attached "$ns" lo || break; sleep 0.05; done
assert_detached "after SIGKILL of koff-load"
koff_wait_for_exit "$child" 3 || koff_fail "OUT still runs after its loader died"
koff_ok "OUT stopped after its loader died"

# ---- error cases: one line, non-zero, nothing attached ---------------------
# expect_error NAME PATTERN koff-load-args...
expect_error() {
	local name=$1 pattern=$2 rc; shift 2
	koff_nsexec "$ns" "$KOFF_LOAD" "$@" >"$dir/err.out" 2>"$dir/err.log"
	rc=$?
	[ $rc -ne 0 ] || koff_fail "$name: exit status 0"
	koff_expect_eq "$name: one line" "$(wc -l <"$dir/err.log")" 1
	grep -Eq "^koff-load: .*$pattern" "$dir/err.log" ||
		koff_fail "$name: message '$(cat "$dir/err.log")' does not match '$pattern'"
	assert_detached "$name"
}
expect_error "missing OUT.bpf.o" "nothing\.bpf\.o: No such file" "$dir/nothing"
expect_error "no such device" "no such network device: koffnodev0" --dev koffnodev0 "$dir/srv" x 0
expect_error "native mode on lo" "cannot attach koff_xdp to lo in native mode" --mode native "$dir/srv" x 0
expect_error "bad mode" "--mode must be skb or native" --mode turbo "$dir/srv" x 0
cp "$dir/srv.bpf.o" "$dir/noexec.bpf.o"
echo "not a program" >"$dir/noexec"
expect_error "exec failure" "cannot run .*noexec: Permission denied" "$dir/noexec"
clang "${bpf_cflags[@]}" -DPROG_NAME=other -c tests/xdp_pass_stats.bpf.c -o "$dir/misnamed.bpf.o" ||
	koff_fail "cannot build the misnamed stand-in"
expect_error "no koff_xdp program" "no XDP program named koff_xdp" "$dir/misnamed"
echo "garbage" >"$dir/garbage.bpf.o"
expect_error "not a BPF object" "garbage\.bpf\.o: cannot open BPF object" "$dir/garbage"
echo "t-loader: all checks passed"
