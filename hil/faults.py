"""Faults the suite's own tests inject from outside the device, beside the medium's (phyll.media.faults).

A device that resets on its own mid-run (a brown-out, a supervisor, another program on the port)
is rehearsed by `reset_behind_the_host`: a RESET frame written into the device's serial port from a
second descriptor while the host is idle, so the firmware really resets its counters, actuators and
reply cache. Its reply reaches the host as a frame no request of its own asked for, which the link
engine discards (counted in stale_replies), as it would any reply it did not ask for.
"""
from __future__ import annotations

import os
import random

from phyll import protocol as p
from phyll.protocol import MsgType


def reset_behind_the_host(port_path: str) -> None:
    """Write one RESET into the serial port at `port_path` (a pty or device node), then let go."""
    frame = p.encode_frame(MsgType.RESET, random.randrange(p.SEQ_MODULO), b"")
    fd = os.open(port_path, os.O_WRONLY | os.O_NOCTTY)
    try:
        written = 0
        while written < len(frame):
            written += os.write(fd, frame[written:])
    finally:
        os.close(fd)
