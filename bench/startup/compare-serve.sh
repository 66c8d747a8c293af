#!/usr/bin/env bash
# `ferry serve` side by side, in one session, for binaries that may predate `ferry run` (the three-command CLI):
# file size, idle VmRSS of `ferry serve` (ROUNDS rounds, the binaries alternating inside each round), the CPU time
# and page faults of a start to the listening line (perf stat), the time from exec to the listening line measured by
# bench/startup/tolisten (a fork, a pipe and a poll: no shell of its own to subtract; ROUNDS rounds, alternating), and
# hyperfine of the shell harness to the listening line (all binaries in one hyperfine run). Any program that prints a line with "listening" on stdout when started as
# `PROGRAM serve --bind 127.0.0.1:0 --quiet` can be a row (bench/startup/floor: the runtime's floor).
#   bench/startup/compare-serve.sh old=/tmp/old/Ferry.Cli now=/tmp/now/Ferry.Cli floor=/tmp/floor/floor
# Environment: ROUNDS (default 3), RUNS (perf stat and hyperfine runs, default 20).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-3}; RUNS=${RUNS:-20}
labels=(); bins=()
for arg in "$@"; do labels+=("${arg%%=*}"); bins+=("${arg#*=}"); done
echo "uptime: $(uptime)"
for i in "${!bins[@]}"; do echo "${labels[$i]}: size $(stat -c %s "${bins[$i]}") B  (${bins[$i]})"; done
tolisten=$(mktemp -d)/tolisten
gcc -O2 -Wall -o "$tolisten" bench/startup/tolisten/tolisten.c
declare -A serve
for r in $(seq "$ROUNDS"); do
  for i in "${!bins[@]}"; do
    serve[$i]+="$(bench/startup/idle-rss.sh "${bins[$i]}" --serve | awk '{print $2 "(" $5 "+" $8 ")"}') "
  done
done
for i in "${!bins[@]}"; do echo "${labels[$i]}: idle VmRSS kB (anon+file) of serve: ${serve[$i]}"; done
echo "uptime: $(uptime)"
for r in $(seq "$ROUNDS"); do
  for i in "${!bins[@]}"; do
    perf stat -x, -e task-clock,page-faults -r "$RUNS" "$tolisten" -n 1 -w 0 -- "${bins[$i]}" serve --bind 127.0.0.1:0 --quiet 2>&1 >/dev/null \
      | awk -F, -v l="${labels[$i]}" -v r="$r" '$3=="task-clock"{t=$1} $3=="page-faults"{p=$1} END{printf "round %s %-8s serve to listening: cpu %6.2f ms  page faults %6d\n", r, l, t, p}'
  done
done
echo "uptime: $(uptime)"
for r in $(seq "$ROUNDS"); do
  for i in "${!bins[@]}"; do
    printf 'round %s %-8s exec to listening: %s\n' "$r" "${labels[$i]}" \
      "$("$tolisten" -n "$RUNS" -w 3 -- "${bins[$i]}" serve --bind 127.0.0.1:0 --quiet)"
  done
done
echo "uptime: $(uptime)"
listen=()
for i in "${!bins[@]}"; do listen+=(-n "${labels[$i]} serve" "bench/startup/to-listening.sh ${bins[$i]} --serve"); done
hyperfine -N --warmup 3 --runs "$RUNS" "${listen[@]}" 2>&1 | grep -v '^ *$'
echo "uptime: $(uptime)"
