"""Pieces several commands share: error reporting, output paths and JSON, signals, the device a
checkpoint names."""
from __future__ import annotations

import json
import signal
import sys
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..checkpoint import replacing
from ..data import DataError
from ..physical import PhysicalError
from ..training import StopRequested

# Errors a user can act on: print the message, not a traceback.
USER_ERRORS = (DataError, PhysicalError, ValueError, FileNotFoundError, OSError)


def fail(message: str, code: int = 2) -> int:
    _say(f"phyll: error: {message}")
    return code


def warn(message: str) -> None:
    _say(f"phyll: warning: {message}")


def _say(line: str) -> None:
    try:
        print(line, file=sys.stderr, flush=True)
    except OSError:
        pass  # the terminal is gone (SIGHUP): what was saved is in the files, and no one reads this


def write_json(path: str | Path, document: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as tmp:
        tmp.write_text(json.dumps(document, indent=2) + "\n")


def check_output_file(path: Path, flag: str) -> None:
    """`path` can be written as a file: checked before anything runs, so no run ends with its
    results unsaveable (a folder given for a file, a file in the way of a folder, no permission)."""
    if path.is_dir():
        raise ValueError(f"{flag} {path} is a directory; give a file path")
    _check_folder(path.parent, flag, path)


def check_output_folder(path: Path, flag: str) -> None:
    """`path` is a folder, or can be made one, that files can be written in."""
    if path.exists() and not path.is_dir():
        raise ValueError(f"{flag} {path} is a file; give a folder")
    _check_folder(path, flag, path)


def _check_folder(folder: Path, flag: str, given: Path) -> None:
    existing = folder
    while not existing.exists():  # what mkdir(parents=True) will make
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{flag} {given}: {existing} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise ValueError(f"{flag} {given}: cannot write in {existing} ({exc.strerror or exc})") from None


class StopSignals:
    """While active (a context manager), SIGTERM and SIGHUP stop a run as Ctrl-C does: the first
    raises StopRequested in the main thread; repeats are ignored, so the checkpoint being written
    is finished. A signal set to be ignored (`nohup` ignores SIGHUP) stays ignored.

    `held()` delays a stop until a block is done, so files are written whole. `settle()` says the
    run has ended: a signal from then on has nothing left to stop and is ignored.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self.received: int | None = None
        self._holding = False
        self._settled = False
        self._pending: int | None = None  # received while held
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():  # only it may set handlers
            for signum in self.SIGNALS:
                if signal.getsignal(signum) is not signal.SIG_IGN:
                    self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, frame) -> None:
        if self.received is not None or self._settled:
            return
        self.received = signum
        if self._holding:
            self._pending = signum
        else:
            raise StopRequested(signum)

    @contextmanager
    def held(self):
        self._holding = True
        try:
            yield
        finally:
            self._holding = False
        if self._pending is not None and not self._settled:
            signum, self._pending = self._pending, None
            raise StopRequested(signum)

    def settle(self) -> None:
        self._settled = True


def checkpoint_device_url(meta: dict, path: Path, given: str | None) -> str:
    """The URL of the device checkpoint `path` was trained on, or `given` (--device) instead.

    A model is only as good as the physics it was trained with, so measuring it elsewhere is
    said aloud. Checkpoints from before `device_url` was stored name their device only in its
    description, whose url may lack the options it was opened with.
    """
    stored = meta.get("device_url")
    if stored is None and (described := meta.get("device", {}).get("url")):
        stored = described
        if given is None:
            warn(f"checkpoint {path} predates stored device URLs; reopening the url its device "
                 f"description gives, {described} (pass --device URL if it was opened with other options)")
    if given is None:
        if not stored:
            raise ValueError(f"checkpoint {path} does not say which device it was trained on; "
                             "name one with --device URL")
        return stored
    if given != stored:
        warn(f"--device {given} is not the device checkpoint {path} was trained on "
             f"({stored or 'not recorded'}); measuring through {given}")
    return given
