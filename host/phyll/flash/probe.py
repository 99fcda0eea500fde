"""What answers on a port, asked without resetting the board or changing what runs on it.

One write: Ctrl-B, which a MicroPython REPL answers with its banner ("MicroPython v1.24.1 on
2024-11-29; Raspberry Pi Pico with RP2040") in either of its modes, then a HELLO frame, which
phyll's firmware answers with INFO. A firmware takes the Ctrl-B for a stray byte before a frame.
The HELLO's seq is picked so that none of its bytes is Ctrl-C, Ctrl-D or Ctrl-E: a REPL that
reads the frame as keystrokes is then neither interrupted, soft-reset, nor put in paste mode (its
Ctrl-A bytes switch it to the raw REPL, which a second Ctrl-B leaves).
"""
from __future__ import annotations

import errno
import re
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import serial

from .. import protocol as p
from ..link import LinkOptions, open_port, split_link_options
from ..protocol import LinkError, MsgType

PROBE_TIMEOUT_S = 1.0
_PARALLEL = 8  # ports probed at once
_KEYSTROKES_TO_AVOID = frozenset(b"\x03\x04\x05")  # Ctrl-C interrupts, Ctrl-D resets, Ctrl-E pastes
_REPL_SIGNS = (b"MicroPython ", b">>> ", b"raw REPL; CTRL-B to exit")
_BANNER = re.compile(rb"MicroPython (\S+) on (\S+); ([^\r\n]+)")
_LEAVE_RAW_REPL = b"\x03\x02"  # the REPL is idle here: Ctrl-C only clears its line


@dataclass
class Probe:
    """What answered on `port`.

    state: "phyll" (phyll firmware: `info` is its INFO), "micropython" (a REPL, no phyll firmware
    running: `banner` is its banner line when it printed one), "silent" (nothing recognisable),
    "busy" (another program holds the port), "unavailable" (it cannot be opened).
    """

    port: str
    state: str
    detail: str = ""
    info: dict = field(default_factory=dict)
    banner: str = ""
    micropython: str = ""  # version from the banner, e.g. "v1.24.1"
    machine: str = ""      # board and chip from the banner, e.g. "Raspberry Pi Pico with RP2040"
    heard: bytes = b""     # what the port sent that was not the INFO frame

    @property
    def summary(self) -> str:
        if self.state == "phyll":
            info = self.info
            return (f"phyll firmware {info.get('firmware', '?')} ({info.get('runtime', '?')}), protocol "
                    f"{info.get('protocol', '?')}, board {info.get('board', '?')}, medium {info.get('medium', '?')}")
        if self.state == "micropython":
            named = f" {self.micropython} on {self.machine}" if self.micropython else ""
            return f"MicroPython{named}, no phyll firmware running"
        return {"silent": "no answer to a REPL's Ctrl-B nor to HELLO: unknown",
                "busy": "busy: another program has it open",
                "unavailable": "cannot be opened"}[self.state] + (f" ({self.detail})" if self.detail else "")

    def as_dict(self) -> dict:
        described: dict = {"port": self.port, "state": self.state, "summary": self.summary}
        if self.info:
            described["info"] = self.info
        if self.banner:
            described.update(banner=self.banner, micropython=self.micropython, machine=self.machine)
        if self.detail:
            described["detail"] = self.detail
        return described


def probe(url: str, timeout: float = PROBE_TIMEOUT_S) -> Probe:
    """Ask `url` (a path or pyserial URL, link options after '#') what runs there."""
    address, options = split_link_options(url, LinkOptions(timeout=timeout))
    try:
        port = open_port(address, options)
    except LinkError as exc:
        cause = exc.__cause__
        if isinstance(cause, serial.SerialException) and getattr(cause, "errno", None) in (errno.EAGAIN, errno.EWOULDBLOCK):
            return Probe(url, "busy", str(exc))
        return Probe(url, "unavailable", str(exc.__cause__ or exc))
    try:
        return _ask(url, port, options.timeout)
    except LinkError as exc:
        return Probe(url, "unavailable", str(exc))
    finally:
        port.close()


def safe_hello(start: int | None = None) -> tuple[int, bytes]:
    """(seq, HELLO frame) with no byte a REPL would take for Ctrl-C, Ctrl-D or Ctrl-E."""
    seq = secrets.randbelow(p.SEQ_MODULO) if start is None else start
    while True:
        frame = p.encode_frame(MsgType.HELLO, seq, p.pack_hello())
        if not _KEYSTROKES_TO_AVOID.intersection(frame):
            return seq, frame
        seq = (seq + 1) % p.SEQ_MODULO


def _ask(url: str, port, timeout: float) -> Probe:
    port.discard_input()
    return ask(url, port, timeout, bytearray())


def ask(url: str, port, timeout: float, heard: bytearray) -> Probe:
    """The probe on an open port (phyll.link.open_port), without discarding what the board sent
    already: `heard` holds it, and collects what comes (what a board printed after a reset)."""
    seq, hello = safe_hello()
    _write_all(port, b"\r\x02" + hello, timeout)
    parser = p.FrameParser()
    if any(sign in heard for sign in _REPL_SIGNS):
        return _repl(url, port, heard, time.monotonic() + timeout)
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        readable, _ = port.wait(False, left)
        data = port.read() if readable else None
        if not data:
            continue
        heard += data
        for event in parser.feed(data):
            if isinstance(event, p.Frame) and event.seq == seq:
                return _firmware(url, event)
        if any(sign in heard for sign in _REPL_SIGNS):
            return _repl(url, port, heard, deadline)
    return Probe(url, "silent", f"{len(heard)} bytes heard" if heard else "", heard=bytes(heard))


def _firmware(url: str, reply: p.Frame) -> Probe:
    if reply.type == p.reply_type(MsgType.HELLO):
        return Probe(url, "phyll", info=p.unpack_json(reply.payload, f"{url} INFO reply"))
    # An ERROR to HELLO (BAD_VERSION): phyll firmware speaking protocol versions this host does not.
    code, _ = p.ERROR_HEADER.unpack_from(reply.payload)
    message = reply.payload[p.ERROR_HEADER.size:].decode("utf-8", "replace")
    return Probe(url, "phyll", f"it refused HELLO: error {code}: {message}")


def _repl(url: str, port, heard: bytearray, deadline: float) -> Probe:
    """Read the rest of the banner, then leave the raw REPL the frame's Ctrl-A bytes entered."""
    while _BANNER.search(heard) is None and (left := deadline - time.monotonic()) > 0:
        readable, _ = port.wait(False, min(left, 0.1))
        if readable:
            heard += port.read() or b""
        elif b">>> " in heard:
            break  # a quiet REPL: it printed its prompt and no banner
    _write_all(port, _LEAVE_RAW_REPL, 1.0)
    found = _BANNER.search(heard)
    if found is None:
        return Probe(url, "micropython", heard=bytes(heard))
    version, _, machine = (part.decode("utf-8", "replace") for part in found.groups())
    return Probe(url, "micropython", banner=found.group(0).decode("utf-8", "replace"),
                 micropython=version, machine=machine, heard=bytes(heard))


def _write_all(port, data: bytes, timeout: float) -> None:
    view = memoryview(data)
    deadline = time.monotonic() + timeout
    while view:
        written = port.write(view)
        view = view[written:]
        if view and time.monotonic() > deadline:
            raise LinkError(f"{port.url}: the port takes no bytes")
        if view:
            port.wait(True, 0.05, want_read=False)


def probe_all(urls: list[str], timeout: float = PROBE_TIMEOUT_S) -> list[Probe]:
    """probe() each of `urls` at once (a silent port costs its whole timeout), in order."""
    if not urls:
        return []
    with ThreadPoolExecutor(min(_PARALLEL, len(urls))) as pool:
        return list(pool.map(lambda url: probe(url, timeout), urls))


def await_answer(url: str, within: float) -> Probe:
    """probe() until something answers (a board booting MicroPython after its flash was
    written), at most `within` seconds; the last answer."""
    deadline = time.monotonic() + within
    while True:
        found = probe(url)
        if found.state in ("phyll", "micropython") or time.monotonic() > deadline:
            return found
        time.sleep(0.25)
