#!/usr/bin/env bash
# t-levels: the samples built by every compiler and optimisation level koff
# supports (gcc 12, clang 14, clang 19; -O0 -O1 -O2 -O3 -Os; with and
# without -fPIC) are offloaded with no fallback site, and the lifted program
# agrees with the native handler (tests/koffdiff.c) on the sample's
# requests, mutations and random inputs.  A compiler that is not installed
# is reported and skipped; at least gcc must be there.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || koff_skip "needs root to load and test-run BPF programs"
cd "$KOFF_ROOT"
tmp=$(mktemp -d)
koff_on_exit "rm -rf '$tmp'"
[ -x ./koff-link ] || koff_fail "./koff-link is missing (make)"
command -v gcc >/dev/null || koff_fail "gcc is missing"

variants=0
for cc in gcc clang clang-19; do
	if ! command -v $cc >/dev/null; then
		echo "note: $cc not installed, its levels are not tested"
		continue
	fi
	for opt in -O0 -O1 -O2 -O3 -Os; do
		for pic in "" -fPIC; do
			for sample in dns:5353 echo:7007; do
				name=${sample%%:*} port=${sample##*:}
				v="$name-$cc$opt$pic"
				$cc $opt $pic -g -c samples/$name/$name.c -o "$tmp/$v.o" ||
					koff_fail "$v: does not compile"
				./koff-link "$tmp/$v.o" -o "$tmp/$v" --udp-port $port >"$tmp/$v.link" 2>&1 ||
					koff_fail "$v: koff-link failed: $(tail -n 3 "$tmp/$v.link")"
				sites=$(jq '.fallbacks | length' "$tmp/$v.koff.json")
				[ "$(jq -r .offloaded "$tmp/$v.koff.json")" = true ] ||
					koff_fail "$v: not offloaded: $(jq -r .not_offloaded_because "$tmp/$v.koff.json")"
				[ "$sites" = 0 ] ||
					koff_fail "$v: $sites fallback sites: $(jq -c '[.fallbacks[].why]' "$tmp/$v.koff.json")"
				objcopy --localize-symbol=main "$tmp/$v.o" "$tmp/$v-nomain.o"
				cc -O2 tests/koffdiff.c "$tmp/$v-nomain.o" -lbpf -lelf -lz -o "$tmp/kd-$v" ||
					koff_fail "$v: cannot build koffdiff"
				"$tmp/kd-$v" --port $port --mutate 100 --random 100 --seed 11 \
					--max-fallback-percent 15 "$tmp/$v.bpf.o" samples/$name/requests.txt \
					>"$tmp/$v.diff" 2>&1 ||
					koff_fail "$v: koffdiff failed: $(grep -m3 -E 'MISMATCH|total|fallback' "$tmp/$v.diff")"
				echo "ok: $v $(jq -r '"\(.program.insns) insns, verifier \(.verifier.processed_insns)"' "$tmp/$v.koff.json"); $(grep '^total' "$tmp/$v.diff")"
				variants=$((variants + 1))
			done
		done
	done
done
koff_ok "$variants compiler/level variants offloaded and agree with the native handlers"
