#!/usr/bin/env bash
# A bounded soak of `ferry serve --echo` under TLS, on both transports at once (loopback, not part of CI):
#   bench/soak/soak-tls.sh [SECONDS]      (default 600 = 10 minutes)
# FERRY=/path/to/ferry uses that binary (a Release publish or the native AOT one) instead of publishing one.
# Builds the kit's loadgen with TLS (copied from /work/shared/bench into a scratch dir), makes certificates with
# `ferry cert` (a CA, a server certificate, a client certificate, and a rogue CA with its own client certificate),
# and starts two servers, `--transport epoll` (OpenSSL driven by the service thread) and `--transport stream`
# (SslStream), each `ferry serve --framing lines,max_frame_bytes=4096 --echo --quiet --tls-cert … --tls-ca …
# --client-cert optional --tls-handshake-timeout 2s`. For SECONDS it drives against each server:
#   echo     loadgen --tls echo: 16 connections, 4 lines of 64 bytes in flight each, TLS 1.3, the whole time
#   churn    loadgen --tls hold with the trusted client certificate: rounds of 50 handshakes (127.0.0.2..254),
#            held 1 s with a ping, then closed
#   hostile  tls_hostile.py: plain bytes and junk records to the TLS port, an untrusted client certificate, no
#            certificate, a ClientHello cut short and left to the handshake timeout, one closed (FIN or RST)
#            mid-handshake, a good session ended by an RST, a good session ended by close_notify
# Every 10 s it samples each server's RSS, descriptors (/proc/PID/fd), threads and what its last `stats` line
# says (connections open, accepted, closed, tls_failures) into samples-<transport>.csv; summary.md has the tables.
# Output: bench/soak/out/tls-<time>/. Every loop is bounded by the end time; servers stop with SIGTERM at the end.
set -euo pipefail

seconds=${1:-600}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
kit=${KIT:-/work/shared/bench}
out="$here/out/tls-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out/kit" "$out/certs"
base=${PORT:-$((20000 + RANDOM % 20000))}
transports=(epoll stream)

echo "soak-tls: ${seconds}s, ports $base (epoll) and $((base + 1)) (stream), output in $out"
cp "$kit/loadgen.c" "$out/kit/"
gcc -O2 -DWITH_TLS -o "$out/kit/loadgen" "$out/kit/loadgen.c" -lssl -lcrypto
loadgen="$out/kit/loadgen"
if [[ -n "${FERRY:-}" ]]; then
  ferry=$FERRY
else
  dotnet publish "$repo/src/Ferry.Cli/Ferry.Cli.csproj" -c Release -o "$out/ferry" -v q -nologo >"$out/build.log" 2>&1 \
    || { cat "$out/build.log" >&2; exit 1; }
  ferry="$out/ferry/Ferry.Cli"
fi

c="$out/certs"
"$ferry" cert ca --name "Soak CA" --out "$c/ca" >/dev/null
"$ferry" cert server --ca "$c/ca" --name localhost --name 127.0.0.1 --out "$c/server" >/dev/null
"$ferry" cert client --ca "$c/ca" --name soak-client --out "$c/client" >/dev/null
"$ferry" cert ca --name "Rogue CA" --out "$c/rogue-ca" >/dev/null
"$ferry" cert client --ca "$c/rogue-ca" --name soak-client --out "$c/rogue" >/dev/null

declare -A server port
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for t in "${transports[@]}"; do kill -TERM "${server[$t]:-0}" 2>/dev/null || true; done
}
trap cleanup EXIT
i=0
for t in "${transports[@]}"; do
  port[$t]=$((base + i)); i=$((i + 1))
  "$ferry" serve --bind "127.0.0.1:${port[$t]}" --transport "$t" --framing lines,max_frame_bytes=4096 --echo --quiet \
    --max-connections 2000 --idle-timeout 30s --tls-cert "$c/server.pem" --tls-key "$c/server.key" --tls-ca "$c/ca.pem" \
    --client-cert optional --tls-handshake-timeout 2s </dev/null >"$out/events-$t.jsonl" 2>"$out/server-$t.stderr" &
  server[$t]=$!
done
for t in "${transports[@]}"; do
  for _ in $(seq 100); do grep -q '"listening"' "$out/events-$t.jsonl" 2>/dev/null && break; sleep 0.1; done
  grep -q '"listening"' "$out/events-$t.jsonl" || { echo "soak-tls: the $t server did not start" >&2; cat "$out/server-$t.stderr" >&2; exit 1; }
done

start=$(date +%s)
end=$((start + seconds))

# The stage's own count of what is open: the last stats line (one a second).
stat_of() { # file key
  tail -c 65536 "$1" | grep '"type":"stats"' | tail -1 | grep -o "\"$2\":[0-9]*" | cut -d: -f2 || true
}
sample() {
  local t now rss fds threads pid f
  now=$(( $(date +%s) - start ))
  for t in "${transports[@]}"; do
    pid=${server[$t]}
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
    threads=$(awk '/^Threads:/ { print $2 }' "/proc/$pid/status")
    fds=$(ls "/proc/$pid/fd" | wc -l)
    f="$out/events-$t.jsonl"
    echo "$now,$rss,$fds,$threads,$(stat_of "$f" connections),$(stat_of "$f" accepted),$(stat_of "$f" closed),$(stat_of "$f" tls_failures)" \
      >>"$out/samples-$t.csv"
  done
}
for t in "${transports[@]}"; do echo "t_s,rss_kib,fds,threads,open,accepted,closed,tls_failures" >"$out/samples-$t.csv"; done
sample # the baseline, before any load

for t in "${transports[@]}"; do
  p=${port[$t]}
  nice "$loadgen" --port "$p" --mode echo --framing line --conns 16 --depth 4 --size 64 --warmup 1 --tls --tls-ca "$c/ca.pem" \
    --duration $((seconds - 5)) --quiet >"$out/echo-$t.log" 2>&1 &
  pids+=($!)
  ( rounds=0
    while (( $(date +%s) + 4 < end )); do
      nice "$loadgen" --port "$p" --mode hold --framing line --size 16 --conns 50 --duration 1 --ping-every 1 \
        --connect-timeout 3 --tls --tls-ca "$c/ca.pem" --tls-cert "$c/client.pem" --tls-key "$c/client.key" --quiet \
        >"$out/churn-$t-last.log" 2>&1 || echo "round $rounds: $(tail -1 "$out/churn-$t-last.log")" >>"$out/churn-$t-errors.log"
      rounds=$((rounds + 1))
    done
    echo "CHURN rounds=$rounds handshakes=$((rounds * 50))" >"$out/churn-$t.log" ) &
  pids+=($!)
  nice python3 "$here/tls_hostile.py" --port "$p" --until "$((end - 5))" --ca "$c/ca.pem" --cert "$c/client.pem" \
    --key "$c/client.key" --rogue-cert "$c/rogue.pem" --rogue-key "$c/rogue.key" >"$out/hostile-$t.log" 2>&1 &
  pids+=($!)
done

while (( $(date +%s) < end )); do
  sleep 10
  for t in "${transports[@]}"; do kill -0 "${server[$t]}" 2>/dev/null || { echo "soak-tls: the $t server died" >&2; break 2; }; done
  sample
done
for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
pids=()
sleep 10
sample # after the load: what is given back
codes=()
for t in "${transports[@]}"; do
  kill -TERM "${server[$t]}"
  code=0
  wait "${server[$t]}" || code=$?
  codes+=("$t $code")
done
trap - EXIT

{
  echo "# TLS soak: ${seconds}s, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "server: \`ferry serve --transport T --framing lines,max_frame_bytes=4096 --echo --quiet --max-connections 2000 --idle-timeout 30s --tls-cert server.pem --tls-key server.key --tls-ca ca.pem --client-cert optional --tls-handshake-timeout 2s\`"
  for t in "${transports[@]}"; do
    f="$out/events-$t.jsonl"
    echo
    echo "## --transport $t"
    echo
    echo "- exit code after SIGTERM: $(printf '%s\n' "${codes[@]}" | awk -v t="$t" '$1 == t { print $2 }'); stderr lines: $(wc -l <"$out/server-$t.stderr")"
    echo "- echo: \`$(grep '^RESULT' "$out/echo-$t.log" | tail -1 || true)\`"
    echo "- churn: $(cat "$out/churn-$t.log" 2>/dev/null || true); failed rounds: $(cat "$out/churn-$t-errors.log" 2>/dev/null | wc -l)"
    echo "- hostile: \`$(grep '^TLS_HOSTILE' "$out/hostile-$t.log" || true)\`"
    echo "- connected: $(grep -c '"type":"connected"' "$f" || true); closes by reason: $(grep -o '"reason":"[a-z_]*"' "$f" | cut -d'"' -f4 | sort | uniq -c | sort -rn | awk '{ printf "%s %s, ", $2, $1 }' | sed 's/, $//' || true)"
    echo
    echo "| t (s) | RSS (MiB) | descriptors | threads | open (stats) | accepted | closed | tls_failures |"
    echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    tail -n +2 "$out/samples-$t.csv" | awk -F, '{ printf "| %d | %.1f | %d | %d | %s | %s | %s | %s |\n", $1, $2 / 1024, $3, $4, $5, $6, $7, $8 }'
  done
} >"$out/summary.md"
cat "$out/summary.md"
echo "soak-tls: $out"
