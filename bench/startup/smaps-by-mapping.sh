#!/usr/bin/env bash
# Where an idle process's resident memory is: Rss (and Private_Dirty) of /proc/PID/smaps summed by
# mapping (file name, or [anon], [heap], [stack]), largest first, for `ferry serve` 3 s after it listens.
#   bench/startup/smaps-by-mapping.sh /tmp/native-base/out/Ferry.Cli
set -euo pipefail
bin=$1
out=$(mktemp)
"$bin" serve --bind 127.0.0.1:0 --quiet >"$out" &
pid=$!
for _ in $(seq 100); do grep -q listening "$out" && break; sleep 0.1; done
sleep 3
grep VmRSS "/proc/$pid/status"
echo "threads: $(ls /proc/$pid/task | wc -l): $(for t in /proc/$pid/task/*; do cat "$t/comm"; done | tr '\n' ',' )"
awk '
  /^[0-9a-f]+-[0-9a-f]+ / { name = (NF >= 6) ? $6 : "[anon]"; perm = $2; key = name " " perm; next }
  /^Rss:/ { rss[key] += $2 }
  /^Private_Dirty:/ { dirty[key] += $2 }
  END { for (k in rss) if (rss[k] > 0) printf "%8d kB rss %8d kB dirty  %s\n", rss[k], dirty[k], k }
' "/proc/$pid/smaps" | sort -rn | head -20
kill "$pid"; wait "$pid" 2>/dev/null || true
rm -f "$out"
