#!/usr/bin/env bash
# t-shared-diff: handlers with shared state (tests/shared/) against their
# XDP programs, request after request, at gcc -O0, gcc -O2 and clang -O2,
# in both loop shapes (OUT.bpf.o and the 6.12 variant): tests/koffstate.c
# compares every verdict and reply and the shared bytes after each request
# and at the end (a fallback must leave them as they were: undone in LOCK
# mode), and checks the control block's refusals (--protocol).
#   config.c   reads a config struct and a table: SEQ
#   counter.c  counters and a sum: LOCK
#   undo.c     a histogram over the request (long requests overflow the
#              undo log) and a call koff cannot translate after writing:
#              LOCK, and fallbacks after stores must be undone
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || koff_skip "needs root to load and test-run BPF programs"
cd "$KOFF_ROOT"
command -v clang >/dev/null || koff_skip "needs clang"
[ -x ./koff-link ] || koff_fail "./koff-link is missing (make)"
tmp=$(mktemp -d)
koff_on_exit "rm -rf '$tmp'"

for cc in "gcc -O0" "gcc -O2" "clang -O2"; do
	tag=$(echo "$cc" | tr -d ' -')
	for h in config:seq counter:lock undo:lock; do
		name=${h%%:*} mode=${h#*:}
		$cc -g -c "tests/shared/$name.c" -o "$tmp/$name-$tag.o" || koff_fail "$cc cannot compile $name.c"
		out=$(koff_stateful_diff "$tmp/$name-$tag.o" "$tmp" "$name-$tag" "$mode" \
			"tests/shared/$name.txt" --protocol --rounds 3 --random 300) || { echo "$out"; exit 1; }
		echo "$out"
		# undo.c: some requests must have fallen back after writing, and been undone
		if [ "$name" = undo ]; then
			echo "$out" | grep -q 'koffstate: mode lock.* [1-9][0-9]* pass,' ||
				koff_fail "undo-$tag: no request fell back after writing: the undo log was not exercised"
		fi
	done
done
koff_ok "stateful handlers agree with their XDP programs at gcc -O0/-O2 and clang -O2"
