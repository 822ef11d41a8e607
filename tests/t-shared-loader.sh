#!/usr/bin/env bash
# koff-load and a program with shared state (include/koff_abi.h: the
# koff_shared map), with hand-written stand-ins (tests/xdp_pass_stats.bpf.c
# -DSHARED_PAGES, tests/shared_out.c as OUT) in a private netns, pinning
# under a BPF file system the test mounts (--pin-dir):
# - the map is pinned as DIR/<instance>/koff_shared (dir 0700, pin 0600) and
#   OUT's only new fd is that map, named in KOFF_SHARED_FD; what OUT writes
#   through it is what the pin shows;
# - the map handed over is the attached variant's (OUT.6.18.bpf.o refused
#   by the verifier -> OUT.bpf.o's map);
# - the pins go on every exit path: OUT exits, SIGTERM, OUT killed, koff-load
#   SIGKILLed (the keeper; the XDP link goes with koff-load too);
# - a start removes the pins of dead instances (dead pid, reused pid) and
#   keeps live ones and other PID namespaces';
# - without the map, OUT gets no KOFF_SHARED_FD even when koff-load had one;
# - the default place (/sys/fs/bpf) inside `ip netns exec`, which hides the
#   host's bpffs: one clear error, nothing attached.
. "$(dirname "$0")/lib.sh"
cd "$KOFF_ROOT"

command -v clang >/dev/null || koff_skip "needs clang for the BPF stand-in"
command -v bpftool >/dev/null || koff_skip "needs bpftool"
koff_require_netns
koff_build_loader

dir="$KOFF_OUT/t-shared-loader"
rm -rf "$dir"
mkdir -p "$dir"
koff_mount_bpffs "$dir/bpffs"
pins="$dir/bpffs/koff"

bpf_cflags=(-O2 -g -target bpf -I/usr/include/x86_64-linux-gnu -Iinclude)
clang "${bpf_cflags[@]}" -DSHARED_PAGES=2 -c tests/xdp_pass_stats.bpf.c -o "$dir/out.bpf.o" &&
clang "${bpf_cflags[@]}" -DSHARED_PAGES=3 -c tests/xdp_pass_stats.bpf.c -o "$dir/out.6.18.bpf.o" &&
clang "${bpf_cflags[@]}" -c tests/xdp_pass_stats.bpf.c -o "$dir/plain.bpf.o" ||
	koff_fail "cannot build the BPF stand-ins"
cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -Iinclude tests/shared_out.c -lbpf -o "$dir/out" ||
	koff_fail "cannot build tests/shared_out.c"
cp "$dir/out" "$dir/plain"
koff_stamp_identity "$dir/out.bpf.o" "$dir/out"
koff_stamp_identity "$dir/out.6.18.bpf.o" "$dir/out"
koff_stamp_identity "$dir/plain.bpf.o" "$dir/plain"

koff_netns_create sharedld
ns=$KOFF_NETNS

instances() { find "$pins" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | sort; }
assert_no_pins() {
	[ -z "$(instances)" ] || koff_fail "$1: pins left: $(instances)"
	koff_ok "$1: no pin left"
}
assert_detached() { koff_assert_detached "$ns" "$1"; }
# start LOG MARK [koff-load args]: koff-load runs $dir/out; waits for "ready".
start() {
	local log=$1 mark=$2; shift 2
	rm -f "$dir/stop"
	koff_bg "$ns" "$log" "$KOFF_LOAD" --pin-dir "$pins" "$@" --dev lo "$dir/out" "$dir/stop" "$mark"
	koff_wait_for_line "$log" "^ready$" 10 "$KOFF_BG_PID" || koff_fail "OUT not started: $(cat "$log")"
}
# The first u64 of the pinned map's value, as bpftool shows it (hex bytes).
pinned_mark() { bpftool -j map lookup pinned "$1" key 0 0 0 0 | jq -r '.value[0:8] | map(ltrimstr("0x")) | join(" ")'; }

# ---- the fds OUT gets: the same as without koff-load, plus the map --------
koff_nsexec "$ns" "$dir/plain" "$dir/nostop" 0 >"$dir/alone.log" 2>&1 &
alone=$!
koff_on_exit "kill -KILL $alone"
koff_wait_for_line "$dir/alone.log" "^ready$" 5 || koff_fail "OUT alone did not start"
kill -TERM "$alone"
wait "$alone" 2>/dev/null
grep '^fd ' "$dir/alone.log" | sed "s|$dir/alone.log|LOG|" | sort >"$dir/fds.alone"
koff_expect_eq "OUT alone has no KOFF_SHARED_FD" "$(grep -c '^shared none$' "$dir/alone.log")" 1

# The fast variant is the verifier's to refuse: OUT.bpf.o (2 pages) loads.
clang "${bpf_cflags[@]}" -DSHARED_PAGES=3 -DREJECTED -c tests/xdp_pass_stats.bpf.c -o "$dir/out.6.18.bpf.o" ||
	koff_fail "cannot build the rejected variant"
koff_stamp_identity "$dir/out.6.18.bpf.o" "$dir/out"
log="$dir/run.log"
start "$log" 0x1122334455667788
loader=$KOFF_BG_PID
grep -q "^koff-load: koff_xdp from $dir/out.bpf.o attached" "$log" ||
	koff_fail "the portable variant was not the one attached: $(head -n 2 "$log")"
inst=$(instances)
[ "$(echo "$inst" | wc -l)" -eq 1 ] && [ -n "$inst" ] || koff_fail "want one instance directory, have '$inst'"
koff_expect_eq "instance directory name (pidns-pid-start)" \
	"$(basename "$inst" | grep -Ec "^$(stat -L -c %i /proc/self/ns/pid)-$loader-[0-9]+$")" 1
koff_expect_eq "instance directory mode" "$(stat -c %a "$inst")" 700
koff_expect_eq "pin mode" "$(stat -c %a "$inst/koff_shared")" 600
grep -q "^koff-load: shared state koff_shared pinned as $inst/koff_shared, passed in \$KOFF_SHARED_FD$" "$log" ||
	koff_fail "no line naming the pin: $(cat "$log")"
shared=$(grep '^shared ' "$log")
koff_expect_eq "OUT got the attached variant's map (2 pages, mmapable array, 1 entry)" \
	"$(echo "$shared" | sed 's/^shared fd=[0-9]* //')" "type=2 entries=1 flags=0x400 value_size=8192 name=koff_shared"
mapfd=$(echo "$shared" | sed -n 's/^shared fd=\([0-9]*\) .*/\1/p')
grep '^fd ' "$log" | grep -v "^fd $mapfd " | sed "s|$log|LOG|" | sort >"$dir/fds.loaded"
diff -u "$dir/fds.alone" "$dir/fds.loaded" || koff_fail "OUT under koff-load holds fds it should not (besides the map)"
koff_expect_eq "OUT's extra fd is the map" "$(grep -c "^fd $mapfd anon_inode:bpf-map$" "$log")" 1
koff_expect_eq "what OUT wrote is in the pinned map" "$(pinned_mark "$inst/koff_shared")" "88 77 66 55 44 33 22 11"
touch "$dir/stop"
koff_wait_for_exit "$loader" 5 || koff_fail "koff-load did not exit after OUT"
wait "$loader"
koff_expect_eq "exit status" $? 0
assert_no_pins "after OUT exited"
assert_detached "after OUT exited"

# ---- both variants load: the fast one's map (3 pages) ----------------------
clang "${bpf_cflags[@]}" -DSHARED_PAGES=3 -c tests/xdp_pass_stats.bpf.c -o "$dir/out.6.18.bpf.o" &&
	koff_stamp_identity "$dir/out.6.18.bpf.o" "$dir/out" || koff_fail "cannot build the fast variant"
log="$dir/fast.log"
start "$log" 7
loader=$KOFF_BG_PID
grep -q "^koff-load: koff_xdp from $dir/out.6.18.bpf.o attached" "$log" || koff_fail "fast variant not attached"
koff_expect_eq "OUT got the fast variant's map" "$(sed -n 's/^shared fd=[0-9]* .*value_size=\([0-9]*\).*/\1/p' "$log")" 12288
kill -TERM "$loader"
koff_wait_for_exit "$loader" 5 || koff_fail "koff-load did not exit after SIGTERM"
wait "$loader"
koff_expect_eq "SIGTERM forwarded (OUT exits 7)" $? 7
assert_no_pins "after SIGTERM"
rm -f "$dir/out.6.18.bpf.o"

# ---- OUT killed ------------------------------------------------------------
log="$dir/kill.log"
start "$log" 8
loader=$KOFF_BG_PID
child=$(sed -n 's/.*running .* (pid \([0-9]*\)).*/\1/p' "$log")
kill -KILL "$child"
koff_wait_for_exit "$loader" 5 || koff_fail "koff-load did not exit after OUT was killed"
wait "$loader"
koff_expect_eq "OUT killed -> 137" $? 137
assert_no_pins "after OUT was killed"

# ---- koff-load SIGKILLed: the keeper removes the pins, the link goes -------
log="$dir/sigkill.log"
start "$log" 9
loader=$KOFF_BG_PID
child=$(sed -n 's/.*running .* (pid \([0-9]*\)).*/\1/p' "$log")
[ -n "$(instances)" ] || koff_fail "no pin before SIGKILL"
kill -KILL "$loader"
for ((i = 0; i < 60; i++)); do [ -z "$(instances)" ] && ! koff_xdp_attached "$ns" lo && break; sleep 0.05; done
assert_no_pins "after SIGKILL of koff-load"
assert_detached "after SIGKILL of koff-load"
for ((i = 0; i < 60; i++)); do [ -e "/proc/$child" ] || break; sleep 0.05; done
kill -KILL "$child" 2>/dev/null

# ---- dead instances are reaped at start, live ones kept ---------------------
nsino=$(stat -L -c %i /proc/self/ns/pid)
sleep 0.01 & dead=$!; wait "$dead"	# a pid that no longer runs
live=$$ live_start=$(awk '{ sub(/.*\) /, ""); print $20 }' /proc/$$/stat)
mk_instance() {	# name: a directory holding a pin, as an instance leaves it
	mkdir -m 700 "$pins/$1" && bpftool map pin id "$(bpftool map show pinned "$2" | sed -n 's/^\([0-9]*\):.*/\1/p')" "$pins/$1/koff_shared"
}
log="$dir/keep.log"
start "$log" 10
loader=$KOFF_BG_PID
holder=$(instances)/koff_shared
mk_instance "$nsino-$dead-12345" "$holder" &&
mk_instance "$nsino-$live-$((live_start + 1))" "$holder" &&	# pid reused by another process
mk_instance "$nsino-$live-$live_start" "$holder" &&		# alive
mk_instance "1-$dead-12345" "$holder" &&			# another PID namespace
mkdir "$pins/not-ours" || koff_fail "cannot make the fake instances"
kill -TERM "$loader"
wait "$loader"
log2="$dir/reap.log"
koff_nsexec "$ns" "$KOFF_LOAD" --pin-dir "$pins" --dev lo "$dir/plain" "$dir/bpffs" 0 >"$log2" 2>&1 ||
	koff_fail "koff-load with a program without shared state failed: $(cat "$log2")"
koff_expect_eq "a program without shared state touches no pin" "$(instances | wc -l)" 5
koff_expect_eq "OUT without shared state gets no KOFF_SHARED_FD (koff-load's own is dropped)" \
	"$(KOFF_SHARED_FD=0 koff_nsexec "$ns" "$KOFF_LOAD" --pin-dir "$pins" --dev lo "$dir/plain" "$dir/bpffs" 0 2>/dev/null | grep -c '^shared none$')" 1
start "$log" 11	# the next instance with shared state reaps
loader=$KOFF_BG_PID
for gone in "$nsino-$dead-12345" "$nsino-$live-$((live_start + 1))"; do
	[ -e "$pins/$gone" ] && koff_fail "dead instance $gone was not reaped"
	grep -q "^koff-load: removed the pins of a koff-load that is gone: $pins/$gone$" "$log" ||
		koff_fail "no message for $gone: $(cat "$log")"
done
koff_ok "dead instances (gone pid, reused pid) reaped, each named"
for kept in "$nsino-$live-$live_start" "1-$dead-12345" not-ours; do
	[ -e "$pins/$kept" ] || koff_fail "$kept was removed"
done
koff_ok "a live instance, another PID namespace's and a foreign name are kept"
kill -TERM "$loader"
wait "$loader"
rm -rf "${pins:?}/$nsino-$live-$live_start" "$pins/1-$dead-12345" "$pins/not-ours"
assert_no_pins "after the reaping run"

# ---- an error after the pin (attaching fails): the pin goes too -------------
koff_nsexec "$ns" "$KOFF_LOAD" --pin-dir "$pins" --dev koffnodev0 "$dir/out" "$dir/stop" 0 >/dev/null 2>"$dir/err.log"
[ $? -ne 0 ] || koff_fail "attaching to a missing device: exit 0"
grep -q '^koff-load: no such network device: koffnodev0$' "$dir/err.log" || koff_fail "unexpected: $(cat "$dir/err.log")"
assert_no_pins "attach failed"

# ---- the default place inside ip netns exec: no bpffs there ------------------
koff_expect_load_error "$ns" "$dir" "no bpffs" \
	'^koff-load: /sys/fs/bpf/koff is not on a BPF file system, so the shared map cannot be pinned there: ' \
	--dev lo "$dir/out" "$dir/stop" 0
echo "t-shared-loader: all checks passed"
