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
koff_build_reaper

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
koff_stamp_identity "$dir/srv.bpf.o" "$dir/srv"

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

assert_detached() { koff_assert_detached "$ns" "$1"; }

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
# koff-load runs under a subreaper, as under init or a service manager: OUT,
# orphaned, must die (PR_SET_PDEATHSIG) and be reaped there, not linger as
# a zombie (this machine's PID 1 reaps nothing, so only a reaper can).
log="$dir/sigkill.log"
rm -f "$dir/stop"
koff_bg "$ns" "$log" "$KOFF_REAPER" "$KOFF_LOAD" --dev lo "$dir/srv" "$dir/stop" 5
reaper=$KOFF_BG_PID
koff_wait_for_line "$log" "server running: $dir/stop 5" 5 || koff_fail "server not started: $(cat "$log")"
loader=$(sed -n 's/^reaper: started \([0-9]*\)$/\1/p' "$log")
child=$(sed -n 's/.*running .* (pid \([0-9]*\)).*/\1/p' "$log")
[ -n "$loader" ] && [ -n "$child" ] || koff_fail "no pids in $(cat "$log")"
koff_xdp_attached "$ns" lo || koff_fail "not attached before SIGKILL"
kill -KILL "$loader"
for ((i = 0; i < 40; i++)); do koff_xdp_attached "$ns" lo || break; sleep 0.05; done
assert_detached "after SIGKILL of koff-load"
for ((i = 0; i < 60; i++)); do [ -e "/proc/$child" ] || break; sleep 0.05; done
[ -e "/proc/$child" ] && koff_fail "OUT (pid $child) is still there after its loader died: $(grep State "/proc/$child/status")"
grep -q "^reaper: reaped $child\$" "$log" || koff_fail "OUT was not reaped by the subreaper: $(cat "$log")"
koff_wait_for_exit "$reaper" 3 || koff_fail "the reaper still has children"
koff_ok "OUT stopped after its loader died, and was reaped (no zombie)"

# ---- koff-load reaps what OUT leaves orphaned ------------------------------
# OUT starts a helper through a subshell that exits at once: the orphaned
# helper comes to koff-load (a subreaper), which reaps it when it ends
# while OUT still runs (without that, the outer reaper would).
cat >"$dir/forker" <<'EOF2'
#!/usr/bin/env bash
( sleep 0.2 & echo "helper $!" >&2 )
sleep 1
exit 0
EOF2
chmod +x "$dir/forker"
cp "$dir/srv.bpf.o" "$dir/forker.bpf.o"
koff_stamp_identity "$dir/forker.bpf.o" "$dir/forker"
log="$dir/forker.log"
koff_bg "$ns" "$log" "$KOFF_REAPER" "$KOFF_LOAD" --dev lo "$dir/forker"
reaper=$KOFF_BG_PID
koff_wait_for_exit "$reaper" 5 || koff_fail "forker under koff-load did not finish"
helper=$(sed -n 's/^helper \([0-9]*\)$/\1/p' "$log")
[ -n "$helper" ] || koff_fail "the helper's pid is missing: $(cat "$log")"
[ -e "/proc/$helper" ] && koff_fail "the helper $helper is left (state $(grep State "/proc/$helper/status"))"
grep -q "^reaper: reaped $helper\$" "$log" && koff_fail "the helper was reaped by the outer reaper, not by koff-load"
koff_ok "OUT's orphaned helper was reaped by koff-load"

# ---- error cases: one line, non-zero, nothing attached ---------------------
# expect_error NAME PATTERN koff-load-args...: one line "koff-load: ...PATTERN".
expect_error() {
	local name=$1 pattern=$2
	shift 2
	koff_expect_load_error "$ns" "$dir" "$name" "^koff-load: .*$pattern" "$@"
}
expect_error "missing OUT.bpf.o" "nothing\.bpf\.o: No such file" "$dir/nothing"
expect_error "no such device" "no such network device: koffnodev0" --dev koffnodev0 "$dir/srv" x 0
expect_error "native mode on lo" "cannot attach koff_xdp to lo in native mode" --mode native "$dir/srv" x 0
expect_error "bad mode" "--mode must be skb or native" --mode turbo "$dir/srv" x 0
cp "$dir/srv.bpf.o" "$dir/noexec.bpf.o"
echo "not a program" >"$dir/noexec"
koff_stamp_identity "$dir/noexec.bpf.o" "$dir/noexec"
expect_error "exec failure" "cannot run .*noexec: Permission denied" "$dir/noexec"
clang "${bpf_cflags[@]}" -DPROG_NAME=other -c tests/xdp_pass_stats.bpf.c -o "$dir/misnamed.bpf.o" ||
	koff_fail "cannot build the misnamed stand-in"
cp "$dir/srv" "$dir/misnamed"
koff_stamp_identity "$dir/misnamed.bpf.o" "$dir/misnamed"
expect_error "no koff_xdp program" "no XDP program named koff_xdp" "$dir/misnamed"
# Pairing: srv's program beside another executable, and a program without identity.
printf '#!/bin/sh\nexit 0\n' >"$dir/other" && chmod +x "$dir/other"
cp "$dir/srv.bpf.o" "$dir/other.bpf.o"
expect_error "program of another build" "other\.bpf\.o does not belong to .*/other: it was linked with an executable of SHA-256 [0-9a-f]{12}\.\.\., .*other is [0-9a-f]{12}" "$dir/other"
clang "${bpf_cflags[@]}" -c tests/xdp_pass_stats.bpf.c -o "$dir/other.bpf.o"
expect_error "program without identity" "other\.bpf\.o carries no identity of the executable" "$dir/other"
# A libbpf error code (LIBBPF_ERRNO__FORMAT, 4001) reads as libbpf's text.
printf '\177ELF\2\1\1\0\0\0\0\0\0\0\0\0\1\0\367\0' >"$dir/badelf.bpf.o"
head -c 200 /dev/zero >>"$dir/badelf.bpf.o"
cp "$dir/srv" "$dir/badelf"
koff_nsexec "$ns" "$KOFF_LOAD" "$dir/badelf" >/dev/null 2>"$dir/err.log"
grep -q "Unknown error 4" "$dir/err.log" && koff_fail "libbpf code printed as errno: $(cat "$dir/err.log")"
grep -q "^koff-load: .*badelf.bpf.o: cannot open BPF object: " "$dir/err.log" ||
	koff_fail "broken ELF: unexpected message $(cat "$dir/err.log")"
koff_ok "broken BPF ELF: $(cat "$dir/err.log")"
echo "garbage" >"$dir/garbage.bpf.o"
expect_error "not a BPF object" "garbage\.bpf\.o: cannot open BPF object" "$dir/garbage"
echo "t-loader: all checks passed"
