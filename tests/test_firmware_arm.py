"""The C++ firmware built for ARM: the Cortex-M3 image under qemu-system-arm (emu://...?firmware=cpp-arm,
its contract column is tests/contract's `emu-cpp-arm`), and every ARM image against its board's
flash and RAM (firmware/cpp/targets.py). Skips, naming the install command, where the Arm GNU
toolchain or QEMU is missing; .ci/run installs both. QEMU's UARTs move ~20 KB/s, so the runs here
are short; the 200-epoch vowel runs are bench/bench_link.py's.
"""
from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from phyll import protocol as p
from phyll.cli import main
from phyll.devices import open_device
from phyll.emulator import EmulatorError, firmware

targets = firmware.cpp_targets()

needs_toolchain = pytest.mark.skipif(
    shutil.which(os.environ.get("ARM_CXX", "arm-none-eabi-g++")) is None,
    reason="the ARM images need the Arm GNU toolchain: apt-get install gcc-arm-none-eabi")
needs_qemu = pytest.mark.skipif(
    shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-g++") is None,
    reason="firmware=cpp-arm needs qemu-system-arm and the Arm GNU toolchain: "
           "apt-get install qemu-system-arm gcc-arm-none-eabi")
STARTUP_S = 60.0
ARM = "firmware=cpp-arm"


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not running(pid):
            return True
        time.sleep(0.05)
    return False


@needs_toolchain
@pytest.mark.parametrize("target", targets.ARM_TARGETS)
def test_arm_image_fits_its_board(target):
    sizes = targets.sizes(target)
    print(targets.size_table([sizes]))
    assert 0 < sizes["flash"] <= sizes["flash_budget"] and 0 < sizes["ram"] <= sizes["ram_budget"], sizes
    # The static frame buffers are in RAM: in_flight reply slots and the receive frame, 16 KB each.
    assert sizes["bss"] > 5 * 16398, sizes


@needs_toolchain
def test_an_image_that_outgrows_its_board_is_refused(tmp_path):
    """16 reply slots of 16 KB cannot fit the Pico's 264 KB: the link fails and says so."""
    with pytest.raises(targets.BuildError, match=r"rp2040: the image outgrows the board \(region `RAM' overflowed "
                                                  r"by \d+ bytes; budget 2048 KiB flash, 264 KiB RAM\)"):
        targets.build("rp2040", tmp_path, extra_flags=("-UPHYLL_IN_FLIGHT", "-DPHYLL_IN_FLIGHT=16"))


@needs_qemu
def test_arm_image_under_qemu_measures_what_the_micropython_firmware_measures():
    x = np.random.default_rng(0).standard_normal((300, 20)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    with open_device(f"emu://acoustic?seed=4&{ARM}") as arm, open_device("emu://acoustic?seed=4&runtime=cpython") as reference:
        assert (arm.info["firmware"], arm.info["board"], arm.info["runtime"]) == ("phyll-cpp 0.1.0", "mps2-an385", "cpp")
        emulator = arm.describe()["emulator"]
        assert emulator["runtime"] == "cpp-arm" and emulator["program"].endswith("qemu-system-arm")
        assert emulator["firmware"].endswith(".elf")
        assert np.array_equal(arm.forward(x), reference.forward(x))
        assert arm.describe()["emulator"]["medium_server"]["passes"] == 300  # through UART1


@needs_qemu
def test_arm_image_reports_a_medium_failure_as_a_hal_fault():
    with open_device(f"emu://test_firmware_cpp:Faulty?{ARM}") as device:
        with pytest.raises(p.HalFaultError, match="faulty.*amplifier tripped"):
            device.forward(np.full((2, 3), 1.0, np.float32))
        assert device.forward(np.full((1, 3), 0.5, np.float32)).shape == (1, 2)  # still serving


@needs_qemu
def test_arm_image_refusing_its_medium_says_why_on_qemus_stderr():
    # The firmware ends QEMU, so its pty may hang up before the host opens it or after.
    with pytest.raises(EmulatorError, match=r"(?s)(did not answer HELLO|cannot open the emulator's pty).*cpp-arm\) "
                                            r"exited with code 1.*phyll-cpp cannot start: medium description: "
                                            r"\"n_sensors\" must be an int in 1\.\.65535"):
        open_device(f"emu://test_firmware_cpp:Sensorless?{ARM}")


@needs_qemu
def test_short_training_through_the_arm_image(blobs_csv, tmp_path, capsys):
    summary_path = tmp_path / "summary.json"
    code = main(["train", "--dataset", str(blobs_csv), "--label-column", "kind",
                 "--device", f"emu://acoustic?seed=3&{ARM}", "--epochs", "6", "--eval-every", "3",
                 "--json-out", str(summary_path), "--quiet"])
    assert code == 0, capsys.readouterr().err
    summary = json.loads(summary_path.read_text())
    device = summary["device"]
    assert (device["firmware"], device["board"], device["runtime"]) == ("phyll-cpp 0.1.0", "mps2-an385", "cpp")
    assert device["emulator"]["runtime"] == "cpp-arm"
    assert device["counters"]["passes"] == summary["physical_passes"]["train"] + summary["physical_passes"]["eval"]
    assert summary["test_accuracy"] > 50.0  # three well separated blobs


HOST_SCRIPT = textwrap.dedent(f"""
    import time
    from phyll.devices import open_device
    device = open_device("emu://loopback?width=4&{ARM}")  # never closed by this script
    print(device.describe()["emulator"]["pid"], flush=True)
    time.sleep(60)
""")


@needs_qemu
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_qemu_ends_with_its_host_process(how):
    """QEMU does not leave when its link hangs up: SIGTERM closes the emulator, and a host killed
    outright takes QEMU with it (setpriv --pdeathsig)."""
    host = subprocess.Popen([sys.executable, "-c", HOST_SCRIPT], stdout=subprocess.PIPE, text=True)
    try:
        assert select.select([host.stdout], [], [], STARTUP_S)[0], "the host did not start its emulated device"
        qemu = int(host.stdout.readline())
        assert running(qemu)
        host.send_signal(how)
        assert host.wait(timeout=20) == -how
        assert gone(qemu), f"qemu-system-arm (pid {qemu}) outlived its host ({how.name})"
    finally:
        host.kill()
        host.wait()


@needs_qemu
def test_phyll_emulate_serves_the_arm_image_and_leaves_nothing_on_sigterm():
    emulate = subprocess.Popen([sys.executable, "-c", "import sys; from phyll.cli import main; sys.exit(main())",
                                "emulate", "--firmware", "cpp-arm", "--medium", "acoustic", "--seed", "3"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert select.select([emulate.stdout], [], [], STARTUP_S)[0], "phyll emulate printed no path"
        path = emulate.stdout.readline().strip()
        announced = emulate.stderr.readline()
        assert "with the cpp-arm firmware" in announced and path in announced, announced
        qemu = int(announced.split("(pid ")[1].split(")")[0])
        with open_device(path) as device:
            assert (device.info["board"], device.info["runtime"]) == ("mps2-an385", "cpp")
            assert device.forward(np.full((3, 20), 0.2, np.float32)).shape == (3, 20)
        emulate.send_signal(signal.SIGTERM)
        assert emulate.wait(timeout=20) == 0
        assert gone(qemu), "qemu-system-arm outlived phyll emulate"
    finally:
        emulate.kill()
        emulate.wait()
