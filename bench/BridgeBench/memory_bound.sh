#!/usr/bin/env bash
# memory_bound.sh - Ferry's bridge echo while its peer does not read: memory must stay bounded.
#
#   bench/BridgeBench/memory_bound.sh FERRY_CLI [PORT] [SECONDS] [SIZE]
#
# Starts `FERRY_CLI bridge server 127.0.0.1 PORT --echo --quiet --stats` and runs no_reader.py
# (pyzmq, Rogue's client layout: sends SIZE-byte frames, never reads the echoes) for SECONDS.
# Prints, once a second, the server's VmRSS (from /proc) beside the frames the client got in, then
# the server's last stats lines (pending_send_bytes = the echo's queued send bytes). Loopback only.
set -u
CLI=${1:?usage: memory_bound.sh FERRY_CLI [PORT] [SECONDS] [SIZE]}
PORT=${2:-19700}
SECS=${3:-15}
SIZE=${4:-65536}
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$(mktemp -d /tmp/bridge-membound.XXXXXX)
"$CLI" bridge server 127.0.0.1 "$PORT" --echo --quiet --stats >"$OUT/server.out" 2>"$OUT/server.err" &
SPID=$!
for _ in $(seq 100); do
  [ "$(ss -Htln "( sport = :$PORT or sport = :$((PORT + 1)) )" | wc -l)" -ge 2 ] && break
  sleep 0.1
done
"${FERRY_BRIDGE_PYTHON:-/usr/bin/python3}" "$HERE/no_reader.py" "$PORT" --size "$SIZE" --seconds "$SECS" >"$OUT/client.out" 2>&1 &
CPID=$!
echo "t_s server_rss_kib client_frames_sent server_frames_in server_frames_out server_pending_send_bytes"
for t in $(seq 1 "$SECS"); do
  sleep 1
  rss=$(awk '/VmRSS/ { print $2 }' "/proc/$SPID/status" 2>/dev/null)
  sent=$(tail -1 "$OUT/client.out" 2>/dev/null | sed -n 's/.*"frames_sent": \([0-9]*\).*/\1/p')
  stats=$(grep '"stats"' "$OUT/server.out" | tail -1)
  field() { echo "$stats" | sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"; }
  echo "$t ${rss:-?} ${sent:-0} $(field frames_in) $(field frames_out) $(field pending_send_bytes)"
done
wait "$CPID"
sleep 1.5
kill -TERM "$SPID" 2>/dev/null
wait "$SPID" 2>/dev/null
echo "raw output: $OUT"
