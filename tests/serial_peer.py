"""A CPython test double of a phyll device, serving docs/protocol.md over a pty or a TCP socket.

It exists to test the host end (phyll.link) with faults a real board cannot be told to make:
flipped and lost bytes, swallowed or repeated replies, a device that goes silent, a port that
vanishes. It follows every rule of the protocol a device must follow, and tests/contract checks
it against the same points as the firmware in firmware/, the real device.
"""
from __future__ import annotations

import errno
import os
import select
import socket
import threading
import time
import tty
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from phyll import protocol as p
from phyll.physical import ActuatorEncoding
from phyll.protocol import ErrorCode, MsgType

_POLL_S = 0.01
WRITE_STALL_S = 1.0  # docs/protocol.md section 2: a reply the link takes no byte of for this long is dropped
CONFIG_RANGES = {"settle_us": (0, 10_000_000), "watchdog_ms": (0, 3_600_000)}
COUNTERS = ("frames_ok", "crc_errors", "header_errors", "skipped_bytes", "excites", "vectors", "duplicates",
            "clamps", "watchdog_trips", "replies_dropped")


class _Reject(Exception):
    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class PeerDevice:
    """Protocol logic without I/O: one parser event in, the reply bytes (or None) out.

    The medium is sensors = tanh(W @ actuators) with a fixed random W, so tests can compute
    exactly what a correct link must deliver (`expected_codes`).
    """

    def __init__(self, n_actuators: int = 5, n_sensors: int = 3,
                 encoding: ActuatorEncoding = ActuatorEncoding("minmax", -1.0, 1.0),
                 actuator_scale: float | None = None, sensor_scale: float = 2.0 ** -12,
                 max_batch: int = 8, in_flight: int = 4, n_static: int = 0, seed: int = 0,
                 watchdog_ms: int = 0) -> None:
        self.n_actuators, self.n_sensors = n_actuators, n_sensors
        self.encoding = encoding
        self.packing = p.packing_for(encoding.encoder)
        if actuator_scale is None:
            actuator_scale = 1.0 if self.packing == "bits" else max(abs(encoding.low), abs(encoding.high)) / 32767
        self.actuator_scale, self.sensor_scale = actuator_scale, sensor_scale
        self.code_low, self.code_high = p.code_limits(encoding.low, encoding.high, actuator_scale)
        self.max_batch, self.in_flight, self.n_static = max_batch, in_flight, n_static
        self.weights = np.random.default_rng(seed).normal(size=(n_sensors, n_actuators)) / np.sqrt(n_actuators)
        self.config = {"settle_us": 0, "watchdog_ms": watchdog_ms}
        self.static = np.zeros(n_static, np.uint8)
        self.applied: np.ndarray | None = None  # the codes (or states) of the last EXCITE, clamped
        self.driven = self._safe_vector()  # what the actuators hold now
        self.left_frame_loop = False
        self.started = time.monotonic()
        self.last_valid_frame: float | None = None  # the watchdog is armed once a valid frame came
        self.cache: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        self.counters = dict.fromkeys(COUNTERS, 0)

    def info(self) -> dict:
        return {"protocol": 1, "firmware": "serial_peer (test double)", "board": "cpython-test",
                "medium": "tanh-linear", "runtime": "cpython", "n_actuators": self.n_actuators,
                "n_sensors": self.n_sensors, "encoding": self.encoding.to_dict(),
                "actuator_scale": self.actuator_scale, "sensor_scale": self.sensor_scale,
                "max_batch": self.max_batch, "max_payload": p.MAX_PAYLOAD, "in_flight": self.in_flight,
                "n_static": self.n_static, **self.config}

    def expected_codes(self, applied: np.ndarray) -> np.ndarray:
        physical = applied.astype(np.float64) * self.actuator_scale
        return p.quantize(np.tanh(physical @ self.weights.T), self.sensor_scale)

    def respond(self, event: p.Frame | p.FrameFault) -> bytes | None:
        if isinstance(event, p.FrameFault):
            if event.kind == "bad_crc":
                self.counters["crc_errors"] += 1
                return p.encode_frame(MsgType.ERROR, event.seq, p.pack_error(
                    ErrorCode.BAD_CRC, event.type, "frame CRC-32 mismatch"))
            if event.kind != "truncated":
                self.counters["header_errors"] += 1
            return None
        self.counters["frames_ok"] += 1
        self.last_valid_frame = time.monotonic()
        key = (event.seq, event.type)
        if event.type == MsgType.HELLO:
            self.cache.clear()  # a new session; its seqs may repeat the last one's
        elif key in self.cache:
            self.counters["duplicates"] += 1
            return self.cache[key]
        try:
            reply = p.encode_frame(p.reply_type(event.type), event.seq, self._dispatch(event))
        except _Reject as rejected:
            reply = p.encode_frame(MsgType.ERROR, event.seq, p.pack_error(rejected.code, event.type, rejected.message))
        if event.type != MsgType.HELLO:
            self._remember(key, reply)
        return reply

    def _remember(self, key: tuple[int, int], reply: bytes) -> None:
        """First in, first out: a hit never refreshes an entry (docs/protocol.md section 2)."""
        self.cache[key] = reply
        while len(self.cache) > self.in_flight:
            self.cache.popitem(last=False)

    def tick(self) -> None:
        """The watchdog: once per silence longer than watchdog_ms after a valid frame, go safe."""
        timeout_ms = self.config["watchdog_ms"]
        if self.last_valid_frame is None or timeout_ms == 0:
            return
        if time.monotonic() - self.last_valid_frame >= timeout_ms / 1e3:
            self.last_valid_frame = None  # disarmed until the next valid frame
            self.counters["watchdog_trips"] += 1
            self.driven = self._safe_vector()

    def _safe_vector(self) -> np.ndarray:
        """Analog: 0 clamped into [code_low, code_high]; bits: every element 0."""
        if self.packing == "bits":
            return np.zeros(self.n_actuators, np.uint8)
        return np.full(self.n_actuators, min(max(0, self.code_low), self.code_high), np.int16)

    def _dispatch(self, frame: p.Frame) -> bytes:
        handler = {
            MsgType.HELLO: self._hello, MsgType.CONFIGURE: self._configure, MsgType.EXCITE: self._excite,
            MsgType.SET_STATIC: self._set_static, MsgType.PING: self._ping, MsgType.STATUS: self._status,
            MsgType.RESET: self._reset, MsgType.REPL: self._repl,
        }.get(frame.type)
        if handler is None:
            raise _Reject(ErrorCode.UNKNOWN_TYPE, f"unknown request type 0x{frame.type:02X}")
        return handler(frame.payload)

    def _hello(self, payload: bytes) -> bytes:
        if len(payload) != 2:
            raise _Reject(ErrorCode.BAD_LENGTH, "HELLO carries 2 bytes")
        if p.negotiate_version(p.unpack_hello(payload), p.SUPPORTED_VERSIONS) is None:
            raise _Reject(ErrorCode.BAD_VERSION, "supported protocol versions 1..1")
        return p.pack_json(self.info())

    def _configure(self, payload: bytes) -> bytes:
        try:
            settings = p.unpack_json(payload)
        except p.ProtocolError as exc:
            raise _Reject(ErrorCode.BAD_CONFIG, str(exc)) from exc
        for key, value in settings.items():  # every key checked before any is applied
            if key not in CONFIG_RANGES:
                raise _Reject(ErrorCode.BAD_CONFIG, f"unknown key {key!r}; known: {sorted(CONFIG_RANGES)}")
            low, high = CONFIG_RANGES[key]
            if type(value) is not int or not low <= value <= high:
                raise _Reject(ErrorCode.BAD_CONFIG, f"{key} must be an int in {low}..{high}, got {value!r}")
        self.config.update(settings)
        return p.pack_json(self.config)

    def _excite(self, payload: bytes) -> bytes:
        if len(payload) < 4:
            raise _Reject(ErrorCode.BAD_LENGTH, "EXCITE shorter than its header")
        batch, width = p.BATCH_HEADER.unpack_from(payload)
        if width != self.n_actuators or batch == 0:
            raise _Reject(ErrorCode.BAD_SHAPE, f"need width {self.n_actuators} and batch >= 1")
        if batch > self.max_batch:
            raise _Reject(ErrorCode.BATCH_TOO_LARGE, f"batch {batch} > max_batch {self.max_batch}")
        try:
            applied = p.unpack_excite(payload, self.packing)
        except p.ProtocolError as exc:
            raise _Reject(ErrorCode.BAD_LENGTH, str(exc)) from exc
        if self.packing == "int16":
            clamped = np.clip(applied, self.code_low, self.code_high)
            self.counters["clamps"] += int(np.count_nonzero(clamped != applied))
            applied = clamped
        if self.config["settle_us"]:
            time.sleep(batch * self.config["settle_us"] / 1e6)
        self.applied = applied
        self.driven = applied[-1]
        self.counters["excites"] += 1
        self.counters["vectors"] += batch
        return p.pack_measure(self.expected_codes(applied))

    def _set_static(self, payload: bytes) -> bytes:
        if len(payload) < 2:
            raise _Reject(ErrorCode.BAD_LENGTH, "SET_STATIC shorter than its header")
        (n_elements,) = p.SET_STATIC_HEADER.unpack_from(payload)
        if n_elements != self.n_static:
            raise _Reject(ErrorCode.BAD_SHAPE, f"device has {self.n_static} static elements")
        try:
            self.static = p.unpack_set_static(payload)
        except p.ProtocolError as exc:
            raise _Reject(ErrorCode.BAD_LENGTH, str(exc)) from exc
        return b""

    def _ping(self, payload: bytes) -> bytes:
        if len(payload) > p.MAX_PING:
            raise _Reject(ErrorCode.BAD_LENGTH, f"PING carries at most {p.MAX_PING} bytes")
        return payload

    def _status(self, payload: bytes) -> bytes:
        self._expect_empty(payload, "STATUS")
        return p.pack_json({**self.counters, "uptime_ms": int(1e3 * (time.monotonic() - self.started))})

    def _reset(self, payload: bytes) -> bytes:
        self._expect_empty(payload, "RESET")
        # This RESET is in frames_ok already and leaves with the rest: a STATUS next reports 1.
        self.counters = dict.fromkeys(self.counters, 0)
        self.driven = self._safe_vector()
        self.static[:] = 0
        self.cache.clear()  # the reply is stored after this, so a re-sent RESET gets it again
        return b""

    def _repl(self, payload: bytes) -> bytes:
        self._expect_empty(payload, "REPL")
        self.left_frame_loop = True
        self.driven = self._safe_vector()
        return b""

    @staticmethod
    def _expect_empty(payload: bytes, what: str) -> None:
        if payload:
            raise _Reject(ErrorCode.BAD_LENGTH, f"{what} carries no payload")


@dataclass
class LinkFaults:
    """What the link (or the device) does wrong. Byte damage is random with a fixed seed."""

    flip_in: float = 0.0            # per-byte probability a received byte is replaced
    flip_out: float = 0.0           # per-byte probability a sent byte is replaced
    drop_in: float = 0.0            # per-byte probability a received byte is lost
    corrupt_replies: frozenset = frozenset()  # reply indexes sent with one payload bit flipped
    cut_replies: frozenset = frozenset()      # reply indexes sent without their last 6 bytes
    drop_replies: frozenset = frozenset()     # reply indexes swallowed whole
    repeat_replies: frozenset = frozenset()   # reply indexes sent twice
    mute_after: int | None = None   # frames answered before the device stops answering
    vanish_after: int | None = None  # frames answered before the port disappears
    seed: int = 0
    rng: np.random.Generator = field(init=False)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)

    def damage(self, data: bytes, flip: float, drop: float = 0.0) -> bytes:
        if not (flip or drop) or not data:
            return data
        array = np.frombuffer(data, np.uint8).copy()
        flipped = self.rng.random(array.size) < flip
        array[flipped] ^= self.rng.integers(1, 256, size=int(flipped.sum()), dtype=np.uint8)
        kept = self.rng.random(array.size) >= drop
        return array[kept].tobytes()


class PeerServer:
    """Serves a PeerDevice on a file descriptor (pty master or connected socket) in a thread.

    Subclasses may change the parser, the inter-byte timeout or what a stalled reply does
    (tests/contract serves deliberately broken devices that way)."""

    parser_class: type[p.FrameParser] = p.FrameParser
    inter_byte_timeout_s = p.DEVICE_INTER_BYTE_TIMEOUT_S

    def __init__(self, device: PeerDevice, fd: int, faults: LinkFaults | None = None) -> None:
        self.device = device
        self.fd = fd
        self.faults = faults or LinkFaults()
        self.parser = self.parser_class()
        self.frames_answered = 0
        self.replies_made = 0
        self.received = bytearray()
        self._stop = threading.Event()
        self._closed = False
        os.set_blocking(fd, False)
        self._thread = threading.Thread(target=self._serve, name="serial-peer", daemon=True)

    def start(self) -> "PeerServer":
        self._thread.start()
        return self

    @property
    def serving(self) -> bool:
        """False once the serving thread ended (stopped, left for the REPL, port gone)."""
        return self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._close()

    def _close(self) -> None:
        if not self._closed:
            self._closed = True
            os.close(self.fd)

    def _serve(self) -> None:
        last_rx = time.monotonic()
        while not self._stop.is_set() and not self.device.left_frame_loop:
            self.device.tick()
            readable, _, _ = select.select([self.fd], [], [], _POLL_S)
            events: list = []
            if readable:
                try:
                    data = os.read(self.fd, 65536)
                except OSError as exc:
                    if exc.errno in (errno.EAGAIN, errno.EINTR):
                        continue
                    return  # the host side closed
                if not data:
                    return
                last_rx = time.monotonic()
                self.received += data
                events = self._parse(self.parser.feed, self.faults.damage(data, self.faults.flip_in, self.faults.drop_in))
            elif self.parser.pending and time.monotonic() - last_rx > self.inter_byte_timeout_s:
                events = self._parse(self.parser.expire)
            for event in events:
                if self.device.left_frame_loop:
                    return  # after REPL the frames behind it are not ours to answer
                if not self._answer(event):
                    return

    def _parse(self, step, *data) -> list:
        """One parser step; the bytes it discarded looking for a magic go to STATUS skipped_bytes."""
        before = self.parser.skipped_bytes
        events = step(*data)
        self.device.counters["skipped_bytes"] += self.parser.skipped_bytes - before
        return events

    def _answer(self, event: p.Frame | p.FrameFault) -> bool:
        """Reply to one event; False once the peer has vanished."""
        faults = self.faults
        if isinstance(event, p.Frame):
            if faults.vanish_after is not None and self.frames_answered >= faults.vanish_after:
                self._close()
                return False
            if faults.mute_after is not None and self.frames_answered >= faults.mute_after:
                return True
            self.frames_answered += 1
        reply = self.device.respond(event)
        if reply is None:
            return True
        index = self.replies_made
        self.replies_made += 1
        if index in faults.drop_replies:
            return True
        if index in faults.corrupt_replies:
            damaged = bytearray(reply)
            damaged[-5] ^= 0x10  # last payload byte (or header check when empty): CRC must catch it
            reply = bytes(damaged)
        if index in faults.cut_replies:
            reply = reply[:-6]  # the header arrives whole: the host knows whose reply was cut
        reply = faults.damage(reply, faults.flip_out)
        for _ in range(2 if index in faults.repeat_replies else 1):
            if not self._write_all(reply):
                return False
        return True

    def _reply_stalled(self) -> bool:
        """The rest of a reply is dropped: count it and go on serving."""
        self.device.counters["replies_dropped"] += 1
        return True

    def _write_all(self, data: bytes) -> bool:
        """Write a reply whole; False once the peer has vanished. A reply the link takes no byte
        of for WRITE_STALL_S is dropped and counted, and serving goes on (docs/protocol.md 2)."""
        view = memoryview(data)
        progress = time.monotonic()
        while view and not self._stop.is_set():
            self.device.tick()
            if time.monotonic() - progress >= WRITE_STALL_S:
                return self._reply_stalled()
            _, writable, _ = select.select([], [self.fd], [], _POLL_S)
            if not writable:
                continue
            try:
                written = os.write(self.fd, view)
            except BlockingIOError:
                continue
            except OSError:
                return False
            if written:
                view = view[written:]
                progress = time.monotonic()
        return True


def serve_pty(device: PeerDevice, faults: LinkFaults | None = None, *,
              server: type[PeerServer] = PeerServer) -> tuple[PeerServer, str, int]:
    """A peer on a new pty; returns (server, slave path for the host, slave fd to close at the end).

    `server` may be a PeerServer subclass (tests/contract serves deliberately broken ones)."""
    master, slave = os.openpty()
    tty.setraw(slave)  # 8-bit clean from the first byte, whoever opens the slave
    return server(device, master, faults).start(), os.ttyname(slave), slave


class TcpPeer:
    """A peer behind a listening TCP socket, for socket:// URLs; serves one connection."""

    def __init__(self, device: PeerDevice, faults: LinkFaults | None = None) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"socket://127.0.0.1:{self.listener.getsockname()[1]}"
        self.device, self.faults = device, faults
        self.server: PeerServer | None = None
        self._connection: socket.socket | None = None
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    def _accept(self) -> None:
        connection, _ = self.listener.accept()
        self._connection = connection
        self.server = PeerServer(self.device, connection.detach(), self.faults).start()

    def stop(self) -> None:
        self.listener.close()
        self._accepting.join(timeout=5)
        if self.server is not None:
            self.server.stop()
