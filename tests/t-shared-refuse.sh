#!/usr/bin/env bash
# t-shared-refuse: what koff-link refuses on the userspace side of shared
# state (tests/shared-user/refuse.c) is named in OUT.koff.json's
# shared.why_not, the link still succeeds, and OUT is the plain
# link (no .koff_shared, no trampolines): main as a root, a function that
# waits and writes a global itself, a variadic root, a root with stack
# arguments, and a root whose first bytes a branch or a jump table targets
# (refused after the link: OUT is linked again).  The same program without
# those roots is patched (but not when linked -s: no symbols to find the
# roots by), also with a switch (its indirect jump is no call)
# beside a function that waits and is called through a pointer.  A tool
# failing while the userspace side is built drops it too.  No BPF: runs without root.
. "$(dirname "$0")/lib.sh"
cd "$KOFF_ROOT"
command -v jq >/dev/null || koff_skip "needs jq to read the manifest"
make -s build/koff-link >&2 || koff_fail "cannot build koff-link"
tmp=$(mktemp -d /tmp/koff-shared-r.XXXXXX)
koff_on_exit "rm -rf '$tmp'"

check() {	# CC CASE WHY_NOT_PATTERN ("" = patched) [LINK-ARGS...]
	local cc=$1 case=$2 want=$3 why roots
	shift 3
	"$cc" -O2 -g -DCASE_"$case" -c tests/shared-user/refuse.c -o "$tmp/r.o" || koff_fail "$cc $case: compile"
	KOFF_CC=$cc build/koff-link "$tmp/r.o" "$@" -o "$tmp/r" --no-verify >/dev/null 2>"$tmp/err" ||
		koff_fail "$cc $case: koff-link failed: $(cat "$tmp/err")"
	why=$(jq -r '.shared.why_not' "$tmp/r.koff.json")
	roots=$(jq -r '.shared.roots | length' "$tmp/r.koff.json")
	echo hello | "$tmp/r" || koff_fail "$cc $case: OUT does not run"
	if [ -z "$want" ]; then
		koff_expect_eq "$cc $case: nothing refused" "$why" ""
		[ "$roots" -ge 1 ] || koff_fail "$cc $case: no roots"
		readelf -SW "$tmp/r" | grep -q '\.koff_shared' || koff_fail "$cc $case: no .koff_shared"
		return
	fi
	[[ "$why" =~ $want ]] || koff_fail "$cc $case: why_not '$why' lacks '$want'"
	koff_expect_eq "$cc $case: no roots left" "$roots" 0
	readelf -SW "$tmp/r" | grep -q '\.koff_shared' && koff_fail "$cc $case: OUT still has .koff_shared"
	objdump -d "$tmp/r" | grep -q __koff_ && koff_fail "$cc $case: OUT still has koff's runtime"
	koff_ok "$cc $case: $why"
}

for cc in gcc clang; do
	command -v "$cc" >/dev/null || { echo "note: no $cc here"; continue; }
	check "$cc" MAIN "^main reaches shared state without waiting for input"
	check "$cc" WAIT "^main both waits for input \(fgets\) and accesses shared state itself"
	check "$cc" VARIADIC "^root note cannot be patched: note is variadic"
	check "$cc" STACK "^root many cannot be patched: many may take arguments on the stack"
	check "$cc" LOOP "^root spin cannot be patched: a branch or jump table inside it targets its first bytes"
	check "$cc" TABLE "^root table cannot be patched: a branch or jump table inside it targets its first bytes"
	check "$cc" SWITCH ""
	check "$cc" NONE ""
	check "$cc" NONE "^the linked executable has no symbol table \(stripped\)" -s
done

# A tool that fails while the userspace side is built (here objcopy) drops
# the plan; the link itself succeeds.
gcc -O2 -g -DCASE_NONE -c tests/shared-user/refuse.c -o "$tmp/r.o" || koff_fail "compile"
KOFF_OBJCOPY=false build/koff-link "$tmp/r.o" -o "$tmp/r" --no-verify >/dev/null 2>&1 ||
	koff_fail "a failing objcopy failed the link"
why=$(jq -r .shared.why_not "$tmp/r.koff.json")
[[ "$why" == "cannot build the userspace side: 'false' failed for renaming the shared sections"* ]] ||
	koff_fail "a failing objcopy: why_not '$why'"
echo hello | "$tmp/r" || koff_fail "OUT does not run"
koff_ok "a failing objcopy: $why"
