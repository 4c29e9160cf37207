#!/usr/bin/env bash
# Sourced by scripts/run.sh and scripts/test.sh: installs what is missing, never what is there.
#   Debian packages: the C libraries the Swift package links (OpenBLAS), python3-venv when needed.
#   Python packages (tests only): torch, safetensors, numpy, spikingjelly, pytest in a virtual environment at
#   $SPIKECLIP_VENV (default ~/.cache/spikeclip/venv), shared by every checkout on the machine.
set -euo pipefail

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
    spikeclip_apt_install libopenblas-dev libpng-dev libjpeg62-turbo-dev libturbojpeg0-dev zlib1g-dev libncurses-dev
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
        echo "$want" > "$stamp"
    fi
    export PY
}
