"""Pieces several commands share: error reporting and JSON output."""
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


def write_json(path: str | Path, document: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
