#!/usr/bin/env bash
# Connection churn, A/B interleaved: connect, one line echoed, the client closes; server CPU per connection and
# connections per second over the measured window. The server runs on core 1, churn on core 0.
# Usage: CHURN=/path/to/churn bench/churn/churn.sh [--rounds N] [--duration S] [--conns C] NAME 'CMD {PORT}' [NAME 'CMD {PORT}' ...]
#   build churn with `gcc -O2 -o churn bench/churn/churn.c`.
set -euo pipefail
churn=${CHURN:-/work/kit/build/churn}; rounds=3; dur=6; conns=20; port=47700
while [[ $# -gt 0 && $1 == --* ]]; do
  case $1 in
    --rounds) rounds=$2; shift 2 ;; --duration) dur=$2; shift 2 ;; --conns) conns=$2; shift 2 ;;
    *) echo "unknown option $1 (allowed: --rounds N --duration S --conns C)" >&2; exit 2 ;;
  esac
done
(( $# >= 2 && $# % 2 == 0 )) || { echo "usage: $0 [--rounds N] [--duration S] [--conns C] NAME 'CMD {PORT}' ..." >&2; exit 2; }
rows=("$@"); tick=$(getconf CLK_TCK); out=$(mktemp -d /tmp/churn.XXXX)
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
uptime
for ((r = 1; r <= rounds; r++)); do
  for ((i = 0; i < ${#rows[@]}; i += 2)); do
    name=${rows[i]}; cmd=${rows[i+1]//\{PORT\}/$port}
    taskset -c 1 bash -c "exec $cmd" > "$out/server.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do ss -ltn "sport = :$port" | grep -q LISTEN && break; sleep 0.1; done
    taskset -c 0 "$churn" --port "$port" --conns "$conns" --duration "$dur" --warmup 1 > "$out/churn.log" &
    cpid=$!
    while ! grep -q MEASURING "$out/churn.log" 2>/dev/null; do sleep 0.01; done
    c0=$(cpu_ticks "$pid")
    wait "$cpid"
    c1=$(cpu_ticks "$pid")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    res=$(grep RESULT "$out/churn.log")
    n=$(sed -E 's/.*conns=([0-9]+).*/\1/' <<<"$res"); rate=$(sed -E 's/.*conns_per_s=([0-9]+).*/\1/' <<<"$res")
    errs=$(sed -E 's/.*errors=([0-9]+).*/\1/' <<<"$res")
    us=$(awk -v c="$((c1 - c0))" -v t="$tick" -v n="$n" 'BEGIN { printf "%.1f", n ? c / t * 1e6 / n : 0 }')
    echo "$name round $r: $rate conns/s, server ${us} us CPU per connection, errors $errs" | tee -a "$out/results"
    sleep 1   # TIME_WAIT sockets of the last row are the client's; give the kernel a moment
  done
done
echo "medians:"
for ((i = 0; i < ${#rows[@]}; i += 2)); do
  name=${rows[i]}
  rates=$(grep "^$name round" "$out/results" | awk '{print $4}' | sort -n); cpus=$(grep "^$name round" "$out/results" | awk '{print $7}' | sort -n)
  m=$(( ($(wc -l <<<"$rates") + 1) / 2 ))
  echo "  $name: $(sed -n "${m}p" <<<"$rates") conns/s, $(sed -n "${m}p" <<<"$cpus") us CPU per connection"
done
uptime
