"""Ports: non-blocking byte I/O on any pyserial port, the one thing the link engine stands on.

`open_port(url, options)` opens a path or pyserial URL and returns one of two kinds of Port:

* `DescriptorPort`, for ports with a file descriptor (posix serial ports, ptys, `socket://`,
  and wrappers such as `spy://` around them): waited on with poll. Ports whose read and write
  are pyserial's own posix or socket ones are read and written with os.read / os.write on the
  descriptor (pyserial's read adds two selects per call); wrapper classes that override
  read or write are called through those methods, so they see every byte.
* `ChunkPort`, for ports without one (`rfc2217://`, `loop://`): read in whole chunks --
  what is buffered, else one short blocking read that wakes as the first byte arrives.

Every OS or pyserial failure becomes a LinkError naming the port. A Port reports a hang-up
by raising LinkError from read(); read() returns None when nothing has arrived yet.
"""
from __future__ import annotations

import errno
import os
import select
import socket
import sys
import termios
import time

import serial
from serial import rfc2217, serialposix
from serial.urlhandler import protocol_socket

from ..protocol import LinkError
from .faults import FaultyPort
from .options import LinkOptions

_READ_CHUNK = 65536
# The longest single blocking read of a descriptor-less port; a wait loops over such reads. Set
# once: changing pyserial's timeout on an open rfc2217 port renegotiates the port (~150 ms).
_CHUNK_WAIT_S = 0.05
_OWN_IO_CLASSES = (serialposix.Serial, protocol_socket.Serial)
# Linux only: acknowledge received segments at once. A device's reply of 1-16 KB otherwise waits
# ~40 ms when the far side's Nagle holds its last segment until our delayed ACK comes.
_TCP_QUICKACK = getattr(socket, "TCP_QUICKACK", 12 if sys.platform.startswith("linux") else None)


def open_port(url: str, options: LinkOptions):
    """Open a path or pyserial URL (no phyll fragment) as a Port, faults applied if asked for."""
    try:
        port = serial.serial_for_url(url, baudrate=options.baudrate, timeout=0, do_not_open=True,
                                     exclusive=options.exclusive)
        port.open()
    except serial.SerialException as exc:
        if getattr(exc, "errno", None) in (errno.EAGAIN, errno.EWOULDBLOCK):
            raise LinkError(f"serial port {url!r} is busy: another program (phyll, mpremote, a "
                            "terminal) has it open; close that first, or add #exclusive=false to "
                            "the URL to share it") from exc
        raise LinkError(f"cannot open serial device {url!r}: {exc}") from exc
    except (OSError, ValueError) as exc:
        raise LinkError(f"cannot open serial device {url!r}: {exc}") from exc
    try:
        opened = DescriptorPort(port, url) if _descriptor(port) is not None else ChunkPort(port, url)
    except BaseException:
        port.close()
        raise
    return FaultyPort(opened, options.faults) if options.faults.active else opened


def _descriptor(port: serial.SerialBase) -> int | None:
    try:
        return port.fileno()
    except (AttributeError, NotImplementedError, OSError):
        return None


def _own_io(port: serial.SerialBase) -> bool:
    """True when read and write are pyserial's own for the descriptor, not a wrapper's."""
    cls = type(port)
    return any(cls.read is base.read and cls.write is base.write for base in _OWN_IO_CLASSES)


class _PortBase:
    """What both kinds share: the pyserial object, its URL and the TCP socket behind it, if any."""

    kind = ""

    def __init__(self, port: serial.SerialBase, url: str) -> None:
        self.port = port
        self.url = url
        # socket:// and rfc2217:// keep their TCP socket here; reaching it is the only way to
        # set the options pyserial does not (TCP_NODELAY for socket://, TCP_QUICKACK for both).
        sock = getattr(port, "_socket", None)
        self._tcp = sock if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6) else None
        if self._tcp is not None:
            self._tcp.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _ack_at_once(self) -> None:
        """Re-arm TCP_QUICKACK before each wait: the kernel clears it on its own."""
        if self._tcp is not None and _TCP_QUICKACK is not None:
            try:
                self._tcp.setsockopt(socket.IPPROTO_TCP, _TCP_QUICKACK, 1)
            except OSError:
                pass  # the connection is gone: the next read or write says so

    def discard_input(self) -> None:
        try:
            self.port.reset_input_buffer()
        except (OSError, termios.error, serial.SerialException) as exc:  # tcflush on a hung-up pty: EIO
            raise LinkError(f"{self.url}: cannot flush the port ({exc})") from exc

    def close(self) -> None:
        try:
            self.port.close()
        except (OSError, serial.SerialException):
            pass  # closing a port that already vanished: nothing left to release

    def describe(self) -> dict:
        return {"transport": self.kind, "port_class": f"{type(self.port).__module__}.{type(self.port).__name__}",
                "tcp": self._tcp is not None}

    def _failed(self, doing: str, exc: BaseException) -> LinkError:
        return LinkError(f"{self.url}: {doing} failed, the port vanished or closed ({exc})")


class DescriptorPort(_PortBase):
    """A port with a descriptor: poll for readiness, then read what has arrived."""

    kind = "descriptor"
    pipelined = True  # writes never block: the engine reads replies while it still writes

    def __init__(self, port: serial.SerialBase, url: str) -> None:
        super().__init__(port, url)
        self.fd = _descriptor(port)
        port.write_timeout = 0  # write what fits, return at once: the engine waits with poll
        direct = _own_io(port) and not os.get_blocking(self.fd)
        self._fd_io = self.fd if direct else -1
        self._poll = select.poll()  # registered once: no descriptor sets built per wait
        self._poll.register(self.fd, select.POLLIN)
        self._mask = select.POLLIN

    def read(self) -> bytes | None:
        try:
            data = os.read(self._fd_io, _READ_CHUNK) if self._fd_io >= 0 else self.port.read(_READ_CHUNK)
        except BlockingIOError:
            return None
        except (OSError, serial.SerialException) as exc:
            raise self._failed("reading", exc) from exc
        if data:
            return data
        if self._fd_io >= 0:
            # poll said readable and the read found the end of the stream: the other end hung up
            raise LinkError(f"{self.url}: the port reports data but returns none; the device vanished")
        return None  # a wrapper's read(timeout=0) returns b"" for "nothing yet"

    def write(self, data) -> int:
        try:
            written = os.write(self._fd_io, data) if self._fd_io >= 0 else self.port.write(data)
        except BlockingIOError:
            return 0
        except (OSError, serial.SerialException) as exc:
            raise self._failed("writing", exc) from exc
        return len(data) if written is None else written

    def wait(self, want_write: bool, timeout: float, want_read: bool = True) -> tuple[bool, bool]:
        """Block until readable / writable or timeout; returns (readable, writable)."""
        self._ack_at_once()
        mask = (select.POLLIN if want_read else 0) | (select.POLLOUT if want_write else 0)
        try:
            if mask != self._mask:
                self._poll.modify(self.fd, mask)
                self._mask = mask
            events = self._poll.poll(1e3 * max(timeout, 0.0))
        except (OSError, ValueError) as exc:
            raise self._failed("waiting on the port", exc) from exc
        if not events:
            return False, False
        mask = events[0][1]  # a hang-up or error counts as readable: the read then reports it
        return bool(mask & ~select.POLLOUT), bool(mask & select.POLLOUT)


class ChunkPort(_PortBase):
    """A port without a descriptor, read in whole chunks: `in_waiting` bytes at a time, and when
    none are buffered one blocking read of a byte that returns as soon as it arrives."""

    kind = "chunked"

    def __init__(self, port: serial.SerialBase, url: str) -> None:
        super().__init__(port, url)
        port.write_timeout = None  # no descriptor to wait on for room: writes block
        port.timeout = _CHUNK_WAIT_S
        # rfc2217's client reads its socket in a thread of its own, so a device's replies never
        # wait for this side to read, and blocking writes cannot deadlock against them: requests
        # may be pipelined. Other ports without a descriptor (loop://) go stop-and-wait.
        self.pipelined = isinstance(port, rfc2217.Serial)
        self._first = b""

    def read(self) -> bytes | None:
        try:
            waiting = self.port.in_waiting
            data = self._first + (self.port.read(waiting) if waiting else b"")
        except (OSError, serial.SerialException) as exc:
            raise self._failed("reading", exc) from exc
        self._first = b""
        return data or None

    def write(self, data) -> int:
        try:
            written = self.port.write(bytes(data))
        except (OSError, serial.SerialException) as exc:
            raise self._failed("writing", exc) from exc
        return len(data) if written is None else written

    def wait(self, want_write: bool, timeout: float, want_read: bool = True) -> tuple[bool, bool]:
        """Writes block, so the port is always writable; a read waits at most `timeout`."""
        if self._first or want_write or not want_read:
            return bool(self._first), want_write
        self._ack_at_once()
        deadline = time.monotonic() + timeout
        try:
            if self.port.in_waiting:
                return True, False
            while not self._first and time.monotonic() < deadline:
                self._first = self.port.read(1)  # returns as the byte arrives, or after _CHUNK_WAIT_S
        except (OSError, serial.SerialException) as exc:
            raise self._failed("reading", exc) from exc
        return bool(self._first), False
