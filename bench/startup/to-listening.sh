#!/usr/bin/env bash
# Time from starting `ferry run FILE` (or `ferry serve` when the last argument is --serve) to its first "listening"
# line, then a hard stop:
#   hyperfine 'bench/startup/to-listening.sh /tmp/ferry-aot/Ferry.Cli examples/seed004-node.yaml'
#   hyperfine 'bench/startup/to-listening.sh /tmp/ferry-aot/Ferry.Cli --serve'
# The first arguments are the command (a native binary, or `dotnet path/Ferry.Cli.dll`); the last is the file or --serve.
set -euo pipefail
file="${@: -1}"
cmd=("${@:1:$#-1}")
fifo=$(mktemp -u)
mkfifo "$fifo"
if [ "$file" = "--serve" ]; then
  "${cmd[@]}" serve --bind 127.0.0.1:0 --quiet >"$fifo" &
else
  "${cmd[@]}" run "$file" --set stages.0.config.port=0 --quiet >"$fifo" &
fi
pid=$!
while IFS= read -r line; do
  case "$line" in *'"listening"'*) break ;; esac
done <"$fifo"
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
rm -f "$fifo"
