#!/usr/bin/env bash
# Builds spikeclip (release) and opens the explorer on the embedded default checkpoint
# (assets/checkpoints/default.safetensors; the random-weight parity fixture if that file is missing).
# Extra arguments go to spikeclip: scripts/run.sh --ascii, scripts/run.sh snapshot ...
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
spikeclip_run_deps
swift build -c release --product spikeclip >&2
exec .build/release/spikeclip "$@"
