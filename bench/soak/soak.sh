#!/usr/bin/env bash
# A bounded soak of `ferry serve --echo` on loopback (not part of CI):
#   bench/soak/soak.sh [SECONDS]      (default 600 = 10 minutes)
# Builds a Release ferry and the kit's loadgen (copied from /work/shared/bench into a scratch dir), starts
# `ferry serve --framing lines,max_frame_bytes=4096 --echo --quiet` on 127.0.0.1, and for SECONDS drives:
#   echo     loadgen echo: 32 connections, 4 lines of 64 bytes in flight each, the whole time
#   churn    loadgen hold: rounds of 200 connections (127.0.0.2..254) held 2 s with a ping, then closed
#   slow     loadgen ingest: 8 connections that send lines and never read (their echoes pile up: drop)
#   garbage  garbage.py: random bytes, oversize lines, resets, half-closes, slow partial lines, slow readers
# Every 10 s it samples the server's RSS, descriptors (/proc/PID/fd) and threads into samples.csv, then
# plots them (gnuplot, if installed) and writes summary.md. Output: bench/soak/out/<time>/.
# Every loop is bounded by the end time; the server is stopped with SIGTERM at the end.
set -euo pipefail

seconds=${1:-600}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
kit=${KIT:-/work/shared/bench}
out="$here/out/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out/kit"
port=${PORT:-$((20000 + RANDOM % 20000))}

echo "soak: ${seconds}s on 127.0.0.1:$port, output in $out"
cp "$kit/loadgen.c" "$out/kit/"
gcc -O2 -o "$out/kit/loadgen" "$out/kit/loadgen.c"
dotnet publish "$repo/src/Ferry.Cli/Ferry.Cli.csproj" -c Release -o "$out/ferry" -v q -nologo >"$out/build.log" 2>&1 \
  || { cat "$out/build.log" >&2; exit 1; }
loadgen="$out/kit/loadgen"

"$out/ferry/Ferry.Cli" serve --bind "127.0.0.1:$port" --framing lines,max_frame_bytes=4096 --echo --quiet \
  --max-connections 2000 --idle-timeout 30s </dev/null >"$out/events.jsonl" 2>"$out/server.stderr" &
server=$!
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  kill -TERM "$server" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 100); do grep -q '"listening"' "$out/events.jsonl" 2>/dev/null && break; sleep 0.1; done
grep -q '"listening"' "$out/events.jsonl" || { echo "soak: the server did not start" >&2; cat "$out/server.stderr" >&2; exit 1; }

start=$(date +%s)
end=$((start + seconds))

sample() {
  local t rss fds threads
  t=$(( $(date +%s) - start ))
  rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$server/status")
  threads=$(awk '/^Threads:/ { print $2 }' "/proc/$server/status")
  fds=$(ls "/proc/$server/fd" | wc -l)
  echo "$t,$rss,$fds,$threads" >>"$out/samples.csv"
}
echo "t_s,rss_kib,fds,threads" >"$out/samples.csv"
sample # the baseline, before any load

# echo traffic, the whole time
"$loadgen" --port "$port" --mode echo --framing line --conns 32 --depth 4 --size 64 --warmup 1 \
  --duration $((seconds - 5)) --quiet >"$out/echo.log" 2>&1 &
pids+=($!)

# connection churn: rounds of 200 held for 2 s
( rounds=0
  while (( $(date +%s) + 4 < end )); do
    "$loadgen" --port "$port" --mode hold --framing line --size 16 --conns 200 --duration 2 --ping-every 1 \
      --connect-timeout 2 --quiet >"$out/churn-last.log" 2>&1 || true
    rounds=$((rounds + 1))
  done
  echo "CHURN rounds=$rounds connections=$((rounds * 200))" >"$out/churn.log" ) &
pids+=($!)

# slow readers: connections that write lines and never read, 20 s at a time
( while (( $(date +%s) + 22 < end )); do
    "$loadgen" --port "$port" --mode ingest --framing line --size 200 --conns 8 --warmup 0 --duration 20 --quiet \
      >>"$out/slow.log" 2>&1 || true
  done ) &
pids+=($!)

# garbage and hostile clients
python3 "$here/garbage.py" --port "$port" --until "$((end - 2))" >"$out/garbage.log" 2>&1 &
pids+=($!)

while (( $(date +%s) < end )); do
  sleep 10
  kill -0 "$server" 2>/dev/null || { echo "soak: the server died" >&2; break; }
  sample
done
for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
pids=()
sleep 10
kill -0 "$server" 2>/dev/null && sample # after the load: what is given back
kill -TERM "$server"
code=0
wait "$server" || code=$?
trap - EXIT

# Summary
echo_result=$(grep '^RESULT' "$out/echo.log" | tail -1 || true)
churn=$(cat "$out/churn.log" 2>/dev/null || true)
garbage=$(grep '^GARBAGE' "$out/garbage.log" || true)
slow_runs=$(grep -c '^RESULT' "$out/slow.log" || true)
connected=$(grep -c '"type":"connected"' "$out/events.jsonl" || true)
reasons=$(grep -o '"reason":"[a-z_]*"' "$out/events.jsonl" | cut -d'"' -f4 | sort | uniq -c | sort -rn | awk '{ printf "%s %s, ", $2, $1 }' | sed 's/, $//' || true)
{
  echo "# Soak: ${seconds}s, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "- server: \`ferry serve --framing lines,max_frame_bytes=4096 --echo --quiet --max-connections 2000 --idle-timeout 30s\`, exit code $code after SIGTERM"
  echo "- echo: \`${echo_result}\`"
  echo "- churn: ${churn}"
  echo "- slow readers: ${slow_runs} rounds of 8 non-reading connections"
  echo "- garbage: \`${garbage}\`"
  echo "- connections accepted: ${connected}; closes by reason: ${reasons}"
  echo
  echo "| t (s) | RSS (MiB) | descriptors | threads |"
  echo "| ---: | ---: | ---: | ---: |"
  tail -n +2 "$out/samples.csv" | awk -F, '{ printf "| %d | %.1f | %d | %d |\n", $1, $2 / 1024, $3, $4 }'
} >"$out/summary.md"

if command -v gnuplot >/dev/null; then
  gnuplot <<GP || echo "soak: gnuplot failed; the table is in summary.md" >&2
set terminal pngcairo size 900,500 noenhanced
set output "$out/soak.png"
set datafile separator ","
set key center right
set xlabel "seconds"
set ylabel "RSS (MiB)"
set y2label "descriptors, threads"
set y2tics
set ytics nomirror
set yrange [0:*]
set y2range [0:*]
set title "ferry serve --echo soak (${seconds}s): echo + churn + slow readers + garbage"
plot "$out/samples.csv" every ::1 using 1:(\$2/1024) with linespoints title "RSS (MiB)", \
     "" every ::1 using 1:3 axes x1y2 with linespoints title "descriptors", \
     "" every ::1 using 1:4 axes x1y2 with linespoints title "threads"
GP
fi
cat "$out/summary.md"
echo "soak: $out"
