"""Device URL parsing shared by every scheme: `scheme://target?key=value&...#link-options`.

The query belongs to the scheme (a medium's options for sim:// and emu://); the fragment holds
phyll's link options for devices reached over a link (phyll.link.options, docs/link.md).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit


def parse_value(text: str):
    """URL option values are typed by their look: int, float, bool, else str."""
    lowered = text.lower()
    if lowered in ("true", "yes", "on"):
        return True
    if lowered in ("false", "no", "off"):
        return False
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


@dataclass
class DeviceURL:
    scheme: str
    target: str
    options: dict = field(default_factory=dict)
    fragment: str = ""  # link options, unparsed: phyll.link.options reads them

    @classmethod
    def parse(cls, url: str) -> "DeviceURL":
        if "://" not in url:
            path, _, fragment = url.partition("#")
            return cls("serial", path, {}, fragment)
        parts = urlsplit(url)
        target = parts.netloc + parts.path
        options = {k: parse_value(v) for k, v in parse_qsl(parts.query, keep_blank_values=True)}
        return cls(parts.scheme, target, options, parts.fragment)
