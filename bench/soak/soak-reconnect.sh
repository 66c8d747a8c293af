#!/usr/bin/env bash
# A bounded soak of the parts that reconnect (loopback, not part of CI):
#   bench/soak/soak-reconnect.sh [SECONDS]      (default 600 = 10 minutes)
# FERRY=/path/to/ferry uses that binary (a Release publish or the native AOT one) instead of publishing one.
# Needs python3, /usr/bin/python3 with python3-zmq (Debian's; ZMQ_PYTHON=… for another) for the bridge peers, and nats-server.
# Three ferry processes run at once, each sampled on its own:
#   run     `ferry run` of a generated pipeline: clients of 'front_a' -> tcp_client 'back_a' -> a plain upstream,
#           clients of 'front_b' -> tcp_client 'back_b' over TLS (SslStream, handshake_timeout 1s) -> a TLS
#           upstream; both upstreams are flap_server.py: up 2-5 s (echoing), then every connection dropped
#           (FIN or RST) and the port closed for 0.5-2.5 s, or every third cycle a mute listener that accepts and
#           never answers (the TLS client's handshake times out); line_clients.py drives both fronts
#   bridge  `ferry bridge server 127.0.0.1 P --echo --quiet --stats` with bridge_peers.py: libzmq PUSH/PULL
#           clients that connect, send 1-200 frames, read the echoes and close; PUSH-only peers; raw
#           connections with junk, a greeting cut short, a greeting then an RST
#   nats    `ferry serve --framing lines --quiet --nats nats://127.0.0.1:N` with nats-server killed (SIGKILL)
#           after 8-15 s up and restarted after 1-4 s down; line_clients.py drives the gateway's stage
# Every 10 s it samples each process's RSS, descriptors, threads and counts from its own lines (connections open
# per its last stats line, connect_failed lines, the bridge's handshakes) into samples-<name>.csv; summary.md has
# the tables. Output: bench/soak/out/reconnect-<time>/. Every loop is bounded by the end time.
set -euo pipefail

seconds=${1:-600}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out="$here/out/reconnect-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out/certs"
base=${PORT:-$((20000 + RANDOM % 20000))}
p_front_a=$base p_up_a=$((base + 1)) p_front_b=$((base + 2)) p_up_b=$((base + 3))
p_bridge=$((base + 4)) p_nats=$((base + 6)) p_gateway=$((base + 7))
zpython=${ZMQ_PYTHON:-/usr/bin/python3}
names=(run bridge nats)

echo "soak-reconnect: ${seconds}s, ports $base..$((base + 7)), output in $out"
if [[ -n "${FERRY:-}" ]]; then
  ferry=$FERRY
else
  dotnet publish "$repo/src/Ferry.Cli/Ferry.Cli.csproj" -c Release -o "$out/ferry" -v q -nologo >"$out/build.log" 2>&1 \
    || { cat "$out/build.log" >&2; exit 1; }
  ferry="$out/ferry/Ferry.Cli"
fi
"$zpython" -c 'import zmq' || { echo "soak-reconnect: $zpython has no zmq (apt-get install -y python3-zmq)" >&2; exit 1; }
command -v nats-server >/dev/null || { echo "soak-reconnect: no nats-server" >&2; exit 1; }

c="$out/certs"
"$ferry" cert ca --name "Soak CA" --out "$c/ca" >/dev/null
"$ferry" cert server --ca "$c/ca" --name localhost --name 127.0.0.1 --out "$c/server" >/dev/null

cat >"$out/pipeline.yaml" <<YAML
stages:
  - name: front_a
    type: tcp_server
    config: { bind: "127.0.0.1:$p_front_a", framing: lines, max_connections: 1000, idle_timeout: 30s }
  - name: back_a
    type: tcp_client
    config: { connect: "127.0.0.1:$p_up_a", framing: lines, reconnect_wait: 100ms, reconnect_max_wait: 1s, connect_timeout: 2s, healthy_after: 1s }
  - name: front_b
    type: tcp_server
    config: { bind: "127.0.0.1:$p_front_b", framing: lines, max_connections: 1000, idle_timeout: 30s }
  - name: back_b
    type: tcp_client
    config:
      connect: "127.0.0.1:$p_up_b"
      framing: lines
      reconnect_wait: 100ms
      reconnect_max_wait: 1s
      connect_timeout: 2s
      healthy_after: 1s
      tls: { secure: true, ca_certificate_file: "$c/ca.pem", server_name: localhost, handshake_timeout: 1s }
routes:
  - { from: front_a, to: back_a }
  - { from: back_a, to: front_a, target: reply }
  - { from: front_b, to: back_b }
  - { from: back_b, to: front_b, target: reply }
YAML

declare -A proc
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for n in "${names[@]}"; do kill -TERM "${proc[$n]:-0}" 2>/dev/null || true; done
  kill -KILL "$(cat "$out/nats.pid" 2>/dev/null)" 2>/dev/null || true # the broker running now, restarted or not
}
trap cleanup EXIT

# nats-server runs detached (its killings are not reported by this shell); its pid is in nats.pid
start_nats() { ( nats-server -a 127.0.0.1 -p "$p_nats" >>"$out/nats-server.log" 2>&1 & echo $! >"$out/nats.pid" ); }
start_nats
"$ferry" run "$out/pipeline.yaml" --quiet </dev/null >"$out/events-run.jsonl" 2>"$out/stderr-run.log" &
proc[run]=$!
"$ferry" bridge server 127.0.0.1 "$p_bridge" --echo --quiet --stats </dev/null >"$out/events-bridge.jsonl" 2>"$out/stderr-bridge.log" &
proc[bridge]=$!
"$ferry" serve --bind "127.0.0.1:$p_gateway" --framing lines --quiet --max-connections 2000 --idle-timeout 30s \
  --nats "nats://127.0.0.1:$p_nats" </dev/null >"$out/events-nats.jsonl" 2>"$out/stderr-nats.log" &
proc[nats]=$!
for n in "${names[@]}"; do
  for _ in $(seq 150); do grep -q '"listening"\|"ready"' "$out/events-$n.jsonl" 2>/dev/null && break; sleep 0.1; done
  grep -q '"listening"\|"ready"' "$out/events-$n.jsonl" || { echo "soak-reconnect: $n did not start" >&2; cat "$out/stderr-$n.log" >&2; exit 1; }
done

start=$(date +%s)
end=$((start + seconds))

# Counts from a process's own lines: the last stats line's field (for one stage: its name), lines of a type.
last_stat() { # file key [stage]
  tail -c 262144 "$1" | grep '"type":"stats"' | grep -- "${3:-}" | tail -1 | grep -o "\"$2\":[0-9]*" | head -1 | cut -d: -f2 || true
}
count() { grep -c -- "$2" "$1" || true; }
sample() {
  local n now pid rss fds threads extra f
  now=$(( $(date +%s) - start ))
  for n in "${names[@]}"; do
    pid=${proc[$n]}
    kill -0 "$pid" 2>/dev/null || continue
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
    threads=$(awk '/^Threads:/ { print $2 }' "/proc/$pid/status")
    fds=$(ls "/proc/$pid/fd" | wc -l)
    f="$out/events-$n.jsonl"
    case $n in
      run) extra="$(last_stat "$f" connections '"stage":"front_a"'),$(last_stat "$f" connections '"stage":"front_b"'),$(count "$f" '"stage":"back_a".*"type":"connected"\|"type":"connected".*"stage":"back_a"'),$(count "$f" '"stage":"back_b".*"type":"connected"\|"type":"connected".*"stage":"back_b"'),$(count "$f" '"type":"connect_failed"')" ;;
      bridge) extra="$(last_stat "$f" handshakes),$(last_stat "$f" frames_in),$(last_stat "$f" pending_send_bytes)" ;;
      nats) extra="$(last_stat "$f" connections),$(last_stat "$f" accepted),$(grep -c -i 'reconnect\|disconnect' "$out/stderr-nats.log" || true)" ;;
    esac
    echo "$now,$rss,$fds,$threads,$extra" >>"$out/samples-$n.csv"
  done
}
echo "t_s,rss_kib,fds,threads,front_a_open,front_b_open,back_a_connects,back_b_connects,connect_failed" >"$out/samples-run.csv"
echo "t_s,rss_kib,fds,threads,handshakes,frames_in,pending_send_bytes" >"$out/samples-bridge.csv"
echo "t_s,rss_kib,fds,threads,open,accepted,nats_log_lines" >"$out/samples-nats.csv"
sample # the baseline, before any load

nice python3 "$here/flap_server.py" --port "$p_up_a" --until "$((end - 5))" --seed 1 >"$out/flap-a.log" 2>&1 &
pids+=($!)
nice python3 "$here/flap_server.py" --port "$p_up_b" --until "$((end - 5))" --seed 2 --cert "$c/server.pem" --key "$c/server.key" \
  >"$out/flap-b.log" 2>&1 &
pids+=($!)
nice python3 "$here/line_clients.py" --port "$p_front_a" --until "$((end - 5))" --conns 6 --name front_a >"$out/lines-a.log" 2>&1 &
pids+=($!)
nice python3 "$here/line_clients.py" --port "$p_front_b" --until "$((end - 5))" --conns 6 --name front_b >"$out/lines-b.log" 2>&1 &
pids+=($!)
nice "$zpython" "$here/bridge_peers.py" --port "$p_bridge" --until "$((end - 5))" --peers 6 >"$out/bridge-peers.log" 2>&1 &
pids+=($!)
nice python3 "$here/line_clients.py" --port "$p_gateway" --until "$((end - 5))" --conns 8 --name nats >"$out/lines-nats.log" 2>&1 &
pids+=($!)
# the NATS server: killed and restarted
( restarts=0
  while (( $(date +%s) + 20 < end )); do
    sleep $((8 + RANDOM % 8))
    kill -KILL "$(cat "$out/nats.pid")" 2>/dev/null || true
    sleep $((1 + RANDOM % 4))
    start_nats
    restarts=$((restarts + 1))
  done
  echo "NATS restarts=$restarts" >"$out/nats-restarts.log" ) &
pids+=($!)

while (( $(date +%s) < end )); do
  sleep 10
  for n in "${names[@]}"; do kill -0 "${proc[$n]}" 2>/dev/null || echo "soak-reconnect: $n died at $(( $(date +%s) - start ))s" >&2; done
  sample
done
for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
pids=()
nats_pid=$(cat "$out/nats.pid")
sleep 10
sample # after the load: what is given back
codes=()
for n in "${names[@]}"; do
  kill -TERM "${proc[$n]}" 2>/dev/null || true
  code=0
  wait "${proc[$n]}" || code=$?
  codes+=("$n $code")
done
kill -KILL "$nats_pid" 2>/dev/null || true
trap - EXIT

{
  echo "# Reconnect soak: ${seconds}s, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "- upstreams: \`$(cat "$out/flap-a.log")\` (plain), \`$(cat "$out/flap-b.log")\` (TLS)"
  echo "- clients: \`$(cat "$out/lines-a.log")\`, \`$(cat "$out/lines-b.log")\`, \`$(cat "$out/lines-nats.log")\`"
  echo "- bridge peers: \`$(cat "$out/bridge-peers.log")\`"
  echo "- $(cat "$out/nats-restarts.log" 2>/dev/null || echo 'NATS restarts=?')"
  echo "- exit codes after SIGTERM: ${codes[*]}; stderr lines: run $(wc -l <"$out/stderr-run.log"), bridge $(wc -l <"$out/stderr-bridge.log"), nats $(wc -l <"$out/stderr-nats.log")"
  echo "- run: connect_failed reasons: $(grep '"type":"connect_failed"' "$out/events-run.jsonl" | grep -o '"reason":"[^"]\{0,60\}' | cut -d'"' -f4 | sed 's/[0-9.:]\{6,\}/ADDR/g' | sort | uniq -c | sort -rn | head -6 | awk '{ c = $1; $1 = ""; printf "%s x%s; ", c, $0 }')"
  for n in "${names[@]}"; do
    echo
    echo "## $n"
    echo
    head -1 "$out/samples-$n.csv" | tr ',' '\n' | awk '{ h = h "| " $0 " " } END { print h "|" }'
    head -1 "$out/samples-$n.csv" | tr ',' '\n' | awk '{ h = h "| ---: " } END { print h "|" }'
    tail -n +2 "$out/samples-$n.csv" | awk -F, '{ $2 = sprintf("%.1f MiB", $2 / 1024); l = ""; for (i = 1; i <= NF; i++) l = l "| " $i " "; print l "|" }'
  done
} >"$out/summary.md"
cat "$out/summary.md"
echo "soak-reconnect: $out"
