#!/usr/bin/env bash
# Resident memory (VmRSS) of `ferry serve` idle for 3 s after it listens (one stage on a free loopback port):
#   bench/startup/idle-rss-serve.sh /tmp/ferry-aot/Ferry.Cli
#   DOTNET_GCgen0size=0x100000 bench/startup/idle-rss-serve.sh /tmp/ferry-aot/Ferry.Cli   # a GC setting, from the environment
set -euo pipefail
out=$(mktemp)
"$@" serve --bind 127.0.0.1:0 --quiet >"$out" &
pid=$!
for _ in $(seq 100); do grep -q listening "$out" && break; sleep 0.1; done
sleep 3
grep VmRSS "/proc/$pid/status"
kill "$pid"; wait "$pid" 2>/dev/null || true
rm -f "$out"
