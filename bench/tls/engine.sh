#!/usr/bin/env bash
# bench/tls/engine.sh - issue 11, the epoll TLS engine (OpenSSL on the service loop): main's build (TLS on
# the stream transport, SslStream) and this tree's (TLS on epoll) as rows of one kit run beside Kestrel,
# Node and the C/OpenSSL ceiling; then both builds' plain rows in one run (the plain path must not move).
# Release builds; the kit (a copy of ../shared/bench, built) is at $KIT.
#
#   bench/tls/engine.sh              # both runs, --repeat 3
#   bench/tls/engine.sh tls --quick  # only the TLS run; extra options go to compare.sh
#   bench/tls/engine.sh plain
set -eu
HERE=$(cd "$(dirname "$0")/../.." && pwd)
KIT=${KIT:-/work/kit}
OUT=${OUT:-/tmp/ferry-tls-engine}
MAIN=${MAIN:-1be23b1}   # main when this work started: server TLS on the stream transport
WHAT=${1:-all}; [ $# -gt 0 ] && shift
mkdir -p "$OUT"

. "$HERE/bench/tls/publish.sh"

SERVE='serve --echo --quiet --max-connections 0 --backlog 4096 --bind 127.0.0.1:{PORT}'
[ "${NO_BUILD:-}" = 1 ] || { publish "$MAIN" "$OUT/main"; publish . "$OUT/engine"; }
echo "load before: $(uptime)"
if [ "$WHAT" = all ] || [ "$WHAT" = tls ]; then
  (cd "$KIT" && ./compare.sh --tls --no-iperf --repeat 3 --with-peers "$@" \
    --server "$OUT/main/Ferry.Cli $SERVE --tls-cert {CERT} --tls-key {KEY}" --name main_tls --framing raw \
    --server "$OUT/engine/Ferry.Cli $SERVE --tls-cert {CERT} --tls-key {KEY}" --name ferry_tls --framing raw)
  echo "load after the TLS run: $(uptime)"
fi
if [ "$WHAT" = all ] || [ "$WHAT" = plain ]; then
  (cd "$KIT" && ./compare.sh --no-iperf --repeat 3 "$@" \
    --server "$OUT/main/Ferry.Cli $SERVE" --name main_raw --framing raw \
    --server "$OUT/engine/Ferry.Cli $SERVE" --name engine_raw --framing raw)
  echo "load after the plain run: $(uptime)"
fi
