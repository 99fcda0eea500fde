"""Serves a numpy `Medium` to the emulated firmware over its medium channel.

Wire format (firmware/README.md, "Medium channel wire format"; firmware side phyllfw/hal/emu.py):
the description once (u32 length + JSON), then per request an 8-byte header `u8 op, u8 0,
u16 count, u32 n` + n bytes, answered by `u8 status, u8 0, u16 count, u32 n` + n bytes.

EXCITE codes become actuator values (code x actuator_scale, or 0/1 element states for "bits"),
the medium measures, and readings go back as `round(value / sensor_scale)` saturated to int16;
saturated readings are counted. A medium that raises or returns a wrong shape or non-finite
values answers status 1 with a message: the host gets ERROR HAL_FAULT naming the medium.

One thread per emulator, in the process that owns the medium: while the firmware computes, this
thread sleeps in recv (GIL released). It reads whatever has arrived into one buffer -- a request
is normally one recv, and the firmware may queue the next request before this one is answered
(it begins the next EXCITE early) -- and answers with one sendmsg.
"""
from __future__ import annotations

import json
import socket
import struct
import threading

import numpy as np

from .. import protocol as p
from ..media import Medium

HEADER = struct.Struct("<BBHI")
OP_EXCITE, OP_STATIC, OP_SAFE = 0x45, 0x53, 0x5A
STATUS_OK, STATUS_FAULT = 0, 1
_MAX_FAULT_MESSAGE = 200
_I16 = np.dtype("<i2")  # a dtype object: parsing "<i2" on every call costs microseconds


class MediumServer:
    def __init__(self, medium: Medium, channel: socket.socket, description: dict) -> None:
        self.medium = medium
        self.description = description
        self._channel = channel
        self._n_act = int(description["n_actuators"])
        self._n_sens = int(description["n_sensors"])
        self._bits = description["encoding"]["encoder"] == "bits"
        self._vector_bytes = p.bits_per_vector(self._n_act) if self._bits else 2 * self._n_act
        self._actuator_scale = np.float32(description["actuator_scale"])
        self._sensor_step = np.float32(1.0 / float(description["sensor_scale"]))
        self._reply = bytearray(HEADER.size)
        # Room for two whole requests: the one served and the next one arriving behind it.
        self._buffer = bytearray(2 * (HEADER.size + p.MAX_PAYLOAD))
        self._start = self._end = 0
        self.excites = 0
        self.passes = 0
        self.saturated_readings = 0
        self.faults = 0
        self.last_fault = ""
        self.error: BaseException | None = None  # what ended the thread, if not a hang-up
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"phyll-emu-medium-{self.description['medium']}")
        self._thread.start()

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def counters(self) -> dict:
        counts = {"excites": self.excites, "passes": self.passes,
                  "saturated_readings": self.saturated_readings, "faults": self.faults,
                  "last_fault": self.last_fault}
        if self.error is not None:
            counts["stopped_by"] = f"{type(self.error).__name__}: {self.error}"
        return counts

    # -- the loop -------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self.serve()
        except OSError:
            pass  # the firmware or the emulator closed the channel: nothing left to serve
        except BaseException as exc:  # a bug here must surface in describe(), not vanish
            self.error = exc

    def serve(self) -> None:
        text = json.dumps(self.description).encode()
        self._channel.sendall(struct.pack("<I", len(text)) + text)
        while self._buffered(HEADER.size):
            op, _, count, size = HEADER.unpack_from(self._buffer, self._start)
            if size > p.MAX_PAYLOAD:
                self._fault(f"medium request of {size} bytes exceeds {p.MAX_PAYLOAD}")
                return  # the stream cannot be resynchronised past an unread payload
            if not self._buffered(HEADER.size + size):
                raise ConnectionResetError("medium channel closed mid-request")
            begin = self._start + HEADER.size
            self._start = begin + size
            payload = memoryview(self._buffer)[begin:self._start]
            if op == OP_EXCITE:
                self._excite(count, payload)
            elif op in (OP_STATIC, OP_SAFE):
                # phyll media have no static elements and hold nothing driven between passes
                self._send(STATUS_OK, 0, b"")
            else:
                self._fault(f"unknown medium channel op 0x{op:02X}")

    def _excite(self, batch: int, payload: memoryview) -> None:
        if len(payload) != batch * self._vector_bytes:
            self._fault(f"EXCITE of {batch} vectors carries {len(payload)} bytes, "
                        f"expected {batch * self._vector_bytes}")
            return
        actuation = self._actuation(batch, payload)
        try:
            measured = np.asarray(self.medium.forward(actuation))
        except Exception as exc:
            self._fault(f"medium {self.medium.name!r} raised {type(exc).__name__}: {exc}")
            return
        if measured.shape != (batch, self._n_sens):
            self._fault(f"medium {self.medium.name!r} returned shape {measured.shape}, "
                        f"expected {(batch, self._n_sens)}")
            return
        codes = np.multiply(measured, self._sensor_step, dtype=np.float32)
        np.rint(codes, out=codes)
        # One pass over min and max covers both rare cases: NaN/inf, and saturation.
        if not (codes.min() >= p.INT16_MIN and codes.max() <= p.INT16_MAX):
            if not np.isfinite(codes).all():
                self._fault(f"medium {self.medium.name!r} returned NaN or inf")
                return
            self.saturated_readings += int(np.count_nonzero((codes > p.INT16_MAX) | (codes < p.INT16_MIN)))
            np.clip(codes, p.INT16_MIN, p.INT16_MAX, out=codes)
        self.excites += 1
        self.passes += batch
        self._send(STATUS_OK, batch, codes.astype(_I16))

    def _actuation(self, batch: int, payload: memoryview) -> np.ndarray:
        if self._bits:
            packed = np.frombuffer(payload, np.uint8).reshape(batch, self._vector_bytes)
            return p.unpack_bits(packed, self._n_act).astype(np.float32)
        codes = np.ndarray((batch, self._n_act), _I16, payload)
        return np.multiply(codes, self._actuator_scale, dtype=np.float32)

    # -- bytes ----------------------------------------------------------------------------------

    def _fault(self, message: str) -> None:
        self.faults += 1
        self.last_fault = message
        self._send(STATUS_FAULT, 0, message.encode("utf-8")[:_MAX_FAULT_MESSAGE])

    def _send(self, status: int, count: int, body) -> None:
        body = memoryview(body).cast("B")
        HEADER.pack_into(self._reply, 0, status, 0, count, len(body))
        sent = self._channel.sendmsg([self._reply, body])
        total = HEADER.size + len(body)
        if sent < total:  # a blocking stream socket rarely stops short; finish what is left
            rest = (bytes(self._reply) + bytes(body))[sent:]
            self._channel.sendall(rest)

    def _buffered(self, n: int) -> bool:
        """Make n bytes of the request at _start buffered (n <= half the buffer); False at a
        clean end of stream, i.e. one before any of them."""
        if self._start == self._end:
            self._start = self._end = 0
        elif self._start + n > len(self._buffer):
            # The request would run past the end: move what is buffered of it to the front (rare:
            # it takes a request queued behind a pipelined one; a copy of one request at most).
            left = self._end - self._start
            self._buffer[:left] = self._buffer[self._start:self._end]
            self._start, self._end = 0, left
        with memoryview(self._buffer) as view:
            while self._end - self._start < n:
                got = self._channel.recv_into(view[self._end:])
                if got == 0:
                    if self._end == self._start:
                        return False
                    raise ConnectionResetError("medium channel closed mid-request")
                self._end += got
        return True
