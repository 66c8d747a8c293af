#!/usr/bin/env bash
# Per-connection backpressure at rate (issue 14): the echo rate of 50 connections (the kit's loadgen, 64 B,
# depth 16) while one more connection's handler takes a second per message, against the same server with
# no such connection, alternating in every round. The slow connection is a client that sends 64 B messages
# as fast as the stage takes them and never reads: its handler's inbox fills, the stage stops reading it,
# its TCP window closes, and from then on it costs the others nothing.
#   bench/slow_handler.sh CONNECTION_ECHO_DIR ROUNDS [--inline]
# Server pinned to core 1, loadgen and the slow client to core 0; loopback only.
set -euo pipefail
dir=${1:?ConnectionEcho publish dir}; rounds=${2:-3}; shift 2 || true
extra=("$@")
LG=${LG:-/work/kit/loadgen}
DUR=${DUR:-6}; WARM=${WARM:-2}; SLOW_PORT=47391
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

one() { # one none|slow -> msgs/s of the 50 loadgen connections
  local mode=$1 port pid slow=""
  port=$(free_port)
  taskset -c 1 "$dir/ConnectionEcho" "$port" --slow-peer-port $SLOW_PORT "${extra[@]}" 2>/dev/null &
  pid=$!
  for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  if [ "$mode" = slow ]; then
    taskset -c 0 python3 - "$port" $SLOW_PORT >"$work/slow.out" 2>&1 <<'PY' &
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[2]))); s.connect(("127.0.0.1", int(sys.argv[1])))
s.setblocking(False); sent = 0; start = time.time()
while time.time() - start < 60:
    try:
        sent += s.send(b"s" * 64)
    except BlockingIOError:
        time.sleep(0.01)  # the window is closed: the stage stopped reading this connection
print(sent, flush=True)
PY
    slow=$!
    sleep 1 # the slow connection is established and its inbox full before the measurement starts
  fi
  taskset -c 0 "$LG" --quiet --port "$port" --mode echo --conns 50 --size 64 --depth 16 --framing raw \
    --duration "$DUR" --warmup "$WARM" >"$work/lg.out"
  [ -n "$slow" ] && { kill "$slow" 2>/dev/null; wait "$slow" 2>/dev/null || true; }
  kill "$pid"; wait "$pid" 2>/dev/null || true
  grep -q "errors=0" "$work/lg.out" || { echo "loadgen reported errors: $(tail -1 "$work/lg.out")" >&2; exit 1; }
  sed -n 's/.*msgs_per_s=\([0-9.]*\).*/\1/p' "$work/lg.out" | tail -1
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo "# $(date -u +%FT%TZ) $(uptime) ${extra[*]}"
none=(); slow=()
for r in $(seq "$rounds"); do
  a=$(one none); b=$(one slow); none+=("$a"); slow+=("$b")
  echo "round $r: without the slow connection $a msgs/s, with it $b msgs/s"
done
mn=$(printf '%s\n' "${none[@]}" | median); ms=$(printf '%s\n' "${slow[@]}" | median)
awk -v a="$mn" -v b="$ms" 'BEGIN {printf "median: without %.0f, with %.0f msgs/s: with/without = %.3f\n", a, b, b / a}'
