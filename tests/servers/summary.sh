#!/usr/bin/env bash
# tests/servers/summary.sh WORK - the tables of a tests/servers/run.sh run,
# from WORK/results/*.res (see run.sh for the columns) and *.why, *.attempts.
set -u
WORK=$1
res=("$WORK"/results/*.res)
[ -e "${res[0]}" ] || { echo "no results in $WORK/results"; exit 1; }

# $1 = awk expression giving the row key from the fields.
table() {
	cat "${res[@]}" | awk -F'\t' -v OFS='\t' "{ k = $1; n[k]++; off[k] += (\$5 == \"offloaded\");
		req[k] += \$7; ink[k] += \$8; mm[k] += \$9; t = \$12 + 0; secs[k] += t; if (t > mx[k]) mx[k] = t;
		n[\"~ALL\"]++; off[\"~ALL\"] += (\$5 == \"offloaded\"); req[\"~ALL\"] += \$7; ink[\"~ALL\"] += \$8;
		mm[\"~ALL\"] += \$9; secs[\"~ALL\"] += t; if (t > mx[\"~ALL\"]) mx[\"~ALL\"] = t }
		END { for (k in n) printf \"%-20s %5d %9d %8d %9d %8.1f%% %10d %8.1f %7.1f\\n\", k, n[k], off[k], req[k],
			ink[k], req[k] ? 100 * ink[k] / req[k] : 0, mm[k], secs[k] / n[k], mx[k] }" |
		sort | sed 's/^~ALL /ALL  /'
}
header() {
	printf "%-20s %5s %9s %8s %9s %9s %10s %8s %7s\n" "$1" units offloaded requests in_kernel fraction \
		mismatches link_avg link_max
}

echo
echo "== per configuration (requests: the servers' .req files incl. padded copies) =="
header config
table '$2 " " $3 " " $4'
echo
echo "== per server =="
header server
table '$1'
echo
echo "== requests that fell back, by koff_stats counter (all units) =="
cat "${res[@]}" | awk -F'\t' '$10 != "-" && $10 != "" { n = split($10, a, ","); for (i = 1; i <= n; i++) {
	split(a[i], kv, "="); c[kv[1]] += kv[2] } } END { for (k in c) printf "%8d  %s\n", c[k], k }' | sort -rn
echo
echo "== requests that fell back, by server and counter =="
cat "${res[@]}" | awk -F'\t' '$10 != "-" && $10 != "" { n = split($10, a, ","); for (i = 1; i <= n; i++) {
	split(a[i], kv, "="); c[$1 " " kv[1]] += kv[2] } } END { for (k in c) printf "%8d  %s\n", c[k], k }' |
	sort -k2,2 -k1,1rn
echo
echo "== fallback sites in the manifests (sites, in how many units), by reason =="
for w in "$WORK"/results/*.why; do
	[ -s "$w" ] || continue
	cut -f1 "$w" | sed -E 's/0x[0-9a-f]+/N/g; s/\b[0-9]+\b/N/g' | sort | uniq -c |
		awk '{ n = $1; $1 = ""; print n "\t" substr($0, 2) }'
done | awk -F'\t' '{ s[$2] += $1; u[$2]++ } END { for (k in s) printf "%7d %6d  %s\n", s[k], u[k], k }' | sort -rn
echo
echo "== units where the verifier rejected a program at least once (koff-link then tried another"
echo "   code shape, or made the x86 instruction behind it a fallback; processed insns of the"
echo "   program accepted) =="
for a in "$WORK"/results/*.attempts; do
	grep -q 'rejected' "$a" || continue
	id=$(basename "$a" .attempts)
	printf '%-28s %d rejections (%s), accepted at %s insns\n' "$id" "$(grep -o 'rejected on' "$a" | wc -l)" \
		"$(grep -o 'rejected koff_xdp[ a-z0-9]*: [A-Za-z ]*' "$a" | sed 's/^[^:]*: //' | sort -u | paste -sd';' -)" \
		"$(cut -f11 "$WORK/results/$id.res")"
done
echo
echo "== not offloaded, koff-link errors, koffdiff problems =="
cat "${res[@]}" | awk -F'\t' '$5 != "offloaded" { print $1 " " $2 " " $3 " " $4 ": " $5 ": " $13 }'
echo
echo "== mismatches (kept in $WORK/mismatches) =="
cat "${res[@]}" | awk -F'\t' '$9 != 0 { print $1 " " $2 " " $3 " " $4 ": " $9 }'
exit 0
