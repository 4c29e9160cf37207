#!/usr/bin/env bash
# Runs every test: the Swift package (engine parity against the committed PyTorch fixtures, loaders, energy,
# renderers, explorer, tmux end to end), the Python training package, and the check that every system file the
# code reads comes from a package these scripts install. Installs missing Debian and PyPI packages first.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
spikeclip_test_deps
spikeclip_python_deps

echo "== system files come from packages the scripts install"
"$PY" -m pytest Tests/system -q -p no:cacheprovider
echo "== swift build"
swift build --build-tests
echo "== swift test (XCTest)"
swift test --skip-build --disable-swift-testing
echo "== explorer end to end in tmux"
Tests/e2e/explorer_tmux.sh .build/debug/spikeclip
echo "== soak: 60 s of seeded random keys in tmux (Tests/e2e/soak.py --seconds 1200 for the long run)"
"$PY" Tests/e2e/soak.py .build/debug/spikeclip --seconds 60 --seed 0
echo "== pytest (training/)"
PYTHONPATH=training "$PY" -m pytest training/tests -q
