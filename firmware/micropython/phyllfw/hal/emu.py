"""The emulator's medium, reached over a byte stream to a CPython process (firmware/README.md).

Wire format, all little-endian:
  at start, host -> firmware: u32 n, then n bytes of UTF-8 JSON describing the medium;
  request,  firmware -> host: u8 op, u8 0, u16 count, u32 n, then n bytes;
  reply,    host -> firmware: u8 status, u8 0, u16 count, u32 n, then n bytes.
ops: "E" EXCITE (count = batch, bytes = the clamped EXCITE vectors as on the serial link),
     "S" SET_STATIC (count = n_static, bytes = packed states), "Z" SAFE (count 0, no bytes).
status 0: ok (EXCITE: bytes = batch x n_sensors int16 codes; others: no bytes);
status 1: fault (bytes = UTF-8 message, sent to the host as ERROR HAL_FAULT).
"""
import json
import struct

from micropython import const

from .. import clock
from ..frame import MAX_PAYLOAD
from ..views import Views
from . import Hal, HalFault

_HEADER = const(8)
_MAX_DESCRIPTION = const(4096)
OP_EXCITE = const(0x45)
OP_STATIC = const(0x53)
OP_SAFE = const(0x5A)
_REQUIRED = ("medium", "n_actuators", "n_sensors", "encoding", "actuator_scale", "sensor_scale")


def read_description(channel):
    """The medium's description, the first thing on the channel (a JSON object)."""
    size = bytearray(4)
    _read_exact(channel, memoryview(size))
    n = struct.unpack("<I", size)[0]
    if not 2 <= n <= _MAX_DESCRIPTION:
        raise ValueError("emulator medium description of %d bytes; expected 2..%d" % (n, _MAX_DESCRIPTION))
    text = bytearray(n)
    _read_exact(channel, memoryview(text))
    description = json.loads(str(text, "utf-8"))
    if not isinstance(description, dict):
        raise ValueError("emulator medium description must be a JSON object")
    for key in _REQUIRED:
        if key not in description:
            raise ValueError("emulator medium description lacks %r (has %s)"
                             % (key, sorted(description)))
    return description


class EmuHal(Hal):
    def __init__(self, channel, description=None):
        """channel: a blocking stream (readinto/write) connected to the host's medium server;
        description: already read from it (read_description), else read here."""
        self._channel = channel
        self.reply_stream = channel  # readable once excite_end will not block (see FrameServer)
        # A request leaves in one write: the medium thread then wakes once, with all of it there.
        self._request = bytearray(_HEADER + MAX_PAYLOAD)
        self._request_views = Views(self._request, 0)
        self._reply = bytearray(_HEADER)
        self.description = description or read_description(channel)
        d = self.description
        self.medium = str(d["medium"])
        self.n_actuators = int(d["n_actuators"])
        self.n_sensors = int(d["n_sensors"])
        self.n_static = int(d.get("n_static", 0))
        self.encoding = d["encoding"]
        self.actuator_scale = float(d["actuator_scale"])
        self.sensor_scale = float(d["sensor_scale"])
        self.settle_us = int(d.get("settle_us", 0))
        self.max_batch = int(d.get("max_batch", 0))

    def excite(self, vectors, batch, out):
        self.excite_begin(vectors, batch)
        self.excite_end(batch, out)

    def excite_begin(self, vectors, batch):
        """Send the vectors to the medium; the frame loop may read the link until excite_end."""
        self._send(OP_EXCITE, batch, vectors)

    def excite_end(self, batch, out):
        self._receive()
        if self._reply_count() != batch or self._reply_size() != len(out):
            raise HalFault("emulator medium answered %d vectors / %d bytes; expected %d / %d"
                           % (self._reply_count(), self._reply_size(), batch, len(out)))
        self._read_exact(out)
        if self.settle_us:
            clock.sleep_us(batch * self.settle_us)

    def set_static(self, packed, n):
        self._call(OP_STATIC, n, packed)
        self._expect_empty()

    def safe(self):
        self._call(OP_SAFE, 0, b"")
        self._expect_empty()

    def _call(self, op, count, payload):
        self._send(op, count, payload)
        self._receive()

    def _send(self, op, count, payload):
        n = len(payload)
        request = self._request
        struct.pack_into("<BBHI", request, 0, op, 0, count, n)
        request[_HEADER:_HEADER + n] = payload
        self._channel.write(self._request_views.get(_HEADER + n))

    def _receive(self):
        """Read the reply header; a fault reply raises HalFault with the medium's message."""
        self._read_exact(self._reply)
        if self._reply[0]:
            message = bytearray(self._reply_size())
            self._read_exact(memoryview(message))
            raise HalFault(str(message, "utf-8"))

    def _expect_empty(self):
        if self._reply_size():
            raise HalFault("emulator medium sent %d unexpected bytes" % self._reply_size())

    def _reply_count(self):
        return self._reply[2] | self._reply[3] << 8

    def _reply_size(self):
        r = self._reply
        return r[4] | r[5] << 8 | r[6] << 16 | r[7] << 24

    def _read_exact(self, view):
        _read_exact(self._channel, view)


def _read_exact(channel, view):
    got = channel.readinto(view)
    if got is None or got < len(view):
        _read_rest(channel, view, got or 0)


def _read_rest(channel, view, got):
    """CPython's raw streams may return part of a buffer; MicroPython's fill it (fast path)."""
    total = len(view)
    while got < total:
        n = channel.readinto(memoryview(view)[got:])
        if not n:
            raise HalFault("emulator medium channel closed")
        got += n
