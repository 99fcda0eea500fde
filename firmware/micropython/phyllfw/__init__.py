"""phyll reference firmware: serves the phyll serial protocol (docs/protocol.md) on MicroPython.

The same source runs under CPython when the emulator has no MicroPython interpreter; the shims
for that live in firmware/micropython/cpython/ and are put on the path by boards/emu.py only.
"""

NAME = "phyll-mpy"
VERSION = "0.1.0"
