"""Device-side safety: actuator code limits and the host-silence watchdog."""
from . import clock


def code_limits(low, high, scale):
    """[code_low, code_high] (docs/protocol.md EXCITE): round(limit / scale), within int16."""
    return _int16(round(low / scale)), _int16(round(high / scale))


def _int16(code):
    return -32768 if code < -32768 else 32767 if code > 32767 else code


class Watchdog:
    """Trips once per silence longer than timeout_ms, counted from the last valid frame.

    It is armed by the first valid frame: before any host spoke the actuators are already safe.
    `now` is injectable so tests can drive time (defaults to clock.ticks_ms).
    """

    def __init__(self, timeout_ms, now=None):
        self.timeout_ms = timeout_ms
        self.trips = 0
        self._now = now or clock.ticks_ms
        self._last = 0
        self._armed = False

    def feed(self):
        self._last = self._now()
        self._armed = True

    def remaining_ms(self):
        """Milliseconds until it trips; -1 when it cannot trip (off, or not armed)."""
        if not self._armed or self.timeout_ms <= 0:
            return -1
        left = self.timeout_ms - clock.ticks_diff(self._now(), self._last)
        return left if left > 0 else 0

    def check(self):
        """True exactly once when the silence has lasted timeout_ms; it then disarms."""
        if self.remaining_ms() != 0:
            return False
        self._armed = False
        self.trips += 1
        return True
