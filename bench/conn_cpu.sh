#!/usr/bin/env bash
# Server CPU time per echoed message, A/B, interleaved: the robust number on a busy machine (msgs/s
# depends on how much CPU the other jobs leave; CPU per message much less).
# Each row: the server on core 1 (taskset -c 1), the kit's loadgen on core 0, echo of 64 B messages
# (50 connections x depth 16), server utime+stime sampled from /proc over the measured window.
# Usage: bench/conn_cpu.sh [--duration S] [--rounds N] [--port P] NAME FRAMING 'CMD {PORT}' [NAME FRAMING 'CMD {PORT}' ...]
#   FRAMING: raw | line (loadgen's names). Prints one line per row and round, then the medians.
set -euo pipefail
kit=${KIT:-/work/kit}; loadgen=$kit/build/loadgen
dur=6; rounds=3; port=47600; size=${SIZE:-64}
while [[ $# -gt 0 && $1 == --* ]]; do
  case $1 in
    --duration) dur=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    *) echo "unknown option $1 (allowed: --duration S --rounds N --port P)" >&2; exit 2 ;;
  esac
done
(( $# >= 3 && $# % 3 == 0 )) || { echo "usage: $0 [--duration S] [--rounds N] [--port P] NAME FRAMING 'CMD {PORT}' ..." >&2; exit 2; }
rows=("$@"); tick=$(getconf CLK_TCK); logs=$(mktemp -d /tmp/conn_cpu.XXXX); results=$logs/results
echo "logs: $logs"
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
uptime
for ((r = 1; r <= rounds; r++)); do
  for ((i = 0; i < ${#rows[@]}; i += 3)); do
    name=${rows[i]}; framing=${rows[i+1]}; cmd=${rows[i+2]//\{PORT\}/$port}
    log=$logs/$name.$r; taskset -c 1 bash -c "exec $cmd" > "$log.server" 2>&1 & pid=$!
    for _ in $(seq 300); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
    taskset -c 0 "$loadgen" --port "$port" --mode echo --conns 50 --depth 16 --size "$size" --framing "$framing" \
      --warmup 2 --duration "$dur" --quiet > "$log.loadgen" 2>&1 & lg=$!
    sleep 2; t0=$(cpu_ticks $pid 2>/dev/null || echo 0); s0=$(date +%s.%N)
    wait $lg || true; t1=$(cpu_ticks $pid 2>/dev/null || echo 0); s1=$(date +%s.%N)
    kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null || true
    if ! grep -q RESULT "$log.loadgen" || (( t1 == 0 )); then
      echo "round $r $name: no result (server died or loadgen failed): $(tail -c 300 "$log.loadgen" | tr '\n' ' ')"
      port=$((port + 1)); continue
    fi
    msgs=$(grep -oP 'RESULT.* msgs_per_s=\K[0-9.]+' "$log.loadgen" || echo 0)
    errs=$(grep -oP 'RESULT.* errors=\K[0-9]+' "$log.loadgen" || echo '?')
    awk -v n="$name" -v m="$msgs" -v t="$((t1 - t0))" -v hz="$tick" -v a="$s0" -v b="$s1" -v e="$errs" -v r="$r" 'BEGIN {
      cpu = t / hz; secs = b - a; us = (m > 0) ? cpu * 1e6 / (m * secs) : 0
      printf "round %d %-14s %10.0f msgs/s  server cpu %5.1f%%  %6.3f us/msg  errors %s\n", r, n, m, 100 * cpu / secs, us, e }' | tee -a "$results"
    port=$((port + 1))
  done
done
uptime
echo "medians over $rounds rounds:"
awk '{ k = $3; m[k] = m[k] " " $4; u[k] = u[k] " " $9; if (!(k in seen)) { seen[k] = 1; order[++n] = k } }
  function med(s,   a, c, i, j, t) { c = split(s, a, " "); for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }; return a[int((c + 1) / 2)] }
  END { for (i = 1; i <= n; i++) printf "  %-14s %10.0f msgs/s  %6.3f us/msg\n", order[i], med(m[order[i]]), med(u[order[i]]) }' "$results"
