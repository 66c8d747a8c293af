#!/usr/bin/env bash
# Ferry on NATS: ingress msgs/s through `ferry serve --nats` (loadgen ingest clients) beside a bare NATS.Net
# publisher of the same size, core and JetStream (same in-flight window); then the round trip
# client -> Ferry -> NATS -> worker -> NATS -> Ferry -> client. Loopback only, every run bounded in time.
# usage: bench/nats_bench.sh KIT_DIR FERRY_CLI NATSBENCH [SECONDS]
#   KIT_DIR    a copy of ../shared/bench with loadgen built (gcc -O2 -o loadgen loadgen.c)
#   FERRY_CLI  dotnet publish src/Ferry.Cli -c Release -o DIR; DIR/Ferry.Cli
#   NATSBENCH  dotnet publish bench/NatsBench -c Release -o DIR; DIR/NatsBench
# environment: MODES (default "core jetstream"), SIZES (default "64 4096"), ROUNDTRIP=0 skips the round trip,
#   ROUNDS (default 1) repeats the ingress table, each round pairing ferry and the bare publisher back to back,
#   FERRY_BEFORE=another Ferry.Cli adds a column measured with that build in the same rounds (before/after),
#   FERRY_ARGS more `ferry serve` options for both (e.g. "--group-size 64").
set -euo pipefail
KIT=$1 FERRY=$2 BENCH=$3 SECONDS_PER_RUN=${4:-5}
MODES=${MODES:-core jetstream} SIZES=${SIZES:-64 4096} ROUNDTRIP=${ROUNDTRIP:-1} ROUNDS=${ROUNDS:-1}
NATS_PORT=14222 FERRY_PORT=19000 WINDOW=256 CONNS=8
URL=nats://127.0.0.1:$NATS_PORT
STORE=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$STORE"; }
trap cleanup EXIT

# Generous start-up waits (30 s, 60 s): the machine may be busy.
start_nats() {
  rm -rf "$STORE"/*
  nats-server -a 127.0.0.1 -p $NATS_PORT -js -sd "$STORE" >/dev/null 2>&1 & NATS_PID=$!; pids+=($NATS_PID)
  for _ in $(seq 300); do (exec 3<>/dev/tcp/127.0.0.1/$NATS_PORT) 2>/dev/null && return; sleep 0.1; done
  echo "nats-server did not start" >&2; exit 1
}
stop_pid() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
start_ferry() { # mode [binary]
  "${2:-$FERRY}" serve --bind 127.0.0.1:$FERRY_PORT --max-connections 0 --framing lines --quiet --log-level none \
    --nats "$URL" --nats-mode "$1" --nats-max-in-flight $WINDOW ${FERRY_ARGS:-} >/dev/null 2>&1 & FERRY_PID=$!; pids+=($FERRY_PID)
  for _ in $(seq 600); do (exec 3<>/dev/tcp/127.0.0.1/$FERRY_PORT) 2>/dev/null && return; sleep 0.1; done
  echo "ferry serve did not start" >&2; exit 1
}
# CPU seconds (user + system) the process has used so far.
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat" 2>/dev/null || echo "?"; }
result() { grep '^RESULT' | tail -1; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -r), nats-server $(nats-server --version | awk '{print $2}'), .NET $(dotnet --version)"
# One ferry measurement: sets ferry_rate (published packets/s from its stats), and per published packet
# over the whole load the CPU µs of ferry (ferry_us), of nats-server (nats_us) and of loadgen (load_us):
# costs that depend much less on the machine's load than the rates do.
measure_ferry() { # binary mode size
  start_nats; start_ferry "$2" "$1"
  "$BENCH" rate "$URL" ferry.tcp_server.stats "$SECONDS_PER_RUN" > /tmp/nats_bench_rate.txt & RATE_PID=$!
  local cpu0 cpu1 ncpu0 ncpu1 total duration=$((SECONDS_PER_RUN + 3))
  cpu0=$(cpu_seconds $FERRY_PID) ncpu0=$(cpu_seconds $NATS_PID)
  /usr/bin/time -f "LOADGEN_CPU %U %S" "$KIT/loadgen" --port $FERRY_PORT --mode ingest --conns $CONNS --duration $duration \
    --warmup 1 --size "$3" --framing line --quiet > /tmp/nats_bench_loadgen.txt 2>&1 || true
  wait $RATE_PID || true
  total=$("$BENCH" total "$URL" ferry.tcp_server.stats | result | field packets || true)
  cpu1=$(cpu_seconds $FERRY_PID) ncpu1=$(cpu_seconds $NATS_PID)
  ferry_rate=$(result < /tmp/nats_bench_rate.txt | field msgs_per_s)
  ferry_us=$(per_msg "$cpu0" "$cpu1" "$total") nats_us=$(per_msg "$ncpu0" "$ncpu1" "$total")
  load_us=$(per_msg 0 "$(awk '/^LOADGEN_CPU/ { print $2 + $3 }' /tmp/nats_bench_loadgen.txt)" "$total")
  stop_pid $FERRY_PID; stop_pid $NATS_PID
}
per_msg() { awk -v a="$1" -v b="$2" -v n="${3:-0}" 'BEGIN { if (n > 0 && b != "") printf "%.2f", 1e6 * (b - a) / n; else print "?" }'; }
ratio() { awk -v f="${1:-0}" -v b="${2:-1}" 'BEGIN { if (f == "" || f == "?") print "?"; else printf "%.2f", f / b }'; }

# FERRY_BEFORE=path/to/another/Ferry.Cli adds columns measured with that build in the same round.
# *_us: CPU µs per message. ferry (socket reads, framing, gateway, NATS.Net's writer) | nats-server while
# ferry ran | loadgen | the bare publisher's process (its loop and NATS.Net) | nats-server while it ran.
# ceiling: the ratio to expect when all of it is CPU-bound on the same cores:
#   (bare + its nats-server) / (ferry + its nats-server + loadgen).
printf '%-9s %5s %9s %9s %9s %6s %6s %7s %7s %6s %6s %6s %6s %7s  %s\n' mode size before_m/s ferry_m/s bare_m/s \
  before ratio bfr_us ferry_us nats_us load_us bare_us nats_us ceiling load
for round in $(seq "$ROUNDS"); do
for mode in $MODES; do
  for size in $SIZES; do
    before=- before_us=-
    if [ -n "${FERRY_BEFORE:-}" ]; then
      measure_ferry "$FERRY_BEFORE" $mode $size; before=${ferry_rate:-?} before_us=$ferry_us
    fi
    measure_ferry "$FERRY" $mode $size
    start_nats
    ncpu0=$(cpu_seconds $NATS_PID)
    "$BENCH" publish "$URL" bench.bare.$size $size "$SECONDS_PER_RUN" $mode $WINDOW | result > /tmp/nats_bench_bare.txt || true
    ncpu1=$(cpu_seconds $NATS_PID)
    bare=$(field msgs_per_s < /tmp/nats_bench_bare.txt) bare_us=$(field cpu_us_per_msg < /tmp/nats_bench_bare.txt)
    bare_nats_us=$(per_msg "$ncpu0" "$ncpu1" "$(field msgs < /tmp/nats_bench_bare.txt)")
    stop_pid $NATS_PID
    ceiling=$(awk -v b="$bare_us" -v bn="$bare_nats_us" -v f="$ferry_us" -v fn="$nats_us" -v l="$load_us" \
      'BEGIN { if (f + fn + l > 0 && b != "?" && f != "?") printf "%.2f", (b + bn) / (f + fn + l); else print "?" }')
    printf '%-9s %5s %9s %9s %9s %6s %6s %7s %7s %6s %6s %6s %6s %7s  %s\n' $mode $size "$before" "${ferry_rate:-?}" "${bare:-?}" \
      "$( [ "$before" = - ] && echo - || ratio "$before" "$bare")" "$(ratio "$ferry_rate" "$bare")" "$before_us" "$ferry_us" \
      "$nats_us" "$load_us" "${bare_us:-?}" "$bare_nats_us" "$ceiling" "$(cut -d' ' -f1-3 /proc/loadavg)"
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
