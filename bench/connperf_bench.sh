#!/usr/bin/env bash
# The per-connection model before/after a change, beside Kestrel's ConnectionHandler echo, in one kit run:
#   conn_raw_before / conn_raw_after vs echo_kestrel (raw), conn_lines_before / conn_lines_after vs line_kestrel (lines).
# Usage: bench/connperf_bench.sh BEFORE_CONN_DIR AFTER_CONN_DIR [extra compare.sh options]
#   each DIR: `dotnet publish bench/ConnectionEcho -c Release -o DIR` of one commit.
set -euo pipefail
before=${1:?before ConnectionEcho dir}; after=${2:?after ConnectionEcho dir}; shift 2
kit=${KIT:-/work/kit}
uptime
cd "$kit"
./compare.sh --no-iperf --no-build --hold 0 --repeat 3 "$@" \
  --server "$before/ConnectionEcho {PORT}" --name conn_raw_before --framing raw \
  --server "$after/ConnectionEcho {PORT}" --name conn_raw_after --framing raw \
  --server "$before/ConnectionEcho {PORT} --framing lines" --name conn_lines_before --framing line \
  --server "$after/ConnectionEcho {PORT} --framing lines" --name conn_lines_after --framing line \
  --only echo_kestrel,line_kestrel
uptime
