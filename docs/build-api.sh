#!/usr/bin/env bash
# Builds the API reference site from the libraries' XML docs with docfx (a local dotnet tool, see
# .config/dotnet-tools.json) into docs/_site (git-ignored). Any docfx warning fails the build.
# Usage: docs/build-api.sh            then open docs/_site/index.html, or: dotnet docfx serve docs/_site
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet tool restore >/dev/null
rm -rf docs/api docs/_site
dotnet docfx docs/docfx.json --warningsAsErrors "$@"
