"""Zero-latency medium inside the firmware: sensor j reads back actuator j's clamped code.

No transducers, no medium process: EXCITE costs the link and the frame loop alone. It is what
the link benchmark measures (`emu://loopback`, bench/bench_link.py) and what a board file can
serve to check a new board's link before any hardware is attached.
"""
from . import Hal


class LoopbackHal(Hal):
    medium = "loopback"

    def __init__(self, width, scale, encoding=None, max_batch=0):
        """width actuators and as many sensors, both coded as `value = code x scale`;
        encoding: INFO's encoding (int16 codes: any encoder but "bits")."""
        if width < 1 or not scale > 0:
            raise ValueError("loopback needs width >= 1 and scale > 0, got %r, %r" % (width, scale))
        if encoding is not None:
            if encoding["encoder"] == "bits":
                raise ValueError("loopback reads back int16 codes; the bits encoder sends none")
            self.encoding = encoding
        self.n_actuators = self.n_sensors = width
        self.actuator_scale = self.sensor_scale = scale
        self.max_batch = max_batch

    def excite(self, vectors, batch, out):
        out[:] = vectors  # one C copy: vectors and out are both batch x width int16 codes
