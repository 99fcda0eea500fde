"""The serial Device's express lane (host/phyll/devices/_express.pyx) against its reference, the
Python link engine: same codes, same readings, same counters, and every case it does not take
handed over so the engine finishes those same requests (retries, errors and counters as usual)."""
from __future__ import annotations

import os
import select
import signal
import threading
import time
import zlib

import numpy as np
import pytest

from phyll import protocol as p
from phyll.devices import _express, open_device
from phyll.devices.serial_device import Device
from phyll.protocol import LinkError

from serial_peer import LinkFaults, PeerDevice
from test_serial_device import PATIENT, commands, expected_measure, serve  # noqa: F401 (fixture)


def general_forward(device: Device, x: np.ndarray) -> np.ndarray:
    """forward() with the express lane switched off: the engine's path for the same commands."""
    lane = device._express
    device._express = False
    try:
        return device.forward(x)
    finally:
        device._express = lane


def test_crc32_is_zlibs():
    rng = np.random.default_rng(0)
    for n in (1, 9, 54, 4097):
        data = rng.integers(0, 256, n, dtype=np.uint8)
        assert _express.crc32(data) == zlib.crc32(data.tobytes())


def test_forwards_take_the_lane_and_match_the_engine(serve):
    peer = PeerDevice(n_actuators=5, n_sensors=3, max_batch=8)
    _, path = serve(peer)
    with Device.open(path, **PATIENT) as device:
        assert device._express
        step = device.actuator_scale
        # ties between codes (round half to even), the limits, beyond them, and random commands
        ties = np.array([[0.5, 1.5, 2.5, -0.5, -2.5]], np.float64) * step
        edges = np.array([[1.0, -1.0, 3.0, -3.0, 1e30]], np.float32)
        for x in (ties.astype(np.float32), edges, commands(1, 5), commands(8, 5, seed=4)):
            requests = device.counters.requests
            y = device.forward(x)
            assert device.counters.requests == requests + 1 and device.counters.retries == 0
            assert y.dtype == np.float32 and np.array_equal(y, expected_measure(peer, x))
            assert np.array_equal(y, general_forward(device, x))
            # what the device was sent: protocol.quantize's codes, clamped by the device only
            assert np.array_equal(peer.applied, np.clip(p.quantize(x, step), peer.code_low, peer.code_high))
        assert device.counters.passes == 2 * (1 + 1 + 1 + 8)
        assert len(device.counters.latencies_s) == 1 + 8  # HELLO's, then every request's
        # a view with strides is made contiguous, not misread
        wide = commands(3, 10)
        assert np.array_equal(device.forward(wide[:, ::2]), expected_measure(peer, wide[:, ::2]))


def tally(device: Device) -> dict:
    counters = device.counters
    return {"requests": counters.requests, "passes": counters.passes, "bytes_out": counters.bytes_out,
            "bytes_in": counters.bytes_in, "latencies": len(counters.latencies_s), "retries": counters.retries}


def test_multi_frame_forwards_match_the_engine_reading_for_reading_and_count_for_count(serve):
    peer = PeerDevice(n_actuators=5, n_sensors=3, max_batch=8, in_flight=3)
    _, path = serve(peer)
    with Device.open(path, **PATIENT) as lane, Device.open(path, **PATIENT) as engine:
        engine._express = False
        for batch in (9, 29, 200):  # 2, 4 and 25 EXCITEs, 3 in flight
            x = commands(batch, 5, seed=batch)
            before = tally(lane), tally(engine)
            y = lane.forward(x)
            assert np.array_equal(y, expected_measure(peer, x))
            assert np.array_equal(y, engine.forward(x))
            lane_counts, engine_counts = ({key: after[key] - was[key] for key in was}
                                          for was, after in zip(before, (tally(lane), tally(engine))))
            assert lane_counts == engine_counts
            assert lane_counts["requests"] == lane_counts["latencies"] == -(-batch // 8)
            assert lane_counts["retries"] == 0
        assert lane.counters.peak_in_flight == engine.counters.peak_in_flight == 3
    assert peer.counters["duplicates"] == 0


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
    (LinkFaults(corrupt_replies=frozenset({2})), {"crc_errors": 1, "retries": 1, "timeouts": 0}),
    (LinkFaults(drop_replies=frozenset({2})), {"timeouts": 1, "retries": 1}),
    (LinkFaults(repeat_replies=frozenset({2, 3})), {"stale_replies": 2, "retries": 0}),
], ids=["corrupted", "lost", "repeated"])
def test_faulty_replies_are_handed_over_and_finished_by_the_engine(serve, faults, counted, batch):
    peer = PeerDevice(max_batch=8)
    _, path = serve(peer, faults)
    frames = -(-batch // 8)
    with Device.open(path, timeout=0.3, per_vector=0.0) as device:
        for seed in range(4):
            x = commands(batch, 5, seed)
            assert np.array_equal(device.forward(x), expected_measure(peer, x))
        for name, value in counted.items():
            assert getattr(device.counters, name) == value, name
        # HELLO, then one per EXCITE: re-sends are not new requests
        assert device.counters.requests == 1 + 4 * frames
        assert len(device.counters.latencies_s) == 1 + 4 * frames
    assert peer.counters["excites"] == 4 * frames  # a replayed reply never ran the medium twice


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


def test_ctrl_c_while_the_lane_waits_interrupts_the_forward(serve):
    # The lane waits in C without the GIL; Ctrl-C must still end the forward at once, not after
    # the reply timeout.
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


def test_silent_and_vanished_devices_raise_link_errors(serve):
    _, path = serve(PeerDevice(), LinkFaults(mute_after=2))
    with Device.open(path, timeout=0.1, per_vector=0.0, retries=1) as device:
        device.forward(commands(1, 5))
        with pytest.raises(LinkError, match=f"{path}.*EXCITE.*after 2 attempts.*timeout"):
            device.forward(commands(1, 5))
    _, path = serve(PeerDevice(), LinkFaults(vanish_after=2))
    with Device.open(path, **PATIENT) as device:
        device.forward(commands(1, 5))
        with pytest.raises(LinkError, match=path):
            device.forward(commands(1, 5))


def test_engine_continues_requests_the_lane_began(serve):
    peer = PeerDevice()
    _, path = serve(peer)
    with Device.open(path, **PATIENT) as device:
        x = commands(3, 5)
        payloads = [p.pack_excite_codes(p.quantize(x[i:i + 1], device.actuator_scale)) for i in range(3)]
        requests = [(p.MsgType.EXCITE, payload, 2.0) for payload in payloads]
        for written, read_first_reply in ((0, False), (7, False), (7, True)):
            # the lane wrote all of request 0 and `written` bytes of request 1; request 2 is not begun
            seqs = [device._take_seq(), device._take_seq()]
            wires = [p.encode_frame(p.MsgType.EXCITE, seq, payload) for seq, payload in zip(seqs, payloads)]
            os.write(device._port.fd, wires[0] + wires[1][:written])
            received = b""
            if read_first_reply:  # ... and read the start of what came back
                select.select([device._port.fd], [], [], 2.0)
                received = os.read(device._port.fd, 20)
            now = time.monotonic()
            begun = [(seqs[0], wires[0], len(wires[0]), now), (seqs[1], wires[1], written, now)]
            replies = device._exchange(requests, begun=begun, received=received)
            assert [reply.seq for reply in replies[:2]] == seqs
            measured = np.concatenate([p.unpack_measure(reply.payload) for reply in replies])
            assert np.array_equal(measured * np.float32(device.sensor_scale), expected_measure(peer, x))
        assert peer.counters["excites"] == 3 * 3 and peer.counters["duplicates"] == 0
        assert device.counters.retries == 0 and device.counters.stale_replies == 0


def test_emulated_firmware_killed_between_batch_one_forwards_is_named():
    device = open_device("emu://loopback?width=4")
    try:
        x = np.full((1, 4), 0.25, np.float32)
        codes = p.quantize(x, device.actuator_scale)  # the loopback reads the commands back
        assert np.array_equal(device.forward(x), (codes * device.sensor_scale).astype(np.float32))
        os.kill(device.emulator.pid, signal.SIGKILL)
        with pytest.raises(LinkError, match="killed by SIGKILL"):
            device.forward(x)
    finally:
        device.close()
