#!/usr/bin/env bash
# Installs what gaincell needs on a fresh Debian machine: ngspice + libngspice (apt),
# a virtual environment, torch 2.13.0 (CPU build) and the project itself (editable).
set -euo pipefail
PY="${1:-python3}"
VENV="${2:-.venv}"

have_libngspice() {
    ldconfig -p 2>/dev/null | grep -q 'libngspice\.so ' || ls /usr/lib/*/libngspice.so >/dev/null 2>&1
}
if ! command -v ngspice >/dev/null 2>&1 || ! have_libngspice; then
    echo "[setup] installing ngspice and libngspice0-dev (apt-get)"
    SUDO=""
    if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq ngspice libngspice0-dev
fi
if [ ! -x "$VENV/bin/python" ]; then
    echo "[setup] creating virtual environment $VENV"
    "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
# This exact pin installs the CPU build; anything looser pulls a multi-GB CUDA build.
"$VENV/bin/python" -m pip install -q torch==2.13.0
"$VENV/bin/python" -m pip install -q -e ".[test]"
echo "[setup] done"
