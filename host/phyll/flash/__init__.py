"""Getting phyll's firmware onto a board, and finding boards: `phyll devices`, `phyll flash`.

    usb.py        serial ports and UF2 boot drives on this machine, with USB ID hints
    probe.py      what answers on a port (phyll firmware, a MicroPython REPL, nothing), read-only
    boards.py     the boards phyll flashes: MicroPython board files, PlatformIO environments
    mpy.py        mpy-cross for the .mpy format a board runs
    deploy.py     the MicroPython firmware onto a MicroPython board (mpremote), then verified
    on_board.py   the survey deploy.py runs on the board (not imported by the host)
    verify.py     HELLO answers with the firmware and protocol just flashed
    uf2.py        MicroPython onto an RP2040/RP2350 in BOOTSEL mode (its boot drive)
    tools.py      esptool (MicroPython onto an ESP32) and PlatformIO (the C++ firmware)

docs/boards.md walks from a new board to training.
"""
from .errors import FlashError, NoPortError, NoReplError, NoSpaceError, ToolMissingError, VerifyError
from .probe import Probe, probe

__all__ = ["FlashError", "NoPortError", "NoReplError", "NoSpaceError", "Probe", "ToolMissingError",
           "VerifyError", "probe"]
