#!/usr/bin/env bash
# Runs every test: the Swift package (engine parity against the committed PyTorch fixtures, loaders, energy,
# renderers) and the Python training package. Installs missing Debian and PyPI packages first.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
spikeclip_swift_deps
spikeclip_apt_install tmux
spikeclip_python_deps

echo "== swift build"
swift build --build-tests
echo "== swift test (XCTest)"
swift test --skip-build --disable-swift-testing
echo "== explorer end to end in tmux"
Tests/e2e/explorer_tmux.sh .build/debug/spikeclip
echo "== pytest (training/)"
PYTHONPATH=training "$PY" -m pytest training/tests -q
