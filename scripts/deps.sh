#!/usr/bin/env bash
# Sourced by scripts/run.sh and scripts/test.sh: installs what is missing, never what is there.
#   Debian packages: the lists below (C libraries the Swift package links, data the code reads), python3-venv when
#   needed. Every system file the code, the tests or the training read comes from a package named here:
#   Tests/system/test_system_paths.py reads these arrays and fails on any other package (docs/DECISIONS.md).
#   Python packages (tests only): training/requirements-test.txt in a virtual environment at
#   $SPIKECLIP_VENV (default ~/.cache/spikeclip/venv), shared by every checkout on the machine.
set -euo pipefail

# C libraries and headers the Swift package builds against (Sources/C*/).
SPIKECLIP_DEBIAN_BUILD=(libopenblas-dev libpng-dev libjpeg62-turbo-dev libturbojpeg0-dev zlib1g-dev libncurses-dev)
# Data the explorer and the CLI read at run time: the Fashion-MNIST test set (Image panel source, `spikeclip eval`).
SPIKECLIP_DEBIAN_RUN=(dataset-fashion-mnist)
# What only the tests and the training need besides: tmux (end-to-end tests), WordNet (caption synonyms in training),
# the open-vocabulary image-text set (training/spikeclip_training/opendata.py): colour emoji bitmaps, their CLDR
# names, public-domain clip art.
SPIKECLIP_DEBIAN_TEST=(tmux wordnet-base fonts-noto-color-emoji unicode-cldr-core openclipart-png)

spikeclip_apt_install() {
    local missing=()
    for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "deps: installing Debian packages: ${missing[*]}" >&2
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

spikeclip_swift_deps() {
    if ! command -v swift >/dev/null 2>&1; then
        echo "error: swift not found on PATH; install Swift 6 (https://www.swift.org/install/linux/) and retry" >&2
        exit 1
    fi
    spikeclip_apt_install "${SPIKECLIP_DEBIAN_BUILD[@]}"
}

# What scripts/run.sh needs: the build packages and the run-time data.
spikeclip_run_deps() {
    spikeclip_swift_deps
    spikeclip_apt_install "${SPIKECLIP_DEBIAN_RUN[@]}"
}

# What scripts/test.sh needs: everything above plus the test-only packages.
spikeclip_test_deps() {
    spikeclip_run_deps
    spikeclip_apt_install "${SPIKECLIP_DEBIAN_TEST[@]}"
}

spikeclip_python_deps() {
    SPIKECLIP_VENV="${SPIKECLIP_VENV:-$HOME/.cache/spikeclip/venv}"
    if [ ! -x "$SPIKECLIP_VENV/bin/python" ]; then
        python3 -m venv --help >/dev/null 2>&1 || spikeclip_apt_install python3-venv
        mkdir -p "$(dirname "$SPIKECLIP_VENV")"
        python3 -m venv "$SPIKECLIP_VENV"
    fi
    PY="$SPIKECLIP_VENV/bin/python"
    # Reinstall whenever training/requirements-test.txt changed since the last successful install (stamp = its hash).
    local stamp="$SPIKECLIP_VENV/.requirements-test.sha256"
    local want
    want=$(sha256sum training/requirements-test.txt | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "deps: installing Python packages into $SPIKECLIP_VENV (torch is large: a few minutes)" >&2
        "$PY" -m pip install -q --upgrade pip
        "$PY" -m pip install -q -r training/requirements-test.txt
        # open_clip only for its copy of CLIP's BPE vocabulary and its reference tokenizer (clip_fixtures.py);
        # without its dependencies (timm, torchvision), which nothing here needs.
        "$PY" -m pip install -q --no-deps open-clip-torch==3.3.0
        echo "$want" > "$stamp"
    fi
    export PY
}
