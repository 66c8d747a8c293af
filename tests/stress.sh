#!/usr/bin/env bash
# Runs a test project again and again with every core kept busy, to shake out races that show only on a loaded
# machine (CI runs on a shared 2-core box, and one flake fails the whole project). It runs the last build
# (dotnet test --no-build): build first. Each run's output is kept; the failed tests are listed as they come.
#
# Usage: tests/stress.sh <test project directory> [runs, default 10] [dotnet test --filter expression]
# e.g.   tests/stress.sh tests/Ferry.Tests 20 "FullyQualifiedName~HalfCloseLingerTests|FullyQualifiedName~ClientStageTests"
set -u

usage="usage: tests/stress.sh <test project directory> [runs, default 10] [filter]"
project=${1:?$usage}
runs=${2:-10}
filter=${3:-}
case $runs in
  '' | *[!0-9]* | 0) echo "stress.sh: runs must be a whole number from 1, got '$runs'; $usage" >&2; exit 2 ;;
esac
if [ ! -d "$project" ]; then
  echo "stress.sh: no test project directory '$project'; $usage" >&2
  exit 2
fi

# One busy process per core, started before each run and stopped after it (and on any exit): only ours, by id.
burners=()
stop_burners() {
  for pid in "${burners[@]}"; do kill "$pid" 2>/dev/null; done
  burners=()
}
trap stop_burners EXIT
trap 'exit 130' INT TERM

logs=$(mktemp -d -t ferry-stress.XXXXXX)
failed=0
for ((i = 1; i <= runs; i++)); do
  for ((c = 0; c < $(nproc); c++)); do
    yes >/dev/null &
    burners+=($!)
  done
  log="$logs/run-$i.log"
  if [ -n "$filter" ]; then
    dotnet test "$project" --no-build --filter "$filter" >"$log" 2>&1
  else
    dotnet test "$project" --no-build >"$log" 2>&1
  fi
  status=$?
  load=$(cut -d' ' -f1 /proc/loadavg)
  stop_burners
  if [ $status -eq 0 ]; then
    echo "run $i of $runs: passed (load $load) $(grep -E 'Passed!' "$log" | sed 's/ *- *Ferry.*//')"
  else
    failed=$((failed + 1))
    echo "run $i of $runs: FAILED (load $load), log $log"
    grep -E '\[FAIL\]' "$log" | sed -E 's/^ *\[xUnit\.net [^]]*\] *//' | sort -u | sed 's/^/    /'
  fi
done
echo "$failed of $runs runs failed; logs in $logs"
[ $failed -eq 0 ]
