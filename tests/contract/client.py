"""A raw protocol client: bytes out, frames and faults in, with deadlines. Nothing else.

Deliberately independent of the host's link engine (phyll.link, phyll.devices): no retries, no
re-sends, no matching of replies to requests -- a check must see exactly what the device sent.
It uses only phyll.protocol's frame codec and FrameParser; `check_layout` reads a frame's bytes
again with struct and zlib alone, so a codec bug cannot hide a device bug.
"""
from __future__ import annotations

import errno
import os
import random
import select
import struct
import time
import zlib

import serial

from phyll import protocol as p
from phyll.protocol import MsgType

# How long a device may take for an ordinary reply on a shared CI machine (a first EXCITE on an
# emulated medium included); the checks that need a device to stay silent send a PING behind
# the frame instead and wait for its PONG, so they never sit out this long.
REPLY_TIMEOUT_S = 5.0
_READ_CHUNK = 65536


class LinkClosed(AssertionError):
    """The device side of the port hung up (the device process ended, a board reset)."""


def check_layout(wire: bytes) -> None:
    """One reply frame, checked field by field with struct and zlib (docs/protocol.md 1)."""
    assert wire[:2] == p.MAGIC, f"frame starts {wire[:2].hex()}, not the magic a55a"
    version, _, _, length, flags, check = struct.unpack_from("<BBHHBB", wire, 2)
    assert version == p.VERSION, f"reply frame version {version}, expected {p.VERSION}"
    assert flags == 0, f"reply frame flags {flags:#04x}: senders write 0"
    assert check == zlib.crc32(wire[:9]) & 0xFF, \
        f"header check {check:#04x} != crc32(bytes 0..8) & 0xFF = {zlib.crc32(wire[:9]) & 0xFF:#04x}"
    assert len(wire) == p.HEADER_SIZE + length + p.CRC_SIZE, f"frame of {len(wire)} bytes, header says {length}"
    (crc,) = struct.unpack_from("<I", wire, p.HEADER_SIZE + length)
    assert crc == zlib.crc32(wire[:p.HEADER_SIZE + length]), "frame CRC-32 mismatch"


class RawClient:
    """One open port. `send` writes frames (or any bytes), `frames` collects what comes back.

    Damaged or cut frames from the device are kept in `faults` (a check decides whether they are
    allowed), never turned into frames.
    """

    def __init__(self, port: serial.SerialBase, url: str) -> None:
        self.port = port
        self.url = url
        try:
            self.fd = port.fileno()
        except (AttributeError, NotImplementedError, OSError) as exc:  # pyserial URLs without a descriptor
            port.close()
            raise ValueError(f"{url}: the contract suite needs a port with a file descriptor "
                             "(a serial device or pty path)") from exc
        self.parser = p.FrameParser()
        self.faults: list[p.FrameFault] = []
        self.received = bytearray()  # every byte read, for messages
        self.closed = False
        self._inbox: list[p.Frame] = []
        self._last_byte = time.monotonic()
        self._seq = random.randrange(p.SEQ_MODULO)  # a host starts each session at a random seq
        self.info: dict = {}

    @classmethod
    def open(cls, url: str, baudrate: int = 115200) -> "RawClient":
        # pyserial sets a tty raw (no echo, no newline translation, no flow control) on open.
        port = serial.serial_for_url(url, baudrate=baudrate, timeout=0, write_timeout=0)
        return cls(port, url)

    def close(self) -> None:
        self.port.close()

    def __enter__(self) -> "RawClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- sequence numbers ----------------------------------------------------------------------

    def new_seq(self) -> int:
        """The next seq none of whose bytes is 0xA5: no magic inside our headers, so a device
        rescanning a damaged frame of ours cannot find a false one there."""
        self._seq = (self._seq + 1) % p.SEQ_MODULO
        while 0xA5 in self._seq.to_bytes(2, "little"):
            self._seq = (self._seq + 1) % p.SEQ_MODULO
        return self._seq

    # -- writing -------------------------------------------------------------------------------

    def write(self, data: bytes, timeout: float = REPLY_TIMEOUT_S) -> None:
        """Write all of `data`, reading (and keeping) what arrives meanwhile so a device that
        answers while we write is never blocked by us."""
        view = memoryview(data)
        deadline = time.monotonic() + timeout
        while view:
            left = deadline - time.monotonic()
            assert left > 0, f"{self.url}: the device took only {len(data) - len(view)} of {len(data)} bytes " \
                             f"in {timeout} s"
            readable, writable, _ = select.select([self.fd], [self.fd], [], left)
            if readable:
                self._read_available()
            if writable:
                try:
                    view = view[os.write(self.fd, view):]
                except BlockingIOError:
                    pass

    def write_only(self, data: bytes, timeout: float = REPLY_TIMEOUT_S) -> bool:
        """Write `data` without reading anything meanwhile; False if the link would not take it
        all within `timeout` (then what was written is all that went out)."""
        view = memoryview(data)
        deadline = time.monotonic() + timeout
        while view:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            _, writable, _ = select.select([], [self.fd], [], left)
            if writable:
                try:
                    view = view[os.write(self.fd, view):]
                except BlockingIOError:
                    pass
        return True

    def send(self, message_type: int, payload: bytes = b"", seq: int | None = None, **frame) -> int:
        """Write one frame; returns its seq (a new one unless given)."""
        seq = self.new_seq() if seq is None else seq
        self.write(p.encode_frame(message_type, seq, payload, **frame))
        return seq

    # -- reading -------------------------------------------------------------------------------

    def _read_available(self) -> None:
        try:
            data = os.read(self.fd, _READ_CHUNK)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno != errno.EIO:
                raise
            data = b""  # EIO: a pty whose other side is gone
        if not data:
            self.closed = True
            return
        self.received += data
        self._last_byte = time.monotonic()
        self._take(self.parser.feed(data))

    def _take(self, events) -> None:
        for event in events:
            if isinstance(event, p.Frame):
                # The parser checked magic, header check and CRC; these two it lets through.
                assert event.version == p.VERSION, \
                    f"{event.type_name} seq {event.seq} came in a version-{event.version} frame, expected {p.VERSION}"
                assert event.flags == 0, \
                    f"{event.type_name} seq {event.seq} has flags {event.flags:#04x}: senders write 0"
                self._inbox.append(event)
            else:
                self.faults.append(event)

    def _expire_if_idle(self) -> None:
        """The host's inter-byte timeout: a frame cut short is abandoned after 250 ms."""
        if self.parser.pending and time.monotonic() - self._last_byte > p.HOST_INTER_BYTE_TIMEOUT_S:
            self._take(self.parser.expire())

    def poll(self, timeout: float) -> None:
        """Read for up to `timeout` s (returns early once a frame or a fault is in)."""
        deadline = time.monotonic() + timeout
        faults = len(self.faults)
        while not self.closed:
            self._expire_if_idle()
            if self._inbox or len(self.faults) != faults:
                return
            left = deadline - time.monotonic()
            if left <= 0:
                return
            wait = min(left, p.HOST_INTER_BYTE_TIMEOUT_S) if self.parser.pending else left
            readable, _, _ = select.select([self.fd], [], [], wait)
            if readable:
                self._read_available()

    def frames(self, count: int, timeout: float = REPLY_TIMEOUT_S) -> list[p.Frame]:
        """The next `count` frames; AssertionError naming what did come if they do not in time,
        or as soon as the device sends a damaged frame (use `listen` where damage is allowed)."""
        deadline = time.monotonic() + timeout
        got: list[p.Frame] = []
        known_faults = len(self.faults)
        while len(got) < count:
            assert len(self.faults) == known_faults, \
                f"{self.url}: the device sent a frame the parser rejected ({self.describe(got)})"
            if not self._inbox:
                if self.closed:
                    raise LinkClosed(f"{self.url}: the port hung up after {len(got)} of {count} replies "
                                     f"({self.describe(got)})")
                left = deadline - time.monotonic()
                assert left > 0, f"{self.url}: {len(got)} of {count} replies in {timeout} s " \
                                 f"({self.describe(got)})"
                self.poll(left)
                continue
            got.append(self._inbox.pop(0))
        return got

    def listen(self, duration: float, quiet: float | None = None) -> list[p.Frame]:
        """Every frame that arrives within `duration` s, or until no byte came for `quiet` s."""
        start = time.monotonic()
        deadline = start + duration
        got: list[p.Frame] = []
        while (left := deadline - time.monotonic()) > 0 and not self.closed:
            if quiet is not None and time.monotonic() - max(start, self._last_byte) > quiet:
                break
            self.poll(min(left, quiet) if quiet is not None else left)
            got += self._inbox
            self._inbox.clear()
        self._expire_if_idle()
        got += self._inbox
        self._inbox.clear()
        return got

    def drain(self, quiet: float = 0.05) -> None:
        """Forget whatever is in flight: read until the link has been quiet for `quiet` s."""
        while not self.closed:
            readable, _, _ = select.select([self.fd], [], [], quiet)
            if not readable:
                break
            self._read_available()
        self.parser.reset()
        self._inbox.clear()
        self.faults.clear()

    def describe(self, frames: list[p.Frame]) -> str:
        seen = ", ".join(f"{f.type_name} seq {f.seq}" for f in frames) or "no frame"
        faults = ", ".join(f.kind for f in self.faults)
        tail = bytes(self.received[-48:]).hex()
        return f"got {seen}" + (f"; faults {faults}" if faults else "") + f"; last bytes in {tail or 'none'}"

    # -- requests ------------------------------------------------------------------------------

    def request(self, message_type: int, payload: bytes = b"", seq: int | None = None,
                timeout: float = REPLY_TIMEOUT_S) -> p.Frame:
        """Send one request and return the next frame, checked to carry the request's seq and
        its reply type or ERROR."""
        seq = self.send(message_type, payload, seq)
        (reply,) = self.frames(1, timeout)
        expect_reply_to(reply, message_type, seq)
        return reply

    def call(self, message_type: int, payload: bytes = b"", seq: int | None = None,
             timeout: float = REPLY_TIMEOUT_S) -> bytes:
        """A request that must succeed: its reply payload (AssertionError on an ERROR)."""
        reply = self.request(message_type, payload, seq, timeout)
        assert reply.type != MsgType.ERROR, f"{p.MsgType(message_type).name} answered {describe_error(reply)}"
        return reply.payload

    def hello(self) -> dict:
        """Start a session (empties the device's reply cache); INFO is kept in `info`."""
        self.info = p.unpack_json(self.call(MsgType.HELLO, p.pack_hello()), "INFO")
        return self.info

    def status(self) -> dict:
        return p.unpack_json(self.call(MsgType.STATUS), "STATUS reply")

    def configure(self, **settings) -> dict:
        return p.unpack_json(self.call(MsgType.CONFIGURE, p.pack_json(settings)), "CONFIG")

    def reset(self) -> None:
        assert self.call(MsgType.RESET) == b"", "RESET_DONE carries no payload"

    def ping(self, data: bytes = b"") -> None:
        echoed = self.call(MsgType.PING, data)
        assert echoed == data, f"PING {data.hex()} echoed as {echoed.hex()}"


def type_name(message_type: int) -> str:
    try:
        return MsgType(message_type).name
    except ValueError:
        return f"type {message_type:#04x}"


def describe_error(frame: p.Frame) -> str:
    code, request_type, message = p.unpack_error(frame.payload)
    name = p.ErrorCode(code).name if code in p.ErrorCode._value2member_map_ else f"code {code}"
    return f"ERROR {name} (request type {request_type:#04x}): {message!r}"


def expect_reply_to(reply: p.Frame, request_type: int, seq: int) -> None:
    assert reply.seq == seq, f"reply {reply.type_name} carries seq {reply.seq}, its request had seq {seq}"
    allowed = (p.reply_type(request_type), MsgType.ERROR)
    assert reply.type in allowed, \
        f"{type_name(request_type)} answered with {reply.type_name}; expected {type_name(allowed[0])} or ERROR"
    if reply.type == MsgType.ERROR:
        _, echoed, _ = p.unpack_error(reply.payload)
        assert echoed == request_type, \
            f"ERROR names request type {echoed:#04x}, the request was {type_name(request_type)}"
