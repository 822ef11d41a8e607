#!/usr/bin/env bash
# t-cli: koff-link's command-line contract.
#   - arguments it does not know go to the system linker (-lm, -Wl,-Map,FILE);
#   - with several objects the entry is taken from the first object that
#     defines it, also when main is in the first; the program offloaded from
#     it agrees with the native handler (koffdiff, when root);
#   - --name=value equals --name value;
#   - --no-offload writes OUT and a manifest with offloaded=false, and
#     removes a stale OUT.bpf.o;
#   - --explain prints one line per fallback site of the manifest;
#   - the manifest is JSON with entry, offloaded, bpf_object, program.insns,
#     verifier.processed_insns, fallbacks of the right types;
#   - a second link over the same OUT replaces all three outputs;
#   - --help exits 0 and prints the usage on stdout;
#   - without BPF rights (run as nobody when root) the program is written
#     unverified, and the manifest says why.
. "$(dirname "$0")/lib.sh"
cd "$KOFF_ROOT"
command -v jq >/dev/null || koff_skip "needs jq to read the manifest"
tmp=$(mktemp -d /tmp/koff-cli.XXXXXX)
koff_on_exit "rm -rf '$tmp'"
make -s build/koff-link >&2 || koff_fail "cannot build build/koff-link"
KL=$KOFF_ROOT/build/koff-link
data=tests/data/badinput
root=false
[ "$(id -u)" -eq 0 ] && root=true

gcc -O2 -g -fno-builtin -c "$data/usesqrt.c" -o "$tmp/usesqrt.o" || koff_fail "cannot compile usesqrt.c"
for c in plain extcall allcall twocalls split_main split_handler; do
	gcc -O2 -g -c "$data/$c.c" -o "$tmp/$c.o" || koff_fail "cannot compile $c.c"
done

# link NAME ARGS...: koff-link ARGS must succeed; stdout in $tmp/so, stderr in $tmp/se.
link() {
	local name=$1
	shift
	"$KL" "$@" >"$tmp/so" 2>"$tmp/se" || koff_fail "$name: koff-link failed: $(cat "$tmp/se")"
}

# ---- --help ------------------------------------------------------------------
"$KL" --help >"$tmp/so" 2>"$tmp/se" || koff_fail "--help exits $?"
grep -q '^usage: koff-link' "$tmp/so" || koff_fail "--help prints no usage on stdout"
[ ! -s "$tmp/se" ] || koff_fail "--help writes to stderr: $(cat "$tmp/se")"
koff_ok "--help exits 0 with the usage on stdout"

# ---- Arguments for the system linker -----------------------------------------
"$KL" "$tmp/usesqrt.o" -o "$tmp/sq" >/dev/null 2>"$tmp/se" &&
	koff_fail "usesqrt.o links without -lm: the -lm check proves nothing"
link "-lm" "$tmp/usesqrt.o" -lm -o "$tmp/sq"
"$tmp/sq" || koff_fail "-lm: the linked program does not run"
nm -u "$tmp/sq" | grep -q ' sqrt' || koff_fail "-lm: the program does not call libm's sqrt"
koff_ok "-lm reaches the system linker"
link "-Wl,-Map" "$tmp/plain.o" "-Wl,-Map,$tmp/plain.map" -o "$tmp/mapped"
grep -q 'handle_request' "$tmp/plain.map" || koff_fail "-Wl,-Map: no map file naming handle_request"
koff_ok "-Wl,-Map,FILE reaches the system linker"

# ---- Two objects -------------------------------------------------------------
for order in "split_main split_handler" "split_handler split_main"; do
	set -- $order
	link "two objects ($order)" "$tmp/$1.o" "$tmp/$2.o" -o "$tmp/split" --udp-port 7007
	"$tmp/split" || koff_fail "two objects ($order): the linked program does not work"
	m=$tmp/split.koff.json
	koff_expect_eq "two objects ($order): entry object" "$(jq -r .object "$m")" "$tmp/split_handler.o"
	koff_expect_eq "two objects ($order): offloaded" "$(jq -r .offloaded "$m")" true
done
if $root; then
	# The program offloaded from the second object must be that handler.
	objcopy --localize-symbol=main "$tmp/split_handler.o" "$tmp/h_nomain.o" &&
	cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 tests/koffdiff.c "$tmp/h_nomain.o" \
		-lbpf -lelf -lz -o "$tmp/koffdiff-split" || koff_fail "cannot build koffdiff"
	printf '6162\n68656c6c6f\n' >"$tmp/split.req"
	"$tmp/koffdiff-split" --port 7007 --mutate 100 --random 100 --seed 7 --max-fallback-percent 0 \
		"$tmp/split.bpf.o" "$tmp/split.req" >"$tmp/diff.log" 2>&1 ||
		koff_fail "two objects: XDP program and native handler differ: $(tail -n 5 "$tmp/diff.log")"
	koff_ok "two objects: the offloaded program answers like split_handler.o's handle_request ($(grep '^total:' "$tmp/diff.log"))"
fi
"$KL" "$tmp/split_main.o" -o "$tmp/onlymain" >/dev/null 2>"$tmp/se" &&
	koff_fail "main alone linked: the two-object check proves nothing"

# ---- --name=value ------------------------------------------------------------
link "--name=value" "$tmp/plain.o" --udp-port=5353 --resp-cap=512 --entry=handle_request -o "$tmp/eq"
koff_expect_eq "--udp-port=5353" "$(jq -r .udp_port "$tmp/eq.koff.json")" 5353
koff_expect_eq "--resp-cap=512" "$(jq -r .resp_cap "$tmp/eq.koff.json")" 512

# ---- The manifest ------------------------------------------------------------
link "manifest" samples/echo/echo.o -o "$tmp/echo" --udp-port 7007
m=$tmp/echo.koff.json
python3 -m json.tool "$m" >/dev/null || koff_fail "manifest: not JSON (python3 -m json.tool)"
jq -e --arg bpf "$tmp/echo.bpf.o" '
	(.entry == "handle_request") and (.offloaded == true) and (.bpf_object == $bpf) and
	(.program.insns | type == "number" and . > 0) and
	(.verifier.processed_insns | type == "number") and
	(.fallbacks | type == "array") and (.udp_port == 7007)' "$m" >/dev/null ||
	koff_fail "manifest: fields missing or wrong: $(cat "$m")"
if [ "$(jq -r .verifier.verified "$m")" == true ]; then
	jq -e '.verifier.processed_insns > 0' "$m" >/dev/null || koff_fail "verified, but processed_insns is 0"
fi
koff_ok "manifest: entry, offloaded, bpf_object, program.insns, verifier.processed_insns, fallbacks"

# ---- Kernel targets ------------------------------------------------------------
# The default is portable (6.1 and newer); a handler with loops also gets the
# may_goto variant; an unknown series is an error; a series that cannot run
# koff's XDP entry (5.15: no bpf_xdp_load_bytes) links without an offload.
koff_expect_eq "default target" "$(jq -r .kernel.target "$m")" portable
link "kernel" samples/dns/dns.o -o "$tmp/dnsk" --udp-port 5353
jq -e '(.kernel.target == "portable") and (.kernel.loop_shape == "bpf_loop") and
	(.variants | length == 2) and (.variants[0].kernel.loop_shape == "may_goto") and
	(.variants[0].object | endswith(".6.18.bpf.o")) and (.variants[1].kernel.target == "portable")' \
	"$tmp/dnsk.koff.json" >/dev/null || koff_fail "dns: variants: $(jq -c .variants "$tmp/dnsk.koff.json")"
[ -f "$tmp/dnsk.6.18.bpf.o" ] && [ -f "$tmp/dnsk.bpf.o" ] || koff_fail "dns: both variants written"
koff_ok "default link of a handler with loops: OUT.bpf.o (portable, bpf_loop) and OUT.6.18.bpf.o (may_goto)"
link "kernel 6.18" samples/dns/dns.o -o "$tmp/dnsk" --udp-port 5353 --kernel 6.18 --verify-on host
[ ! -e "$tmp/dnsk.6.18.bpf.o" ] || koff_fail "--kernel 6.18: a variant from the earlier link was left beside OUT"
koff_expect_eq "--kernel 6.18: one variant" "$(jq '.variants | length' "$tmp/dnsk.koff.json")" 1
"$KL" samples/dns/dns.o -o "$tmp/dnsk" --kernel 9.9 >"$tmp/so" 2>"$tmp/se" && koff_fail "--kernel 9.9 succeeded"
grep -q "^koff-link: --kernel: unknown kernel '9.9'" "$tmp/se" || koff_fail "--kernel 9.9: $(cat "$tmp/se")"
link "kernel 5.15" samples/dns/dns.o -o "$tmp/dns515" --udp-port 5353 --kernel 5.15
koff_expect_eq "--kernel 5.15: offloaded" "$(jq -r .offloaded "$tmp/dns515.koff.json")" false
jq -r .not_offloaded_because "$tmp/dns515.koff.json" | grep -q "bpf_xdp_load_bytes (5.18)" ||
	koff_fail "--kernel 5.15: reason: $(jq -r .not_offloaded_because "$tmp/dns515.koff.json")"
[ ! -e "$tmp/dns515.bpf.o" ] || koff_fail "--kernel 5.15: a BPF object was written"
koff_ok "--kernel: 6.18 gives one program, 9.9 is an error, 5.15 links without an offload and says why"

# ---- --explain: one line per fallback site -----------------------------------
for obj in samples/dns/dns.o samples/echo/echo.o "$tmp/extcall.o"; do
	link "--explain $obj" "$obj" -o "$tmp/ex" --explain
	m=$tmp/ex.koff.json
	want=$(jq '.fallbacks | length' "$m")
	got=$(grep -c '^  falls back at ' "$tmp/so")
	koff_expect_eq "--explain $(basename "$obj"): lines per fallback site" "$got" "$want"
	while IFS= read -r where; do
		grep -qF "falls back at $where " "$tmp/so" || koff_fail "--explain does not show the site $where"
	done < <(jq -r '.fallbacks[].where' "$m")
	grep -q '^handle_request: offloaded to ' "$tmp/so" || koff_fail "--explain: no summary line"
done
# The last one, extcall.o, has exactly the getpid site.
grep -q 'falls back at handle_request+0x[0-9a-f]* (extcall.c:[0-9]*) .*call to getpid' "$tmp/so" ||
	koff_fail "--explain: the getpid call site is not shown: $(cat "$tmp/so")"
koff_ok "--explain: the getpid site with its source line"

# ---- inlined local functions: named, with their copies ------------------------
link "--explain twocalls.o" "$tmp/twocalls.o" -o "$tmp/two" --explain
koff_expect_eq "inlined functions in the manifest" "$(jq -c .inlined "$tmp/two.koff.json")" \
	'[{"name":"flip","copies":2}]'
grep -q '^  inlined: flip (2 copies)$' "$tmp/so" || koff_fail "--explain does not show flip's two copies: $(cat "$tmp/so")"
koff_ok "--explain and the manifest name the inlined function and its copies"

# ---- every path falls back: linked without an offload, the reason named -------
link "every path falls back" "$tmp/allcall.o" -o "$tmp/all" --explain
[ -x "$tmp/all" ] && [ ! -e "$tmp/all.bpf.o" ] || koff_fail "every path falls back: want OUT and no OUT.bpf.o"
koff_expect_eq "every path falls back: offloaded" "$(jq -r .offloaded "$tmp/all.koff.json")" false
why=$(jq -r .not_offloaded_because "$tmp/all.koff.json")
[[ "$why" == "every path of handle_request falls back to userspace: call to getpid at handle_request+0x"*" (allcall.c:"[0-9]*")" ]] ||
	koff_fail "every path falls back: the reason does not name the call and its line: $why"
koff_expect_eq "every path falls back: manifest sites" "$(jq -r '.fallbacks[0].why' "$tmp/all.koff.json")" "call to getpid"
grep -q "warning: handle_request not offloaded: $why" "$tmp/se" || koff_fail "every path falls back: no warning naming the reason"
koff_ok "every path falls back: linked without offload, the getpid call named as the reason"

# ---- --no-offload removes a stale OUT.bpf.o ----------------------------------
link "good link" samples/echo/echo.o -o "$tmp/no"
[ -f "$tmp/no.bpf.o" ] || koff_fail "the first link wrote no OUT.bpf.o"
link "--no-offload" samples/echo/echo.o -o "$tmp/no" --no-offload
[ -x "$tmp/no" ] || koff_fail "--no-offload: no OUT"
[ ! -e "$tmp/no.bpf.o" ] || koff_fail "--no-offload: the stale OUT.bpf.o is still there"
koff_expect_eq "--no-offload: offloaded" "$(jq -r .offloaded "$tmp/no.koff.json")" false
koff_expect_eq "--no-offload: because" "$(jq -r .not_offloaded_because "$tmp/no.koff.json")" "--no-offload"
jq -e 'has("bpf_object") | not' "$tmp/no.koff.json" >/dev/null || koff_fail "--no-offload: manifest names a bpf_object"
[ ! -s "$tmp/se" ] || koff_fail "--no-offload: warnings on stderr: $(cat "$tmp/se")"

# ---- A second link over the same OUT replaces all three ----------------------
sums() { md5sum <"$1" | cut -d' ' -f1; }
link "first link" samples/echo/echo.o -o "$tmp/re" --udp-port 7007
first=("$(sums "$tmp/re")" "$(sums "$tmp/re.bpf.o")" "$(sums "$tmp/re.koff.json")")
link "second link" samples/dns/dns.o -o "$tmp/re" --udp-port 5353
second=("$(sums "$tmp/re")" "$(sums "$tmp/re.bpf.o")" "$(sums "$tmp/re.koff.json")")
for i in 0 1 2; do
	[ "${first[$i]}" != "${second[$i]}" ] || koff_fail "second link: output $i was not replaced"
done
koff_expect_eq "second link: manifest bpf_object" "$(jq -r .bpf_object "$tmp/re.koff.json")" "$tmp/re.bpf.o"
koff_expect_eq "second link: manifest object" "$(jq -r .object "$tmp/re.koff.json")" samples/dns/dns.o
koff_expect_eq "second link: manifest port" "$(jq -r .udp_port "$tmp/re.koff.json")" 5353
leftover=$(find "$tmp" -name '*koff-tmp*')
[ -z "$leftover" ] || koff_fail "temporary files left: $leftover"
koff_ok "a second link replaces OUT, OUT.bpf.o and OUT.koff.json"

# ---- Without BPF rights: written, unverified, with a note --------------------
# When root, run koff-link as nobody (uid 65534), who may not load BPF.
nobody=$tmp/nobody
mkdir -p "$nobody"
chmod 777 "$nobody"
cp "$tmp/plain.o" "$nobody/plain.o"
chmod 644 "$nobody/plain.o"
if $root; then
	command -v setpriv >/dev/null || koff_fail "needs setpriv to run koff-link without BPF rights"
	runner=(setpriv --reuid=65534 --regid=65534 --clear-groups)
else
	runner=()
fi
(cd "$nobody" && "${runner[@]}" "$KL" plain.o -o plain) >"$tmp/so" 2>"$tmp/se" ||
	koff_fail "without BPF rights: koff-link failed: $(cat "$tmp/se")"
m=$nobody/plain.koff.json
[ -f "$nobody/plain.bpf.o" ] || koff_fail "without BPF rights: no OUT.bpf.o"
koff_expect_eq "without BPF rights: offloaded" "$(jq -r .offloaded "$m")" true
koff_expect_eq "without BPF rights: verified" "$(jq -r .verifier.verified "$m")" false
jq -r .verifier.note "$m" | grep -q '^not verified on host: cannot load BPF here' ||
	koff_fail "without BPF rights: the note does not say why: $(jq -c .verifier "$m")"
koff_ok "without BPF rights: $(jq -r .verifier.note "$m")"

echo "all command-line checks passed"
