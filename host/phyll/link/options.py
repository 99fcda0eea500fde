"""Link options: phyll's own settings for a link, kept apart from the port's URL.

They live in the URL's fragment, after `#`, so they can never clash with a pyserial URL's own
query (`rfc2217://host:port?ign_set_control#timeout=5&retries=5`), with an `emu://` URL's
medium options (`emu://acoustic?seed=3#in_flight=2`), or with a port path
(`/dev/ttyACM0#baudrate=921600`). The fragment is removed before the port is opened: pyserial
never sees it. docs/link.md lists every option.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from urllib.parse import parse_qsl

from ..urls import parse_value
from .faults import FaultPlan

DEFAULT_BAUDRATE = 115200


@dataclass(frozen=True)
class LinkOptions:
    """timeout: seconds a request may wait for its reply, plus batch x (settle_us + per_vector);
    retries: re-sends per request before LinkError; in_flight: cap on pipelined requests (the
    device's INFO value is the upper bound); baudrate: for a real UART (USB-CDC ignores it);
    exclusive: lock the port against a second program (where the OS allows); faults: damage
    injected between the engine and the port (faults.py)."""

    timeout: float = 2.0
    per_vector: float = 0.02
    retries: int = 3
    in_flight: int | None = None
    baudrate: int = DEFAULT_BAUDRATE
    exclusive: bool = True
    faults: FaultPlan = field(default_factory=FaultPlan)

    def __post_init__(self) -> None:
        problems = []
        if not _number(self.timeout) or self.timeout <= 0:
            problems.append(f"timeout must be a number of seconds > 0, got {self.timeout!r}")
        if not _number(self.per_vector) or self.per_vector < 0:
            problems.append(f"per_vector must be a number of seconds >= 0, got {self.per_vector!r}")
        if not _whole(self.retries) or self.retries < 0:
            problems.append(f"retries must be a whole number >= 0, got {self.retries!r}")
        if self.in_flight is not None and (not _whole(self.in_flight) or self.in_flight < 1):
            problems.append(f"in_flight must be a whole number >= 1, got {self.in_flight!r}")
        if not _whole(self.baudrate) or self.baudrate <= 0:
            problems.append(f"baudrate must be a whole number > 0, got {self.baudrate!r}")
        if not isinstance(self.exclusive, bool):
            problems.append(f"exclusive must be true or false, got {self.exclusive!r}")
        if problems:
            raise ValueError("link option " + "; ".join(problems))

    def with_settings(self, **settings) -> "LinkOptions":
        """These options with `settings` applied: link option names, or fault names (faults.py)."""
        link = {k: v for k, v in settings.items() if k in LINK_OPTION_NAMES}
        damage = {k: v for k, v in settings.items() if k not in LINK_OPTION_NAMES}
        unknown = sorted(k for k in damage if k not in FaultPlan.option_names())
        if unknown:
            raise ValueError(f"unknown link option(s) {unknown}; link options are "
                             f"{sorted(LINK_OPTION_NAMES)}, link faults {sorted(FaultPlan.option_names())} "
                             "(docs/link.md)")
        faults = self.faults.with_settings(**damage) if damage else self.faults
        return replace(self, **link, faults=faults)


LINK_OPTION_NAMES = frozenset(f.name for f in fields(LinkOptions)) - {"faults"}


def split_link_options(url: str, base: LinkOptions | None = None) -> tuple[str, LinkOptions]:
    """(the URL without its fragment, `base` with the fragment's options applied)."""
    address, _, fragment = url.partition("#")
    options = base or LinkOptions()
    if not fragment:
        return address, options
    settings = {key: parse_value(value) for key, value in parse_qsl(fragment, keep_blank_values=True)}
    try:
        return address, options.with_settings(**settings)
    except ValueError as exc:
        raise ValueError(f"{url!r}: {exc}") from None


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
