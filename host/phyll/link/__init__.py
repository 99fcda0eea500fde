"""The host's one link to a device: ports, the engine that drives them, link options and faults.

    open_port(url, options) -> Port     ports.py: non-blocking bytes on any pyserial port
    LinkEngine(port, url, retries)      engine.py: pipelined requests, re-sends, counters
    split_link_options(url)             options.py: phyll's options from the URL's #fragment
    FaultPlan                           faults.py: seeded damage between engine and port

Each layer knows only the one below it: the engine knows ports and frames (phyll.protocol),
devices/serial_device.py knows the engine and what the frames carry. docs/link.md.
"""
from .engine import LinkCounters, LinkEngine
from .faults import FaultPlan
from .options import LINK_OPTION_NAMES, LinkOptions, split_link_options
from .ports import open_port

__all__ = ["LINK_OPTION_NAMES", "FaultPlan", "LinkCounters", "LinkEngine", "LinkOptions", "open_port",
           "split_link_options"]
