#!/usr/bin/env bash
# The gateway's own cost per packet, measured in process where the machine's load matters least: managed
# bytes allocated (all threads) and process CPU per packet while one loopback client's lines go through a
# lines stage and its core NATS gateway (NatsBench alloc). Alternates builds, ROUNDS times each.
# usage: bench/nats_alloc.sh NATSBENCH [NATSBENCH_BEFORE]   (dotnet publish bench/NatsBench -c Release -o DIR)
set -euo pipefail
AFTER=$1 BEFORE=${2:-} ROUNDS=${ROUNDS:-3} SIZES=${SIZES:-64 4096}
NATS_PORT=14223 URL=nats://127.0.0.1:14223
nats-server -a 127.0.0.1 -p $NATS_PORT >/dev/null 2>&1 & NATS_PID=$!
trap 'kill $NATS_PID 2>/dev/null || true' EXIT
for _ in $(seq 300); do (exec 3<>/dev/tcp/127.0.0.1/$NATS_PORT) 2>/dev/null && break; sleep 0.1; done
count() { [ "$1" -ge 1024 ] && echo 40000 || echo 200000; }
printf '%-7s %5s %8s %13s %15s  %s\n' build size msgs bytes_per_msg cpu_us_per_msg load
for round in $(seq "$ROUNDS"); do
  for size in $SIZES; do
    for build in ${BEFORE:+before} after; do
      bin=$AFTER; [ $build = before ] && bin=$BEFORE
      line=$("$bin" alloc "$URL" "$size" "$(count "$size")" | grep '^RESULT' | tail -1)
      printf '%-7s %5s %8s %13s %15s  %s\n' $build $size "$(echo "$line" | sed -n 's/.* msgs=\([^ ]*\).*/\1/p')" \
        "$(echo "$line" | sed -n 's/.* bytes_per_msg=\([^ ]*\).*/\1/p')" "$(echo "$line" | sed -n 's/.* cpu_us_per_msg=\([^ ]*\).*/\1/p')" \
        "$(cut -d' ' -f1-3 /proc/loadavg)"
    done
  done
done
