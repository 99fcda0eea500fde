"""After flashing: the board answers HELLO with the firmware, protocol and board just flashed.

The answer is asked for with probe.ask (a HELLO whose bytes a REPL takes for no Ctrl-C, Ctrl-D or
Ctrl-E), on a port that is not flushed first: if main.py failed, what the board printed (its
traceback, then the REPL's prompt) is what the error shows.
"""
from __future__ import annotations

import time

from ..link import open_port, split_link_options
from ..protocol import LinkError
from .errors import FlashError, VerifyError
from .probe import ask

_RETRY_S = 0.25
_ASK_S = 1.0
_REBOOTED = b"soft reboot\r\n"


def verify(url: str, firmware: str, protocol: int, board: str | None, *, within: float = 10.0,
           soft_reset: bool = False) -> dict:
    """HELLO until the firmware answers, at most `within` seconds (a board that was reset may take
    a while to come back, its USB port with it); returns its INFO.

    soft_reset: first soft-reset the board from its friendly REPL (it is at its REPL, idle), so
    it runs main.py, as deploy.py leaves it.
    """
    address, options = split_link_options(url)
    deadline = time.monotonic() + within
    heard = bytearray()
    while True:
        try:
            port = open_port(address, options)
        except LinkError as exc:  # a board whose USB port is re-enumerating after its reset
            if time.monotonic() + _RETRY_S > deadline:
                raise VerifyError(f"after flashing, {url} cannot be opened ({exc})") from exc
            time.sleep(_RETRY_S)
            continue
        try:
            if soft_reset:
                _soft_reset(url, port, heard)
                soft_reset = False
            found = ask(url, port, max(0.1, min(_ASK_S, deadline - time.monotonic())), heard)
        finally:
            port.close()
        if found.state == "phyll":
            break
        if found.state == "micropython":
            raise VerifyError(f"after flashing, {url} answers with MicroPython's REPL, not the firmware: main.py "
                              f"did not start it{_printed(heard)}")
        if time.monotonic() > deadline:
            raise VerifyError(f"after flashing, nothing on {url} answered HELLO within {within:g} s "
                              f"({found.summary}){_printed(heard)}")
    info = found.info
    wrong = [f"{key} {info.get(key)!r} (flashed: {want!r})"
             for key, want in (("firmware", firmware), ("protocol", protocol), ("board", board))
             if want is not None and info.get(key) != want]
    if wrong or found.detail:
        raise VerifyError(f"after flashing, {url} answers HELLO with {', '.join(wrong) or found.detail}: an "
                          "older firmware still runs, or the board file is not the one flashed")
    return info


def _soft_reset(url: str, port, heard: bytearray) -> None:
    """Ctrl-C clears the REPL's line, Ctrl-B leaves a raw REPL, Ctrl-D at the friendly prompt
    soft-resets (from the raw REPL a soft reset would skip main.py). Leaves in `heard` only what
    the board printed after it rebooted."""
    port.discard_input()
    port.write(b"\x03\x02")
    _read_until(port, b">>> ", heard, url, "its REPL's prompt")
    heard.clear()
    port.write(b"\x04")
    _read_until(port, _REBOOTED, heard, url, "a soft reboot")
    del heard[:heard.index(_REBOOTED) + len(_REBOOTED)]


def _read_until(port, marker: bytes, heard: bytearray, url: str, what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while marker not in heard:
        left = deadline - time.monotonic()
        if left <= 0:
            raise FlashError(f"{url} did not print {what} (it printed {bytes(heard[-200:])!r}); reset the "
                             "board by hand (its reset button, or unplug it) and run phyll flash again")
        readable, _ = port.wait(False, left)
        if readable:
            heard += port.read() or b""


def _printed(heard: bytearray) -> str:
    text = heard.decode("utf-8", "replace").strip()
    return f"; the board printed:\n{text}" if text else ""
