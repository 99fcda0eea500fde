"""The floors a host meets through ser2net, as labs serve rigs: round trips, bulk reads, wake-ups.

Not a test: prints figures measured in one run. ser2net (tests/ser2net.py, started as labgrid's
exporter starts it) sits in front of a pty whose other end is a trivial device process: it echoes
what it reads, and answers b"BULK <n>\\n" with n bytes. Clients:

* pty: the slave path opened directly (no ser2net), the reference;
* socket: a bare Python socket on ser2net's raw tcp accepter;
* socket://: pyserial's socket URL on the same accepter, read(n) in one call;
* rfc2217://: pyserial's rfc2217 client on the telnet(rfc2217) accepter (?ign_set_control),
  read as a port without a descriptor is read (`read_available`).

Each with or without TCP_NODELAY (pyserial's rfc2217 client sets it itself) and TCP_QUICKACK,
which the kernel clears, so it is set again after each write, before each wait (from the
client's thread; for rfc2217 the recv happens in pyserial's reader thread on the same socket).
Rounds take turns between clients so drifting load hits all alike; figures are the median and
the 90th percentile of all rounds.

    python bench/bench_ser2net_floor.py [--json] [--rounds R] [--bulk-mb M]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import select
import socket
import statistics
import subprocess
import sys
import threading
import time
import tty
from contextlib import ExitStack, contextmanager
from pathlib import Path

import serial

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from ser2net import Ser2net, missing_reason  # noqa: E402  (a test utility, not part of phyll)

TCP_QUICKACK = getattr(socket, "TCP_QUICKACK", 12)  # Linux
SIZES = (60, 1024, 16384)
READ_CAP_S = 0.05  # a descriptor-less port's timeout: the longest single blocking read(1)
DEADLINE_S = 5.0

# The device: fd 0 is the pty master. Echo, or a burst of n bytes (every value, 0xFF included).
DEVICE = r"""
import os
burst = bytes(range(256)) * 256
while True:
    data = os.read(0, 65536)
    if not data:
        break
    if data.startswith(b"BULK "):
        left = int(data[5:].split(b"\n")[0])
        while left:
            left -= os.write(0, burst[:left])
    else:
        view = memoryview(data)
        while view:
            view = view[os.write(0, view):]
"""


@contextmanager
def echo_device():
    """A raw pty with the device process on its master; yields the slave path."""
    master, slave = os.openpty()
    tty.setraw(slave)  # ser2net restores the termios it found after each client
    device = subprocess.Popen([sys.executable, "-c", DEVICE], stdin=master, close_fds=True)
    os.close(master)
    try:
        yield os.ttyname(slave)
    finally:
        device.kill()
        device.wait()
        os.close(slave)


class PtyClient:
    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)

    def send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]

    def receive(self, size: int) -> int:
        got = 0
        while got < size:
            if not select.select([self.fd], [], [], DEADLINE_S)[0]:
                raise TimeoutError(f"pty: {got} of {size} bytes")
            got += len(os.read(self.fd, 65536))
        return got

    def close(self) -> None:
        os.close(self.fd)


class SocketClient:
    """A bare socket; QUICKACK set again before each recv."""

    def __init__(self, port: int, nodelay: bool, quickack: bool) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, int(nodelay))
        self.sock.settimeout(DEADLINE_S)
        self.quickack = quickack

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def receive(self, size: int) -> int:
        got = 0
        while got < size:
            if self.quickack:
                self.sock.setsockopt(socket.IPPROTO_TCP, TCP_QUICKACK, 1)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"socket closed after {got} of {size} bytes")
            got += len(chunk)
        return got

    def close(self) -> None:
        self.sock.close()


class PyserialClient:
    """pyserial on a URL; socket:// reads with one read(n), rfc2217:// with `read_available`."""

    def __init__(self, url: str, nodelay: bool | None, quickack: bool) -> None:
        self.descriptorless = url.startswith("rfc2217:")
        self.port = serial.serial_for_url(url, timeout=READ_CAP_S if self.descriptorless else DEADLINE_S)
        self.sock: socket.socket = self.port._socket  # both pyserial backends keep it here
        if nodelay is not None:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, int(nodelay))
        self.quickack = quickack

    def send(self, data: bytes) -> None:
        self.port.write(data)

    def receive(self, size: int) -> int:
        got, deadline = 0, time.monotonic() + DEADLINE_S
        while got < size:
            if self.quickack:
                self.sock.setsockopt(socket.IPPROTO_TCP, TCP_QUICKACK, 1)
            if self.descriptorless:
                chunk = read_available(self.port)
            else:
                chunk = self.port.read(size - got)
            if not chunk and time.monotonic() >= deadline:
                raise TimeoutError(f"{self.port.portstr}: {got} of {size} bytes")
            got += len(chunk)
        return got

    def close(self) -> None:
        self.port.close()


def read_available(port: serial.SerialBase) -> bytes:
    """What a port without a descriptor holds, waiting at most `port.timeout` for its first byte.

    No busy-wait and no fixed sleep: the blocking read(1) wakes when a byte arrives. The timeout
    is set once, when the port is opened: setting `port.timeout` reconfigures the port, which on
    rfc2217:// is four subnegotiations waited for in turn (~150 ms, see `timeout_setter_ms`).
    A caller with a deadline loops, and overshoots it by at most the timeout.
    """
    waiting = port.in_waiting
    if waiting:
        return port.read(waiting)
    first = port.read(1)
    return first + port.read(port.in_waiting) if first else b""


def _options(nodelay: bool | None, quickack: bool) -> str:
    parts = {True: ["NODELAY"], False: ["Nagle"], None: ["pyserial's NODELAY"]}[nodelay]
    return f" ({', '.join(parts + ['QUICKACK'] * quickack)})"


def round_trip_ms(client, payload: bytes) -> float:
    started = time.perf_counter()
    client.send(payload)
    client.receive(len(payload))
    return 1e3 * (time.perf_counter() - started)


def bulk_mb_s(client, size: int) -> float:
    started = time.perf_counter()
    client.send(b"BULK %d\n" % size)
    client.receive(size)
    return size / 1e6 / (time.perf_counter() - started)


def client_makers(path: str, bridge: Ser2net) -> dict:
    """name -> a function connecting that client. One client is connected at a time: ser2net
    sends the device's bytes to every client of a connection, and refuses a client of the other
    connection while the device is open ("Port's device already in use")."""
    makers = {"pty (no ser2net)": lambda: PtyClient(path)}
    for nodelay, quickack in ((False, False), (True, False), (False, True), (True, True)):
        makers["socket" + _options(nodelay, quickack)] = \
            lambda n=nodelay, q=quickack: SocketClient(bridge.raw_port, n, q)
    for nodelay, quickack in ((False, False), (True, False), (True, True)):
        makers["socket://" + _options(nodelay, quickack)] = \
            lambda n=nodelay, q=quickack: PyserialClient(bridge.socket_url, n, q)
    for nodelay, quickack in ((False, False), (None, False), (None, True)):
        makers["rfc2217://" + _options(nodelay, quickack)] = \
            lambda n=nodelay, q=quickack: PyserialClient(bridge.rfc2217_url, n, q)
    return makers


@contextmanager
def connected(make, bridge: Ser2net):
    client = make()
    try:
        yield client
    finally:
        client.close()
        wait_device_closed(bridge)


def wait_device_closed(bridge: Ser2net) -> None:
    """Until ser2net has closed the pty after its client left (the next client opens it anew)."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        links = []
        for fd in os.scandir(f"/proc/{bridge.pid}/fd"):
            try:
                links.append(os.readlink(fd.path))
            except FileNotFoundError:
                pass
        if bridge.device not in links:
            return
        time.sleep(0.002)
    raise TimeoutError(f"ser2net still holds {bridge.device} {DEADLINE_S} s after its client left")


def measure_round_trips(makers: dict, bridge: Ser2net, rounds: int, per_round: int) -> dict:
    samples: dict = {(name, size): [] for name in makers for size in SIZES}
    payloads = {size: bytes(range(256)) * (size // 256) + bytes(size % 256) for size in SIZES}
    for _ in range(rounds):
        for name, make in makers.items():
            with connected(make, bridge) as client:
                for size in SIZES:
                    samples[name, size] += [round_trip_ms(client, payloads[size]) for _ in range(per_round)]
    return {key: summary(values) for key, values in samples.items()}


BULK_CLIENTS = ("pty (no ser2net)", "socket (NODELAY, QUICKACK)", "socket:// (NODELAY, QUICKACK)",
                "rfc2217:// (pyserial's NODELAY, QUICKACK)")
RFC2217_BULK_BYTES = 1_000_000  # pyserial's rfc2217 client reads ~0.1 MB/s: 10 MB would take minutes


def measure_bulk(makers: dict, bridge: Ser2net, size: int, rounds: int) -> dict:
    """name -> (bytes read per round, min, median, max MB/s)."""
    sizes = {name: min(size, RFC2217_BULK_BYTES) if name.startswith("rfc2217") else size for name in BULK_CLIENTS}
    samples: dict = {name: [] for name in BULK_CLIENTS}
    for _ in range(rounds):
        for name in BULK_CLIENTS:
            with connected(makers[name], bridge) as client:
                samples[name].append(bulk_mb_s(client, sizes[name]))
    return {name: (sizes[name], min(values), statistics.median(values), max(values))
            for name, values in samples.items()}


def summary(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[int(0.9 * (len(ordered) - 1))]


def measure_wakeups(bridge: Ser2net, rounds: int) -> dict:
    """How late a reader returns after its byte arrived: `read_available`, and polling in_waiting
    with 1 ms sleeps for comparison.

    loop:// gets its byte from a thread at a known instant. For rfc2217:// the instant is when
    pyserial's reader thread queues the byte (a stamp in its queue's put); the echo device sends it.
    """
    late: dict = {}
    with serial.serial_for_url("loop://", timeout=READ_CAP_S) as loop:
        for name, wait in (("read_available", read_available), ("1 ms sleeps", poll_in_slices)):
            late[f"loop:// {name}"] = [_wake_loop(loop, wait) for _ in range(rounds)]
    with serial.serial_for_url(bridge.rfc2217_url, timeout=READ_CAP_S) as port:
        queued = _stamp_first_put(port)
        for name, wait in (("read_available", read_available), ("1 ms sleeps", poll_in_slices)):
            late[f"rfc2217:// {name}"] = samples = []
            for _ in range(rounds):
                queued.clear()
                port.write(b"w")
                while not wait(port):
                    pass
                samples.append(1e3 * (time.perf_counter() - queued[0]))
    return {name: summary(values) for name, values in late.items()}


def poll_in_slices(port: serial.SerialBase) -> bytes:
    while not port.in_waiting:
        time.sleep(0.001)
    return port.read(port.in_waiting)


def _stamp_first_put(port: serial.SerialBase) -> list[float]:
    """A list that receives the instant pyserial's rfc2217 reader thread next queues a byte;
    the caller clears it before each wait."""
    queued: list[float] = []
    put = port._read_buffer.put

    def stamped_put(item, *args, **kwargs):
        if not queued:
            queued.append(time.perf_counter())
        put(item, *args, **kwargs)

    port._read_buffer.put = stamped_put
    return queued


def _wake_loop(loop: serial.SerialBase, wait) -> float:
    written: list[float] = []

    def write() -> None:
        written.append(time.perf_counter())
        loop.write(b"w")

    writer = threading.Timer(random.uniform(0.002, 0.004), write)  # not in phase with 1 ms sleeps
    writer.start()
    while not wait(loop):
        pass
    returned = time.perf_counter()
    writer.join()
    return 1e3 * (returned - written[0])


def timeout_setter_ms(bridge: Ser2net, rounds: int) -> tuple[float, float]:
    """What `port.timeout = x` costs on rfc2217:// (it renegotiates the port settings)."""
    with serial.serial_for_url(bridge.rfc2217_url, timeout=READ_CAP_S) as port:
        values = []
        for i in range(rounds):
            started = time.perf_counter()
            port.timeout = READ_CAP_S * (1 + i % 2)
            values.append(1e3 * (time.perf_counter() - started))
    return summary(values)


def print_tables(trips: dict, bulk: dict, wakeups: dict, setter: tuple, bulk_mb: float) -> None:
    names = list(dict.fromkeys(name for name, _ in trips))
    print("round trips through ser2net (echo device), ms: median / p90")
    print(f"{'client':44}" + "".join(f"{size:>18} B" for size in SIZES))
    for name in names:
        print(f"{name:44}" + "".join(f"{trips[name, size][0]:>11.3f} / {trips[name, size][1]:<7.3f}" for size in SIZES))
    reference = bulk["pty (no ser2net)"][2]
    print(f"\nbulk reads, MB/s: min / median / max; median against the pty; {bulk_mb:g} MB at the median takes")
    for name, (size, low, median, high) in bulk.items():
        print(f"{name:44}{low:>8.2f} / {median:6.2f} / {high:<8.2f}{median / reference:>8.3f}x"
              f"{bulk_mb / median:>9.1f} s   ({size / 1e6:g} MB a round)")
    print("\nwake-up of read_available after the byte arrived, ms: median / p90")
    for name, (median, p90) in wakeups.items():
        print(f"{name:44}{median:>8.3f} / {p90:.3f}")
    print(f"\nrfc2217:// port.timeout = x costs {setter[0]:.1f} ms (p90 {setter[1]:.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per-round", type=int, default=20)
    parser.add_argument("--bulk-mb", type=float, default=10.0)
    args = parser.parse_args()
    reason = missing_reason()
    if reason:
        sys.exit(reason)
    with ExitStack() as stack:
        path = stack.enter_context(echo_device())
        bridge = stack.enter_context(Ser2net(path))
        makers = client_makers(path, bridge)
        trips = measure_round_trips(makers, bridge, args.rounds, args.per_round)
        bulk = measure_bulk(makers, bridge, int(args.bulk_mb * 1e6), args.rounds)
        wakeups = measure_wakeups(bridge, args.rounds * args.per_round)
        setter = timeout_setter_ms(bridge, args.rounds)
    print_tables(trips, bulk, wakeups, setter, args.bulk_mb)
    if args.json:
        print(json.dumps({"round_trip_ms": {f"{name} {size}": v for (name, size), v in trips.items()},
                          "bulk_mb_s": bulk, "wakeup_ms": wakeups, "timeout_setter_ms": setter}))


if __name__ == "__main__":
    main()
