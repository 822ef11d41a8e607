# lib.sh - shell helpers for tests that run servers in private network
# namespaces.  Source it from a test script (bash):
#
#	. "$(dirname "$0")/lib.sh"
#	koff_require_netns                 # skip (77) unless root with ip netns
#	koff_netns_create mytest; ns=$KOFF_NETNS   # koff-mytest-$$, lo up, removed on exit
#	koff_bg "$ns" out.log ./server -p 5353   # sets KOFF_BG_PID; killed on exit
#	koff_wait_for_line out.log "listening on" 5 || koff_fail "server did not start"
#
# Cleanup runs on every exit path (EXIT trap, also after INT/TERM), in the
# reverse order of registration.  Only processes and namespaces the test
# created are touched.

set -u

KOFF_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KOFF_OUT="$KOFF_ROOT/tests/out"
KOFF_CLEANUPS=()

koff_fail() { echo "FAIL: $*" >&2; exit 1; }
koff_skip() { echo "SKIP: $*"; exit 77; }

# koff_need_vms SERIES...: tests that boot Debian's kernels under QEMU
# (./koff-vm): skip when qemu or a kernel image is missing, fail when
# ./koff-vm was not built.  Call from $KOFF_ROOT.
koff_need_vms() {
	local s
	command -v qemu-system-x86_64 >/dev/null || koff_skip "needs qemu-system-x86 (./setup.sh installs it)"
	[ -x ./koff-vm ] || koff_fail "./koff-vm is missing (make)"
	for s in "$@"; do
		./koff-vm --kernel "$s" -- true 2>/dev/null ||
			koff_skip "no kernel image for $s: run kernel/fetch-kernel.sh $s (./setup.sh does)"
	done
}
koff_ok() { echo "ok: $*"; }

# Runs DIR/run.sh SERIES inside each SERIES' guest with every file of DIR
# in /w, output in OUTDIR/vm-SERIES.out.  run.sh prints "== NAME rc N" per
# program it runs and MISMATCH on any disagreement; this fails on either,
# and when the line "== FIRST rc" (FIRST: a program that must have run) is
# missing.  Usage: koff_vm_run_programs DIR OUTDIR FIRST WHAT SERIES...
koff_vm_run_programs() {
	local dir=$1 outdir=$2 first=$3 what=$4 s f files=()
	shift 4
	for f in "$dir"/*; do files+=(--file "$f:/w/$(basename "$f")"); done
	for s in "$@"; do
		./koff-vm --kernel "$s" --timeout 900 --mem 1024 "${files[@]}" -- "sh /w/run.sh $s" \
			>"$outdir/vm-$s.out" 2>&1 ||
			{ tail -n 20 "$outdir/vm-$s.out"; koff_fail "the $s guest did not run its programs"; }
		grep -q "^== $first rc" "$outdir/vm-$s.out" ||
			{ cat "$outdir/vm-$s.out"; koff_fail "no run of $first on $s"; }
		if grep -q -e MISMATCH -e '^== .* rc [^0]' "$outdir/vm-$s.out"; then
			cat "$outdir/vm-$s.out"
			koff_fail "on $s $what"
		fi
	done
}

# Registers a shell command to run at exit.
koff_on_exit() { KOFF_CLEANUPS+=("$1"); }

koff_run_cleanups() {
	local i
	for ((i = ${#KOFF_CLEANUPS[@]} - 1; i >= 0; i--)); do
		eval "${KOFF_CLEANUPS[$i]}" >/dev/null 2>&1 || true
	done
	KOFF_CLEANUPS=()
}
trap 'rc=$?; koff_run_cleanups; exit $rc' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

koff_require_netns() {
	[ "$(id -u)" -eq 0 ] || koff_skip "needs root for network namespaces"
	command -v ip >/dev/null || koff_skip "needs iproute2 (ip)"
	local probe="koff-probe-$$"
	ip netns add "$probe" 2>/dev/null || koff_skip "cannot create network namespaces here"
	ip netns del "$probe"
}

# Creates network namespace koff-NAME-$$ with lo up and sets KOFF_NETNS to
# its name.  Call it directly, not in $(...): the cleanup it registers must
# land in the test's own shell.
koff_netns_create() {
	local ns="koff-$1-$$"
	ip netns add "$ns" || koff_fail "ip netns add $ns"
	koff_on_exit "koff_netns_destroy $ns"
	ip -n "$ns" link set lo up || koff_fail "lo up in $ns"
	KOFF_NETNS=$ns
}

# Kills every process still inside the namespace (all were started by this
# test: the namespace is private to it), then deletes the namespace.
koff_netns_destroy() {
	local ns=$1 pid
	for pid in $(ip netns pids "$ns" 2>/dev/null); do
		kill -KILL "$pid" 2>/dev/null
	done
	ip netns del "$ns" 2>/dev/null
}

koff_nsexec() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# Starts a command inside the namespace in the background, output to LOG;
# KOFF_BG_PID is its pid (ip netns exec execs the command: same pid).
koff_bg() {
	local ns=$1 log=$2; shift 2
	ip netns exec "$ns" "$@" >"$log" 2>&1 &
	KOFF_BG_PID=$!
	koff_on_exit "kill -KILL $KOFF_BG_PID"
}

# Waits until FILE contains a line matching the extended regex PATTERN;
# gives up after SECS, or as soon as process PID (if given) has exited.
koff_wait_for_line() {
	local file=$1 pattern=$2 secs=${3:-5} pid=${4:-} i
	for ((i = 0; i < secs * 20; i++)); do
		grep -Eq -- "$pattern" "$file" 2>/dev/null && return 0
		[ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null && break
		sleep 0.05
	done
	grep -Eq -- "$pattern" "$file" 2>/dev/null
}

# Waits until a UDP socket is bound to PORT inside the namespace.
koff_wait_for_udp_port() {
	local ns=$1 port=$2 secs=${3:-5} i
	for ((i = 0; i < secs * 20; i++)); do
		ip netns exec "$ns" ss -Hlun "sport = :$port" 2>/dev/null | grep -q . && return 0
		sleep 0.05
	done
	return 1
}

# Waits up to SECS for PID to exit; returns 0 when it is gone.
koff_wait_for_exit() {
	local pid=$1 secs=${2:-5} i
	for ((i = 0; i < secs * 20; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.05
	done
	return 1
}

# Builds tests/udpclient.c into tests/out/udpclient (once per run).
koff_build_udpclient() {
	mkdir -p "$KOFF_OUT"
	KOFF_UDPCLIENT="$KOFF_OUT/udpclient"
	if [ ! -x "$KOFF_UDPCLIENT" ] || [ "$KOFF_ROOT/tests/udpclient.c" -nt "$KOFF_UDPCLIENT" ]; then
		cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 \
			"$KOFF_ROOT/tests/udpclient.c" -o "$KOFF_UDPCLIENT.tmp.$$" &&
			mv "$KOFF_UDPCLIENT.tmp.$$" "$KOFF_UDPCLIENT" ||
			koff_fail "cannot build tests/udpclient.c"
	fi
}

# Asserts that two strings are equal, naming the check.
koff_expect_eq() {
	local what=$1 got=$2 want=$3
	[ "$got" == "$want" ] || koff_fail "$what: got '$got', want '$want'"
	koff_ok "$what"
}

# Builds koff-load (make build/koff-load) and sets KOFF_LOAD to it.
koff_build_loader() {
	make -s -C "$KOFF_ROOT" build/koff-load >&2 || koff_fail "cannot build koff-load"
	KOFF_LOAD="$KOFF_ROOT/build/koff-load"
}

# koff_assert_detached NS NAME: no XDP program is left on NS's lo.
koff_assert_detached() {
	koff_xdp_attached "$1" lo && koff_fail "$2: XDP program still attached to lo"
	koff_ok "$2: nothing attached"
}

# koff_expect_load_error NS OUTDIR NAME ERE koff-load-args...: koff-load
# (KOFF_LOAD, run in NS) exits non-zero with exactly one line on stderr,
# that line matches ERE, and nothing is left attached to NS's lo.
koff_expect_load_error() {
	local ns=$1 dir=$2 name=$3 ere=$4 rc
	shift 4
	koff_nsexec "$ns" "$KOFF_LOAD" "$@" >"$dir/err.out" 2>"$dir/err.log"
	rc=$?
	[ $rc -ne 0 ] || koff_fail "$name: exit status 0"
	koff_expect_eq "$name: one line" "$(wc -l <"$dir/err.log")" 1
	grep -Eq "$ere" "$dir/err.log" || koff_fail "$name: message '$(cat "$dir/err.log")' does not match '$ere'"
	koff_assert_detached "$ns" "$name"
}

# Gives BPF_OBJ the identity section koff-link writes (include/koff_abi.h:
# KOFF_IDENTITY_SECTION) naming EXE's SHA-256, so that koff-load accepts a
# hand-written stand-in as EXE's program.
koff_stamp_identity() {
	local obj=$1 exe=$2
	printf 'executable-sha256 %s\n' "$(sha256sum "$exe" | cut -d' ' -f1)" >"$obj.identity" &&
	llvm-objcopy --remove-section .koff.identity "$obj" &&
	llvm-objcopy --add-section ".koff.identity=$obj.identity" "$obj" &&
	rm -f "$obj.identity" || koff_fail "cannot stamp $obj with the identity of $exe"
}

# Builds tests/reaper.c (a child subreaper, as init) into tests/out/reaper.
koff_build_reaper() {
	mkdir -p "$KOFF_OUT"
	KOFF_REAPER="$KOFF_OUT/reaper"
	cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 "$KOFF_ROOT/tests/reaper.c" \
		-o "$KOFF_REAPER.tmp.$$" && mv "$KOFF_REAPER.tmp.$$" "$KOFF_REAPER" ||
		koff_fail "cannot build tests/reaper.c"
}

# True when an XDP program is attached to DEV in namespace NS.
koff_xdp_attached() {
	ip -n "$1" -d link show dev "$2" 2>/dev/null | grep -q 'prog/xdp'
}

# Translation validation of one sample: koff-link samples/NAME/NAME.o, then
# tests/koffdiff.c against the native handler on the sample's requests, 300
# mutations and 300 random byte strings; at most MAX_FALLBACK percent of the
# file's requests may fall back.  Each request goes in a frame of every
# kind of FRAMES (koffdiff --frames; default v4).  Fails (never skips) when
# koff-link is missing or refuses the sample.
# Usage: koff_diff_sample NAME PORT MAX_FALLBACK [FRAMES]
koff_diff_sample() {
	local name=$1 port=$2 max=$3 frames=${4:-v4} tmp rc
	tmp=$(mktemp -d)
	koff_on_exit "rm -rf '$tmp'"
	[ -x ./koff-link ] || koff_fail "./koff-link is missing (make)"
	[ -f "samples/$name/$name.o" ] || koff_fail "samples/$name/$name.o is missing (make samples)"
	./koff-link "samples/$name/$name.o" -o "$tmp/$name" --udp-port "$port" ||
		koff_fail "koff-link failed on samples/$name/$name.o"
	[ -f "$tmp/$name.bpf.o" ] || koff_fail "koff-link wrote no $name.bpf.o"
	objcopy --localize-symbol=main "samples/$name/$name.o" "$tmp/${name}_nomain.o" &&
	cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 tests/koffdiff.c "$tmp/${name}_nomain.o" \
		-lbpf -lelf -lz -o "$tmp/koffdiff-$name" || koff_fail "cannot build koffdiff"
	"$tmp/koffdiff-$name" --port "$port" --mutate 300 --random 300 --seed 20261125 --frames "$frames" \
		--max-fallback-percent "$max" "$tmp/$name.bpf.o" "samples/$name/requests.txt"
	rc=$?
	case $rc in
	0) ;;
	1) koff_fail "koff's XDP program disagrees with the native handler (see MISMATCH above)";;
	2) koff_fail "more than $max% of samples/$name/requests.txt fell back to userspace";;
	*) koff_fail "koffdiff could not run (exit $rc)";;
	esac
	koff_ok "samples/$name: lifted program agrees with the native handler ($frames frames)"
}

# Mounts a BPF file system of the test's own on DIR (created), unmounted at
# exit: koff-load --pin-dir DIR/koff pins there (ip netns exec hides the
# host's /sys/fs/bpf).  Skips when bpffs cannot be mounted.
koff_mount_bpffs() {
	mkdir -p "$1"
	mount -t bpf bpf "$1" || koff_skip "cannot mount a BPF file system"
	koff_on_exit "umount -l '$1'"
}

# Counter NAME from the last "koff-load: counters (WHEN):" line of LOG.
koff_counter() {
	local log=$1 when=$2 name=$3
	grep "^koff-load: counters ($when):" "$log" | tail -n 1 | tr ' ' '\n' | sed -n "s/^$name=//p"
}

# Builds bench/kvload.c and tests/kvstress.c into tests/out (KOFF_KVLOAD, KOFF_KVSTRESS).
koff_build_kvtools() {
	mkdir -p "$KOFF_OUT"
	KOFF_KVLOAD="$KOFF_OUT/kvload" KOFF_KVSTRESS="$KOFF_OUT/kvstress"
	cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 "$KOFF_ROOT/bench/kvload.c" -o "$KOFF_KVLOAD.tmp.$$" &&
	mv "$KOFF_KVLOAD.tmp.$$" "$KOFF_KVLOAD" &&
	cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 "$KOFF_ROOT/tests/kvstress.c" -lpthread \
		-o "$KOFF_KVSTRESS.tmp.$$" && mv "$KOFF_KVSTRESS.tmp.$$" "$KOFF_KVSTRESS" ||
		koff_fail "cannot build bench/kvload.c and tests/kvstress.c"
}
# koff-link OBJ into DIR/NAME and build DIR/koffstate-NAME (tests/koffstate.c)
# against OBJ: main localized, each shared section renamed koffsh_I in the
# order of the program's .koff.shared lines.
# Usage: koff_build_koffstate OBJ DIR NAME
koff_build_koffstate() {
	local obj=$1 dir=$2 name=$3 secs args i=0 s
	./koff-link "$obj" -o "$dir/$name" --udp-port 9999 || koff_fail "koff-link failed on $obj"
	[ -f "$dir/$name.bpf.o" ] || koff_fail "$name: not offloaded: $(grep -o '"not_offloaded_because": "[^"]*"' "$dir/$name.koff.json")"
	secs=$(readelf -p .koff.shared "$dir/$name.bpf.o" | sed 's/\\n/\n/g' | awk '$1 == "section" { print $2 }')
	[ -n "$secs" ] || koff_fail "$name.bpf.o has no shared sections"
	args=(--localize-symbol=main)
	for s in $secs; do
		args+=(--rename-section "$s=koffsh_$i")
		i=$((i + 1))
	done
	objcopy "${args[@]}" "$obj" "$dir/${name}_state.o" &&
	cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 tests/koffstate.c "$dir/${name}_state.o" \
		-lbpf -lelf -o "$dir/koffstate-$name" || koff_fail "cannot build koffstate for $name"
}

# Stateful translation validation (tests/koffstate.c) of a handler with
# shared state: koff_build_koffstate, then koffstate on OUT.bpf.o and, when
# there is one, the fast (6.18) variant, expecting MODE (seq or lock).
# Usage: koff_stateful_diff OBJ DIR NAME MODE REQUESTS [KOFFSTATE-ARGS...]
koff_stateful_diff() {
	local obj=$1 dir=$2 name=$3 mode=$4 reqs=$5 prog rc
	shift 5
	koff_build_koffstate "$obj" "$dir" "$name"
	for prog in "$dir/$name.bpf.o" "$dir/$name$KOFF_FAST_SUFFIX"; do
		[ -f "$prog" ] || continue
		"$dir/koffstate-$name" --expect-mode "$mode" --port 9999 "$@" "$prog" "$reqs" 2>&1 | grep -v '^libbpf: elf: skipping'
		rc=${PIPESTATUS[0]}
		[ "$rc" -eq 0 ] || koff_fail "$name ($prog): the lifted program disagrees with the native handler (koffstate exit $rc)"
		koff_ok "$name ($(basename "$prog")): $mode mode agrees with the native handler, state included"
	done
}
KOFF_FAST_SUFFIX=.6.18.bpf.o
