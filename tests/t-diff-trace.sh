#!/usr/bin/env bash
# t-diff-trace: a mismatch names the x86 instruction where the paths part.
# samples/dns is linked with koff-link --record-path; tests/validate.sh
# (koffdiff by hand) must find no mismatch on it: a --record-path build
# behaves like the plain one.  Then two
# faults are planted in copies of the BPF object, as a lifter bug would:
#   1. one x86 conditional jump's BPF branch is inverted: koffdiff must say
#      that native and lifted part right after that very jcc (function+offset);
#   2. one constant OR'ed into the reply header is changed: the paths stay
#      the same, and koffdiff must name the native store that wrote the first
#      wrong reply byte.
# Every report must carry a source line (dns.c:N).
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || koff_skip "needs root to load and test-run BPF programs"
cd "$KOFF_ROOT"
command -v python3 >/dev/null || koff_skip "needs python3 to plant faults in the object"
[ -x ./koff-link ] || koff_fail "./koff-link is missing (make)"
tmp=$(mktemp -d)
koff_on_exit "rm -rf '$tmp'"
req=samples/dns/requests.txt

gcc -O2 -g -c samples/dns/dns.c -o "$tmp/dns.o" || koff_fail "cannot build dns.o"
./koff-link "$tmp/dns.o" -o "$tmp/dns" --udp-port 5353 --record-path --dump-ir --dump-bpf \
	2>"$tmp/dump.txt" >"$tmp/link.log" || koff_fail "koff-link --record-path failed: $(tail -n 3 "$tmp/link.log")"
objcopy --localize-symbol=main "$tmp/dns.o" "$tmp/nomain.o"
cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 tests/koffdiff.c "$tmp/nomain.o" \
	-lbpf -lelf -lz -o "$tmp/koffdiff" || koff_fail "cannot build koffdiff"

# tests/validate.sh: the same check by hand (link --record-path, build, run).
tests/validate.sh --inputs 300 "$tmp/dns.o" $req >"$tmp/clean.log" 2>&1 ||
	{ tail -n 20 "$tmp/clean.log"; koff_fail "the --record-path build disagrees with native code"; }
grep -q '^trace: on (.*5 of 5 functions found' "$tmp/clean.log" ||
	koff_fail "koffdiff did not read the trace table: $(grep -m1 trace: "$tmp/clean.log")"
koff_ok "the --record-path build agrees with native code on $(sed -n 's/^total: *requests \([0-9]*\).*/\1/p' "$tmp/clean.log") requests"

# plant.py OBJ DUMP MODE OUT: writes OUT and prints what it changed.
cat >"$tmp/plant.py" <<'PY'
import re, struct, sys
obj, dump, mode, out = sys.argv[1:5]
ir_br, bpf = [], []
for line in open(dump):
    if line.startswith('func '):
        ir_br, bpf = [], []  # another generation (a verifier retry): the last one was written
    m = re.match(r'\s+br\s.*; (0x[0-9a-f]+)$', line)
    if m:
        ir_br.append(int(m.group(1), 16))
    m = re.match(r'\s*(\d+)\s+(0x[0-9a-f]+)\s+code ([0-9a-f]+) .* imm (-?\d+)(?:  ; \w+)?$', line)
    if m:
        bpf.append((int(m.group(1)), int(m.group(2), 16), int(m.group(3), 16), int(m.group(4))))
data = bytearray(open(obj, 'rb').read())
# the "xdp" section's file offset, from the ELF section headers
shoff, = struct.unpack_from('<Q', data, 0x28)
shentsize, shnum, shstrndx = struct.unpack_from('<HHH', data, 0x3a)
def sec(i):
    return struct.unpack_from('<IIQQQQ', data, shoff + i * shentsize)
names_off = sec(shstrndx)[4]
xdp = None
for i in range(shnum):
    name, _, _, _, off, _ = sec(i)
    if data[names_off + name:names_off + name + 4] == b'xdp\0':
        xdp = off
inverse = {0x10: 0x50, 0x50: 0x10, 0x20: 0xb0, 0xb0: 0x20, 0x30: 0xa0, 0xa0: 0x30,
           0x60: 0xd0, 0xd0: 0x60, 0x70: 0xc0, 0xc0: 0x70}
if mode == 'branch':
    for va in ir_br:
        jumps = [b for b in bpf if b[1] == va and b[2] & 7 in (5, 6) and b[2] & 0xf0 in inverse]
        if len(jumps) == 1:
            idx, _, code, _ = jumps[0]
            data[xdp + 8 * idx] = (code & 0x0f) | inverse[code & 0xf0]
            open(out, 'wb').write(data)
            print('%x' % va)
            sys.exit(0)
elif mode == 'constant':
    # an OR of the DNS header's QR|AA bits (0x8400) into the reply
    for idx, va, code, imm in bpf:
        if code in (0x44, 0x47) and imm == 0x8400:
            struct.pack_into('<i', data, xdp + 8 * idx + 4, 0x8000)
            open(out, 'wb').write(data)
            print('%x' % va)
            sys.exit(0)
sys.exit('nothing to plant a %s fault in' % mode)
PY

# handle_request's layout address and its offset in .text (objdump's address).
read -r fn_va fn_off < <(readelf -p .koff.trace "$tmp/dns.bpf.o" |
	sed -n 's/.*F \([0-9a-f]*\) [0-9a-f]* \([0-9a-f]*\) [^ ]* handle_request\\n.*/\1 \2/p')
[ -n "$fn_va" ] || koff_fail "no F line for handle_request in .koff.trace"

# ---- 1. an inverted branch -------------------------------------------------
jcc=$(python3 "$tmp/plant.py" "$tmp/dns.bpf.o" "$tmp/dump.txt" branch "$tmp/branch.bpf.o") ||
	koff_fail "cannot plant the branch fault"
want=$(printf 'handle_request+%#x' $((0x$jcc - 0x$fn_va)))
"$tmp/koffdiff" --port 5353 "$tmp/branch.bpf.o" $req >"$tmp/branch.log" 2>&1
koff_expect_eq "koffdiff exit with an inverted branch" $? 1
got=$(grep -m1 '^  first difference at x86' "$tmp/branch.log")
echo "$got"
[[ "$got" == "  first difference at x86 $want ("*"dns.c:"[0-9]*")" ]] ||
	{ sed -n '/MISMATCH/,/first difference/p' "$tmp/branch.log" | head -30
	  koff_fail "the report does not name the inverted jcc $want with its source line"; }
koff_ok "an inverted branch is reported at the jcc itself ($want) with its source line"

# ---- 2. a wrong constant in the reply ---------------------------------------
python3 "$tmp/plant.py" "$tmp/dns.bpf.o" "$tmp/dump.txt" constant "$tmp/const.bpf.o" >/dev/null ||
	koff_fail "cannot plant the constant fault"
"$tmp/koffdiff" --port 5353 "$tmp/const.bpf.o" $req >"$tmp/const.log" 2>&1
koff_expect_eq "koffdiff exit with a wrong constant" $? 1
grep -q '^  trace: native and lifted run the same [0-9]* x86 instructions$' "$tmp/const.log" ||
	koff_fail "a wrong constant should leave the paths equal: $(grep -m1 '  trace:' "$tmp/const.log")"
got=$(grep -m1 '^  first difference: reply byte' "$tmp/const.log")
echo "$got"
off=$(sed -n 's/.*written natively by x86 handle_request+\(0x[0-9a-f]*\) .*dns\.c:[0-9]*).*/\1/p' <<<"$got")
[ -n "$off" ] || koff_fail "the report names no writer with a source line"
# The writer must be an instruction that stores to memory.
insn=$(objdump -d --no-show-raw-insn "$tmp/dns.o" |
	awk -v a="$(printf '%x' $((0x$fn_off + off)))" '$1 == a":" { $1 = ""; print; exit }')
[[ "$insn" == *mov*,*"("* ]] || koff_fail "the writer $off is not a store: '$insn'"
koff_ok "a wrong reply byte is traced to the native store that wrote it ($off:$insn)"
