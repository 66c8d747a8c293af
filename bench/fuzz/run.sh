#!/usr/bin/env bash
# Fuzzes one target of Ferry.Fuzz with AFL++ for a fixed time (not part of CI).
#   bench/fuzz/run.sh TARGET [SECONDS]      e.g. bench/fuzz/run.sh lines 120
# Targets: lines delimiter delimiter-prefix length length-le length8 u16be u32be fixed header
#          text-length mux zmtp zmtp-push stdin proxy runfile framingspec control
# Needs: the .NET SDK, AFL++ (Debian: apt-get install -y afl++) and the SharpFuzz instrumenter, a
# dotnet tool restored from .config/dotnet-tools.json here (dotnet tool restore).
# Output under bench/fuzz/out/TARGET/ (ignored by git): bin/ (the instrumented build) and findings/
# (AFL++'s queue, crashes/ and hangs/). Replay a crash without AFL:
#   dotnet bench/fuzz/out/TARGET/bin/Ferry.Fuzz.dll TARGET bench/fuzz/out/TARGET/findings/default/crashes/id:*
# (the seed corpus is written by `dotnet Ferry.Fuzz.dll seeds DIR`, from an uninstrumented build or this one).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
target=${1:?usage: run.sh TARGET [SECONDS]}
seconds=${2:-60}
[[ -d "$here/corpus/$target" ]] || { echo "run.sh: no seed corpus for '$target' (bench/fuzz/corpus/)" >&2; exit 2; }
command -v afl-fuzz >/dev/null || { echo "run.sh: afl-fuzz not found (apt-get install -y afl++)" >&2; exit 2; }

out="$here/out/$target"
bin="$out/bin"
rm -rf "$bin" "$out/findings"
mkdir -p "$out"

# Build: a fresh publish per target, so an assembly is never instrumented twice.
dotnet publish "$here/Ferry.Fuzz/Ferry.Fuzz.csproj" -c Release -o "$bin" -v q -nologo >"$out/build.log" 2>&1 \
  || { cat "$out/build.log" >&2; exit 1; }

# Instrument what is fuzzed (never the harness itself): Ferry.dll, the CLI for the stdin reader, for
# the pipeline file reader the CLI, the settings readers (Ferry.Hosting) and the YAML parser it runs on,
# and Ferry.Nats for the control subject's parser (System.Text.Json is the shared framework's: not instrumented).
(cd "$here" && dotnet tool restore >/dev/null)
(cd "$here" && dotnet tool run sharpfuzz "$bin/Ferry.dll" >"$out/instrument.log")
case $target in
  stdin) extra=(Ferry.Cli.dll) ;;
  runfile) extra=(Ferry.Cli.dll Ferry.Hosting.dll YamlDotNet.dll) ;;
  control) extra=(Ferry.Nats.dll) ;;
  *) extra=() ;;
esac
for dll in "${extra[@]}"; do
  (cd "$here" && dotnet tool run sharpfuzz "$bin/$dll" >>"$out/instrument.log")
done

# AFL++ on a .NET target: the binary check does not apply (SharpFuzz speaks the fork-server protocol
# from managed code); the runtime starts slowly; no UI; no core dumps needed.
export AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
export AFL_FORKSRV_INIT_TMOUT=60000 AFL_NO_AFFINITY=1
export DOTNET_TieredCompilation=0 DOTNET_gcServer=0

# A target whose input is text for a parser AFL cannot see into (System.Text.Json) gets a dictionary of its tokens.
dict=()
[[ -f "$here/dict/$target.dict" ]] && dict=(-x "$here/dict/$target.dict")

echo "run.sh: fuzzing $target for ${seconds}s"
timeout --signal=INT $((seconds + 120)) \
  afl-fuzz -V "$seconds" -i "$here/corpus/$target" -o "$out/findings" -t 5000 -m none "${dict[@]}" \
    -- dotnet "$bin/Ferry.Fuzz.dll" "$target" >"$out/afl.log" 2>&1 || true

stats="$out/findings/default/fuzzer_stats"
if [[ ! -f $stats ]]; then
  echo "run.sh: afl-fuzz did not start; see $out/afl.log" >&2
  tail -20 "$out/afl.log" >&2
  exit 1
fi
stat() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$stats"; }
crashes=$(stat saved_crashes); hangs=$(stat saved_hangs)
echo "target=$target seconds=$seconds execs=$(stat execs_done) execs_per_sec=$(stat execs_per_sec) corpus=$(stat corpus_count) edges=$(stat edges_found) bitmap=$(stat bitmap_cvg) crashes=$crashes hangs=$hangs"

# Show what each crash is: the harness replays it and prints the exception.
shopt -s nullglob
for crash in "$out"/findings/default/crashes/id:*; do
  echo "--- $crash"
  dotnet "$bin/Ferry.Fuzz.dll" "$target" "$crash" 2>&1 | head -8 || true
done
[[ ${crashes:-0} == 0 ]]
