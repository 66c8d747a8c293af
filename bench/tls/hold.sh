#!/usr/bin/env bash
# bench/tls/hold.sh FERRYDIR N [extra serve args]: the kit's hold step alone against Ferry's TLS echo
# (server on core 1, loadgen on core 0, 200-connection warm-up, then N idle TLS connections): server
# VmRSS before / held / after => KiB per connection, server CPU per handshake. Needs the kit built
# (with TLS) and its certificates made (one `compare.sh --tls` run) at $KIT (default /work/kit).
#   DUMP=1   also a managed heap dump while held (dotnet-gcdump, in $OUT/held.gcdump)
#   SMAPS=1  also the 15 largest resident mappings (glibc arenas are the 64 MiB-aligned anonymous ones)
#   ENVX='NAME=value' an environment for the server; HOLDS=seconds held (8); PORT (19480)
set -u
D=$1; N=$2; shift 2
K=${KIT:-/work/kit}/build; P=${PORT:-19480}; OUT=${OUT:-/tmp/ferry-tls-bench}; mkdir -p "$OUT"
HERE=$(cd "$(dirname "$0")" && pwd)
ulimit -n $(ulimit -Hn)
rss() { awk '/^VmRSS/{ print $2 }' "/proc/$1/status"; }
env ${ENVX:-} taskset -c 1 $D/Ferry.Cli serve --echo --quiet --max-connections 0 --backlog 4096 --bind 127.0.0.1:$P --tls-cert $K/tls/server.crt --tls-key $K/tls/server.key "$@" >/dev/null &
pid=$!
for i in $(seq 100); do ss -ltn | grep -q ":$P " && break; sleep 0.1; done
LGT="--tls --tls-ca $K/tls/ca.crt"
taskset -c 0 $K/loadgen --quiet --port $P --mode hold --conns 200 --duration 1 --framing raw $LGT >/dev/null 2>&1; sleep 1
r0=$(rss $pid); c0=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' /proc/$pid/stat)
taskset -c 0 $K/loadgen --quiet --port $P --mode hold --conns $N --duration ${HOLDS:-8} --framing raw --size 16 --connect-timeout 30 $LGT > $OUT/hold.out 2>&1 &
h=$!
for i in $(seq 600); do grep -q '^HOLDING' $OUT/hold.out && break; sleep 0.1; done
sleep 2; r1=$(rss $pid); c1=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' /proc/$pid/stat)
[ -n "${SMAPS:-}" ] && python3 "$HERE/smaps.py" $pid
[ -n "${DUMP:-}" ] && ~/.dotnet/tools/dotnet-gcdump collect -p $pid -o $OUT/held.gcdump >/dev/null 2>&1
sleep 1; r1b=$(rss $pid)
grep -E "^(Threads|VmRSS|RssAnon)" /proc/$pid/status | tr '\n' ' '; echo
wait $h; sleep 1; r2=$(rss $pid)
est=$(grep ^RESULT $OUT/hold.out | tr ' ' '\n' | sed -n 's/^established=//p')
echo "est=$est before=$r0 held=$r1/$r1b after=$r2 KiB/conn=$(( (r1 - r0) * 1000 / est ))e-3 srv_us_per_hs=$(( (c1 - c0) * 10000 / est ))"
grep ^RESULT $OUT/hold.out | cut -c1-200
kill $pid; wait $pid 2>/dev/null
