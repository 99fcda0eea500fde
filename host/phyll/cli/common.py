"""Pieces several commands share: error reporting, JSON output, the device a checkpoint names."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from ..data import DataError
from ..physical import PhysicalError

# Errors a user can act on: print the message, not a traceback.
USER_ERRORS = (DataError, PhysicalError, ValueError, FileNotFoundError, OSError)


def fail(message: str, code: int = 2) -> int:
    print(f"phyll: error: {message}", file=sys.stderr)
    return code


def warn(message: str) -> None:
    print(f"phyll: warning: {message}", file=sys.stderr)


def write_json(path: str | Path, document: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")


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
