"""A physical device on a serial link (USB CDC, UART, pty, TCP): the host end of docs/protocol.md.

`Device.open(url)` opens any path or pyserial URL (/dev/ttyACM0, socket://host:port,
rfc2217://..., spy://...), link options in the URL's fragment (docs/link.md), negotiates the
protocol with HELLO and serves `forward()`: actuator commands become EXCITE payloads, split
evenly to the device's max_batch, and MEASURE replies become readings. Frames go out and come
back through the one link engine (phyll.link), which pipelines, re-sends and counts.
"""
from __future__ import annotations

import math
import time

import numpy as np

from .. import protocol as p
from ..link import LinkEngine, LinkOptions, open_port, split_link_options
from ..link.engine import DamagedLinkError
from ..physical import ActuatorEncoding
from ..protocol import DeviceError, LinkError, MsgType, ProtocolError

INFO_KEYS = ("protocol", "firmware", "board", "medium", "runtime", "n_actuators", "n_sensors",
             "encoding", "actuator_scale", "sensor_scale", "max_batch", "max_payload", "in_flight",
             "settle_us", "watchdog_ms")
# What a board running MicroPython without the phyll firmware sends back to a HELLO frame: the
# frame's 0x01 byte is Ctrl-A, which puts the REPL into raw mode, and a friendly REPL prompts.
_REPL_SIGNS = (b"raw REPL; CTRL-B to exit", b"\r\n>>> ", b'Type "help()" for more information')
_SNIFF_BYTES = 512
# A frame of n vectors costs c0 + c1 * n (the link's fixed cost per frame and its cost per
# vector, fitted to the service times of recent whole EXCITE round trips) and arrives whole with
# probability (1 - rate) ** (framing + n * vector bytes); frames are sized for the least expected
# time per vector. Where a frame's fixed cost dominates (a fast link, a firmware that spends most
# of its time per frame) that is ~1 / (rate * vector bytes) vectors, where bytes dominate (a slow
# UART) fewer. The fit needs frames of different sizes: until it has them, frames cost c0 alone.
_FRAME_BYTES = 2 * (p.HEADER_SIZE + p.BATCH_HEADER.size + p.CRC_SIZE)  # a request's and a reply's framing
_COST_SAMPLES_MIN = 16  # whole round trips before the cost per vector is fitted at all
# Never frames that more than this share of round trips damage, however cheap re-sends are: a
# frame whose every attempt comes back damaged stops its exchange (the engine's `retries`).
_DAMAGED_CAP = 0.5
# When every attempt at a frame came back damaged and the measured rate gave that less than this
# chance, the rate is stale (the link just got worse): the frame size is halved at once.
_SURPRISE = 0.01
# A link is too bad to use when this share of round trips of the smallest frames is damaged.
_UNUSABLE_SHARE = 0.5
# How long HELLO keeps trying through a link that damages its frames, and after how many
# re-sends it gives up early when nearly all of them come back damaged.
_HELLO_PATIENCE_S = 10.0
_HELLO_HOPELESS_AFTER = 32


def _lost_per_byte(error_per_byte: float) -> float:
    """-log P(a byte arrives whole); the rate is taken as at most 0.5, "every round trip damaged"."""
    return -math.log1p(-min(error_per_byte, 0.5))


class FrameSizer:
    """Vectors per EXCITE, sized to the link like the block of an ARQ that adapts to its channel:
    the device's max_batch on a clean link; on a damaging one, the size with the least expected
    time per vector at the error rate per byte measured over the recent round trips and the
    frame costs measured on the link (see _FRAME_BYTES above), so the size grows back as clean
    round trips replace damaged ones. When every attempt at one frame came back damaged against
    the odds the rate gave, the size is halved at once, down to one vector."""

    def __init__(self, max_batch: int, vector_bytes: int) -> None:
        self.max_batch = max_batch
        self.vector_bytes = vector_bytes  # an EXCITE's and its MEASURE's bytes per vector
        self.vectors = max_batch
        self.smallest = max_batch
        self.shrinks = self.grows = 0
        self.cost_ratio = 0.0  # c1 / c0 of the last fit

    def fit(self, error_per_byte: float, costs: np.ndarray | None = None) -> None:
        """Size frames for the link's measured error rate per byte (0: clean) and the (bytes both
        ways, seconds) of its recent whole round trips."""
        self._set(self._fitted(error_per_byte, costs))

    def shrink(self, error_per_byte: float, costs: np.ndarray | None = None, attempts: int = 1) -> bool:
        """Every one of `attempts` at a frame came back damaged: refit, and halve at once when the
        measured rate made that unlikely (it lags a link that just got worse); False when frames
        are one vector already."""
        if self.vectors == 1:
            return False
        fitted = self._fitted(error_per_byte, costs)
        round_trip = _FRAME_BYTES + self.vectors * self.vector_bytes
        damaged = -math.expm1(-round_trip * _lost_per_byte(error_per_byte))
        if damaged ** attempts < _SURPRISE:
            fitted = min(fitted, max(1, self.vectors // 2))
        self._set(min(fitted, self.vectors))
        return True

    def _fitted(self, error_per_byte: float, costs: np.ndarray | None) -> int:
        if not error_per_byte:
            return self.max_batch
        self.cost_ratio = ratio = self._cost_ratio(costs)
        lost = _lost_per_byte(error_per_byte)
        x = self.vector_bytes * lost  # -log P(a vector's bytes arrive whole)
        # d/dn log((c0 + c1 n) / (n P(n))) = 0  <=>  x k n^2 + x n - 1 = 0, k = c1 / c0
        best = 1 / x if ratio == 0 else (math.sqrt(x * x + 4 * x * ratio) - x) / (2 * x * ratio)
        capped = (-math.log1p(-_DAMAGED_CAP) / lost - _FRAME_BYTES) / self.vector_bytes
        return min(self.max_batch, max(1, int(min(best, capped))))

    def _cost_ratio(self, costs: np.ndarray | None) -> float:
        """c1 / c0 from a straight line through (bytes, seconds); 0 (a frame costs the same
        whatever its size) until the sizes seen differ by 2x, or when the line does not rise."""
        if costs is None or len(costs) < _COST_SAMPLES_MIN:
            return 0.0
        size, seconds = costs[:, 0], costs[:, 1]
        if size.max() < 2 * size.min():
            return 0.0
        per_byte, fixed = np.polyfit(size, seconds, 1)
        if per_byte <= 0:
            return 0.0
        per_frame = max(fixed + per_byte * _FRAME_BYTES, per_byte * _FRAME_BYTES)  # at least its framing's bytes
        return float(per_byte * self.vector_bytes / per_frame)

    def _set(self, vectors: int) -> None:
        if vectors < self.vectors:
            self.shrinks += 1
        elif vectors > self.vectors:
            self.grows += 1
        self.vectors = vectors
        self.smallest = min(self.smallest, vectors)

    def describe(self) -> dict:
        return {"vectors_per_excite": self.vectors, "smallest": self.smallest, "max_batch": self.max_batch,
                "shrinks": self.shrinks, "grows": self.grows, "cost_ratio": self.cost_ratio}


class NoFirmwareError(LinkError):
    """The port answers with a MicroPython REPL, not with the phyll firmware's frames."""


def even_split(batch: int, n_frames: int) -> list[int]:
    """Row bounds of a forward's EXCITEs: as even as can be (docs/protocol.md section 4)."""
    return [batch * i // n_frames for i in range(n_frames + 1)]


class Device:
    """PhysicalTransform over the phyll serial protocol, on an open Port (phyll.link.ports)."""

    def __init__(self, port, url: str = "", options: LinkOptions | None = None) -> None:
        options = options or LinkOptions()
        self.url = url or port.url
        self.options = options
        self.timeout = options.timeout
        self.per_vector = options.per_vector
        self.link = LinkEngine(port, self.url, options.retries, explain=self._explain)
        self.counters = self.link.counters
        self.link.discard_input()
        self.info = self._hello()
        self._adopt(self.info, options.in_flight)

    @classmethod
    def open(cls, url: str, **settings) -> "Device":
        """Open a path or pyserial URL and negotiate the protocol. Link options come from the
        URL's fragment, then from `settings` (the same names: timeout=5, retries=2, ...)."""
        address, options = split_link_options(url)
        if settings:
            options = options.with_settings(**settings)
        port = open_port(address, options)
        try:
            return cls(port, url, options)
        except BaseException:
            port.close()
            raise

    @property
    def retries(self) -> int:
        return self.link.retries

    # -- PhysicalTransform ----------------------------------------------------------------------

    def forward(self, actuation: np.ndarray) -> np.ndarray:
        actuation = np.ascontiguousarray(actuation, dtype=np.float32)
        if actuation.ndim != 2 or actuation.shape[1] != self.n_actuators:
            raise ValueError(f"device {self.url} takes (batch, {self.n_actuators}) actuator commands, "
                             f"got shape {actuation.shape}")
        batch = actuation.shape[0]
        if batch == 0:
            return np.zeros((0, self.n_sensors), np.float32)
        rows = self._encode(actuation)  # before anything is sent: bad commands send nothing
        measured = np.empty((batch, self.n_sensors), np.float32)
        pending = [(0, batch)]  # row ranges not measured yet
        while pending:
            pending = self._measure(rows, pending, measured)
        self.counters.passes += batch
        return measured

    def _measure(self, rows: np.ndarray, pending: list[tuple[int, int]], measured: np.ndarray) -> list[tuple[int, int]]:
        """Send the pending rows as EXCITEs of the current frame size; the ranges still pending
        if every attempt at one of them came back damaged (frames are halved for the next try)."""
        # As few EXCITEs as the frame size allows, evenly filled: 412 vectors go as 206 + 206,
        # not as 409 + 3, whose sliver would cost a medium call and a round trip of its own.
        frames = []
        for start, stop in pending:
            bounds = even_split(stop - start, -(-(stop - start) // self.frames.vectors))
            frames += [(start + a, start + b) for a, b in zip(bounds, bounds[1:])]
        requests = [(MsgType.EXCITE, self._excite_payload(rows[start:stop]), self._excite_timeout(stop - start))
                    for start, stop in frames]
        answered = [False] * len(frames)

        def store(index: int, reply: p.Frame) -> None:
            start, stop = frames[index]
            self._read_measure(reply, measured[start:stop])
            answered[index] = True

        try:
            self.link.exchange(requests, on_reply=store)
        except DamagedLinkError as exc:
            costs = self.link.service_samples(MsgType.EXCITE)
            if (not self.frames.shrink(exc.per_byte, costs, self.link.retries + 1)
                    and self.link.damaged_share > _UNUSABLE_SHARE):
                raise self._unusable(exc) from exc
            return [frame for frame, done in zip(frames, answered) if not done]
        error_per_byte = self.link.error_per_byte()
        self.frames.fit(error_per_byte, self.link.service_samples(MsgType.EXCITE) if error_per_byte else None)
        return []

    def _unusable(self, exc: DamagedLinkError) -> LinkError:
        return LinkError(f"the link to {self.url} is too bad to use: even in frames of one vector "
                         f"{100 * exc.damaged_share:.0f} % of round trips come back damaged, an error "
                         f"rate of about {exc.per_byte:.1e} per byte (a long or unshielded cable, a bad "
                         "connector, a baud rate the UART cannot hold?)")

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
        described = {"url": self.url, "kind": "serial", **self.info, "link": self.link.describe(),
                     "frames": self.frames.describe(), "counters": self.counters.as_dict()}
        if self.link.port is not None:
            try:
                described["device_status"] = self.status()
            except (LinkError, DeviceError, ProtocolError) as exc:
                described["device_status"] = {"error": str(exc)}
        return described

    def close(self) -> None:
        self.link.close()

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
        (reply,) = self.link.exchange([(MsgType.PING, bytes(data), self.timeout)])
        if reply.payload != data:
            raise ProtocolError(f"{self.url}: PING echo differs: sent {data.hex()}, got {reply.payload.hex()}")
        return time.monotonic() - started

    def status(self) -> dict:
        (reply,) = self.link.exchange([(MsgType.STATUS, b"", self.timeout)])
        return p.unpack_json(reply.payload, f"{self.url} STATUS reply")

    def reset(self) -> None:
        self.link.exchange([(MsgType.RESET, b"", self.timeout)])

    def configure(self, **settings) -> dict:
        """Apply settings all-or-nothing; returns the whole applied configuration."""
        (reply,) = self.link.exchange([(MsgType.CONFIGURE, p.pack_json(settings), self.timeout)])
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
        self.link.exchange([(MsgType.SET_STATIC, p.pack_set_static(states != 0), self.timeout)])

    def to_repl(self) -> None:
        """Hand the port back to the firmware's REPL (for mpremote) and let go of the port.
        Only the port: an emulated device's board stays up at its REPL until close()."""
        self.link.exchange([(MsgType.REPL, b"", self.timeout)])
        self.link.close()

    # -- session ------------------------------------------------------------------------------

    def _hello(self) -> dict:
        seen = bytearray()

        def look_for_a_repl(data: bytes) -> None:
            seen.extend(data)
            del seen[:-_SNIFF_BYTES]
            if any(sign in seen for sign in _REPL_SIGNS):
                self._leave_raw_repl()
                raise NoFirmwareError(
                    f"{self.url} answers with a MicroPython REPL, not the phyll firmware: MicroPython "
                    "runs there without phyll's firmware running. Put the firmware on the board with "
                    f"`phyll flash --board BOARD --port {self.link.port.url}` (docs/boards.md), then try again")

        hello = [(MsgType.HELLO, p.pack_hello(), self.timeout)]
        started = time.monotonic()
        while True:
            try:
                (reply,) = self.link.exchange(hello, on_bytes=look_for_a_repl)
                break
            except NoFirmwareError:
                raise
            except DamagedLinkError as exc:
                # Something answers, but the link damages it: go on trying for a while (INFO is
                # the largest frame of a session's start), then name the link, not the firmware.
                hopeless = self.counters.retries >= _HELLO_HOPELESS_AFTER and self.link.damaged_share > 0.95
                if hopeless or time.monotonic() - started > _HELLO_PATIENCE_S:
                    raise LinkError(f"the link to {self.url} is too bad to use: HELLO's replies came back "
                                    f"damaged ({100 * exc.damaged_share:.0f} % of round trips, about "
                                    f"{exc.per_byte:.1e} per byte); check the cable, connector and baud "
                                    "rate") from exc
            except LinkError as exc:
                raise LinkError(f"{exc}; is phyll firmware running on {self.url}?") from exc
        info = p.unpack_json(reply.payload, f"{self.url} INFO reply")
        missing = [key for key in INFO_KEYS if key not in info]
        if missing:
            raise ProtocolError(f"{self.url}: INFO lacks {missing}")
        return info

    def _leave_raw_repl(self) -> None:
        """Ctrl-B: the HELLO frame's Ctrl-A put the REPL in raw mode; leave it as it was found."""
        try:
            self.link.port.write(b"\r\x02")
        except LinkError:
            pass  # the port is going anyway; the error the user needs is the one about the REPL

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
        excite_bytes = p.bits_per_vector(self.n_actuators) if self._packing == "bits" else 2 * self.n_actuators
        self.frames = FrameSizer(max_batch, excite_bytes + 2 * self.n_sensors)
        in_flight = min(device_in_flight, in_flight_cap or device_in_flight)
        # A port whose writes may block waits for each reply before the next request.
        self.link.in_flight = in_flight if self.link.port.pipelined else 1

    def _excite_timeout(self, n_vectors: int) -> float:
        return self.timeout + n_vectors * (1e-6 * float(self.info.get("settle_us", 0)) + self.per_vector)

    def _explain(self, exc: LinkError) -> LinkError:
        """Hook for subclasses that know more about why a link failed (an emulator's process)."""
        return exc
