#!/usr/bin/env bash
# Resident memory (VmRSS, and its anonymous and file-backed parts) of `ferry run FILE` (or `ferry serve` when the
# last argument is --serve) idle for IDLE seconds (default 10: the start-up pages are given back 2 s and 7 s after listening)
# after it listens:
#   bench/startup/idle-rss.sh /tmp/ferry-aot/Ferry.Cli examples/seed004-node.yaml
#   bench/startup/idle-rss.sh /tmp/ferry-aot/Ferry.Cli --serve
#   DOTNET_GCgen0size=0x100000 bench/startup/idle-rss.sh /tmp/ferry-aot/Ferry.Cli --serve   # a GC setting, from the environment
set -euo pipefail
file="${@: -1}"
cmd=("${@:1:$#-1}")
out=$(mktemp)
if [ "$file" = "--serve" ]; then
  "${cmd[@]}" serve --bind 127.0.0.1:0 --quiet >"$out" &
else
  "${cmd[@]}" run "$file" --set stages.0.config.port=0 --quiet >"$out" &
fi
pid=$!
for _ in $(seq 100); do grep -q listening "$out" && break; sleep 0.1; done
sleep "${IDLE:-10}"
awk '/^VmRSS/{r=$2} /^RssAnon/{a=$2} /^RssFile/{f=$2} END{print "VmRSS: " r " kB  anon " a " kB  file " f " kB"}' "/proc/$pid/status"
kill "$pid"; wait "$pid" 2>/dev/null || true
rm -f "$out"
