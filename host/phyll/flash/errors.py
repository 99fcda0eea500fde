"""What can go wrong getting firmware onto a board, one type per thing the user must do."""
from __future__ import annotations

from ..physical import PhysicalError


class FlashError(PhysicalError):
    """A board could not be found, flashed or verified; the message says what to do."""


class NoPortError(FlashError):
    """No port to flash: none found, several candidates, or the one named cannot be opened."""


class NoReplError(FlashError):
    """The port answers, but not with a MicroPython REPL the firmware can be copied through."""


class NoSpaceError(FlashError):
    """The board's filesystem cannot hold the firmware; nothing was copied."""


class VerifyError(FlashError):
    """After flashing, HELLO did not answer with the firmware and protocol just flashed."""


class ToolMissingError(FlashError):
    """An external tool (mpremote, mpy-cross, esptool, PlatformIO) is not installed."""
