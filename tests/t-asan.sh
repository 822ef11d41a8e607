#!/usr/bin/env bash
# t-asan: koff-link built with AddressSanitizer and UBSan (make SANITIZE=1)
# links the samples at several compilers and levels without a sanitizer
# report, and writes byte-identical programs and manifests to the ones the
# normal build writes (the output must not depend on memory layout).
. "$(dirname "$0")/lib.sh"
cd "$KOFF_ROOT"
tmp=$(mktemp -d)
koff_on_exit "rm -rf '$tmp'"
make -s SANITIZE=1 build-asan/koff-link >&2 || koff_fail "cannot build build-asan/koff-link"
[ -x ./koff-link ] || koff_fail "./koff-link is missing (make)"
# Verification needs root; without it both builds write unverified objects,
# which are still compared.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1
n=0
for v in "gcc -O2 dns" "gcc -O0 dns" "clang -O2 dns" "clang-19 -O3 dns" "gcc -O2 echo" "clang -Os echo"; do
	set -- $v
	command -v "$1" >/dev/null || { echo "note: $1 not installed"; continue; }
	id="$3-$1$2"
	"$1" "$2" -g -c "samples/$3/$3.c" -o "$tmp/$id.o" || koff_fail "$id: does not compile"
	./koff-link "$tmp/$id.o" -o "$tmp/$id-plain" --udp-port 5353 >/dev/null 2>&1 ||
		koff_fail "$id: koff-link failed"
	build-asan/koff-link "$tmp/$id.o" -o "$tmp/$id-asan" --udp-port 5353 >"$tmp/$id.log" 2>&1 ||
		koff_fail "$id: the sanitized koff-link failed: $(tail -n 5 "$tmp/$id.log")"
	! grep -qE "ERROR: AddressSanitizer|runtime error|LeakSanitizer" "$tmp/$id.log" ||
		koff_fail "$id: sanitizer report: $(grep -m3 -E 'ERROR|runtime error' "$tmp/$id.log")"
	cmp -s "$tmp/$id-plain.bpf.o" "$tmp/$id-asan.bpf.o" ||
		koff_fail "$id: the two builds wrote different programs"
	diff <(sed "s/$id-plain/X/g" "$tmp/$id-plain.koff.json") \
	     <(sed "s/$id-asan/X/g" "$tmp/$id-asan.koff.json") >/dev/null ||
		koff_fail "$id: the two builds wrote different manifests"
	echo "ok: $id"
	n=$((n + 1))
done
[ $n -gt 0 ] || koff_fail "no compiler to test with"
# The workload decision (measured, so outputs differ run to run: only the
# absence of reports is checked): a trace, a capture, candidates measured
# and ranked, a parser entry.
if [ "$(id -u)" -eq 0 ]; then
	gcc -O2 -g -c tests/data/decide/roles.c -o "$tmp/roles.o" || koff_fail "cannot compile roles.c"
	gcc -O2 -g -c samples/slowpath/slowpath.c -o "$tmp/slowpath.o" || koff_fail "cannot compile slowpath.c"
	python3 tests/data/decide/mkpcap.py samples/slowpath/punish.txt 7070 "$tmp/punish.pcap" ||
		koff_fail "cannot write a pcap"
	printf 'main;fast_echo 3\nmain;check_request 5\n' >"$tmp/prof.folded"
	printf '5131\n58\n' >"$tmp/parse.txt"
	i=0
	for args in "$tmp/slowpath.o --udp-port 7070 --trace samples/slowpath/favour.txt --explain" \
		"$tmp/slowpath.o --udp-port 7070 --trace $tmp/punish.pcap --explain" \
		"$tmp/roles.o --trace samples/echo/requests.txt --profile $tmp/prof.folded --explain" \
		"$tmp/roles.o --entry check_request --trace $tmp/parse.txt --force --explain"; do
		i=$((i + 1))
		build-asan/koff-link $args -o "$tmp/decide$i" >"$tmp/decide$i.log" 2>&1 ||
			koff_fail "decide case $i: the sanitized koff-link failed: $(tail -n 5 "$tmp/decide$i.log")"
		! grep -qE "ERROR: AddressSanitizer|runtime error|LeakSanitizer" "$tmp/decide$i.log" ||
			koff_fail "decide case $i: sanitizer report: $(grep -m3 -E 'ERROR|runtime error' "$tmp/decide$i.log")"
	done
	koff_ok "$i sanitized workload decisions, no report"
fi
koff_ok "$n sanitized links, no report, identical outputs"
