#!/usr/bin/env bash
# t-badinput: koff-link on bad inputs and bad command lines.  For each case,
# with build/koff-link and with build-asan/koff-link (ASan + UBSan):
#   - a non-zero exit below 128 (no crash) and no sanitizer report;
#   - exactly one stderr line starting with "koff-link: ", naming the problem
#     (a distinctive substring is checked); the system linker may add its own
#     lines before it in the linker-failure case;
#   - no output afterwards: no OUT, OUT.bpf.o, OUT.koff.json, no *koff-tmp*
#     file, nothing in the working directory (no a.out either).
# Outputs of an earlier good link: a failed run leaves them UNTOUCHED (byte
# for byte, all three), whatever stage it fails in, because koff-link writes
# temporary files and renames them into place only when everything
# succeeded.  So OUT, OUT.bpf.o and OUT.koff.json are always one set from one
# successful link (a failure while renaming removes all three instead).
# A handler calling an unsupported external function is not an error: it is
# offloaded with a fallback at the call (or not offloaded with a warning),
# and the manifest says which and why.
. "$(dirname "$0")/lib.sh"
cd "$KOFF_ROOT"
command -v jq >/dev/null || koff_skip "needs jq to read the manifest"
tmp=$(mktemp -d /tmp/koff-badinput.XXXXXX)
koff_on_exit "rm -rf '$tmp'"
in=$tmp/in out=$tmp/out cwd=$tmp/cwd
mkdir -p "$in" "$out" "$cwd"

make -s build/koff-link >&2 || koff_fail "cannot build build/koff-link"
make -s SANITIZE=1 build-asan/koff-link >&2 || koff_fail "cannot build build-asan/koff-link"
LINKERS=("$KOFF_ROOT/build/koff-link" "$KOFF_ROOT/build-asan/koff-link")
# Leaks are reports too; abort_on_error would turn a report into a signal.
export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1

# ---- Inputs ------------------------------------------------------------------
data=tests/data/badinput
for c in plain extcall undefsym badsig nohandler; do
	gcc -O2 -g -c "$data/$c.c" -o "$in/$c.o" || koff_fail "cannot compile $data/$c.c"
done
echo "this is not an object file" >"$in/text.o"
: >"$in/empty.o"
gcc -O2 -c "$data/plain.c" -o "$in/nodebug.o" || koff_fail "cannot compile without -g"
gcc -O2 -g -no-pie "$data/plain.c" -o "$in/exec.o" || koff_fail "cannot link an executable"
gcc -O2 -g "$data/plain.c" -o "$in/pie.o" || koff_fail "cannot link a PIE"
# A foreign machine: clang for aarch64, else patch e_machine (EM_AARCH64 = 183).
if ! clang --target=aarch64-linux-gnu -O2 -g -c "$data/plain.c" -o "$in/aarch64.o" 2>/dev/null; then
	cp "$in/plain.o" "$in/aarch64.o"
	printf '\xb7\x00' | dd of="$in/aarch64.o" bs=1 seek=18 conv=notrunc status=none
fi
# 32-bit: gcc -m32 (plain.c needs no headers), else patch e_machine to EM_386.
if ! gcc -m32 -O2 -g -c "$data/plain.c" -o "$in/i386.o" 2>/dev/null; then
	cp "$in/plain.o" "$in/i386.o"
	printf '\x03\x00' | dd of="$in/i386.o" bs=1 seek=18 conv=notrunc status=none
fi

# Objects koff-link cannot read, and why (each once gave a misleading message).
gcc -O2 -g -gsplit-dwarf -c "$data/plain.c" -o "$in/splitdwarf.o" || koff_fail "cannot compile -gsplit-dwarf"
gcc -O2 -g1 -c "$data/plain.c" -o "$in/g1.o" || koff_fail "cannot compile -g1"
gcc -O2 -g -flto -c "$data/plain.c" -o "$in/gcclto.o" || koff_fail "cannot compile gcc -flto"
gcc -O2 -g -gz=zlib -c "$data/plain.c" -o "$in/zlib.o" || koff_fail "cannot compile -gz=zlib"
if command -v clang >/dev/null; then
	clang -O2 -gline-tables-only -c "$data/plain.c" -o "$in/linetables.o" || koff_fail "cannot compile -gline-tables-only"
	clang -O2 -g -flto -c "$data/plain.c" -o "$in/clanglto.o" || koff_fail "cannot compile clang -flto"
fi
# Corrupted objects (tests/data/badinput/mkbad.py): once crashes, hangs or
# misleading messages; each names the problem now.
for c in reloc-sym-2g reloc-offset-wrap align-ffffffff align-2p63 sym-shndx-huge sym-value-outside \
	debug-info-garbage; do
	python3 "$data/mkbad.py" "$in/extcall.o" "$in/$c.o" "$c" || koff_fail "mkbad.py $c failed"
done
python3 "$data/mkbad.py" "$in/zlib.o" "$in/debug-zstd.o" debug-zstd || koff_fail "mkbad.py debug-zstd failed"
mkfifo "$in/fifo.o"

# ---- Checks ------------------------------------------------------------------
RUNNER=()	# a command prefix for koff-link (the read-only case sets one)

# no_outputs OUT: none of OUT's outputs or temporaries exist, cwd is empty.
no_outputs() {
	local o=$1 f left
	for f in "$o" "$o.bpf.o" "$o.koff.json"; do
		[ -e "$f" ] && { echo "$f exists"; return 1; }
	done
	left=$(find "$(dirname "$o")" "$cwd" -name '*koff-tmp*' 2>/dev/null)
	[ -z "$left" ] || { echo "temporary files left: $left"; return 1; }
	left=$(ls -A "$cwd")
	[ -z "$left" ] || { echo "files left in the working directory: $left"; return 1; }
}

# run_linker KOFF_LINK ARGS...: runs it in $cwd; stdout/stderr in $tmp/so, $tmp/se.
run_linker() {
	local kl=$1
	shift
	(cd "$cwd" && "${RUNNER[@]}" "$kl" "$@") >"$tmp/so" 2>"$tmp/se"
}

# sanitizer_clean: no ASan/UBSan/LSan report in $tmp/se.
sanitizer_clean() {
	! grep -Eq 'Sanitizer|runtime error:|SUMMARY: ' "$tmp/se"
}

# bad NAME SUBSTRING OUT ARGS...: koff-link ARGS must fail as described above.
bad() {
	local name=$1 want=$2 o=$3 kl rc lines line why
	shift 3
	for kl in "${LINKERS[@]}"; do
		run_linker "$kl" "$@"
		rc=$?
		why=""
		lines=$(grep -c '^koff-link: ' "$tmp/se")
		line=$(grep '^koff-link: ' "$tmp/se" | head -n 1)
		if [ "$rc" -eq 0 ]; then why="exit 0"
		elif [ "$rc" -ge 128 ]; then why="crashed (exit $rc)"
		elif ! sanitizer_clean; then why="sanitizer report"
		elif [ "$lines" -ne 1 ]; then why="$lines 'koff-link: ' lines on stderr, want 1"
		elif [[ "$line" != *"$want"* ]]; then why="message '$line' lacks '$want'"
		elif ! no_outputs "$o" >"$tmp/left"; then why=$(cat "$tmp/left")
		fi
		if [ -n "$why" ]; then
			sed 's/^/    stderr: /' "$tmp/se" | head -n 30 >&2
			koff_fail "$name ($kl): $why"
		fi
	done
	koff_ok "$name: $line"
}

# ---- Bad inputs --------------------------------------------------------------
bad "text file" "text.o: not an ELF file" "$out/a" "$in/text.o" -o "$out/a"
bad "empty file" "empty.o: empty file" "$out/a" "$in/empty.o" -o "$out/a"
bad "missing file" "missing.o: cannot open: No such file" "$out/a" "$in/missing.o" -o "$out/a"
bad "executable" "exec.o: not a relocatable object (ET_EXEC); compile with -c" \
	"$out/a" "$in/exec.o" -o "$out/a"
bad "PIE executable" "pie.o: not a relocatable object (ET_DYN); compile with -c" "$out/a" "$in/pie.o" -o "$out/a"
bad "aarch64 object" "aarch64.o: is EM_AARCH64, koff-link needs x86-64" "$out/a" "$in/aarch64.o" -o "$out/a"
bad "32-bit object" "i386.o: is EM_386, koff-link needs x86-64" "$out/a" "$in/i386.o" -o "$out/a"
bad "no DWARF" "nodebug.o: no DWARF debug info; compile with -g" "$out/a" "$in/nodebug.o" -o "$out/a"
bad "no handler" "handle_request: no such function in $in/nohandler.o" \
	"$out/a" "$in/nohandler.o" -o "$out/a"
bad "--entry nosuch" "nosuch: no such function in $in/plain.o" \
	"$out/a" "$in/plain.o" --entry nosuch -o "$out/a"
bad "no handler in either object" "handle_request: no such function in any of the 2 objects" \
	"$out/a" "$in/nohandler.o" "$in/nohandler.o" -o "$out/a"
bad "wrong signature" "handle_request: signature is \`int (char *, int)\`, expected \`long (" \
	"$out/a" "$in/badsig.o" -o "$out/a"
bad "split DWARF" "splitdwarf.o: split DWARF (-gsplit-dwarf) is not supported" "$out/a" "$in/splitdwarf.o" -o "$out/a"
bad "gcc -g1" "handle_request: $in/g1.o has no DWARF types (-g1 or -gline-tables-only?)" \
	"$out/a" "$in/g1.o" -o "$out/a"
bad "gcc -flto" "gcclto.o: is GCC LTO bytecode (-flto), not machine code; build with -ffat-lto-objects" \
	"$out/a" "$in/gcclto.o" -o "$out/a"
if [ -f "$in/clanglto.o" ]; then
	bad "clang -gline-tables-only" "handle_request: $in/linetables.o has no DWARF types" \
		"$out/a" "$in/linetables.o" -o "$out/a"
	bad "clang -flto" "clanglto.o: is LLVM bitcode (clang -flto), not machine code; build with -ffat-lto-objects" \
		"$out/a" "$in/clanglto.o" -o "$out/a"
fi
bad "relocation naming symbol 2^31" "reloc-sym-2g.o: relocation in .text names symbol 2147483648 of" \
	"$out/a" "$in/reloc-sym-2g.o" -o "$out/a"
bad "relocation offset near 2^64" "reloc-offset-wrap.o: relocation at 0xfffffffffffffffe lies outside .text" \
	"$out/a" "$in/reloc-offset-wrap.o" -o "$out/a"
bad "alignment 0xffffffff" "align-ffffffff.o: section .text has alignment 0xffffffff, not a power of two" \
	"$out/a" "$in/align-ffffffff.o" -o "$out/a"
bad "symbol in no section" "sym-shndx-huge.o: symbol " "$out/a" "$in/sym-shndx-huge.o" -o "$out/a"
bad "symbol outside its section" "(handle_request) at 0x7ffffff0+" "$out/a" "$in/sym-value-outside.o" -o "$out/a"
bad "corrupt DWARF" "handle_request: corrupt DWARF in $in/debug-info-garbage.o" \
	"$out/a" "$in/debug-info-garbage.o" -o "$out/a"
bad "debug sections compressed unreadably" "debug-zstd.o: the debug sections are compressed (zstd) in a way this libdw cannot read" \
	"$out/a" "$in/debug-zstd.o" -o "$out/a"
RUNNER=(timeout 10)	# it used to block for ever
bad "a FIFO named x.o" "fifo.o: not a regular file" "$out/a" "$in/fifo.o" -o "$out/a"
RUNNER=()

# ---- Bad command lines -------------------------------------------------------
bad "no -o" "no output: give -o OUT" "$cwd/a.out" "$in/plain.o"
bad "-o without a value" "-o needs a value" "$cwd/a.out" "$in/plain.o" -o
bad "no object" "no input object (.o) given" "$out/a" -o "$out/a"
bad "--bogus" "unknown option --bogus" "$out/a" "$in/plain.o" --bogus -o "$out/a"
bad "--udp-port 70000" "--udp-port: '70000' is not a number from 0 to 65535" \
	"$out/a" "$in/plain.o" --udp-port 70000 -o "$out/a"
bad "--udp-port abc" "--udp-port: 'abc' is not a number" "$out/a" "$in/plain.o" --udp-port abc -o "$out/a"
bad "--udp-port=-1" "--udp-port: '-1' is not a number" "$out/a" "$in/plain.o" --udp-port=-1 -o "$out/a"
bad "--resp-cap 0" "--resp-cap: must be at least 1" "$out/a" "$in/plain.o" --resp-cap 0 -o "$out/a"

# ---- Unwritable outputs ------------------------------------------------------
bad "output directory missing" "$out/nodir/a: cannot write: No such file or directory" \
	"$out/nodir/a" "$in/plain.o" -o "$out/nodir/a"
rodir=$tmp/ro
mkdir -p "$rodir"
if [ "$(id -u)" -eq 0 ]; then
	# Root writes through permissions: make the directory read-only with a
	# read-only bind mount of itself, in a private mount namespace (gone
	# with the process).  Files written would still show in $rodir here.
	ro_exec() {
		unshare -m sh -c 'mount --make-rprivate / && mount --bind "$1" "$1" &&
			mount -o remount,bind,ro "$1" && shift && exec "$@"' sh "$rodir" "$@"
	}
	unshare -m true 2>/dev/null || koff_fail "unshare -m does not work here (needed for the read-only case)"
	RUNNER=(ro_exec)
	rowhy="Read-only file system"
else
	chmod 555 "$rodir"
	rowhy="Permission denied"
fi
bad "read-only output directory" "$rodir/a: cannot write: $rowhy" "$rodir/a" "$in/plain.o" -o "$rodir/a"
RUNNER=()

mkdir "$out/isdir"
bad "OUT is a directory" "$out/isdir: is a directory" "$out/isdir/x" "$in/plain.o" -o "$out/isdir"
mkdir "$out/jsondir.koff.json"
bad "OUT.koff.json is a directory" "$out/jsondir.koff.json: is a directory" \
	"$out/nothing" "$in/plain.o" -o "$out/jsondir"
[ -e "$out/jsondir" ] || [ -e "$out/jsondir.bpf.o" ] && koff_fail "OUT.koff.json a directory: other outputs written"
rmdir "$out/isdir" "$out/jsondir.koff.json"

# ---- The system linker fails -------------------------------------------------
bad "linker failure" "the system linker 'cc' failed" "$out/a" "$in/undefsym.o" -o "$out/a"
grep -q "no_such_function_xyz" "$tmp/se" || koff_fail "the linker's own message did not reach stderr"
koff_ok "the linker's message naming no_such_function_xyz is on stderr"
KOFF_CC=/nonexistent/cc bad "linker missing" "cannot run the system linker '/nonexistent/cc'" \
	"$out/a" "$in/plain.o" -o "$out/a"

# ---- An earlier good link's outputs stay untouched ---------------------------
pre=$out/pre/app
mkdir -p "$out/pre"
"${LINKERS[0]}" "$in/plain.o" -o "$pre" >/dev/null 2>"$tmp/se" || koff_fail "good link failed: $(cat "$tmp/se")"
[ -f "$pre" ] && [ -f "$pre.bpf.o" ] && [ -f "$pre.koff.json" ] || koff_fail "good link wrote not all three outputs"
sums() { md5sum "$pre" "$pre.bpf.o" "$pre.koff.json"; ls -A "$out/pre"; }
before=$(sums)
# expect_untouched NAME SUBSTRING ARGS...: fails as expected, outputs as before.
expect_untouched() {
	local name=$1 want=$2 kl
	shift 2
	for kl in "${LINKERS[@]}"; do
		run_linker "$kl" "$@" && koff_fail "$name over earlier outputs: exit 0"
		sanitizer_clean || koff_fail "$name over earlier outputs ($kl): sanitizer report"
		grep -q "^koff-link: .*$want" "$tmp/se" || koff_fail "$name: stderr lacks '$want': $(cat "$tmp/se")"
		[ "$(sums)" == "$before" ] || koff_fail "$name ($kl): earlier outputs changed: $(sums)"
	done
	koff_ok "$name: the earlier OUT, OUT.bpf.o, OUT.koff.json are untouched"
}
expect_untouched "bad option" "is not a number" "$in/plain.o" --udp-port abc -o "$pre"
expect_untouched "bad input" "signature is" "$in/badsig.o" -o "$pre"
expect_untouched "linker failure" "system linker" "$in/undefsym.o" -o "$pre"
expect_untouched "linker failure with --no-offload" "system linker" "$in/undefsym.o" --no-offload -o "$pre"

# ---- Alignment 2^63: linked, not offloaded, in bounded time and memory --------
for kl in "${LINKERS[@]}"; do
	rm -f "$out/al" "$out/al.bpf.o" "$out/al.koff.json"
	KOFF_CC=true run_linker /usr/bin/time -f '%e s %M KB' "$kl" "$in/align-2p63.o" -o "$out/al" ||
		koff_fail "alignment 2^63 ($kl): koff-link failed: $(cat "$tmp/se")"
	sanitizer_clean || koff_fail "alignment 2^63 ($kl): sanitizer report: $(cat "$tmp/se")"
	jq -r .not_offloaded_because "$out/al.koff.json" | grep -q "section .text asks for alignment 0x8000000000000000" ||
		koff_fail "alignment 2^63: the manifest does not say why: $(cat "$out/al.koff.json")"
	[ ! -e "$out/al.bpf.o" ] || koff_fail "alignment 2^63: an OUT.bpf.o was written"
	kb=$(tail -n 1 "$tmp/se" | awk '{print $3}')
	[ "$kb" -lt 400000 ] || koff_fail "alignment 2^63 ($kl): $kb KB of memory"
done
koff_ok "alignment 2^63: not offloaded, the manifest says why ($(tail -n 1 "$tmp/se"))"

# ---- An unsupported external call is a fallback, not an error ----------------
for kl in "${LINKERS[@]}"; do
	rm -f "$out/ext" "$out/ext.bpf.o" "$out/ext.koff.json"
	run_linker "$kl" "$in/extcall.o" -o "$out/ext" ||
		koff_fail "extcall ($kl): koff-link failed: $(cat "$tmp/se")"
	sanitizer_clean || koff_fail "extcall ($kl): sanitizer report: $(cat "$tmp/se")"
	m=$out/ext.koff.json
	[ -x "$out/ext" ] && [ -f "$m" ] || koff_fail "extcall ($kl): OUT or OUT.koff.json missing"
	jq -e . "$m" >/dev/null || koff_fail "extcall: the manifest is not JSON"
	if [ "$(jq -r .offloaded "$m")" == true ]; then
		[ -f "$out/ext.bpf.o" ] || koff_fail "extcall: offloaded but no OUT.bpf.o"
		jq -e '[.fallbacks[] | select(.why | test("getpid")) | select(.where | test("extcall.c:[0-9]+"))]
			| length >= 1' "$m" >/dev/null ||
			koff_fail "extcall: offloaded, but no fallback names getpid at extcall.c:LINE: $(jq -c .fallbacks "$m")"
		how="offloaded, falls back at $(jq -r '.fallbacks[] | select(.why | test("getpid")) | .where + ": " + .why' "$m" | head -n 1)"
	else
		[ ! -e "$out/ext.bpf.o" ] || koff_fail "extcall: not offloaded but OUT.bpf.o exists"
		jq -r .not_offloaded_because "$m" | grep -q getpid ||
			koff_fail "extcall: not offloaded, and the reason does not name getpid"
		grep -q '^koff-link: warning: .*not offloaded' "$tmp/se" || koff_fail "extcall: not offloaded without a warning"
		how="not offloaded: $(jq -r .not_offloaded_because "$m")"
	fi
	# Run the linked server's main: it calls the handler natively.
	"$out/ext" || koff_fail "extcall: the linked executable does not work"
done
koff_ok "unsupported external call: $how"

echo "all bad-input checks passed"
