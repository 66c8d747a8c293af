#!/usr/bin/env bash
# bridge_interleaved.sh - the kit's bridge procedure (bench/../kit README "Frame bridge"), with
# zmq_echo and Ferry's bridge echo measured alternately (A B A B ...) instead of one after the other,
# so that a busy, shared machine loads both alike; and with each server's CPU time per frame.
#
#   bench/BridgeBench/bridge_interleaved.sh FERRY_CLI [--kit DIR] [--role server|client] [--size BYTES]
#                                           [--frames N] [--rounds R] [--window W] [--port P] [--base OLD_CLI]
#
# --base adds a third server per round, OLD_CLI's bridge echo (named ferry_base), for before/after.
# Per round: start zmq_echo ROLE (then Ferry: FERRY_CLI bridge ROLE 127.0.0.1 P --echo --quiet) with
# `taskset -c 1`, wait for its ports (role server), one warm-up zmq_loadgen run (N/10 frames), one
# measured run of N frames with zmq_loadgen (the other role) on `taskset -c 0`, stop it by PID.
# Server CPU = utime+stime ticks of the server process over the measured run (all its threads).
# Prints one line per run and the medians; raw zmq_loadgen output under /tmp/bridge-interleaved.*.
set -u
CLI=${1:?usage: bridge_interleaved.sh FERRY_CLI [options]}
shift
BASE=""; KIT=/work/kit; ROLE=server; SIZE=65536; FRAMES=""; ROUNDS=3; WINDOW=1000; PORT=19800
while [ $# -gt 0 ]; do
  case "$1" in
    --kit) KIT=$2; shift 2 ;; --role) ROLE=$2; shift 2 ;; --size) SIZE=$2; shift 2 ;;
    --frames) FRAMES=$2; shift 2 ;; --rounds) ROUNDS=$2; shift 2 ;; --window) WINDOW=$2; shift 2 ;;
    --port) PORT=$2; shift 2 ;; --base) BASE=$2; shift 2 ;; *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[ -n "$FRAMES" ] || FRAMES=$(awk -v s="$SIZE" 'BEGIN{ n = int(536870912 / s); if (n < 2000) n = 2000; if (n > 200000) n = 200000; print n }')
ZL=$KIT/build/zmq_loadgen; ZE=$KIT/build/zmq_echo
[ -x "$ZL" ] && [ -x "$ZE" ] || { echo "build the kit's zmq tools first ($KIT/bridge_compare.sh builds them)" >&2; exit 1; }
[ "$ROLE" = server ] && LROLE=client || LROLE=server
OUT=$(mktemp -d /tmp/bridge-interleaved.XXXXXX)
HZ=$(getconf CLK_TCK)
ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
kv() { grep '^RESULT' "$2" | tail -1 | tr ' ' '\n' | sed -n "s/^$1=//p"; }

run_one() { # run_one NAME ROUND CMD
  local name=$1 round=$2 cmd=$3 pid i t0 t1 f=$OUT/$1.$2.txt
  PORT=$((PORT + 2))
  taskset -c 1 bash -c "exec ${cmd//\{PORT\}/$PORT}" >/dev/null 2>"$OUT/$name.$round.err" &
  pid=$!
  if [ "$ROLE" = server ]; then
    for ((i = 0; i < 300; i++)); do
      [ "$(ss -Htln "( sport = :$PORT or sport = :$((PORT + 1)) )" | wc -l)" -ge 2 ] && break
      sleep 0.1
    done
  fi
  sleep 0.5
  taskset -c 0 "$ZL" --quiet --role "$LROLE" --addr 127.0.0.1 --port "$PORT" --frames $((FRAMES / 10 > 100 ? FRAMES / 10 : 100)) \
    --size "$SIZE" --window "$WINDOW" --timeout 120 --stall 20 >"$OUT/$name.$round.warmup.txt" 2>&1
  sleep 0.3
  t0=$(ticks "$pid")
  taskset -c 0 "$ZL" --quiet --role "$LROLE" --addr 127.0.0.1 --port "$PORT" --frames "$FRAMES" \
    --size "$SIZE" --window "$WINDOW" --timeout 180 --stall 20 >"$f" 2>&1
  t1=$(ticks "$pid")
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  local fps mib p99 errs lg us
  fps=$(kv frames_per_s "$f"); mib=$(kv mib_per_s "$f"); p99=$(kv p99_us "$f"); errs=$(kv errors "$f"); lg=$(kv cpu_pct "$f")
  us=$(awk -v a="$t0" -v b="$t1" -v hz="$HZ" -v n="$(kv received "$f")" 'BEGIN{ printf "%.2f", (n > 0 ? (b - a) / hz * 1e6 / n : 0) }')
  printf '%-9s round %d  frames/s %9s  MiB/s %8s  p99 us %10s  srv cpu us/frame %7s  lg cpu %% %5s  errors %s  load %s\n' \
    "$name" "$round" "$fps" "$mib" "$p99" "$us" "$lg" "${errs:-no result}" "$(cut -d' ' -f1 /proc/loadavg)"
  echo "$name $fps $mib $p99 $us" >>"$OUT/rows"
}

echo "== role $ROLE (zmq_loadgen $LROLE), size $SIZE B, $FRAMES frames, window $WINDOW, $ROUNDS rounds; $(uptime)"
for ((r = 1; r <= ROUNDS; r++)); do
  run_one zmq_echo "$r" "$ZE $ROLE 127.0.0.1 {PORT}"
  run_one ferry "$r" "$CLI bridge $ROLE 127.0.0.1 {PORT} --echo --quiet"
  [ -z "$BASE" ] || run_one ferry_base "$r" "$BASE bridge $ROLE 127.0.0.1 {PORT} --echo --quiet"
done
echo "== medians ($(uptime))"
for name in zmq_echo ferry ${BASE:+ferry_base}; do
  awk -v n="$name" '$1 == n { f[++k] = $2; m[k] = $3; p[k] = $4; u[k] = $5 }
    function med(a, k,   i, j, t) { for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }; return a[int((k + 1) / 2)] }
    END { printf "%-9s frames/s %9s  MiB/s %8s  p99 us %10s  srv cpu us/frame %7s\n", n, med(f, k), med(m, k), med(p, k), med(u, k) }' "$OUT/rows"
done
echo "raw: $OUT"
