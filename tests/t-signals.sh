#!/usr/bin/env bash
# t-signals: koff-link's temporary files never outlive it.
#   1. SIGINT, SIGTERM, SIGHUP while the system linker runs: koff-link dies
#      of the signal (status 128+N), the linker is stopped with it, no
#      *.koff-tmp-* file is left, the earlier OUT, OUT.bpf.o, OUT.koff.json
#      are untouched byte for byte.
#   2. SIGTERM at 16 moments spread over a whole link of the dns sample
#      (linker, lifting, verifier, writing, renaming): afterwards there is
#      never a temporary file, and the three outputs are always one set:
#      all from the earlier link or all from this one.
#   3. SIGKILL (no handler runs): the next link of the same OUT removes the
#      left-overs, and only those it can prove are a dead koff-link's
#      (names of OUT's pattern, PID not running); others stay.
. "$(dirname "$0")/lib.sh"
cd "$KOFF_ROOT"
make -s build/koff-link >&2 || koff_fail "cannot build build/koff-link"
# koff-link leaves a signal ignored at its start ignored (nohup), and a
# background job or a runner started in the background may inherit SIGINT
# ignored: start it with the default actions, as from a terminal.
KL=(env --default-signal=INT,TERM,HUP "$KOFF_ROOT/build/koff-link")
tmp=$(mktemp -d /tmp/koff-signals.XXXXXX)
koff_on_exit "rm -rf '$tmp'"
out=$tmp/out
mkdir -p "$out"
gcc -O2 -g -c tests/data/badinput/plain.c -o "$tmp/plain.o" || koff_fail "cannot compile plain.c"

# A slow system linker: links, records its pid (= its process group), then
# sleeps in place of exiting, so koff-link is caught in the link step.
cat >"$tmp/slowcc" <<EOF
#!/usr/bin/env bash
cc "\$@" || exit 1
echo \$\$ >"$tmp/linker.pid"
exec sleep 30
EOF
chmod +x "$tmp/slowcc"
koff_on_exit "[ -s '$tmp/linker.pid' ] && kill -KILL \$(cat '$tmp/linker.pid')"

"${KL[@]}" "$tmp/plain.o" -o "$out/app" --no-verify >/dev/null 2>&1 || koff_fail "the first link failed"
sums() { md5sum "$out/app" "$out/app.bpf.o" "$out/app.koff.json" 2>/dev/null; }
before=$(sums)
no_temporaries() {
	local left
	left=$(find "$out" -name '*koff-tmp*')
	[ -z "$left" ] || koff_fail "$1: temporary files left: $left"
}

# wait_for_file FILE SECS
wait_for_file() {
	local i
	for ((i = 0; i < $2 * 20; i++)); do [ -s "$1" ] && return 0; sleep 0.05; done
	return 1
}

# wait_exec PID: until the background job is koff-link itself.  Before the
# exec it is still a copy of this shell, whose TERM trap would run this
# test's cleanup.
wait_exec() {
	local i
	for ((i = 0; i < 2000; i++)); do
		[ "$(cat "/proc/$1/comm" 2>/dev/null)" == koff-link ] && return 0
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.001
	done
}

# ---- 1. a signal while the linker runs ---------------------------------------
for sig in INT TERM HUP; do
	rm -f "$tmp/linker.pid"
	KOFF_CC=$tmp/slowcc "${KL[@]}" "$tmp/plain.o" -o "$out/app" --no-verify >/dev/null 2>"$tmp/err" &
	kl=$!
	wait_for_file "$tmp/linker.pid" 10 || koff_fail "SIG$sig: the slow linker did not start: $(cat "$tmp/err")"
	linker=$(cat "$tmp/linker.pid")
	ls "$out" | grep -q "app.koff-tmp-$kl" || koff_fail "SIG$sig: no app.koff-tmp-$kl while linking"
	kill -"$sig" "$kl"
	wait "$kl"
	rc=$?
	koff_expect_eq "SIG$sig: koff-link dies of the signal" "$rc" $((128 + $(kill -l "$sig")))
	koff_wait_for_exit "$linker" 3 || koff_fail "SIG$sig: the system linker (pid $linker) still runs"
	no_temporaries "SIG$sig"
	koff_expect_eq "SIG$sig: earlier outputs untouched" "$(sums)" "$before"
done

# ---- 2. SIGTERM anywhere in a full link --------------------------------------
dns=samples/dns/dns.o
[ -f "$dns" ] || koff_fail "$dns is missing (make samples)"
"${KL[@]}" "$dns" -o "$out/dns" --udp-port 5353 >/dev/null 2>&1 || koff_fail "the dns link failed"
dsums() { md5sum "$out/dns" "$out/dns.bpf.o" "$out/dns.koff.json" 2>/dev/null; }
dns_before=$(dsums)
# The outputs of a complete link, for comparison (the executable differs
# from link to link only if the linker is not deterministic: compare the
# program and the manifest).
"${KL[@]}" "$dns" -o "$tmp/dns-ref" --udp-port 5353 >/dev/null 2>&1 || koff_fail "the reference dns link failed"
killed=0 finished=0
for delay in 0 0.005 0.01 0.02 0.03 0.04 0.05 0.06 0.07 0.08 0.09 0.1 0.12 0.15 0.2 0.3; do
	"${KL[@]}" "$dns" -o "$out/dns" --udp-port 5353 >/dev/null 2>&1 &
	kl=$!
	wait_exec "$kl"
	sleep "$delay"
	kill -TERM "$kl" 2>/dev/null
	wait "$kl"
	rc=$?
	no_temporaries "SIGTERM after ${delay}s"
	case $rc in
	0)   finished=$((finished + 1))
	     cmp -s "$out/dns.bpf.o" "$tmp/dns-ref.bpf.o" ||
		koff_fail "SIGTERM after ${delay}s: finished, but dns.bpf.o is not this link's";;
	143) killed=$((killed + 1))
	     [ "$(dsums)" == "$dns_before" ] ||
		koff_fail "SIGTERM after ${delay}s: killed, but the earlier outputs changed: before $dns_before, after $(dsums); $(ls -la --time-style=full-iso "$out")";;
	*)   koff_fail "SIGTERM after ${delay}s: exit $rc";;
	esac
	dns_before=$(dsums)
done
[ "$killed" -gt 0 ] || koff_fail "no SIGTERM arrived during a link: the test tests nothing"
koff_ok "SIGTERM at 16 moments: $killed killed, $finished finished; never a temporary file or a mixed set"

# ---- 3. SIGKILL leaves files; the next run removes its own left-overs --------
rm -f "$tmp/linker.pid"
KOFF_CC=$tmp/slowcc "${KL[@]}" "$tmp/plain.o" -o "$out/app" --no-verify >/dev/null 2>&1 &
kl=$!
wait_for_file "$tmp/linker.pid" 10 || koff_fail "SIGKILL: the slow linker did not start"
kill -KILL "$kl"
wait "$kl" 2>/dev/null
kill -KILL "$(cat "$tmp/linker.pid")"
[ -e "$out/app.koff-tmp-$kl" ] || koff_fail "SIGKILL: expected app.koff-tmp-$kl to be left behind"
# Stale ones of every kind, and look-alikes that must stay.
sleep 0.1 & dead=$!; wait $dead
touch "$out/app.bpf.o.koff-tmp-$dead" "$out/app.koff.json.koff-tmp-$dead" \
	"$out/app.bpf.o.koff-tmp-$dead.tmp.Ab12Cd"
keep=("app.koff-tmp-$$" "other.koff-tmp-$dead" "app.koff-tmp-12x" "app.koff-tmp-$dead.bak")
for f in "${keep[@]}"; do touch "$out/$f"; done
mkfifo "$out/app.koff.json.koff-tmp-$((dead + 1))"
keep+=("app.koff.json.koff-tmp-$((dead + 1))")
"${KL[@]}" "$tmp/plain.o" -o "$out/app" --no-verify >/dev/null 2>"$tmp/err" || koff_fail "relink failed: $(cat "$tmp/err")"
for f in "app.koff-tmp-$kl" "app.bpf.o.koff-tmp-$dead" "app.koff.json.koff-tmp-$dead" \
	"app.bpf.o.koff-tmp-$dead.tmp.Ab12Cd"; do
	[ -e "$out/$f" ] && koff_fail "stale $f was not removed"
done
for f in "${keep[@]}"; do
	[ -e "$out/$f" ] || koff_fail "$f was removed, but it is not provably a dead koff-link's"
done
koff_ok "after SIGKILL the next run removed the 4 stale temporaries and kept the ${#keep[@]} look-alikes"
echo "t-signals: all checks passed"
