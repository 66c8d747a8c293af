#!/usr/bin/env bash
# CPU time and page faults of one start, per binary (perf stat, RUNS runs each, the binaries alternating
# round by round): `ferry check FILE`, and `ferry run FILE` up to its listening line (to-listening.sh, so the
# shell and fifo it uses are counted too, the same for every binary). On a busy machine the wall-clock
# time of a start swings with the load; the CPU time the start itself needs and its page faults do not.
#   bench/startup/start-cpu.sh base=/work/q2/aot/Ferry.Cli cand=/tmp/native-c2/out/Ferry.Cli
# Environment: RUNS (default 10), ROUNDS (default 2), FILE (default examples/seed004-node.yaml).
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-10}; ROUNDS=${ROUNDS:-2}; FILE=${FILE:-examples/seed004-node.yaml}
echo "uptime: $(uptime)"
for r in $(seq "$ROUNDS"); do
  for arg in "$@"; do
    label=${arg%%=*}; bin=${arg#*=}
    for what in check run; do
      if [ "$what" = check ]; then cmd=("$bin" check "$FILE"); else cmd=(bench/startup/to-listening.sh "$bin" "$FILE"); fi
      perf stat -x, -e task-clock,page-faults -r "$RUNS" "${cmd[@]}" 2>&1 >/dev/null \
        | awk -F, -v l="$label" -v w="$what" -v r="$r" '$3=="task-clock"{t=$1} $3=="page-faults"{p=$1} END{printf "round %s %-6s %-5s cpu %6.2f ms  page faults %6d\n", r, l, w, t, p}'
    done
  done
done
echo "uptime: $(uptime)"
