#!/usr/bin/env bash
# tests/validate.sh - translation validation by hand: does koff-link's XDP
# program for OBJECT.o behave exactly like its native handle_request()?
#
#   tests/validate.sh [--port N] [--inputs K] [--seed S] OBJECT.o REQUESTS.txt [koff-link options]
#
# Links OBJECT.o with koff-link --record-path (a stub main is added when
# the object has none), builds tests/koffdiff.c against the object's native
# handler, and runs both on REQUESTS.txt (one hex request per line), K
# mutations of them and K random byte strings up to the MTU (default 1000).
# Prints koffdiff's report: any mismatch with the request, both sides'
# bytes, and the x86 instruction and source line where the paths part.
# Exit: 0 agree, 1 mismatch, 2 too many fallbacks, 3 setup error.  Root
# (or CAP_BPF) is needed to load and test-run the program.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
port=5353 inputs=1000 seed=1
while [ $# -gt 0 ]; do
	case $1 in
	--port) port=$2; shift 2;;
	--inputs) inputs=$2; shift 2;;
	--seed) seed=$2; shift 2;;
	-h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0;;
	*) break;;
	esac
done
[ $# -ge 2 ] || { echo "usage: tests/validate.sh [--port N] [--inputs K] [--seed S] OBJECT.o REQUESTS.txt [koff-link options]" >&2; exit 3; }
obj=$1 requests=$2
shift 2
[ -r "$obj" ] || { echo "validate.sh: $obj: cannot read" >&2; exit 3; }
[ -r "$requests" ] || { echo "validate.sh: $requests: cannot read" >&2; exit 3; }
link=${KOFF_LINK:-$ROOT/build/koff-link}
[ -x "$link" ] || { echo "validate.sh: $link is missing (make)" >&2; exit 3; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

extra=()
if ! nm "$obj" | grep -q ' T main$'; then
	echo 'int main(void) { return 0; }' >"$tmp/main.c"
	cc -c "$tmp/main.c" -o "$tmp/main.o" || exit 3
	extra=("$tmp/main.o")
fi
"$link" "$obj" "${extra[@]}" -o "$tmp/app" --udp-port "$port" --record-path "$@" >"$tmp/link.log" 2>&1 ||
	{ cat "$tmp/link.log" >&2; echo "validate.sh: koff-link failed" >&2; exit 3; }
if [ ! -e "$tmp/app.bpf.o" ]; then
	echo "validate.sh: nothing was offloaded: $(jq -r .not_offloaded_because "$tmp/app.koff.json" 2>/dev/null)" >&2
	exit 3
fi
objcopy --localize-symbol=main "$obj" "$tmp/nomain.o" || exit 3
cc -std=c11 -D_GNU_SOURCE -O2 "$ROOT/tests/koffdiff.c" "$tmp/nomain.o" -lbpf -lelf -lz \
	-o "$tmp/koffdiff" || { echo "validate.sh: cannot build koffdiff" >&2; exit 3; }
"$tmp/koffdiff" --port "$port" --seed "$seed" --mutate "$inputs" --random "$inputs" \
	"$tmp/app.bpf.o" "$requests"
