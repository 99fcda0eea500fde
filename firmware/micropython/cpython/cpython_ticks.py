"""MicroPython's tick functions on CPython's monotonic clock (same wrap period semantics)."""
import time

_PERIOD = 1 << 30
_HALF = _PERIOD >> 1


def ticks_ms():
    return (time.monotonic_ns() // 1_000_000) % _PERIOD


def ticks_us():
    return (time.monotonic_ns() // 1_000) % _PERIOD


def ticks_diff(end, start):
    return ((end - start + _HALF) % _PERIOD) - _HALF


def sleep_us(us):
    if us > 0:
        time.sleep(us / 1e6)
