#!/usr/bin/env bash
# Issue 14 benchmarks with the kit (/work/kit, a copy of ../shared/bench), every row in one run:
#  1. full-path echo before/after the payload-lifetime change (ferry serve --echo, raw and lines);
#  2. the per-connection model (bench/ConnectionEcho) beside Kestrel's ConnectionHandler echo (echo_kestrel).
# Usage: bench/conn_bench.sh BEFORE_DIR AFTER_DIR CONNECTION_ECHO_DIR [extra compare.sh options]
#   BEFORE_DIR / AFTER_DIR: `dotnet publish src/Ferry.Cli -c Release -o DIR` of the two commits;
#   CONNECTION_ECHO_DIR: `dotnet publish bench/ConnectionEcho -c Release -o DIR`.
set -euo pipefail
before=${1:?before dir}; after=${2:?after dir}; conn=${3:?ConnectionEcho dir}; shift 3
kit=${KIT:-/work/kit}
uptime
serve='serve --echo --quiet --max-connections 0 --backlog 4096'
cd "$kit"
./compare.sh --no-iperf --no-build --hold 0 --repeat 3 "$@" \
  --server "$before/Ferry.Cli $serve --bind 127.0.0.1:{PORT}" --name before_raw --framing raw \
  --server "$after/Ferry.Cli $serve --bind 127.0.0.1:{PORT}" --name after_raw --framing raw \
  --server "$before/Ferry.Cli $serve --framing lines --bind 127.0.0.1:{PORT}" --name before_lines --framing line \
  --server "$after/Ferry.Cli $serve --framing lines --bind 127.0.0.1:{PORT}" --name after_lines --framing line \
  --server "$conn/ConnectionEcho {PORT}" --name conn_raw --framing raw \
  --server "$conn/ConnectionEcho {PORT} --framing lines" --name conn_lines --framing line \
  --only echo_kestrel,line_kestrel
uptime
