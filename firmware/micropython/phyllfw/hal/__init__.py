"""Medium drivers (HALs): what the frame loop drives. One module per medium, chosen by a board file.

A HAL is given its buses and pins (never creates them) and exposes:
  medium (str), n_actuators, n_sensors, n_static (ints), encoding (dict: encoder, low, high,
  bits), actuator_scale, sensor_scale (floats), settle_us (int), max_batch (0: protocol bound),
  config_ranges ({key: (lo, hi)} of the int attributes CONFIGURE may set, settle_us included),
  excite(vectors, batch, out)  vectors: the EXCITE vectors after clamping (int16 codes, or packed
                               bits for the "bits" encoder); out: batch x n_sensors int16 codes
  set_static(packed, n)        the pattern of the n static elements
  safe()                       every driven actuator to its safe state (static elements kept)
Optionally, a HAL whose measurement happens elsewhere (the emulator's medium process) splits
excite into excite_begin(vectors, batch) and excite_end(batch, out) and exposes reply_stream, a
pollable stream that turns readable when excite_end will not block: in between, the frame loop
reads the next requests from a non-blocking link instead of waiting, and may begin the next
EXCITE before ending this one (at most two begun; excite_end ends them in the order begun).
excite_begin must be done with `vectors` when it returns: the frame loop reuses that memory.
"""


class HalFault(Exception):
    """The medium or hardware failed; the frame loop answers ERROR HAL_FAULT with this message."""


class Hal:
    medium = "none"
    n_actuators = 0
    n_sensors = 0
    n_static = 0
    encoding = {"encoder": "l2", "low": -1.0, "high": 1.0, "bits": 1}
    actuator_scale = 1.0
    sensor_scale = 1.0
    settle_us = 0
    max_batch = 0
    config_ranges = {"settle_us": (0, 10_000_000)}

    def excite(self, vectors, batch, out):
        raise HalFault("%s cannot excite" % self.medium)

    def set_static(self, packed, n):
        if n:
            raise HalFault("%s has no static elements" % self.medium)

    def safe(self):
        pass
