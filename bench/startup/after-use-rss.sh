#!/usr/bin/env bash
# Resident memory of `ferry serve --echo` idle (IDLE seconds after listening, default 10), then again after a short
# echo load (the kit's loadgen, 50 connections for 2 s) and 3 s of quiet: what the start leaves, and what serving
# brings back. Prints one line: idle VmRSS, after-load VmRSS (anonymous + file-backed parts of each).
#   bench/startup/after-use-rss.sh /tmp/native/Ferry.Cli [LOADGEN]
set -euo pipefail
bin=$1; loadgen=${2:-/work/kit/build/loadgen}
out=$(mktemp)
"$bin" serve --echo --bind 127.0.0.1:0 --quiet --max-connections 0 >"$out" &
pid=$!
for _ in $(seq 100); do grep -q listening "$out" && break; sleep 0.1; done
port=$(grep -m1 -o '"local":"[^"]*"' "$out" | sed 's/.*://; s/"//')
rss() { awk '/^VmRSS/{r=$2} /^RssAnon/{a=$2} /^RssFile/{f=$2} END{print r " kB (" a "+" f ")"}' "/proc/$pid/status"; }
sleep "${IDLE:-10}"
idle=$(rss)
"$loadgen" --port "$port" --mode echo --conns 50 --duration 2 --warmup 0 --size 64 --quiet >/dev/null 2>&1 || true
sleep 3
echo "idle $idle  after load $(rss)"
kill "$pid"; wait "$pid" 2>/dev/null || true
rm -f "$out"
