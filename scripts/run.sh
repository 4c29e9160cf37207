#!/usr/bin/env bash
# Builds spikeclip (release) and runs its main job on the embedded default. Until the trained default checkpoint and
# the explorer land, that is `spikeclip demo` on the committed parity fixture. Extra arguments go to spikeclip.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
spikeclip_swift_deps
swift build -c release --product spikeclip >&2
exec .build/release/spikeclip "$@"
