#!/usr/bin/env bash
# t-elfobj: the input layer (src/elfobj.c, src/dwarf.c) on real objects made
# by gcc -O2 -g -c (and clang when present): sections, symbols, relocations,
# handler signatures, source lines (also in .text.unlikely), and the exact
# one-line error for each kind of bad input.  Runs the whole suite twice:
# plain, and under -fsanitize=address,undefined.
set -u
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/koff-elfobj.XXXXXX)
trap 'rm -rf "$work"' EXIT

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
# expect DESCRIPTION EXPECTED ACTUAL
expect() {
	if [ "$2" == "$3" ]; then echo "ok: $1"; else fail "$1: expected [$2], got [$3]"; fi
}
# marker_line FILE TAG: the line number of the line carrying TAG.
marker_line() { grep -n "$2" "$1" | cut -d: -f1; }

CFLAGS_DRIVER="-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -Iinclude -Isrc"
DRIVER_SRCS="tests/elfobj_test.c src/elfobj.c src/dwarf.c src/util.c"
cc $CFLAGS_DRIVER -O1 $DRIVER_SRCS -lelf -ldw -o "$work/elfobj_test" || { echo "driver build failed"; exit 1; }
asan_ok=1
cc $CFLAGS_DRIVER -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all \
	$DRIVER_SRCS -lelf -ldw -o "$work/elfobj_test_asan" || asan_ok=0

# ---- Inputs ------------------------------------------------------------------
good_src=tests/data/elfobj_good.c
bad_src=tests/data/elfobj_badsig.c
gcc -O2 -g -c "$good_src" -o "$work/good.o" || exit 1
gcc -O2 -g -c "$bad_src" -o "$work/badsig.o" || exit 1
gcc -O2 -c "$bad_src" -o "$work/nodebug.o" || exit 1
gcc -O2 -g -c tests/data/elfobj_clone.c -o "$work/clone.o" || exit 1
gcc -O2 -g -no-pie -nostartfiles -e handle_request "$bad_src" -o "$work/exec" || exit 1
gcc -O2 -g -shared -fPIC "$bad_src" -o "$work/shared.so" || exit 1
echo "just some text" >"$work/text.txt"
: >"$work/empty.o"
# A foreign machine: compile for aarch64 if clang can, else patch e_machine.
if ! clang --target=aarch64-linux-gnu -g -c "$bad_src" -o "$work/aarch64.o" 2>/dev/null; then
	cp "$work/badsig.o" "$work/aarch64.o"
	printf '\xb7\x00' | dd of="$work/aarch64.o" bs=1 seek=18 conv=notrunc status=none
fi
# 32-bit: gcc -m32 if multilib is there, else patch EI_CLASS and e_machine.
if ! gcc -m32 -g -c "$bad_src" -o "$work/i386.o" 2>/dev/null; then
	cp "$work/badsig.o" "$work/i386.o"
	printf '\x03\x00' | dd of="$work/i386.o" bs=1 seek=18 conv=notrunc status=none
fi

readelf -SW "$work/good.o" | grep -q ' \.text\.unlikely ' ||
	{ echo "gcc -O2 put no cold path in .text.unlikely: the test input no longer tests that"; exit 1; }

line_entry=$(marker_line "$good_src" MARKER-ENTRY)
line_cold=$(marker_line "$good_src" MARKER-COLD)
line_hot=$(marker_line "$good_src" MARKER-HOT)
rodata_hex=$(objcopy -O binary --only-section=.rodata "$work/good.o" "$work/rodata.bin" &&
	od -An -tx1 -v "$work/rodata.bin" | tr -d ' \n')
handler_value=$((16#$(nm "$work/good.o" | awk '$3 == "handle_request" { print $1 }')))
expected_sig='`long (const unsigned char *, unsigned long, unsigned char *, unsigned long)`'

# ---- The suite, run with one driver --------------------------------------------
suite() {
	local t=$1 g=$work/good.o out

	out=$("$t" sections "$g")
	for s in .text .text.unlikely .text.startup .rodata .debug_info .symtab; do
		grep -q "^[0-9]* $s type=" <<<"$out" || fail "section $s not listed"
	done
	grep -q '^[0-9]* .bss type=8 .* data=no$' <<<"$out" || fail ".bss (NOBITS) should have no data"
	grep -q '^[0-9]* .text type=1 .* relocs=[1-9][0-9]* data=yes$' <<<"$out" ||
		fail ".text should carry its relocations and data"
	expect "section indices match ELF" "$(readelf -SW "$g" | grep -c '^ *\[ *[1-9]')" "$(wc -l <<<"$out")"

	expect ".rodata bytes" "$rodata_hex" "$("$t" hex "$g" .rodata)"
	out=$("$t" relocs "$g" .text)
	cut -d' ' -f1 <<<"$out" | sort -n -c || fail ".text relocations not sorted by offset"
	expect "PC32 reloc to .rodata" "R_X86_64_PC32 .rodata-4
obj_reloc_in ok" "$("$t" reloc-to "$g" .text .rodata)"
	expect "jump to the cold part" "R_X86_64_PC32 .text.unlikely-4
obj_reloc_in ok" "$("$t" reloc-to "$g" .text .text.unlikely)"
	expect "call in the cold part" "R_X86_64_PLT32 cold_marker-4
obj_reloc_in ok" "$("$t" reloc-to "$g" .text.unlikely cold_marker)"

	out=$("$t" symbols "$g")
	grep -q '^[0-9]* handle_request.cold shndx=[0-9]* type=2 bind=0 ' <<<"$out" ||
		fail "local function handle_request.cold missing"
	grep -q '^[0-9]* hot_marker shndx=0 ' <<<"$out" || fail "undefined hot_marker missing"
	grep -q '^[0-9]* .rodata shndx=[0-9]* type=3 ' <<<"$out" || fail "section symbol not named .rodata"
	expect "find handle_request" "handle_request in .text at $handler_value" "$("$t" find "$g" handle_request)"
	expect "find undefined" "none" "$("$t" find "$g" hot_marker)"

	expect "check handler" ok "$("$t" check "$g" handle_request)"
	expect "check typedef handler" ok "$("$t" check "$g" typedef_handler)"
	expect "check const resp" "const_resp_handler: signature is \`long (const unsigned char *, unsigned long, const unsigned char *, unsigned long)\`, expected $expected_sig" \
		"$("$t" check "$g" const_resp_handler)"
	expect "check parser as handler" "parse_request: signature is \`int (const char *, size_t, int *)\`, expected $expected_sig" \
		"$("$t" check "$g" parse_request)"
	expect "check wrong signature" "handle_request: signature is \`int (char *, int)\`, expected $expected_sig" \
		"$("$t" check "$work/badsig.o" handle_request)"
	expect "check function pointer return" "pick: signature is \`int (*(int))(char *, int)\`, expected $expected_sig" \
		"$("$t" check "$work/badsig.o" pick)"
	expect "check missing" "no_such: no such function in $work/good.o" "$("$t" check "$g" no_such)"
	expect "check declared only" "hot_marker: no such function in $work/good.o" "$("$t" check "$g" hot_marker)"

	expect "roles" "const_resp_handler none
handle_request handler
main none
parse_request parser
typedef_handler handler" "$("$t" list "$g" | sort)"

	expect "line of handler entry" "elfobj_good.c:$line_entry" "$("$t" line-of-symbol "$g" handle_request)"
	expect "line of hot call" "elfobj_good.c:$line_hot" "$("$t" line-of-call "$g" .text hot_marker)"
	expect "line in .text.unlikely" "elfobj_good.c:$line_cold" "$("$t" line-of-call "$g" .text.unlikely cold_marker)"
	expect "line past the code" "?" "$("$t" line "$g" .text 100000)"
	expect "line of a data section" "?" "$("$t" line "$g" .debug_info 0)"

	expect "text file" "$work/text.txt: not an ELF file" "$("$t" open "$work/text.txt")"
	expect "empty file" "$work/empty.o: empty file, not an ELF object" "$("$t" open "$work/empty.o")"
	expect "missing file" "$work/missing.o: cannot open: No such file or directory" "$("$t" open "$work/missing.o")"
	expect "executable" "$work/exec: not a relocatable object (ET_EXEC); compile with -c" "$("$t" open "$work/exec")"
	expect "shared object" "$work/shared.so: not a relocatable object (ET_DYN); compile with -c" "$("$t" open "$work/shared.so")"
	expect "aarch64" "$work/aarch64.o: is EM_AARCH64, koff-link needs x86-64" "$("$t" open "$work/aarch64.o")"
	expect "32-bit" "$work/i386.o: is EM_386, koff-link needs x86-64" "$("$t" open "$work/i386.o")"
	expect "no -g" "$work/nodebug.o: no DWARF debug info; compile with -g" "$("$t" open "$work/nodebug.o")"
	"$t" open "$work/text.txt" >/dev/null
	expect "exit status of a failed open" 1 $?

	if nm "$work/clone.o" | grep -q ' work\.constprop\.0$'; then
		expect "clone: roles" "handle_request handler
work.constprop.0 none" "$("$t" list "$work/clone.o" | sort)"
		expect "clone is not the function" "work: no such function in $work/clone.o" \
			"$("$t" check "$work/clone.o" work)"
	else
		echo "note: gcc made no work.constprop.0 clone, clones not tested"
	fi
}

# clang emits no .debug_aranges and another line-table style: same answers.
clang_suite() {
	local t=$1 c=$work/clang.o

	expect "clang: roles" "const_resp_handler none
handle_request handler
main none
parse_request parser
typedef_handler handler" "$("$t" list "$c" | sort)"
	expect "clang: line of handler entry" "elfobj_good.c:$line_entry" "$("$t" line-of-symbol "$c" handle_request)"
	expect "clang: line of hot call" "elfobj_good.c:$line_hot" "$("$t" line-of-call "$c" .text hot_marker)"
	expect "clang: line of cold call" "elfobj_good.c:$line_cold" "$("$t" line-of-call "$c" .text cold_marker)"
}

echo "== plain build"
suite "$work/elfobj_test"
if command -v clang >/dev/null && clang -O2 -g -c "$good_src" -o "$work/clang.o"; then
	clang_suite "$work/elfobj_test"
else
	echo "note: no clang, clang objects not tested"
fi
if [ "$asan_ok" = 1 ]; then
	echo "== -fsanitize=address,undefined"
	export ASAN_OPTIONS=detect_leaks=1:exitcode=99 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
	suite "$work/elfobj_test_asan"
	[ -f "$work/clang.o" ] && clang_suite "$work/elfobj_test_asan"
	# The sanitizers report on stderr and exit 99: run each command once more
	# and make sure none did.
	for args in "sections $work/good.o" "list $work/good.o" "check $work/badsig.o pick" \
		"line-of-call $work/good.o .text.unlikely cold_marker" "open $work/nodebug.o" \
		"open $work/empty.o" "symbols $work/good.o"; do
		# shellcheck disable=SC2086
		"$work/elfobj_test_asan" $args >/dev/null 2>"$work/asan.err"
		rc=$?
		[ "$rc" -le 1 ] && ! grep -q 'Sanitizer\|runtime error' "$work/asan.err" ||
			{ fail "sanitizer complaint ($rc) on: $args"; head -20 "$work/asan.err"; }
	done
else
	fail "could not build the driver with -fsanitize=address,undefined"
fi

if [ "$failures" -ne 0 ]; then
	echo "$failures check(s) failed"
	exit 1
fi
echo "all elfobj checks passed"
