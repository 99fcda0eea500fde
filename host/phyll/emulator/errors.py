"""The emulator's one error type; a PhysicalError, so commands report it without a traceback."""
from __future__ import annotations

from ..physical import PhysicalError


class EmulatorError(PhysicalError):
    """The emulated device could not be started, or its firmware process failed."""
