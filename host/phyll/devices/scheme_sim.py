"""`sim://MEDIUM?opts`: a medium computed in this process, no link at all."""
from __future__ import annotations

from ..media import load_medium
from ..urls import DeviceURL
from .local import LocalDevice


def open(url: DeviceURL) -> LocalDevice:  # noqa: A001 - handler modules expose open(), like pyserial
    return LocalDevice(load_medium(url.target, **url.options), url=f"sim://{url.target}")
