"""The serial Device's express lane (host/phyll/devices/_express.pyx) against its reference, the
Python link engine: same codes, same readings, and every case it does not take handed over so
the engine finishes that same request (retries, errors and counters as usual)."""
from __future__ import annotations

import os
import signal
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
    lane = device._express_batch
    device._express_batch = 0
    try:
        return device.forward(x)
    finally:
        device._express_batch = lane


def test_crc32_is_zlibs():
    rng = np.random.default_rng(0)
    for n in (1, 9, 54, 4097):
        data = rng.integers(0, 256, n, dtype=np.uint8)
        assert _express.crc32(data) == zlib.crc32(data.tobytes())


def test_small_forwards_take_the_lane_and_match_the_engine(serve):
    peer = PeerDevice(n_actuators=5, n_sensors=3, max_batch=8)
    _, path = serve(peer)
    with Device.open(path, **PATIENT) as device:
        assert device._express_batch == 8
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


@pytest.mark.parametrize("faults, counted", [
    (LinkFaults(corrupt_replies=frozenset({1})), {"crc_errors": 1, "retries": 1, "timeouts": 0}),
    (LinkFaults(drop_replies=frozenset({1})), {"timeouts": 1, "retries": 1}),
    (LinkFaults(repeat_replies=frozenset({1, 2})), {"stale_replies": 2, "retries": 0}),
], ids=["corrupted", "lost", "repeated"])
def test_faulty_replies_are_handed_over_and_finished_by_the_engine(serve, faults, counted):
    peer = PeerDevice()
    _, path = serve(peer, faults)
    with Device.open(path, timeout=0.3, per_vector=0.0) as device:
        for seed in range(4):
            x = commands(1, 5, seed)
            assert np.array_equal(device.forward(x), expected_measure(peer, x))
        for name, value in counted.items():
            assert getattr(device.counters, name) == value, name
        assert device.counters.requests == 4 + 1  # HELLO, then one per forward: re-sends are not new
    assert peer.counters["excites"] == 4  # a replayed reply never ran the medium twice


def test_noisy_link_with_batch_one_forwards(serve):
    peer = PeerDevice()
    _, path = serve(peer, LinkFaults(flip_in=5e-3, flip_out=5e-3, drop_in=2e-3, seed=3))
    with Device.open(path, retries=10, timeout=0.3, per_vector=0.0) as device:
        for seed in range(60):
            x = commands(1, 5, seed)
            assert np.array_equal(device.forward(x), expected_measure(peer, x))
        assert device.counters.retries > 0


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


def test_engine_continues_a_request_the_lane_only_partly_wrote(serve):
    peer = PeerDevice()
    _, path = serve(peer)
    with Device.open(path, **PATIENT) as device:
        x = commands(1, 5)
        payload = p.pack_excite_codes(p.quantize(x, device.actuator_scale))
        for written in (0, 7):
            seq = device._take_seq()
            wire = p.encode_frame(p.MsgType.EXCITE, seq, payload)
            os.write(device._port.fd, wire[:written])
            (reply,) = device._exchange([(p.MsgType.EXCITE, payload, 2.0)],
                                        sent=(seq, wire, written, b"", time.monotonic()))
            assert reply.seq == seq
            assert np.array_equal(p.unpack_measure(reply.payload) * np.float32(device.sensor_scale),
                                  expected_measure(peer, x))
        assert peer.counters["excites"] == 2 and peer.counters["duplicates"] == 0


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
