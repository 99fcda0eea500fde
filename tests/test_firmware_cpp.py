"""The C++ firmware's host-side checks, so `python -m pytest` covers them too.

firmware/cpp/test/build.py (the session fixture `cpp_build` in conftest.py) compiles the
portable core with the system g++ (-Wall -Wextra -Werror, AddressSanitizer +
UndefinedBehaviorSanitizer where the compiler has them), runs its harness (every
docs/protocol-vectors.json case, seeded fuzzing, reply cache, watchdog, clamping, the
metasurface HAL on a simulated shift-register chain) and builds phyll-cpp-host, the same core on
stdin/stdout with a linear test medium. The protocol points phyll-cpp-host must meet are checked
by tests/contract (its `cpp` column); here the host's serial Device drives it end to end over a
real pty. Skips, naming what is missing, only when there is no C++ compiler.
"""
from __future__ import annotations

import os
import re
import subprocess
import tty

import numpy as np
import pytest

from phyll import protocol as p
from phyll.devices.serial_device import Device

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
