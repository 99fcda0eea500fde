"""`sim://MEDIUM?opts`: a medium computed in this process, no link at all."""
from __future__ import annotations

from urllib.parse import urlencode

from ..media import load_medium
from ..urls import DeviceURL
from .local import LocalDevice


def open(url: DeviceURL) -> LocalDevice:  # noqa: A001 - handler modules expose open(), like pyserial
    # The query stays in the device's url: checkpoints reopen the medium by it, seed and all.
    query = urlencode(url.options)
    full_url = f"sim://{url.target}" + (f"?{query}" if query else "")
    return LocalDevice(load_medium(url.target, **url.options), url=full_url)
