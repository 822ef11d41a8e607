#!/usr/bin/env bash
# t-shared-objects: the userspace side of shared state over several link
# inputs (tests/shared-user/multi_*.c): the entry object's globals are named from
# another object (a root there, patched like the others), main sits in a
# third; the same reader in an archive or a shared library on the link line
# is refused (its code is not analysed), and so is an object koff cannot
# read (LTO bytecode), without failing the link.  With root, OUT then runs against
# a real map (tests/shared-user/mapexec.c) and its counters land in the map.
. "$(dirname "$0")/lib.sh"
cd "$KOFF_ROOT"
command -v jq >/dev/null || koff_skip "needs jq to read the manifest"
make -s build/koff-link >&2 || koff_fail "cannot build koff-link"
tmp=$(mktemp -d /tmp/koff-shared-o.XXXXXX)
koff_on_exit "rm -rf '$tmp'"

for f in multi_handler multi_stats multi_main; do
	gcc -O2 -g -c "tests/shared-user/$f.c" -o "$tmp/$f.o" || koff_fail "compile $f"
done
printf 'a\nbb\nccc\n' >"$tmp/in"
gcc "$tmp/multi_main.o" "$tmp/multi_handler.o" "$tmp/multi_stats.o" -o "$tmp/plain" || koff_fail "plain link"
"$tmp/plain" <"$tmp/in" >"$tmp/want"

out="$tmp/multi"
build/koff-link "$tmp/multi_main.o" "$tmp/multi_handler.o" "$tmp/multi_stats.o" -o "$out" --no-verify \
	>/dev/null 2>"$tmp/err" || koff_fail "koff-link: $(cat "$tmp/err")"
koff_expect_eq "roots across objects" \
	"$(jq -r '(.shared.roots | sort | join(" ")) + " / " + (.shared.writer_roots | join(" "))' "$out.koff.json")" \
	"bytes_seen handle_request stats_get / handle_request"
objdump -d "$out" | grep -A1 '<stats_get>:' | grep -q 'jmp.*__koff_tramp_' || koff_fail "stats_get is not patched"
"$out" <"$tmp/in" >"$tmp/got" || koff_fail "OUT alone failed"
cmp -s "$tmp/want" "$tmp/got" || koff_fail "OUT alone differs from the plain link"
koff_ok "three objects: OUT alone as the plain link"

ar rcs "$tmp/libstats.a" "$tmp/multi_stats.o"
build/koff-link "$tmp/multi_main.o" "$tmp/multi_handler.o" "$tmp/libstats.a" -o "$out" --no-verify \
	>/dev/null 2>"$tmp/err" || koff_fail "koff-link with an archive: $(cat "$tmp/err")"
koff_expect_eq "an archive member naming a shared global is refused" \
	"$(jq -r .shared.why_not "$out.koff.json")" \
	"multi_stats.o in $tmp/libstats.a uses shared variable served"
"$out" <"$tmp/in" >"$tmp/got" && cmp -s "$tmp/want" "$tmp/got" || koff_fail "OUT (archive) differs from the plain link"

gcc -O2 -g -fPIC -shared tests/shared-user/multi_stats.c -o "$tmp/libmstats.so" || koff_fail "cannot build the library"
build/koff-link "$tmp/multi_main.o" "$tmp/multi_handler.o" "$tmp/libmstats.so" -o "$out" --no-verify \
	>/dev/null 2>"$tmp/err" || koff_fail "koff-link with a shared library: $(cat "$tmp/err")"
koff_expect_eq "a shared library naming a shared global is refused" \
	"$(jq -r .shared.why_not "$out.koff.json")" "$tmp/libmstats.so uses shared variable served"

gcc -O2 -flto -c tests/shared-user/multi_stats.c -o "$tmp/lto_stats.o" || koff_fail "cannot build an LTO object"
build/koff-link "$tmp/multi_main.o" "$tmp/multi_handler.o" "$tmp/lto_stats.o" -o "$out" --no-verify \
	>/dev/null 2>"$tmp/err" || koff_fail "koff-link with an LTO object failed: $(cat "$tmp/err")"
why=$(jq -r .shared.why_not "$out.koff.json")
[[ "$why" == "cannot analyse the userspace side: $tmp/lto_stats.o: is GCC LTO bytecode"* ]] ||
	koff_fail "an LTO object: why_not '$why'"
koff_ok "an object koff cannot read drops the plan, the link succeeds"

[ "$(id -u)" -eq 0 ] || koff_skip "the map part needs root (BPF maps)"
cc -O2 -Wall -Wextra -Iinclude tests/shared-user/mapexec.c -lbpf -lpthread -o "$tmp/mapexec" || koff_fail "cannot build mapexec"
build/koff-link "$tmp/multi_main.o" "$tmp/multi_handler.o" "$tmp/multi_stats.o" -o "$out" --no-verify \
	>/dev/null 2>"$tmp/err" || koff_fail "koff-link: $(cat "$tmp/err")"
start=$(nm "$out" | awk '$3 == "__koff_shared_start" { print $1 }')
served=$(nm "$out" | awk '$3 == "served" { print $1 }')
size=$(readelf -SW "$out" | awk '$2 == ".koff_shared" { print $6 }')
"$tmp/mapexec" --size $((0x$size)) --show $((0x$served - 0x$start)) -- "$out" <"$tmp/in" >"$tmp/so" 2>"$tmp/se" ||
	koff_fail "mapexec: $(cat "$tmp/se")"
cmp -s "$tmp/want" <(head -3 "$tmp/so") || koff_fail "OUT with a map differs from the plain link"
koff_expect_eq "with a map: 3 writer sections" "$(sed -n 4p "$tmp/so")" "status=0 magic=set seq=6 writers=0 lock=0"
koff_expect_eq "with a map: served is in the map" "$(sed -n 5p "$tmp/so")" "$((0x$served - 0x$start))=3"
