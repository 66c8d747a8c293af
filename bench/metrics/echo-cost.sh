#!/usr/bin/env bash
# What exporting the Ferry meter costs the full-path echo (ferry serve --echo --quiet), variants
# alternating in every round of one run. For each run: msgs/s (the kit's loadgen) and the server
# process's CPU time per message (utime+stime from /proc/PID/stat over the middle of the measured
# window / messages in it), the figure that stays meaningful on a shared machine. Server pinned to
# core 1; loadgen, Prometheus and curl to core 0; loopback only.
#   bench/metrics/echo-cost.sh ROUNDS 'LABEL|MODE|FERRY-COMMAND' ...
# MODE: off  = no export;
#       prom = --metrics-listen scraped by a real Prometheus every second (scrape_interval 1s);
#       curl = --metrics-listen scraped by curl every second (the export without Prometheus's own CPU);
#       listen = --metrics-listen and nobody scrapes (the instruments enabled, the recording, no collection).
# e.g. bench/metrics/echo-cost.sh 3 "off|off|$B serve" "prom|prom|$B serve" "curl|curl|$B serve"
# TLS: LG=/work/kit/build/loadgen LGARGS="--tls --tls-ca CA.crt" and "--tls-cert C --tls-key K" in each command.
set -euo pipefail
ROUNDS="$1"; shift
DUR=${DUR:-8}; WARM=${WARM:-2}; CONNS=50; DEPTH=16; SIZE=64
LG=${LG:-/tmp/ferry-loadgen}   # LG=/work/kit/build/loadgen (built with OpenSSL) for LGARGS="--tls --tls-ca CA.crt"
[ -x "$LG" ] || gcc -O2 -o "$LG" /work/shared/bench/loadgen.c
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
HZ=$(getconf CLK_TCK)

one() { # one MODE COMMAND -> "msgs/s ns/msg"
  local mode=$1 cmd=$2 port mport pid scraper="" extra="" c0 c1 rate
  port=$(free_port)
  if [ "$mode" != off ]; then mport=$(free_port); extra="--metrics-listen 127.0.0.1:$mport"; fi
  # shellcheck disable=SC2086
  taskset -c 1 $cmd --echo --quiet --max-connections 0 --bind "127.0.0.1:$port" $extra >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  case $mode in
    prom)
      printf 'global: {scrape_interval: 1s}\nscrape_configs: [{job_name: ferry, static_configs: [{targets: ["127.0.0.1:%s"]}]}]\n' "$mport" >"$work/p.yml"
      taskset -c 0 prometheus --config.file="$work/p.yml" --storage.tsdb.path="$work/data.$RANDOM" \
        --web.listen-address="127.0.0.1:$(free_port)" >/dev/null 2>&1 &
      scraper=$! ;;
    curl)
      taskset -c 0 bash -c "while :; do curl -s -o /dev/null http://127.0.0.1:$mport/metrics; sleep 1; done" &
      scraper=$! ;;
  esac
  taskset -c 0 "$LG" --quiet --port "$port" --mode echo --conns $CONNS --size $SIZE --depth $DEPTH --framing raw \
    --duration "$DUR" --warmup "$WARM" ${LGARGS:-} >"$work/lg.out" &
  local lg=$!
  sleep "$((WARM + 1))"; c0=$(cpu_ticks "$pid")
  sleep "$((DUR - 2))"; c1=$(cpu_ticks "$pid")
  wait "$lg"
  rate=$(sed -n 's/.*msgs_per_s=\([0-9.]*\).*/\1/p' "$work/lg.out" | tail -1)
  if [ -n "$scraper" ]; then kill "$scraper" 2>/dev/null; wait "$scraper" 2>/dev/null || true; fi
  kill "$pid"; wait "$pid" 2>/dev/null || true
  awk -v r="$rate" -v c="$((c1 - c0))" -v hz="$HZ" -v s="$((DUR - 2))" 'BEGIN {printf "%.0f %.1f", r, c / hz * 1e9 / (r * s)}'
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
declare -A rates cpus
echo "# $(date -u +%FT%TZ) $(uptime)"
for r in $(seq "$ROUNDS"); do
  for v in "$@"; do
    IFS='|' read -r label mode cmd <<<"$v"
    read -r rate ns <<<"$(one "$mode" "$cmd")"
    rates[$label]+="$rate "; cpus[$label]+="$ns "
    printf 'round %s %-12s %9s msgs/s %7s ns CPU/msg\n' "$r" "$label" "$rate" "$ns"
  done
  echo "#   $(uptime)"
done
first=""
for v in "$@"; do
  IFS='|' read -r label _ _ <<<"$v"
  mr=$(tr ' ' '\n' <<<"${rates[$label]}" | grep . | median); mc=$(tr ' ' '\n' <<<"${cpus[$label]}" | grep . | median)
  [ -z "$first" ] && { first=$label; fr=$mr; fc=$mc; }
  awk -v l="$label" -v r="$mr" -v c="$mc" -v fr="$fr" -v fc="$fc" -v f="$first" \
    'BEGIN {printf "median %-12s %9.0f msgs/s (%.3f x %s) %7.1f ns CPU/msg (%.3f x %s)\n", l, r, r / fr, f, c, c / fc, f}'
done
