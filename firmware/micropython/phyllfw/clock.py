"""Wrapping tick clocks: MicroPython's own, or the CPython shim's stand-ins."""

try:
    from time import sleep_us, ticks_diff, ticks_ms, ticks_us
except ImportError:  # CPython: boards/emu.py put firmware/micropython/cpython/ on the path
    from cpython_ticks import sleep_us, ticks_diff, ticks_ms, ticks_us  # pyright: ignore[reportMissingImports]

__all__ = ["sleep_us", "ticks_diff", "ticks_ms", "ticks_us"]
