#!/usr/bin/env bash
# Native binaries side by side, in one session: file size, idle VmRSS of `ferry serve` and of
# `ferry run FILE` (ROUNDS rounds, the binaries alternating inside each round), then hyperfine of
# `ferry run` -> listening and of `ferry check` (all binaries in one hyperfine run), with `uptime`
# before and after. Loopback only; every process is stopped by idle-rss.sh / to-listening.sh.
#   bench/startup/compare-native.sh base=/tmp/native-base/out/Ferry.Cli cand=/tmp/native-cand/out/Ferry.Cli
# Environment: ROUNDS (default 3), RUNS (hyperfine runs, default 20), FILE (default examples/seed004-node.yaml).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-3}; RUNS=${RUNS:-20}; FILE=${FILE:-examples/seed004-node.yaml}
labels=(); bins=()
for arg in "$@"; do labels+=("${arg%%=*}"); bins+=("${arg#*=}"); done
echo "uptime: $(uptime)"
for i in "${!bins[@]}"; do echo "${labels[$i]}: size $(stat -c %s "${bins[$i]}") B  (${bins[$i]})"; done
declare -A serve run
for r in $(seq "$ROUNDS"); do
  for i in "${!bins[@]}"; do
    s=$(bench/startup/idle-rss.sh "${bins[$i]}" --serve | awk '{print $2 "(" $5 "+" $8 ")"}')
    f=$(bench/startup/idle-rss.sh "${bins[$i]}" "$FILE" | awk '{print $2 "(" $5 "+" $8 ")"}')
    serve[$i]+="$s "; run[$i]+="$f "
  done
done
for i in "${!bins[@]}"; do echo "${labels[$i]}: idle VmRSS kB (anon+file)  serve: ${serve[$i]}  run: ${run[$i]}"; done
echo "uptime: $(uptime)"
listen=(); check=()
for i in "${!bins[@]}"; do
  listen+=(-n "${labels[$i]} run" "bench/startup/to-listening.sh ${bins[$i]} $FILE")
  check+=(-n "${labels[$i]} check" "${bins[$i]} check $FILE")
done
hyperfine -N --warmup 3 --runs "$RUNS" "${listen[@]}" "${check[@]}" 2>&1 | grep -v '^ *$'
echo "uptime: $(uptime)"
