"""A physical device on a serial link (USB CDC, UART, pty, TCP): the host end of docs/protocol.md.

`Device.open(url)` opens any pyserial path or URL (/dev/ttyACM0, socket://host:port,
rfc2217://..., loop://), negotiates the protocol with HELLO and then serves `forward()` by
splitting batches to the device's max_batch and pipelining up to in_flight EXCITE frames. One
thread drives the link with a non-blocking select loop on the port's file descriptor, so the
host reads replies while it is still writing requests and neither side blocks the other.
A forward of int16 codes on a port with a descriptor goes through the express lane
(`_express.pyx`, one C call, GIL released) and falls back to that loop, mid-request, for anything
but clean replies.
"""
from __future__ import annotations

import os
import secrets
import select
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import serial

from .. import protocol as p
from . import _express
from ..physical import ActuatorEncoding
from ..protocol import DeviceError, ErrorCode, LinkError, MsgType, ProtocolError

DEFAULT_BAUDRATE = 115200
INFO_KEYS = ("protocol", "firmware", "board", "medium", "runtime", "n_actuators", "n_sensors",
             "encoding", "actuator_scale", "sensor_scale", "max_batch", "max_payload", "in_flight",
             "settle_us", "watchdog_ms")
_READ_CHUNK = 65536
_WRITE_CHUNK = 4096
_POLL_INTERVAL_S = 0.0005  # ports without a file descriptor (loop://, rfc2217://) are polled
_LATENCY_WINDOW = 4096


def _even_split(batch: int, n_frames: int) -> list[int]:
    """Row bounds of a forward's EXCITEs, as even as can be (the express lane splits alike)."""
    return [batch * i // n_frames for i in range(n_frames + 1)]


class _Port:
    """Non-blocking byte I/O on a pyserial port; every OS or pyserial failure becomes LinkError.

    A port with a non-blocking descriptor (posix ports and ptys, socket://) is read and written
    with os.read/os.write directly: pyserial's read adds two select calls per read and its write a
    copy, which on a fast link (the emulator's pty) cost more than the transfer itself.
    """

    def __init__(self, port: serial.Serial, url: str) -> None:
        self.port = port
        self.url = url
        try:
            self.fd: int | None = port.fileno()
        except (AttributeError, NotImplementedError, OSError):
            self.fd = None
        self._direct_fd = self.fd if self.fd is not None and not os.get_blocking(self.fd) else -1
        self.direct = self._direct_fd >= 0  # read and written here with os.read / os.write
        # With a descriptor, writes happen only when poll says there is room and return what
        # fitted; without one, pyserial's blocking write is the only safe choice.
        port.write_timeout = 0 if self.fd is not None else None
        self._poll: select.poll | None = None
        self._polling_out = False
        if self.fd is not None:
            self._poll = select.poll()  # registered once: no descriptor sets built per wait
            self._poll.register(self.fd, select.POLLIN)

    def read(self) -> bytes | None:
        """What has arrived; None if nothing has (yet); b"" only at end of file (a hang-up)."""
        try:
            if self._direct_fd >= 0:
                return os.read(self._direct_fd, _READ_CHUNK)
            return self.port.read(_READ_CHUNK) or None
        except BlockingIOError:
            return None
        except (OSError, serial.SerialException) as exc:
            raise LinkError(f"{self.url}: reading failed, the port vanished or closed ({exc})") from exc

    def write(self, data: bytearray) -> int:
        try:
            if self._direct_fd >= 0:
                return os.write(self._direct_fd, data)
            written = self.port.write(data[:_WRITE_CHUNK])
        except BlockingIOError:
            return 0
        except (OSError, serial.SerialException) as exc:
            raise LinkError(f"{self.url}: writing failed, the port vanished or closed ({exc})") from exc
        return len(data[:_WRITE_CHUNK]) if written is None else written

    def wait(self, want_write: bool, timeout: float) -> tuple[bool, bool]:
        """Block until readable / writable or timeout; returns (readable, writable)."""
        timeout = max(timeout, 0.0)
        if self._poll is None:
            time.sleep(min(timeout, _POLL_INTERVAL_S))
            return True, want_write
        try:
            if want_write != self._polling_out:
                self._poll.modify(self.fd, select.POLLIN | select.POLLOUT if want_write else select.POLLIN)
                self._polling_out = want_write
            events = self._poll.poll(1e3 * timeout)
        except (OSError, ValueError) as exc:
            raise LinkError(f"{self.url}: waiting on the port failed, it vanished or closed ({exc})") from exc
        if not events:
            return False, False
        mask = events[0][1]  # a hang-up or error counts as readable: the read then reports it
        return bool(mask & ~select.POLLOUT), bool(mask & select.POLLOUT)

    def discard_input(self) -> None:
        try:
            self.port.reset_input_buffer()
        except (OSError, serial.SerialException) as exc:
            raise LinkError(f"{self.url}: cannot flush the port ({exc})") from exc

    def close(self) -> None:
        try:
            self.port.close()
        except (OSError, serial.SerialException):
            pass  # closing a port that already vanished: nothing left to release


@dataclass(slots=True)
class _Job:
    """One request until its reply arrives: re-sent with the same seq and bytes when needed."""

    index: int
    type: int
    seq: int
    wire: bytes
    timeout: float
    first_sent: float = 0.0
    sent_at: float = 0.0
    resends: int = 0
    reply: p.Frame | None = None


@dataclass
class LinkCounters:
    requests: int = 0
    passes: int = 0
    bytes_out: int = 0
    bytes_in: int = 0
    retries: int = 0
    crc_errors: int = 0
    header_errors: int = 0
    timeouts: int = 0
    stale_replies: int = 0
    peak_in_flight: int = 0
    latencies_s: deque = field(default_factory=lambda: deque(maxlen=_LATENCY_WINDOW))

    def as_dict(self) -> dict:
        counts = {k: v for k, v in self.__dict__.items() if k != "latencies_s"}
        if self.latencies_s:
            p50, p90, p99 = (float(q) for q in np.percentile(np.fromiter(self.latencies_s, float), [50, 90, 99]))
            counts.update(latency_ms_p50=1e3 * p50, latency_ms_p90=1e3 * p90, latency_ms_p99=1e3 * p99)
        return counts


class Device:
    """PhysicalTransform over the phyll serial protocol.

    timeout: seconds a request may wait for its reply, plus batch x (settle_us + per_vector);
    retries: re-sends per request (on BAD_CRC, a corrupted reply, or timeout) before LinkError;
    in_flight: cap on pipelined requests (the device's own INFO value is the upper bound).
    """

    def __init__(self, port: serial.Serial, url: str = "", *, timeout: float = 2.0,
                 per_vector: float = 0.02, retries: int = 3, in_flight: int | None = None) -> None:
        if timeout <= 0 or per_vector < 0 or retries < 0 or (in_flight is not None and in_flight < 1):
            raise ValueError(f"need timeout > 0, per_vector >= 0, retries >= 0, in_flight >= 1; got "
                             f"timeout={timeout}, per_vector={per_vector}, retries={retries}, in_flight={in_flight}")
        self.url = url or str(getattr(port, "portstr", "") or "")
        self._port: _Port | None = _Port(port, self.url)
        self.timeout = timeout
        self.per_vector = per_vector
        self.retries = retries
        self.counters = LinkCounters()
        self._parser = p.FrameParser()
        self._tx = bytearray()
        self._last_rx = time.monotonic()
        # A random first seq keeps a late reply from a previous session from matching this one.
        self._next_seq = secrets.randbelow(p.SEQ_MODULO)
        self._in_flight = 1
        self._port.discard_input()
        self.info = self._hello()
        self._adopt(self.info, in_flight)

    @classmethod
    def open(cls, url: str, *, baudrate: int = DEFAULT_BAUDRATE, **options) -> "Device":
        """Open a pyserial path or URL and negotiate the protocol (options as for __init__).

        `emu://MEDIUM?...` starts an emulated device (phyll.emulator) and opens this Device on
        its pty; baudrate then means nothing (the URL's baud= paces the emulated link).
        """
        if url.startswith("emu://"):
            from ..emulator.device import open_emulated_url  # the emulator imports this module
            return open_emulated_url(url, **options)
        try:
            port = serial.serial_for_url(url, baudrate=baudrate, timeout=0, do_not_open=True)
            port.open()
        except (OSError, serial.SerialException, ValueError) as exc:
            raise LinkError(f"cannot open serial device {url!r}: {exc}") from exc
        try:
            return cls(port, url, **options)
        except BaseException:
            port.close()
            raise

    # -- PhysicalTransform ----------------------------------------------------------------------

    def forward(self, actuation: np.ndarray) -> np.ndarray:
        actuation = np.ascontiguousarray(actuation, dtype=np.float32)
        if actuation.ndim != 2 or actuation.shape[1] != self.n_actuators:
            raise ValueError(f"device {self.url} takes (batch, {self.n_actuators}) actuator commands, "
                             f"got shape {actuation.shape}")
        batch = actuation.shape[0]
        if batch == 0:
            return np.zeros((0, self.n_sensors), np.float32)
        # As few EXCITEs as max_batch allows, evenly filled: 412 vectors go as 206 + 206, not as
        # 409 + 3, whose sliver would cost a medium call and a round trip of its own.
        n_frames = -(-batch // self.max_batch)
        measured = np.empty((batch, self.n_sensors), np.float32)
        if self._express and not self._tx:  # (bytes left unsent go first)
            self._forward_express(actuation, n_frames, measured)
        else:
            rows = self._encode(actuation)  # before anything is sent: bad commands send nothing
            bounds = _even_split(batch, n_frames)
            requests = [(MsgType.EXCITE, self._excite_payload(rows[start:stop]),
                         self._excite_timeout(stop - start)) for start, stop in zip(bounds, bounds[1:])]
            self._exchange(requests, on_reply=self._store_measures(bounds, measured))
        self.counters.passes += batch
        return measured

    def _store_measures(self, bounds: list[int], measured: np.ndarray, first: int = 0):
        """on_reply for EXCITEs first, first + 1, ... of a forward split at bounds."""
        def store(index: int, reply: p.Frame) -> None:
            frame = first + index
            self._read_measure(reply, measured[bounds[frame]:bounds[frame + 1]])
        return store

    def _forward_express(self, actuation: np.ndarray, n_frames: int, measured: np.ndarray) -> None:
        """forward() through the express lane; whatever it does not take (see _express.pyx) the
        engine continues: the same requests under the same seqs, the rest as usual."""
        port = self._require_port()
        batch, width = actuation.shape
        size = _express.frame_offset(batch, n_frames, n_frames, width)  # all its frames
        if len(self._express_wire) < size:
            self._express_wire = bytearray(size)
        if len(self._express_times) < 2 * n_frames:
            self._express_times = np.zeros(2 * n_frames)
        seq = self._next_seq
        timeout = self._excite_timeout(-(-batch // n_frames))
        status, begun, written, answered, rx_start, rx_end, peak, latencies = _express.excite(
            port.fd, actuation, self.actuator_scale, n_frames, seq, self._in_flight, self._express_wire,
            self._express_rx, measured, self.sensor_scale, p.VERSION, timeout,
            p.HOST_INTER_BYTE_TIMEOUT_S, self._express_times)
        if status == _express.NOT_FINITE:
            raise ValueError(f"actuator commands for {self.url}: cannot quantise NaN or inf actuator commands")
        self._next_seq = (seq + begun) % p.SEQ_MODULO
        # The answered frames, counted as the engine counts them.
        counters = self.counters
        if peak > counters.peak_in_flight:
            counters.peak_in_flight = peak
        if answered:
            counters.requests += answered
            counters.bytes_out += _express.frame_offset(batch, n_frames, answered, width)
            counters.bytes_in += _express.frame_offset(batch, n_frames, answered, self.n_sensors)  # same layout
            counters.latencies_s.extend(latencies)
            self._last_rx = self._express_times[n_frames + answered - 1]
        if status != _express.OK:
            self._continue_express(batch, n_frames, seq, begun, written, answered,
                                   bytes(self._express_rx[rx_start:rx_end]), timeout, measured)

    def _continue_express(self, batch: int, n_frames: int, seq: int, begun: int, written: int,
                          answered: int, received: bytes, timeout: float, measured: np.ndarray) -> None:
        """The engine takes over an express forward: frames answered.. of it, those up to
        `begun` already (partly) on the wire, and the bytes the lane read but did not use."""
        wire, times = self._express_wire, self._express_times
        starts = [_express.frame_offset(batch, n_frames, f, self.n_actuators) for f in range(answered, n_frames + 1)]
        frames = list(zip(range(answered, n_frames), starts, starts[1:]))
        began = [((seq + f) % p.SEQ_MODULO, bytes(wire[start:stop]), min(written - start, stop - start), times[f])
                 for f, start, stop in frames if f < begun]
        requests = [(MsgType.EXCITE, bytes(wire[start + p.HEADER_SIZE:stop - p.CRC_SIZE]), timeout)
                    for _, start, stop in frames]
        store = self._store_measures(_even_split(batch, n_frames), measured, answered)
        self._exchange(requests, on_reply=store, begun=began, received=received)

    def _read_measure(self, reply: p.Frame, out: np.ndarray) -> None:
        """MEASURE codes into out (its rows: the batch the request sent) as physical readings."""
        codes = p.unpack_measure(reply.payload)
        if codes.shape != out.shape:
            raise ProtocolError(f"{self.url}: MEASURE has shape {codes.shape}, expected {out.shape}")
        np.multiply(codes, self.sensor_scale, out=out, casting="unsafe")

    def _encode(self, actuation: np.ndarray) -> np.ndarray:
        """All rows as EXCITE carries them: int16 codes, or bit-packed element states."""
        if self._packing == "bits":
            if not np.isfinite(actuation).all():
                raise ValueError(f"actuator commands for {self.url} contain NaN or inf")
            return p.pack_bits(actuation >= 0.5)
        try:
            return p.quantize(actuation, self.actuator_scale)  # it rejects NaN and inf
        except ValueError as exc:
            raise ValueError(f"actuator commands for {self.url}: {exc}") from None

    def _excite_payload(self, rows: np.ndarray) -> bytes:
        return p.BATCH_HEADER.pack(rows.shape[0], self.n_actuators) + rows.tobytes()

    def describe(self) -> dict:
        described = {"url": self.url, "kind": "serial", **self.info,
                     "counters": self.counters.as_dict()}
        if self._port is not None:
            try:
                described["device_status"] = self.status()
            except (LinkError, DeviceError, ProtocolError) as exc:
                described["device_status"] = {"error": str(exc)}
        return described

    def close(self) -> None:
        if self._port is not None:
            self._port.close()
            self._port = None

    def __enter__(self) -> "Device":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- commands ---------------------------------------------------------------------------------

    def ping(self, data: bytes = b"phyll") -> float:
        """Round trip time in seconds; checks the echo."""
        if len(data) > p.MAX_PING:
            raise ValueError(f"PING carries at most {p.MAX_PING} bytes, got {len(data)}")
        started = time.monotonic()
        (reply,) = self._exchange([(MsgType.PING, bytes(data), self.timeout)])
        if reply.payload != data:
            raise ProtocolError(f"{self.url}: PING echo differs: sent {data.hex()}, got {reply.payload.hex()}")
        return time.monotonic() - started

    def status(self) -> dict:
        (reply,) = self._exchange([(MsgType.STATUS, b"", self.timeout)])
        return p.unpack_json(reply.payload, f"{self.url} STATUS reply")

    def reset(self) -> None:
        self._exchange([(MsgType.RESET, b"", self.timeout)])

    def configure(self, **settings) -> dict:
        """Apply settings all-or-nothing; returns the whole applied configuration."""
        (reply,) = self._exchange([(MsgType.CONFIGURE, p.pack_json(settings), self.timeout)])
        applied = p.unpack_json(reply.payload, f"{self.url} CONFIG reply")
        for key in ("settle_us", "watchdog_ms"):
            if key in applied:
                self.info[key] = applied[key]
        return applied

    def set_static(self, states: np.ndarray) -> None:
        states = np.asarray(states).reshape(-1)
        expected = int(self.info.get("n_static", 0))
        if states.size != expected:
            raise ValueError(f"device {self.url} has {expected} static elements, got {states.size} states")
        self._exchange([(MsgType.SET_STATIC, p.pack_set_static(states != 0), self.timeout)])

    def to_repl(self) -> None:
        """Hand the port back to the firmware's REPL (for mpremote) and close this Device."""
        self._exchange([(MsgType.REPL, b"", self.timeout)])
        self.close()

    # -- session ------------------------------------------------------------------------------

    def _hello(self) -> dict:
        try:
            (reply,) = self._exchange([(MsgType.HELLO, p.pack_hello(), self.timeout)])
        except LinkError as exc:
            raise LinkError(f"{exc}; is phyll firmware running on {self.url}?") from exc
        info = p.unpack_json(reply.payload, f"{self.url} INFO reply")
        missing = [key for key in INFO_KEYS if key not in info]
        if missing:
            raise ProtocolError(f"{self.url}: INFO lacks {missing}")
        return info

    def _adopt(self, info: dict, in_flight_cap: int | None) -> None:
        try:
            self.encoding = ActuatorEncoding(**info["encoding"])
            self.n_actuators = int(info["n_actuators"])
            self.n_sensors = int(info["n_sensors"])
            self.actuator_scale = float(info["actuator_scale"])
            self.sensor_scale = float(info["sensor_scale"])
            max_batch = int(info["max_batch"])
            device_in_flight = int(info["in_flight"])
        except (TypeError, ValueError, KeyError) as exc:
            raise ProtocolError(f"{self.url}: INFO has an invalid field: {exc}") from exc
        self._packing = p.packing_for(self.encoding.encoder)
        bound = p.max_batch_bound(self.n_actuators, self.n_sensors, self._packing)
        if not 1 <= max_batch <= bound:
            raise ProtocolError(f"{self.url}: INFO max_batch {max_batch} outside 1..{bound}, the most "
                                f"that fits {p.MAX_PAYLOAD}-byte payloads both ways")
        if device_in_flight < 1 or self.actuator_scale <= 0 or self.sensor_scale <= 0:
            raise ProtocolError(f"{self.url}: INFO needs in_flight >= 1 and positive scales, got {info}")
        self.max_batch = max_batch
        # The express lane: int16 codes on a port with a non-blocking descriptor.
        port = self._require_port()
        self._express = self._packing == "int16" and port.direct
        self._express_wire = bytearray(_express.wire_size(max_batch, self.n_actuators))  # grows to a forward
        self._express_rx = bytearray(p.MAX_FRAME)  # any frame may come instead of the awaited one
        self._express_times = np.zeros(2)  # grows to a forward's frames
        in_flight = min(device_in_flight, in_flight_cap or device_in_flight)
        # Without a descriptor writes block, so a pipelined reply could deadlock against them.
        self._in_flight = in_flight if port.fd is not None else 1

    def _excite_timeout(self, n_vectors: int) -> float:
        return self.timeout + n_vectors * (1e-6 * float(self.info.get("settle_us", 0)) + self.per_vector)

    # -- the link engine ----------------------------------------------------------------------

    def _exchange(self, requests: list[tuple[int, bytes, float]],
                  on_reply: Callable[[int, p.Frame], None] | None = None,
                  begun: list[tuple[int, bytes, int, float]] = (), received: bytes = b"") -> list[p.Frame]:
        """Send requests pipelined, return their replies in request order.

        on_reply(index, reply), if given, is called as each reply arrives: the host decodes one
        while the device still measures the next.
        A sliding window keeps every unanswered request within the device's reply cache
        (in_flight replies), so a re-send is answered from the cache, never run twice.
        begun: (seq, wire, bytes written, first sent at) of requests[0], [1], ... that the express
        lane began and handed over, received: what it read and did not use; they are continued,
        not sent again.
        """
        port = self._require_port()
        parser = self._parser
        counters = self.counters
        jobs = [_Job(i, t, 0, b"", timeout) for i, (t, _, timeout) in enumerate(requests)]
        payloads = [payload for _, payload, _ in requests]
        waiting: dict[int, _Job] = {}  # seq -> job, oldest send first (re-sends move to the end)
        next_job = 0
        done = 0
        last_reply = time.monotonic()
        events: list[p.Frame | p.FrameFault] | tuple = ()
        for job, (seq, wire, written, first_sent) in zip(jobs, begun):
            job.seq, job.wire, job.first_sent, job.sent_at = seq, wire, first_sent, first_sent
            counters.requests += 1
            counters.bytes_out += written
            self._tx += job.wire[written:]
            waiting[job.seq] = job
            next_job += 1
        if received:
            self._last_rx = last_reply
            counters.bytes_in += len(received)
            events = parser.feed(received)  # handled before the first wait below
        while done < len(jobs):
            while next_job < len(jobs) and (not waiting or self._window_open(waiting, next_job)):
                job = jobs[next_job]
                job.seq = self._take_seq()
                job.wire = p.encode_frame(job.type, job.seq, payloads[next_job])
                self._send(job, first=True)
                waiting[job.seq] = job
                next_job += 1
                if port.fd is not None:
                    self._flush_some(port)  # on the wire before the next frame is even framed
            if len(waiting) > counters.peak_in_flight:
                counters.peak_in_flight = len(waiting)
            if self._tx and port.fd is not None:
                self._flush_some(port)  # a link is nearly always writable: skip one poll
            for head in waiting.values():
                break  # the oldest send
            deadline = (head.sent_at if head.sent_at > last_reply else last_reply) + head.timeout
            if parser.pending:
                deadline = min(deadline, self._last_rx + p.HOST_INTER_BYTE_TIMEOUT_S)
            if not events:
                readable, writable = port.wait(bool(self._tx), deadline - time.monotonic())
                if writable and self._tx:
                    self._flush_some(port)
                events = self._receive(port) if readable else ()
            now = time.monotonic()
            if parser.pending and now - self._last_rx >= p.HOST_INTER_BYTE_TIMEOUT_S:
                events = [*events, *parser.expire()]
            for event in events:
                answered = self._handle(event, waiting, now)
                if answered is not None:
                    done += 1
                    last_reply = now
                    if on_reply is not None:
                        on_reply(answered.index, event)
            events = ()
            if head.seq in waiting and now >= max(head.sent_at, last_reply) + head.timeout:
                counters.timeouts += 1
                self._resend(head, waiting, "no reply before its timeout")
        return [job.reply for job in jobs]  # type: ignore[misc]

    def _window_open(self, waiting: dict[int, _Job], next_index: int) -> bool:
        oldest = min(job.index for job in waiting.values())
        return next_index - oldest < self._in_flight

    def _take_seq(self) -> int:
        seq = self._next_seq
        self._next_seq = (seq + 1) % p.SEQ_MODULO
        return seq

    def _send(self, job: _Job, first: bool = False) -> None:
        now = time.monotonic()
        if first:
            job.first_sent = now
            self.counters.requests += 1
        job.sent_at = now
        self._tx += job.wire

    def _resend(self, job: _Job, waiting: dict[int, _Job], why: str) -> None:
        if job.resends >= self.retries:
            raise LinkError(f"{self.url}: no valid reply to {p.MsgType(job.type).name} (seq {job.seq}) "
                            f"after {job.resends + 1} attempts; last problem: {why}")
        job.resends += 1
        self.counters.retries += 1
        self._send(job)
        waiting[job.seq] = waiting.pop(job.seq)  # the device will see it after everything already sent

    def _flush_some(self, port: _Port) -> None:
        written = port.write(self._tx)
        del self._tx[:written]
        self.counters.bytes_out += written

    def _receive(self, port: _Port) -> list[p.Frame | p.FrameFault]:
        data = port.read()
        if data is None:
            return []
        if not data:
            # select said readable, and the read found the end of the stream: the other end hung up.
            raise LinkError(f"{self.url}: the port reports data but returns none; the device vanished")
        self._last_rx = time.monotonic()
        self.counters.bytes_in += len(data)
        return self._parser.feed(data)

    def _handle(self, event: p.Frame | p.FrameFault, waiting: dict[int, _Job],
                now: float) -> _Job | None:
        """Apply one parser event; the job it answered, if any."""
        if isinstance(event, p.FrameFault):
            if event.kind == "bad_crc":
                self.counters.crc_errors += 1
                job = waiting.get(event.seq) if event.seq is not None else None
                if job is not None and event.type in (p.reply_type(job.type), MsgType.ERROR):
                    self._resend(job, waiting, "reply failed its CRC-32")  # the device answers from its cache
            elif event.kind != "truncated":
                self.counters.header_errors += 1
            return None
        job = waiting.get(event.seq)
        if job is None:
            self.counters.stale_replies += 1
            return None
        if event.type == p.reply_type(job.type):  # the usual case first
            del waiting[job.seq]
            job.reply = event
            self.counters.latencies_s.append(now - job.first_sent)
            return job
        if event.type == MsgType.ERROR:
            code, request_type, message = p.unpack_error(event.payload)
            if request_type != job.type:
                self.counters.stale_replies += 1
                return None
            if code == ErrorCode.BAD_CRC:
                self.counters.crc_errors += 1
                self._resend(job, waiting, "device saw a CRC-32 error in the request")
                return None
            del waiting[job.seq]
            raise DeviceError.for_code(code, request_type, message, self.url)
        self.counters.stale_replies += 1  # a reply of another type under this seq
        return None

    def _require_port(self) -> _Port:
        if self._port is None:
            raise LinkError(f"device {self.url} is closed")
        return self._port
