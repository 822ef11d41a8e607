#!/usr/bin/env bash
# t-walk: loops the verifier can walk pass by pass stay plain loops
# (docs/internals.md, "Walked loops"), and every walked program still
# answers exactly like the native handler.
#  - kv (bench/handlers/kv.c: a 16-entry table scan, byte copies of at
#    most 64): with --kernel host every loop is walked (shape "walked");
#    with --loop-cap none is; the default build's portable program walks
#    none, its 6.18 variant does where this host runs it, and its walked
#    variant OUT.walked.bpf.o does, which koff-load takes before OUT.bpf.o.
#  - echo (samples/echo: its only loop is a memcpy): the walked variant
#    walks the builtin's word rounds, a plain program; the portable
#    program and the 6.18 variant keep them laundered;
#  - tlv (a record loop the verifier cannot walk, holding table scans it
#    can): some loops walked beside may_goto ones;
#  - fnv, a hash over the whole request: a loop bound by the request's
#    length, carrying the hash, walked.
#  - six field scans in a row (mix): the offsets they stop at would keep
#    9^6 paths apart, but each is laundered at its scan's exit, so they
#    walk; compared inside a walked table scan (nest) they must stay
#    exact, the verifier refuses the walk, and the rejection is answered
#    with every loop laundered, not a fallback; a register that is a
#    walked counter and a laundered value (reuse) stays off the map.
# Each program: every request of its file completed in the kernel, 0
# mismatches against the native handler (tests/koffdiff.c).
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || koff_skip "needs root to load and test-run BPF programs"
cd "$KOFF_ROOT"
for tool in jq gcc; do command -v $tool >/dev/null || koff_skip "needs $tool"; done
[ -x ./koff-link ] || koff_fail "./koff-link is missing (make)"
tmp=$(mktemp -d)
koff_on_exit "rm -rf '$tmp'"
gcc -std=c11 -D_GNU_SOURCE -O2 -c tests/koffdiff.c -o "$tmp/koffdiff.o" || koff_fail "cannot build koffdiff"

# link NAME SRC PORT [koff-link options...]: NAME.o from SRC at gcc -O2,
# then OUT=$tmp/NAME, its koffdiff $tmp/NAME.o-koffdiff.
link() {
	local name=$1 src=$2 port=$3 u=$tmp/$1
	shift 3
	[ -f "$u.o" ] || gcc -O2 -g -c "$src" -o "$u.o" || koff_fail "cannot compile $src"
	[ -f "$u-koffdiff" ] || { objcopy --localize-symbol=main "$u.o" "$u-nomain.o" &&
		cc -no-pie "$tmp/koffdiff.o" "$u-nomain.o" -lbpf -lelf -lz -o "$u-koffdiff"; } ||
		koff_fail "cannot link koffdiff for $name"
	./koff-link "$u.o" -o "$u$KOFF_OUT_TAG" --udp-port "$port" "$@" >"$u$KOFF_OUT_TAG.log" 2>&1 ||
		{ cat "$u$KOFF_OUT_TAG.log"; koff_fail "$name $*: koff-link failed"; }
}

# exact NAME PROGRAM PORT REQUESTS: every request in the kernel, 0 mismatches.
exact() {
	"$tmp/$1-koffdiff" --port "$3" --seed 1 --max-fallback-percent 0 "$2" "$4" >"$2.diff" 2>&1 ||
		{ tail -n 5 "$2.diff"; koff_fail "$(basename "$2"): not every request in the kernel, or a mismatch"; }
}

walked() { jq -r "$2.loops_walked" "$1"; }
# variant MANIFEST SUFFIX FIELD: .kernel.FIELD of the variant whose object ends in SUFFIX.
variant() { jq -r ".variants[] | select(.object | endswith(\"$2\")) | .kernel.$3" "$1"; }

# accepted_at_once NAME: the first verification of NAME's program accepted
# it, but for .rodata loads the verifier could not prove in bounds (a
# table indexed by a laundered loop's value), which only got their checks
# back; sets attempts to what the manifest says of them.
accepted_at_once() {
	attempts=$(jq -r .verifier.attempts "$tmp/$1.koff.json")
	case $(printf '%s' "$attempts" |
		sed -E 's/rejected on host \([^)]*\); the access at 0x[0-9a-f]+ not proved in bounds: checked; //g') in
	accepted,*) ;;
	*) koff_fail "$1: the walk was not accepted at once ($attempts)";;
	esac
}

# kv, --kernel host: every loop walked.
KOFF_OUT_TAG=-host link kv bench/handlers/kv.c 11211 --kernel host
m=$tmp/kv-host.koff.json
koff_expect_eq "kv --kernel host: loop shape" "$(jq -r .kernel.loop_shape "$m")" walked
koff_expect_eq "kv --kernel host: loops walked" "$(walked "$m" .kernel)" "$(jq -r .program.loop_guards "$m")"
koff_expect_eq "kv --kernel host: fallback sites" "$(jq '.fallbacks | length' "$m")" 0
exact kv "$tmp/kv-host.bpf.o" 11211 bench/handlers/kv-requests.txt
koff_ok "kv --kernel host: $(walked "$m" .kernel) loops walked, every request in the kernel, 0 mismatches"

# --loop-cap: walked loops are not counted, so none is walked.
KOFF_OUT_TAG=-cap link kv bench/handlers/kv.c 11211 --kernel host --loop-cap 1000
m=$tmp/kv-cap.koff.json
koff_expect_eq "kv --loop-cap: loop shape" "$(jq -r .kernel.loop_shape "$m")" may_goto
koff_expect_eq "kv --loop-cap: loops walked" "$(walked "$m" .kernel)" 0
exact kv "$tmp/kv-cap.bpf.o" 11211 bench/handlers/kv-requests.txt
koff_ok "kv --loop-cap 1000: no loop walked, every request in the kernel"

# The default build: the portable program is verified here but runs on
# 6.1 and later, so it walks nothing; the 6.18 variant, verified on a host
# that runs it, walks; and OUT.walked.bpf.o is the portable program with
# every loop walked (tests/t-kernels.sh runs it on 6.1 and 6.12).
KOFF_OUT_TAG= link kv bench/handlers/kv.c 11211
m=$tmp/kv.koff.json
koff_expect_eq "kv portable: loops walked" "$(walked "$m" .kernel)" 0
exact kv "$tmp/kv.bpf.o" 11211 bench/handlers/kv-requests.txt
[ -f "$tmp/kv.walked.bpf.o" ] || koff_fail "kv: no OUT.walked.bpf.o ($(jq -r '.no_walked_variant_because // ""' "$m"))"
koff_expect_eq "kv walked variant: target, shape" \
	"$(jq -r '[.variants[] | select(.kernel.target == "portable" and .kernel.loop_shape == "walked")] | length' "$m")" 1
exact kv "$tmp/kv.walked.bpf.o" 11211 bench/handlers/kv-requests.txt
koff_ok "kv default build: OUT.walked.bpf.o, every request in the kernel, 0 mismatches"
if [ -f "$tmp/kv$KOFF_FAST_SUFFIX" ]; then
	n=$(jq -r '[.variants[] | select(.kernel.target == "6.18") | .kernel.loops_walked][0] // 0' "$m")
	[ "$n" -gt 0 ] || koff_fail "kv: the 6.18 variant walks no loop"
	exact kv "$tmp/kv$KOFF_FAST_SUFFIX" 11211 bench/handlers/kv-requests.txt
	koff_ok "kv default build: portable walks none, the 6.18 variant walks $n"
else
	echo "note: no 6.18 variant here ($(jq -r '.no_fast_variant_because // ""' "$m"))"
fi

# koff-load's order: without the 6.18 variant it takes OUT.walked.bpf.o
# before OUT.bpf.o.
if command -v ip >/dev/null && ip netns add "koff-walkprobe-$$" 2>/dev/null; then
	ip netns del "koff-walkprobe-$$"
	[ -x ./koff-load ] || koff_fail "./koff-load is missing (make)"
	rm -f "$tmp/kv$KOFF_FAST_SUFFIX"
	koff_netns_create walk
	koff_bg "$KOFF_NETNS" "$tmp/load.log" ./koff-load --verbose --dev lo "$tmp/kv" -p 11211
	koff_wait_for_line "$tmp/load.log" "attached to lo" 30 || { cat "$tmp/load.log"; koff_fail "koff-load did not attach"; }
	grep -q "from $tmp/kv.walked.bpf.o attached to lo" "$tmp/load.log" ||
		{ cat "$tmp/load.log"; koff_fail "koff-load did not take OUT.walked.bpf.o"; }
	koff_ok "koff-load takes OUT.walked.bpf.o where there is no 6.18 variant"
else
	echo "note: no network namespaces here: koff-load's order not checked"
fi

# echo: the builtins' word rounds walk in the walked variant only
# (lifter/builtins.c, phase_begin): there every loop is walked, a plain
# program; the portable program and the 6.18 variant walk none.
KOFF_OUT_TAG= link echo samples/echo/echo.c 7007
m=$tmp/echo.koff.json
[ -f "$tmp/echo.walked.bpf.o" ] ||
	koff_fail "echo: no OUT.walked.bpf.o ($(jq -r '.no_walked_variant_because // ""' "$m"))"
koff_expect_eq "echo portable: loops walked" "$(walked "$m" .kernel)" 0
koff_expect_eq "echo walked variant: shape, loops walked" \
	"$(variant "$m" .walked.bpf.o loop_shape) $(variant "$m" .walked.bpf.o loops_walked)" "walked 1"
if [ -f "$tmp/echo$KOFF_FAST_SUFFIX" ]; then
	koff_expect_eq "echo 6.18 variant: loops walked" "$(variant "$m" "$KOFF_FAST_SUFFIX" loops_walked)" 0
fi
exact echo "$tmp/echo.walked.bpf.o" 7007 samples/echo/requests.txt
koff_ok "echo: the walked variant walks its memcpy (a plain program), every request in the kernel, 0 mismatches"

# tlv: walked table scans inside a laundered record loop.
KOFF_OUT_TAG=-host link tlv bench/handlers/tlv.c 7013 --kernel host
m=$tmp/tlv-host.koff.json
koff_expect_eq "tlv --kernel host: loop shape" "$(jq -r .kernel.loop_shape "$m")" may_goto
n=$(walked "$m" .kernel)
[ "$n" -gt 0 ] || koff_fail "tlv --kernel host: no loop walked"
exact tlv "$tmp/tlv-host.bpf.o" 7013 bench/handlers/tlv-requests.txt
koff_ok "tlv --kernel host: $n of $(jq -r .program.loop_guards "$m") loops walked, every request in the kernel"

# A hash over the whole request: the loop ends on the request's length,
# which it does not write (the walk ends where its reads leave the request
# region), and carries the hash, computed each pass from a byte no branch
# reads.
cat >"$tmp/fnv.c" <<'EOF'
long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp, unsigned long cap)
{
	unsigned int h = 2166136261u;

	if (len == 0 || cap < 4)
		return -1;
	for (unsigned long i = 0; i < len; i++)
		h = (h ^ req[i]) * 16777619u;
	resp[0] = (unsigned char)(h >> 24);
	resp[1] = (unsigned char)(h >> 16);
	resp[2] = (unsigned char)(h >> 8);
	resp[3] = (unsigned char)h;
	return 4;
}
int main(void) { return 0; }
EOF
printf '# fnv\n%s\n%s\n%s\n' 61 000102030405060708090a0b0c0d0e0f "$(printf '71%.0s' $(seq 300))" >"$tmp/fnv.req"
KOFF_OUT_TAG= link fnv "$tmp/fnv.c" 5353 --kernel host
koff_expect_eq "fnv --kernel host: loops walked" "$(walked "$tmp/fnv.koff.json" .kernel)" 1
exact fnv "$tmp/fnv.bpf.o" 5353 "$tmp/fnv.req"
koff_ok "fnv: the length-bound hash loop walked, every request in the kernel, 0 mismatches"

# Six field scans in a row (mix), of at most 8 passes each, whose exits
# (the offset each stopped at) stay live to the end: walked with exact
# values they would leave 9^6 paths, past the branches the verifier keeps.
# The value each scan hands out is laundered at its exit, so the six walk
# one after another.
cat >"$tmp/mix.c" <<'EOF'
#define SCAN(n, at, c) unsigned long n = 0; while (n < 8 && req[(at) + n] != (c)) n++;
long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp, unsigned long cap)
{
	if (len < 48 || cap < 8)
		return -1;
	SCAN(a, 0, 'a') SCAN(b, 8, 'b') SCAN(c, 16, 'c') SCAN(d, 24, 'd') SCAN(e, 32, 'e') SCAN(f, 40, 'f')
	resp[0] = (unsigned char)a; resp[1] = (unsigned char)b; resp[2] = (unsigned char)c;
	resp[3] = (unsigned char)d; resp[4] = (unsigned char)e; resp[5] = (unsigned char)f;
	resp[6] = (unsigned char)(a * b + c * d + e * f);
	resp[7] = req[a + b + c + d + e + f];
	return 8;
}
int main(void) { return 0; }
EOF
printf '# mix: 48 bytes or more\n%s\n%s\n%s\n' "$(printf '61%.0s' $(seq 48))" "$(printf '00%.0s' $(seq 60))" \
	78617862786378647865786678677868617862636465666768697061626364656667686970616263646566 >"$tmp/mix.req"
KOFF_OUT_TAG= link mix "$tmp/mix.c" 5353 --kernel host
m=$tmp/mix.koff.json
accepted_at_once mix
koff_expect_eq "mix: loops walked" "$(walked "$m" .kernel)" 6
processed=$(jq -r .verifier.processed_insns "$m")
[ "$processed" -lt 50000 ] || koff_fail "mix: the walks multiplied: $processed instructions processed"
exact mix "$tmp/mix.bpf.o" 5353 "$tmp/mix.req"
koff_ok "mix: six scans walked ($attempts), every request in the kernel"

# The same scans compared, pass by pass, inside a walked table scan (nest):
# there each scan's exact value must survive (a value narrowed differently
# on each pass an inner walk leaves at would start another pass of the
# outer one), so the exits are not laundered, the walks multiply and the
# verifier refuses them; the rejection is answered with every loop
# laundered, not a fallback (and a table load in a laundered loop, which
# the verifier cannot prove in bounds, with its check).
cat >"$tmp/nest.c" <<'EOF'
#define SCAN(n, at, c) unsigned long n = 0; while (n < 8 && req[(at) + n] != (c)) n++;
static const unsigned char tab[4][8] = { "abcdefgh", "bcdefgha", "cdefghab", "defghabc" };
long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp, unsigned long cap)
{
	if (len < 56 || cap < 8)
		return -1;
	SCAN(a, 0, 'a') SCAN(b, 8, 'b') SCAN(c, 16, 'c') SCAN(d, 24, 'd') SCAN(e, 32, 'e') SCAN(f, 40, 'f')
	for (int t = 0; t < 4; t++) {
		unsigned long i = 0;

		while (i < 8 && tab[t][i] == req[48 + i] && i != a && i != b && i != c && i != d && i != e && i != f)
			i++;
		resp[t] = (unsigned char)i;
	}
	return 4;
}
int main(void) { return 0; }
EOF
printf '# nest: 56 bytes or more\n%s\n%s%s\n%s%s\n' "$(printf '61%.0s' $(seq 56))" \
	"$(printf '00%.0s' $(seq 48))" 6162636465666768 \
	786178627863786478657866786778686178626364656667686970616263646566676869706162636465666768 \
	6263646566676861 >"$tmp/nest.req"
KOFF_OUT_TAG= link nest "$tmp/nest.c" 5353 --kernel host
m=$tmp/nest.koff.json
attempts=$(jq -r .verifier.attempts "$m")
case $attempts in
*"rejected on host"*"loops not walked: trying the may_goto shape;"*"accepted"*) ;;
*) koff_fail "nest: the rejected walk was not retried laundered ($attempts)";;
esac
koff_expect_eq "nest: loops walked" "$(walked "$m" .kernel)" 0
koff_expect_eq "nest: fallback sites" "$(jq '.fallbacks | length' "$m")" 0
exact nest "$tmp/nest.bpf.o" 5353 "$tmp/nest.req"
koff_ok "nest: walk rejected, laundered instead, every request in the kernel"

# gcc reuses registers loop after loop: in five scans and a table scan
# that compares them, one x86 register is a scan's counter and a value a
# laundered loop carries.  A walked loop's counter must stay where the
# verifier sees it (not in the scratch map, where each pass would look
# like the last: "infinite loop detected").
cat >"$tmp/reuse.c" <<'EOF'
#define SCAN(n, at, c) unsigned long n = 0; while (n < 8 && req[(at) + n] != (c)) n++;
static const unsigned char tab[4][8] = { "abcdefgh", "bcdefgha", "cdefghab", "defghabc" };
long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp, unsigned long cap)
{
	unsigned long found = 0;

	if (len < 56 || cap < 8)
		return -1;
	SCAN(a, 0, 'a') SCAN(b, 8, 'b') SCAN(c, 16, 'c') SCAN(d, 24, 'd') SCAN(e, 32, 'e')
	for (int t = 0; t < 4; t++) {
		unsigned long i = 0;

		while (i < 8 && tab[t][i] == req[48 + i] && i != a && i != b && i != c && i != d && i != e)
			i++;
		found = found * 9 + i;
	}
	for (int k = 0; k < 8; k++)
		resp[k] = (unsigned char)(found >> (8 * k));
	return 8;
}
int main(void) { return 0; }
EOF
KOFF_OUT_TAG= link reuse "$tmp/reuse.c" 5353 --kernel host
m=$tmp/reuse.koff.json
accepted_at_once reuse
n=$(walked "$m" .kernel)
[ "$n" -ge 6 ] || koff_fail "reuse: only $n loops walked"
exact reuse "$tmp/reuse.bpf.o" 5353 "$tmp/nest.req"
koff_ok "reuse: $n loops walked ($attempts), every request in the kernel"

# Accesses the verifier proves in bounds lose their run-time check
# (codegen_opts.bounds_by_verifier): the walked scan over names knows its
# .rodata addresses exactly, and the hash's request reads are below the
# length.  The table indexed by the hash cannot be proved: the verifier
# rejects that load, and the answer is its check back, not a fallback
# (attempts name its address).
cat >"$tmp/rotab.c" <<'EOF'
static const char names[12][8] = { "alpha", "bravo", "charlie", "delta", "echo", "foxtrot",
				   "golf", "hotel", "india", "juliet", "kilo", "lima" };
#define P4(n) (n) * 7 % 251, ((n) + 1) * 7 % 251, ((n) + 2) * 7 % 251, ((n) + 3) * 7 % 251
#define P16(n) P4(n), P4((n) + 4), P4((n) + 8), P4((n) + 12)
static const unsigned char perm[251] = {
	P16(0), P16(16), P16(32), P16(48), P16(64), P16(80), P16(96), P16(112), P16(128), P16(144),
	P16(160), P16(176), P16(192), P16(208), P16(224), P4(240), P4(244), 248 * 7 % 251,
	249 * 7 % 251, 250 * 7 % 251
};
long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp, unsigned long cap)
{
	unsigned int h = 0;
	int i;

	if (len < 2 || cap < 2)
		return -1;
	for (i = 0; i < 12; i++)
		if (names[i][0] == req[0] && names[i][1] == req[1])
			break;
	for (unsigned long k = 0; k < len && k < 16; k++)
		h = h * 31 + req[k];
	resp[0] = (unsigned char)i;
	resp[1] = perm[h % 251];
	return 2;
}
int main(void) { return 0; }
EOF
printf '# rotab\n%s\n%s\n%s\n%s\n%s\n' 616c 6c69 6b696c6f7878 7a7a "$(printf 'ff%.0s' $(seq 20))" >"$tmp/rotab.req"
KOFF_OUT_TAG= link rotab "$tmp/rotab.c" 5353 --kernel host
m=$tmp/rotab.koff.json
attempts=$(jq -r .verifier.attempts "$m")
case $attempts in
*"rejected on host"*"the access at 0x"*" not proved in bounds: checked; accepted"*) ;;
*) koff_fail "rotab: the hashed table's load was not given its check back ($attempts)";;
esac
koff_expect_eq "rotab: accesses not proved" "$(jq -r .kernel.accesses_not_proved "$m")" 1
n=$(jq -r .kernel.accesses_by_verifier "$m")
[ "$n" -ge 1 ] || koff_fail "rotab: no access left to the verifier"
koff_expect_eq "rotab: fallback sites" "$(jq '.fallbacks | length' "$m")" 0
exact rotab "$tmp/rotab.bpf.o" 5353 "$tmp/rotab.req"
# The portable program is verified here but runs on older kernels: every
# access keeps its check.
KOFF_OUT_TAG=-portable link rotab "$tmp/rotab.c" 5353
koff_expect_eq "rotab portable: accesses left to the verifier" \
	"$(jq -r .kernel.accesses_by_verifier "$tmp/rotab-portable.koff.json")" 0
exact rotab "$tmp/rotab-portable.bpf.o" 5353 "$tmp/rotab.req"
koff_ok "rotab: $n accesses proved by the verifier, 1 checked after its rejection, every request in the kernel"
