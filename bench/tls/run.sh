#!/usr/bin/env bash
# bench/tls/run.sh - issue 11's TLS procedure: Ferry's TLS echo beside Kestrel's and Node's (and the
# C/OpenSSL ceiling) in one run of the kit, then the plain-TCP rows of the build before the TLS work,
# main after it, and this tree, in one run. Release builds; the kit (a copy of ../shared/bench, built)
# is at $KIT. Results: the kit's build/results/<timestamp>/ (the tables are printed too).
#
#   bench/tls/run.sh                 # both runs, --repeat 3
#   bench/tls/run.sh tls --quick     # only the TLS run, extra options go to compare.sh
#   bench/tls/run.sh plain
set -eu
HERE=$(cd "$(dirname "$0")/../.." && pwd)
KIT=${KIT:-/work/kit}
OUT=${OUT:-/tmp/ferry-tls-bench}
BEFORE=${BEFORE:-5d1391b}   # the commit before the transport/TLS merge (d46523a^1)
AFTER=${AFTER:-c41f914}     # main with TLS, before this work
WHAT=${1:-all}; [ $# -gt 0 ] && shift
mkdir -p "$OUT"

. "$HERE/bench/tls/publish.sh"

SERVE='serve --echo --quiet --max-connections 0 --backlog 4096 --bind 127.0.0.1:{PORT}'
publish . "$OUT/current"
echo "load before: $(uptime)"
if [ "$WHAT" = all ] || [ "$WHAT" = tls ]; then
  (cd "$KIT" && ./compare.sh --tls --no-iperf --repeat 3 --with-peers "$@" \
    --server "$OUT/current/Ferry.Cli $SERVE --tls-cert {CERT} --tls-key {KEY}" --name ferry_tls --framing raw)
  echo "load after the TLS run: $(uptime)"
fi
if [ "$WHAT" = all ] || [ "$WHAT" = plain ]; then
  publish "$BEFORE" "$OUT/before"
  publish "$AFTER" "$OUT/after"
  (cd "$KIT" && ./compare.sh --no-iperf --repeat 3 "$@" \
    --server "$OUT/before/Ferry.Cli $SERVE" --name before_raw --framing raw \
    --server "$OUT/after/Ferry.Cli $SERVE" --name after_raw --framing raw \
    --server "$OUT/current/Ferry.Cli $SERVE" --name current_raw --framing raw)
  echo "load after the plain run: $(uptime)"
fi
