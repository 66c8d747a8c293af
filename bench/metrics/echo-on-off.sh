#!/usr/bin/env bash
# Full-path echo (ferry serve --echo --quiet) with the Ferry meter exported and scraped every second
# ("on": --metrics-listen + a real Prometheus at scrape_interval 1s) against the same server without
# export ("off"), alternating off/on ROUNDS times in one run; prints msgs/s per run and the ratio of
# the medians. Server pinned to core 1, the kit's loadgen to core 0, loopback only.
#   bench/metrics/echo-on-off.sh 'dotnet src/Ferry.Cli/bin/Release/net10.0/Ferry.Cli.dll' [ROUNDS]
set -euo pipefail
FERRY="$1"; ROUNDS="${2:-3}"; DUR=8; WARM=2; CONNS=50; DEPTH=16; SIZE=64
LG=/tmp/ferry-loadgen
[ -x "$LG" ] || gcc -O2 -o "$LG" "$(dirname "$0")/../../../shared/bench/loadgen.c" 2>/dev/null || gcc -O2 -o "$LG" /work/shared/bench/loadgen.c
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
one() { # one off|on -> msgs/s
  local mode=$1 port mport pid ppid="" extra=""
  port=$(free_port)
  if [ "$mode" = on ]; then
    mport=$(free_port); extra="--metrics-listen 127.0.0.1:$mport"
    cat >"$work/p.yml" <<YML
global: {scrape_interval: 1s}
scrape_configs: [{job_name: ferry, static_configs: [{targets: ["127.0.0.1:$mport"]}]}]
YML
  fi
  taskset -c 1 $FERRY serve --echo --quiet --max-connections 0 --bind "127.0.0.1:$port" $extra >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  if [ "$mode" = on ]; then
    taskset -c 0 prometheus --config.file="$work/p.yml" --storage.tsdb.path="$work/data.$RANDOM" --web.listen-address="127.0.0.1:$(free_port)" >/dev/null 2>&1 &
    ppid=$!
  fi
  taskset -c 0 "$LG" --quiet --port "$port" --mode echo --conns $CONNS --size $SIZE --depth $DEPTH --framing raw --duration $DUR --warmup $WARM \
    | sed -n 's/.*msgs_per_s=\([0-9.]*\).*/\1/p' | tail -1
  [ -n "$ppid" ] && kill "$ppid" 2>/dev/null; kill "$pid"; wait "$pid" 2>/dev/null || true; [ -n "$ppid" ] && wait "$ppid" 2>/dev/null || true
}
off=(); on=()
for r in $(seq "$ROUNDS"); do
  off+=("$(one off)"); echo "round $r off: ${off[-1]} msgs/s"
  on+=("$(one on)"); echo "round $r on:  ${on[-1]} msgs/s"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
mo=$(median "${off[@]}"); mn=$(median "${on[@]}")
echo "median off: $mo msgs/s; median on: $mn msgs/s; on/off = $(awk -v a="$mn" -v b="$mo" 'BEGIN {printf "%.3f", a/b}')"
