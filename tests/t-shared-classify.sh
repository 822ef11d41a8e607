#!/usr/bin/env bash
# t-shared-classify: which userspace roots may write shared state
# (OUT.koff.json shared.writer_roots; a writer's section moves ctl.seq, which
# makes SEQ-mode replies of the kernel side retry): tests/shared-user/classify.c
# at gcc/clang -O0/-O2, PIE and -no-pie.  Roots that take a table's address
# and only read through it are readers; storing through it, passing it to
# memset or returning it makes a writer.  OUT alone prints what the plain
# link prints; with root, against a map initialised with other values, the
# readers (among them clang's SSE loads, moved into the trampoline with
# their rip-relative displacements fixed) read the map.
. "$(dirname "$0")/lib.sh"
cd "$KOFF_ROOT"
command -v jq >/dev/null || koff_skip "needs jq to read the manifest"
make -s build/koff-link >&2 || koff_fail "cannot build koff-link"
tmp=$(mktemp -d /tmp/koff-shared-c.XXXXXX)
koff_on_exit "rm -rf '$tmp'"
maps=no
if [ "$(id -u)" -eq 0 ]; then
	cc -O2 -Wall -Wextra -Iinclude tests/shared-user/mapexec.c -lbpf -lpthread -o "$tmp/mapexec" ||
		koff_fail "cannot build mapexec"
	maps=yes
fi
printf 'a1\nb2\nc3\n' >"$tmp/in"

for cc in gcc clang; do
	command -v "$cc" >/dev/null || { echo "note: no $cc here"; continue; }
	for opt in -O0 -O2; do
		for pie in "" -no-pie; do
			cfg="$cc $opt${pie:+ $pie}"
			pic=; [ -n "$pie" ] && pic=-fno-pie
			"$cc" $opt $pic -g -c tests/shared-user/classify.c -o "$tmp/c.o" || koff_fail "$cfg: compile"
			"$cc" "$tmp/c.o" $pie -o "$tmp/plain" || koff_fail "$cfg: plain link"
			KOFF_CC=$cc build/koff-link "$tmp/c.o" $pie -o "$tmp/c" --no-verify >/dev/null 2>"$tmp/err" ||
				koff_fail "$cfg: koff-link: $(cat "$tmp/err")"
			koff_expect_eq "$cfg: roots" "$(jq -r '.shared.roots | sort | join(" ")' "$tmp/c.koff.json")" \
				"addr_of fill get_idx handle_request lookup store sum_table"
			koff_expect_eq "$cfg: writer roots" \
				"$(jq -r '.shared.writer_roots | sort | join(" ")' "$tmp/c.koff.json")" \
				"addr_of fill handle_request store"
			cmp -s <("$tmp/plain" <"$tmp/in") <("$tmp/c" <"$tmp/in") || koff_fail "$cfg: OUT alone differs"
			[ $maps = yes ] || continue
			start=$(nm "$tmp/c" | awk '$3 == "__koff_shared_start" { print $1 }')
			tab=$(nm "$tmp/c" | awk '$3 == "table" { print $1 }')
			size=$(readelf -SW "$tmp/c" | awk '$2 == ".koff_shared" { print $6 }')
			off=$((0x$tab - 0x$start))
			# table[0] = 5, table[2] = 7, everything else 0; the reads of line 1 see them.
			printf 'a1\n' | "$tmp/mapexec" --size $((0x$size)) --magic --set "$off=5" --set "$((off + 16))=7" \
				-- "$tmp/c" >"$tmp/so" 2>"$tmp/se" || koff_fail "$cfg: mapexec: $(cat "$tmp/se")"
			koff_expect_eq "$cfg: readers read the map" "$(head -1 "$tmp/so")" "12 -1 7 0 255"
			koff_expect_eq "$cfg: one writer section per writer call" "$(sed -n 2p "$tmp/so")" \
				"status=0 magic=set seq=8 writers=0 lock=0"
		done
	done
done
