"""The C++ firmware's host-side checks, so `python -m pytest` covers them too.

firmware/cpp/test/build.py (the session fixture `cpp_build` in conftest.py) compiles the
portable core with the system g++ (-Wall -Wextra -Werror, AddressSanitizer +
UndefinedBehaviorSanitizer where the compiler has them), runs its harness (every
docs/protocol-vectors.json case, seeded fuzzing, reply cache, watchdog, clamping, the
metasurface HAL on a simulated shift-register chain, the medium channel) and builds
phyll-cpp-host, the same core on stdin/stdout with a linear test medium or the emulator's medium
channel. The protocol points phyll-cpp-host must meet are checked by tests/contract (its `cpp`
and `emu-cpp` columns); here the host's serial Device drives it end to end over a real pty, and
as `emu://MEDIUM?firmware=cpp` behind the same medium server as the MicroPython firmware (the
emulator's own optimised build, firmware/cpp/targets.py, cached by source hash). Skips, naming
what is missing, only when there is no C++ compiler.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tty

import numpy as np
import pytest

from phyll import protocol as p
from phyll.cli import main
from phyll.devices import open_device
from phyll.devices.serial_device import Device
from phyll.emulator import EmulatorError, firmware
from phyll.media import Medium
from phyll.physical import ActuatorEncoding

needs_compiler = pytest.mark.skipif(
    shutil.which(os.environ.get("CXX", "g++")) is None,
    reason="firmware=cpp builds phyll-cpp-host with the system C++ compiler: apt-get install g++ (or set CXX)")

SUMMARY = re.compile(r"phyll-cpp tests: (\d+) passed, (\d+) failed")

# The linear medium of firmware/cpp/host/linear_medium_hal.h.
ACTUATOR_SCALE = 2.0 ** -15
SENSOR_SCALE = 2.0 ** -8
CODE_LIMIT = 16384  # [-0.5, 0.5] at ACTUATOR_SCALE


def weights(n_sensors: int, n_actuators: int) -> np.ndarray:
    j, i = np.meshgrid(np.arange(n_sensors), np.arange(n_actuators), indexing="ij")
    return ((3 * i + 5 * j) % 7 - 3) / 4.0


def expected_measure(physical: np.ndarray, n_sensors: int, static_on: int = 0) -> np.ndarray:
    values = physical @ weights(n_sensors, physical.shape[1]).T + static_on / 8.0
    return np.clip(np.rint(values / SENSOR_SCALE), -32768, 32767) * SENSOR_SCALE


@pytest.fixture
def host_device(cpp_build):
    """open(*options) -> Device on a pty served by phyll-cpp-host; all closed afterwards."""
    started = []

    def open_device(*options: str) -> tuple[Device, subprocess.Popen]:
        master, slave = os.openpty()
        tty.setraw(slave)
        try:
            process = subprocess.Popen([str(cpp_build / "phyll-cpp-host"), *options], stdin=master, stdout=master,
                                       start_new_session=True)
        finally:
            os.close(master)
        started.append((process, slave))
        return Device.open(os.ttyname(slave), timeout=5.0), process

    yield open_device
    endings = []
    for process, slave in started:
        os.close(slave)  # the firmware sees the hang-up and ends
        try:
            endings.append(process.wait(timeout=10))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            endings.append("still running 10 s after the hang-up")
    # A sanitizer report makes the exit status non-zero.
    assert endings == [0] * len(started), f"phyll-cpp-host ended with {endings}"


def test_harness_passes_under_the_sanitizers(cpp_build):
    result = subprocess.run([str(cpp_build / "phyll_cpp_tests")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, timeout=300)
    lines = result.stdout.strip().splitlines()
    summary = SUMMARY.fullmatch(lines[-1]) if lines else None
    assert result.returncode == 0 and summary, f"C++ harness failed:\n{result.stdout[-6000:]}"
    passed, failed = map(int, summary.groups())
    assert failed == 0 and passed >= 50, lines[-1]


def test_host_build_serves_the_serial_device(host_device):
    device, process = host_device("--actuators", "5", "--sensors", "3", "--max-batch", "64")
    info = device.info
    assert (info["firmware"], info["runtime"], info["board"], info["medium"]) == ("phyll-cpp 0.1.0", "cpp", "host", "linear")
    assert (info["n_actuators"], info["n_sensors"], info["max_batch"], info["in_flight"]) == (5, 3, 64, 4)
    assert info["encoding"] == {"encoder": "minmax", "low": -0.5, "high": 0.5, "bits": 1}
    assert info["actuator_scale"] == ACTUATOR_SCALE and info["sensor_scale"] == SENSOR_SCALE

    commands = np.random.default_rng(3).uniform(-0.8, 0.8, size=(300, 5)).astype(np.float32)
    measured = device.forward(commands)  # 5 pipelined EXCITEs of <= 64 vectors
    codes = np.clip(p.quantize(commands, ACTUATOR_SCALE).astype(np.int64), -CODE_LIMIT, CODE_LIMIT)
    np.testing.assert_array_equal(measured, expected_measure(codes * ACTUATOR_SCALE, 3))
    device.close()
    assert process.poll() is None  # still serving: a new session may open the port


def test_host_build_bits_device_with_static_elements(host_device):
    device, _ = host_device("--bits", "--actuators", "11", "--sensors", "3", "--static", "6")
    assert device.info["encoding"]["encoder"] == "bits" and device.info["n_static"] == 6
    device.set_static(np.array([1, 0, 1, 1, 0, 1]))
    commands = np.random.default_rng(5).uniform(0, 1, size=(40, 11)).astype(np.float32)
    states = (commands >= 0.5).astype(np.float64)
    np.testing.assert_array_equal(device.forward(commands), expected_measure(states, 3, static_on=4))
    device.close()  # the port's last holder: the firmware then sees the hang-up and ends


# -- the host build as an emulated device: emu://MEDIUM?firmware=cpp --------------------------------


class Faulty(Medium):
    """A user's medium (loaded by module path) that fails on a drive above 0.9, as a rig might."""

    name = "faulty"
    sensor_full_scale = 4.0

    def __init__(self) -> None:
        self.n_actuators, self.n_sensors = 3, 2
        self.encoding = ActuatorEncoding("minmax", 0.0, 1.0)

    def forward(self, actuation: np.ndarray) -> np.ndarray:
        if np.any(actuation > 0.9):
            raise RuntimeError("amplifier tripped")
        return actuation[:, :2] + actuation[:, 2:]


class Sensorless(Faulty):
    """A medium the firmware refuses at start-up: its description has no sensor."""

    name = "sensorless"

    def __init__(self) -> None:
        super().__init__()
        self.n_sensors = 0


def drives(n: int, width: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, width))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@needs_compiler
@pytest.mark.parametrize("medium, width", [("acoustic?seed=4", 20), ("metasurface?seed=2", 40)])
def test_emulated_cpp_firmware_measures_what_the_micropython_firmware_measures(medium, width):
    """The same seeded medium behind both firmwares gives the same codes bit for bit: analog
    (int16 codes) and bits (packed element states) alike."""
    x = drives(700, width) if medium.startswith("acoustic") else \
        np.random.default_rng(3).uniform(0, 1, (700, width)).astype(np.float32)
    with open_device(f"emu://{medium}&firmware=cpp") as cpp, \
            open_device(f"emu://{medium}&runtime=cpython") as reference:
        assert (cpp.info["firmware"], cpp.info["board"], cpp.info["runtime"]) == ("phyll-cpp 0.1.0", "host", "cpp")
        assert cpp.describe()["emulator"]["runtime"] == "cpp"
        for key in ("medium", "n_actuators", "n_sensors", "n_static", "encoding", "actuator_scale", "sensor_scale",
                    "max_batch"):
            assert cpp.info.get(key) == reference.info.get(key), key
        measured = cpp.forward(x)
        assert np.array_equal(measured, reference.forward(x))
        assert np.ptp(measured) > 0  # not trivially equal
        status = cpp.status()
        assert (status["excites"], status["vectors"]) == (2, 700)  # max_batch split it in two
        assert cpp.describe()["emulator"]["medium_server"]["passes"] == 700


@needs_compiler
def test_emulated_cpp_firmware_computes_the_loopback_itself():
    x = np.random.default_rng(2).uniform(-1.5, 1.5, (30, 6)).astype(np.float32)  # some beyond +-1
    with open_device("emu://loopback?width=6&firmware=cpp") as device:
        assert (device.info["medium"], device.info["runtime"]) == ("loopback", "cpp")
        measured = device.forward(x)
        sent = p.quantize(x, device.actuator_scale)
        codes = np.clip(sent, -32767, 32767)  # clamped to the limits, +-1
        assert np.array_equal(measured, (codes * device.sensor_scale).astype(np.float32))
        assert device.status()["clamps"] == int(np.count_nonzero(sent < -32767)) > 0  # saturated low
        assert device.describe()["emulator"]["medium_server"]["excites"] == 0  # never asked


@needs_compiler
def test_emulated_cpp_firmware_reports_a_medium_failure_as_a_hal_fault():
    with open_device("emu://test_firmware_cpp:Faulty?firmware=cpp") as device:
        assert device.forward(np.full((2, 3), 0.5, np.float32)).shape == (2, 2)
        with pytest.raises(p.HalFaultError, match="faulty.*amplifier tripped"):
            device.forward(np.full((2, 3), 1.0, np.float32))
        assert device.forward(np.full((1, 3), 0.5, np.float32)).shape == (1, 2)  # still serving
        assert device.status()["hal_faults"] == 1


@needs_compiler
def test_emulated_cpp_firmware_refusing_its_medium_says_why():
    # The firmware ends at once, so its pty may hang up before the host opens it or after.
    with pytest.raises(EmulatorError, match=r"(?s)(did not answer HELLO|cannot open the emulator's pty).*"
                                            r"exited with code 2.*n_sensors\" must be an int in 1\.\.65535"):
        open_device("emu://test_firmware_cpp:Sensorless?firmware=cpp")


def test_firmware_option_is_checked_before_anything_starts():
    with pytest.raises(EmulatorError, match="firmware 'fortran'"):
        open_device("emu://acoustic?firmware=fortran")
    with pytest.raises(EmulatorError, match="runtime=cpython chooses the MicroPython firmware's interpreter"):
        open_device("emu://acoustic?firmware=cpp&runtime=cpython")


@needs_compiler
def test_phyll_info_names_the_cpp_firmware_board_and_runtime(capsys):
    assert main(["info", "emu://acoustic?firmware=cpp"]) == 0
    described = json.loads(capsys.readouterr().out)
    assert (described["firmware"], described["board"], described["runtime"]) == ("phyll-cpp 0.1.0", "host", "cpp")
    assert described["emulator"]["runtime"] == "cpp"
    assert described["emulator"]["program"].endswith("phyll-cpp-host")


def test_a_missing_compiler_is_named_with_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setenv("CXX", "no-such-g++")
    monkeypatch.setenv("PHYLL_CACHE_DIR", str(tmp_path))
    with pytest.raises(EmulatorError, match=r"needs 'no-such-g\+\+'.*apt-get install g\+\+"):
        firmware.build_cpp_firmware("host")


@needs_compiler
def test_the_emulator_build_is_cached_by_source_hash(monkeypatch, tmp_path):
    monkeypatch.setenv("PHYLL_CACHE_DIR", str(tmp_path))
    built = firmware.build_cpp_firmware("host")
    assert built.parent.parent == tmp_path / "firmware-cpp" and built.parent.name.startswith("host-")
    stamp = built.stat().st_mtime_ns
    assert firmware.build_cpp_firmware("host") == built and built.stat().st_mtime_ns == stamp  # not rebuilt
    assert [p.name for p in built.parent.parent.iterdir()] == [built.parent.name]  # no leftovers


@needs_compiler
def test_phyll_emulate_serves_the_cpp_firmware(capsys):
    import select
    import signal
    import sys

    emulate = subprocess.Popen([sys.executable, "-c", "import sys; from phyll.cli import main; sys.exit(main())",
                                "emulate", "--firmware", "cpp", "--medium", "acoustic", "--seed", "3"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert select.select([emulate.stdout], [], [], 60)[0], "phyll emulate printed no path"
        path = emulate.stdout.readline().strip()
        assert "with the cpp firmware" in emulate.stderr.readline()
        assert main(["info", path]) == 0
        described = json.loads(capsys.readouterr().out)
        assert (described["firmware"], described["board"], described["runtime"]) == ("phyll-cpp 0.1.0", "host", "cpp")
        emulate.send_signal(signal.SIGTERM)
        assert emulate.wait(timeout=20) == 0
    finally:
        emulate.kill()
        emulate.wait()
    assert main(["emulate", "--firmware", "cpp", "--fs", "/tmp/unused-flash"]) == 2  # refused before anything starts
    assert "without --baud, --runtime cpython or --firmware" in capsys.readouterr().err
