"""tests/ser2net.py works: the CPython peer on a pty, ser2net in front, plain pyserial through both URLs."""
from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import serial

from phyll import protocol as p
from phyll.protocol import MsgType

import ser2net
from ser2net import Ser2net, missing_reason
from serial_peer import PeerDevice, serve_pty

pytestmark = pytest.mark.skipif(missing_reason() is not None, reason=str(missing_reason()))

URL_KINDS = ("socket_url", "rfc2217_url")


@pytest.fixture
def rig():
    """(peer device, running Ser2net) with the peer on a raw pty whose slave stays open."""
    device = PeerDevice(n_actuators=4, n_sensors=2)
    server, path, slave = serve_pty(device)  # raw, so ser2net restores raw between clients
    try:
        with Ser2net(path) as bridge:
            yield device, bridge
    finally:
        server.stop()
        os.close(slave)


def exchange(port: serial.SerialBase, request: bytes) -> p.Frame:
    """Send one frame with plain pyserial and return the one frame that comes back."""
    parser = p.FrameParser()
    port.write(request)
    while True:
        chunk = port.read(max(1, port.in_waiting))
        assert chunk, f"no reply through {port.portstr} within {port.timeout} s"
        events = parser.feed(chunk)
        if events:
            assert len(events) == 1 and isinstance(events[0], p.Frame), events
            return events[0]


@pytest.mark.parametrize("kind", URL_KINDS)
def test_hello_through_ser2net_gets_info(rig, kind):
    device, bridge = rig
    with serial.serial_for_url(getattr(bridge, kind), timeout=2.0) as port:
        reply = exchange(port, p.encode_frame(MsgType.HELLO, 0x1234, p.pack_hello()))
    assert (reply.type, reply.seq) == (MsgType.INFO, 0x1234)
    assert p.unpack_json(reply.payload) == device.info()


@pytest.mark.parametrize("kind", URL_KINDS)
def test_every_byte_value_crosses_ser2net(rig, kind):
    """0xFF is telnet's IAC: the rfc2217 side doubles it on the wire and pyserial undoes that."""
    _, bridge = rig
    with serial.serial_for_url(getattr(bridge, kind), timeout=2.0) as port:
        for start in range(0, 256, p.MAX_PING):
            payload = bytes(range(start, start + p.MAX_PING))[::-1]
            reply = exchange(port, p.encode_frame(MsgType.PING, start, payload))
            assert (reply.type, reply.seq, reply.payload) == (MsgType.PONG, start, payload)


def test_ser2net_stops_and_frees_its_ports():
    master, slave = os.openpty()
    try:
        with Ser2net(os.ttyname(slave)) as bridge:
            pid = bridge.pid
            assert os.path.exists(f"/proc/{pid}")
        assert not os.path.exists(f"/proc/{pid}")
        for url in (bridge.socket_url, bridge.rfc2217_url):
            with pytest.raises(serial.SerialException, match="Could not open port"):
                serial.serial_for_url(url)
    finally:
        os.close(master)
        os.close(slave)



def children() -> set[int]:
    """Processes this test process started and has not reaped."""
    return {int(pid) for task in Path("/proc/self/task").iterdir()
            for pid in (task / "children").read_text().split()}


def test_a_port_taken_before_ser2net_binds_it_is_retried(monkeypatch):
    """ser2net 4.3.11 keeps serving its other port when one is taken, and then ignores SIGTERM."""
    squatter = socket.create_server(("127.0.0.1", 0))
    free_ports = ser2net._free_ports
    offers = [[squatter.getsockname()[1], *free_ports(1)]]
    monkeypatch.setattr(ser2net, "_free_ports", lambda count: offers.pop() if offers else free_ports(count))
    master, slave = os.openpty()
    before = children()
    try:
        with squatter, Ser2net(os.ttyname(slave)) as bridge:
            assert not offers and bridge.rfc2217_port != squatter.getsockname()[1]
            assert children() == before | {bridge.pid}
        assert children() == before
    finally:
        os.close(master)
        os.close(slave)
