#!/usr/bin/env bash
# tests/gen/summary.sh WORK - the tables of a tests/gen/run.sh run, from the
# WORK/results/*.res lines ("seed cc level pic class sites detail", tabs)
# and WORK/results/*.why lines ("why counter").
set -u
WORK=$1
res=("$WORK"/results/*.res)
[ -e "${res[0]}" ] || { echo "no results in $WORK/results"; exit 1; }

# Numbers, addresses and symbol offsets vary from case to case: fold them so
# that the same reason lands in one bucket.
normalize() { sed -E 's/0x[0-9a-f]+/N/g; s/[0-9]+/N/g; s/(\/[^ ]*\/)+//g'; }

echo
echo "== per configuration (offloaded = full + fallbacks; in-kernel = requests completed in XDP) =="
# One row per configuration, sorted; the total sorts last as ~TOTAL.
# Columns 8-9 (requests, in_kernel) are missing in runs made before they existed.
cat "${res[@]}" | awk -F'\t' '
	{ cfg = $2 " " $3 " " $4; n[cfg]++; c[cfg, $5]++; n["~TOTAL"]++; c["~TOTAL", $5]++
	  r[cfg] += $8; k_[cfg] += $9; r["~TOTAL"] += $8; k_["~TOTAL"] += $9 }
	END {
		for (k in n)
			printf "%-22s %5d %5d %9d %7d %5d %5d %8d %7d %9.1f%% %9.1f%%\n", k, n[k], c[k, "full"],
				c[k, "fallbacks"], c[k, "refused"], c[k, "error"], c[k, "crash"],
				c[k, "mismatch"], c[k, "differr"],
				100 * (c[k, "full"] + c[k, "fallbacks"]) / n[k], r[k] ? 100 * k_[k] / r[k] : 0
	}' | sort -k1,1 -k2,2 -k3,3 | sed 's/^~TOTAL/TOTAL /' |
	{ printf "%-22s %5s %5s %9s %7s %5s %5s %8s %7s %10s %10s\n" config units full fallbacks \
		refused error crash mismatch differr offloaded in-kernel; cat; }
echo
echo "== units by share of their requests completed in the kernel =="
cat "${res[@]}" | awk -F'\t' '$8 > 0 { f = $9 / $8
	if (f >= 1) b = "100%"; else if (f >= 0.95) b = "95-99%"; else if (f >= 0.5) b = "50-94%"
	else if (f > 0) b = "1-49%"; else b = "0%"
	n[b]++ } END { for (k in n) printf "%7d  %s\n", n[k], k }' | sort -k2,2 -r
echo
echo "== units with less than 95% of their requests completed in the kernel, and their fallback sites =="
for r in "${res[@]}"; do
	awk -F'\t' '$8 > 0 && $9 / $8 < 0.95 { printf "%s %s %s %s: %d of %d in the kernel\n", $1, $2, $3, $4, $9, $8 }' "$r"
done | sort -n | while read -r line; do
	echo "$line"
	set -- $line
	w="$WORK/results/$1-$2$3-${4%:}.why"
	[ -s "$w" ] && grep -v 'division by zero' "$w" | cut -f1 | sort | uniq -c | sed 's/^/    /'
done
echo
echo "== refusals (offloaded=false), by reason =="
cat "${res[@]}" | awk -F'\t' '$5 == "refused" { print $7 }' | normalize | sort | uniq -c | sort -rn

echo
echo "== koff-link errors (exit != 0) and crashes, by message =="
cat "${res[@]}" | awk -F'\t' '$5 == "error" || $5 == "crash" { print $5 ": " $7 }' | normalize |
	sort | uniq -c | sort -rn

echo
echo "== fallback sites, by instruction mnemonic (sites, in how many units) =="
for w in "$WORK"/results/*.why; do
	[ -s "$w" ] || continue
	cut -f1 "$w" | normalize | sed -E \
		-e 's/^([a-z][a-z0-9]*) .* not translated$/\1 (not translated)/' \
		-e 's/^([a-z][a-z0-9]*) after flags.*/\1 (after flags koff does not model)/' \
		-e 's/^([a-z][a-z0-9]*) \(the program would trap\)/\1 (would trap)/' |
		sort | uniq -c | awk -v u="$(basename "$w")" '{ n = $1; $1 = ""; print n "\t" substr($0, 2) }'
done | awk -F'\t' '{ sites[$2] += $1; units[$2]++ } END { for (k in sites) printf "%7d %6d  %s\n", sites[k], units[k], k }' |
	sort -rn

echo
echo "== mismatches (kept in $WORK/mismatches) =="
cat "${res[@]}" | awk -F'\t' '$5 == "mismatch" { print $1 " " $2 " " $3 " " $4 ": " $7 }' | sort -n
[ -d "$WORK/crashes" ] && echo "(crashes kept in $WORK/crashes)"
exit 0
