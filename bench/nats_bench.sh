#!/usr/bin/env bash
# Ferry on NATS: ingress msgs/s through `ferry serve --nats` (loadgen ingest clients) beside a bare NATS.Net
# publisher of the same size, core and JetStream (same in-flight window); then the round trip
# client -> Ferry -> NATS -> worker -> NATS -> Ferry -> client. Loopback only, every run bounded in time.
# usage: bench/nats_bench.sh KIT_DIR FERRY_CLI NATSBENCH [SECONDS]
#   KIT_DIR    a copy of ../shared/bench with loadgen built (gcc -O2 -o loadgen loadgen.c)
#   FERRY_CLI  dotnet publish src/Ferry.Cli -c Release -o DIR; DIR/Ferry.Cli
#   NATSBENCH  dotnet publish bench/NatsBench -c Release -o DIR; DIR/NatsBench
# environment: MODES (default "core jetstream"), SIZES (default "64 4096"), ROUNDTRIP=0 skips the round trip,
#   ROUNDS (default 1) repeats the ingress table, each round pairing ferry and the bare publisher back to back.
set -euo pipefail
KIT=$1 FERRY=$2 BENCH=$3 SECONDS_PER_RUN=${4:-5}
MODES=${MODES:-core jetstream} SIZES=${SIZES:-64 4096} ROUNDTRIP=${ROUNDTRIP:-1} ROUNDS=${ROUNDS:-1}
NATS_PORT=14222 FERRY_PORT=19000 WINDOW=256 CONNS=8
URL=nats://127.0.0.1:$NATS_PORT
STORE=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$STORE"; }
trap cleanup EXIT

start_nats() {
  rm -rf "$STORE"/*
  nats-server -a 127.0.0.1 -p $NATS_PORT -js -sd "$STORE" >/dev/null 2>&1 & NATS_PID=$!; pids+=($NATS_PID)
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$NATS_PORT) 2>/dev/null && return; sleep 0.1; done
  echo "nats-server did not start" >&2; exit 1
}
stop_pid() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
start_ferry() { # mode
  "$FERRY" serve --bind 127.0.0.1:$FERRY_PORT --max-connections 0 --framing lines --quiet --log-level none \
    --nats "$URL" --nats-mode "$1" --nats-max-in-flight $WINDOW >/dev/null 2>&1 & FERRY_PID=$!; pids+=($FERRY_PID)
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$FERRY_PORT) 2>/dev/null && return; sleep 0.1; done
  echo "ferry serve did not start" >&2; exit 1
}
# CPU seconds (user + system) the process has used so far: ferry's share of the two cores during the run.
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.1f", ($14 + $15) / hz }' "/proc/$1/stat" 2>/dev/null || echo "?"; }
result() { grep '^RESULT' | tail -1; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -r), nats-server $(nats-server --version | awk '{print $2}'), .NET $(dotnet --version)"
printf '%-10s %6s %14s %14s %7s %7s  %s\n' mode size ferry_msgs_s bare_msgs_s ratio ferry_cpu load
for round in $(seq "$ROUNDS"); do
for mode in $MODES; do
  for size in $SIZES; do
    start_nats; start_ferry $mode
    "$BENCH" rate "$URL" ferry.tcp_server.stats "$SECONDS_PER_RUN" > /tmp/nats_bench_rate.txt & RATE_PID=$!
    "$KIT/loadgen" --port $FERRY_PORT --mode ingest --conns $CONNS --duration $((SECONDS_PER_RUN + 3)) --warmup 1 \
      --size $size --framing line --quiet > /tmp/nats_bench_loadgen.txt 2>&1 || true
    wait $RATE_PID || true
    ferry=$(result < /tmp/nats_bench_rate.txt | field msgs_per_s)
    cpu=$(cpu_seconds $FERRY_PID)
    stop_pid $FERRY_PID
    bare=$("$BENCH" publish "$URL" bench.bare.$size $size "$SECONDS_PER_RUN" $mode $WINDOW | result | field msgs_per_s)
    stop_pid $NATS_PID
    printf '%-10s %6s %14s %14s %7s %7s  %s\n' $mode $size "${ferry:-?}" "${bare:-?}" \
      "$(awk -v f="${ferry:-0}" -v b="${bare:-1}" 'BEGIN { printf "%.2f", f / b }')" "$cpu" "$(cut -d' ' -f1-3 /proc/loadavg)"
  done
done
done
[ "$ROUNDTRIP" = 0 ] && exit 0

echo
printf '%-10s %6s %6s %12s %9s %9s\n' mode conns depth msgs_s p50_us p99_us
for mode in $MODES; do
  for depth in 1 16; do
    start_nats; start_ferry $mode
    "$BENCH" echo "$URL" tcp_server $((SECONDS_PER_RUN + 8)) > /tmp/nats_bench_echo.txt & ECHO_PID=$!
    sleep 1
    line=$("$KIT/loadgen" --port $FERRY_PORT --mode echo --conns $CONNS --duration $SECONDS_PER_RUN --warmup 1 \
      --size 64 --depth $depth --framing line --quiet 2>&1 | result)
    stop_pid $ECHO_PID; stop_pid $FERRY_PID; stop_pid $NATS_PID
    printf '%-10s %6s %6s %12s %9s %9s   %s\n' $mode $CONNS $depth "$(echo "$line" | field msgs_per_s)" \
      "$(echo "$line" | field p50_us)" "$(echo "$line" | field p99_us)" "errors=$(echo "$line" | field errors)"
  done
done
