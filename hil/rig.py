"""A rig description: what hardware exists and what it should do, apart from how to reach it.

A rig file is TOML, so a lab can comment it (a JSON file with the same keys is read too). SCHEMA
below is the whole format; docs/hil.md walks through it. Every key but `name` and one of `url` /
`place` has a default. An unknown key or a value of the wrong type is a RigError naming the file
and the key. A rig that names a `board_file` is checked against what that board file builds
(hil/board_file.py): its counts, encoder, statics, board name and watchdog.

    name = "pico-acoustic-box"
    url = "/dev/ttyACM0"                     # or: place = "acoustic-7" (a labgrid place)
    board_file = "pico_acoustic"
    [firmware]  kind = "micropython"   version = "phyll-mpy 0.1.0"
    [medium]    kind = "acoustic"   actuators = 20   sensors = 20   encoder = "l2"
    [safety]    actuator_low = -1.0   actuator_high = 1.0   watchdog_ms = 2000
    [envelope]  noise_floor = 0.02   latency_p99_ms = 80   min_passes_per_s = 15   smoke_margin = 20
    [run]       drift_s = 60
"""
from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from .board_file import BoardFileError, board_info, board_path

CHANNELS = "channels"  # a number for every channel, or a list with one per channel


@dataclass(frozen=True)
class Key:
    kind: type | str
    default: object = None
    doc: str = ""
    choices: tuple = ()
    minimum: float | None = None


SCHEMA: dict[str, dict[str, Key] | Key] = {
    "name": Key(str, doc="what the rig is, in reports"),
    "url": Key(str, doc="device URL: a serial port, a pyserial URL, emu://..., sim://..., labgrid://PLACE"),
    "place": Key(str, doc="a labgrid place to acquire instead of a url"),
    "coordinator": Key(str, doc="labgrid coordinator HOST:PORT for `place` (default: LG_COORDINATOR)"),
    "board_file": Key(str, doc="MicroPython board file (bundled name or path) the rig runs: checked against this file"),
    "notes": Key(str, doc="free text"),
    "firmware": {
        "kind": Key(str, choices=("micropython", "cpp"), doc="which firmware answers (INFO runtime)"),
        "version": Key(str, doc='INFO "firmware", e.g. "phyll-mpy 0.1.0"'),
        "protocol": Key(int, 1, "protocol version the device must negotiate", minimum=1),
        "board": Key(str, doc='INFO "board" (default: the board file\'s BOARD)'),
    },
    "medium": {
        "kind": Key(str, doc='INFO "medium": acoustic, metasurface, ...'),
        "actuators": Key(int, doc="INFO n_actuators", minimum=1),
        "sensors": Key(int, doc="INFO n_sensors", minimum=1),
        "encoder": Key(str, choices=("l2", "minmax", "bits"), doc="INFO encoding.encoder"),
        "static": Key(int, doc="INFO n_static", minimum=0),
        "silent_sensors": Key(list, [], "sensors that carry no signal by design (not reported as dead)"),
        "silent_actuators": Key(list, [], "actuators that move no sensor by design (not reported as dead)"),
    },
    "safety": {
        "actuator_low": Key(float, doc="lowest drive the hardware tolerates: the device must clamp at or above it"),
        "actuator_high": Key(float, doc="highest drive the hardware tolerates: the device must clamp at or below it"),
        "watchdog_ms": Key(int, 5000, "the watchdog must be on and at most this", minimum=1),
    },
    "envelope": {
        "noise_floor": Key(CHANNELS, doc="largest repeat noise per channel (std of identical passes, sensor units)"),
        "latency_p50_ms": Key(float, doc="largest median time of a one-pass round trip", minimum=0),
        "latency_p99_ms": Key(float, doc="largest 99th percentile of a one-pass round trip", minimum=0),
        "jitter_ms": Key(float, doc="largest p99 - p50 of one-pass round trips", minimum=0),
        "min_passes_per_s": Key(float, doc="fewest passes per second at the device's max_batch", minimum=0),
        "link_errors": Key(int, 0, "most link errors (re-sends, damaged frames, timeouts) in the timing group",
                           minimum=0),
        "min_response": Key(float, 3.0, "an actuator or sensor responds when its effect is this many times "
                            "its noise", minimum=0),
        "min_linearity": Key(CHANNELS, doc="smallest held-out R^2 of a linear fit per channel"),
        "max_crosstalk": Key(float, 0.99, "largest |correlation| of two sensors across drives", minimum=0),
        "drift_per_hour": Key(float, doc="largest gain change per hour of any channel (a fraction)", minimum=0),
        "smoke_margin": Key(float, 20.0, "points the smoke run must beat its constant-medium control by"),
        "smoke_min_accuracy": Key(float, doc="test accuracy (%) the smoke run must reach", minimum=0),
    },
    "run": {
        "probes": Key(int, 16, "drives per characterisation measurement", minimum=2),
        "repeats": Key(int, 8, "repeats of each drive for the noise floor", minimum=2),
        "fit_drives": Key(int, 0, "random drives for linearity and crosstalk (0: 6 per actuator)", minimum=0),
        "latency_samples": Key(int, 200, "one-pass round trips timed", minimum=10),
        "throughput_passes": Key(int, 4096, "passes timed at max_batch", minimum=1),
        "drift_s": Key(float, 3.0, "how long the drift is followed (seconds)", minimum=0),
        "drift_every_s": Key(float, 0.2, "how often the drift reference is measured", minimum=0),
        "watchdog_test_ms": Key(int, 250, "the watchdog the safety group trips", minimum=1),
        "smoke_dataset": Key(str, "builtin:iris", "dataset of the smoke run"),
        "smoke_epochs": Key(int, 15, "epochs of the smoke run", minimum=1),
        "seed": Key(int, 0, "seed of every random drive and of the smoke run", minimum=0),
    },
}


class RigError(ValueError):
    """A rig file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Rig:
    name: str
    url: str = ""
    place: str = ""
    coordinator: str = ""
    board_file: str = ""
    notes: str = ""
    firmware: dict = field(default_factory=dict)
    medium: dict = field(default_factory=dict)
    safety: dict = field(default_factory=dict)
    envelope: dict = field(default_factory=dict)
    run: dict = field(default_factory=dict)
    source: str = ""
    board_info: dict | None = None  # what the board file builds, if one is named

    @classmethod
    def load(cls, path: str | Path) -> "Rig":
        path = Path(path)
        document = _read(path)
        values = _check(document, SCHEMA, path, "")
        if not values.get("url") and not values.get("place"):
            raise RigError(f"rig file {path} needs a device: url = \"...\" or place = \"...\" (a labgrid place)")
        if values.get("url") and values.get("place"):
            raise RigError(f"rig file {path} names both url and place; give one")
        rig = cls(**{k: v for k, v in values.items() if not isinstance(v, dict)},
                  **{k: v for k, v in values.items() if isinstance(v, dict)}, source=str(path))
        rig._check_channels(path)
        if rig.board_file:
            object.__setattr__(rig, "board_info", rig._check_board(path))
        return rig

    @property
    def device_url(self) -> str:
        """The URL the suite opens: `url`, or the labgrid place as a labgrid:// URL."""
        if self.url:
            return self.url
        query = f"?coordinator={self.coordinator}" if self.coordinator else ""
        return f"labgrid://{self.place}{query}"

    def describe(self) -> dict:
        return {"name": self.name, "source": self.source, "device": self.device_url,
                "board_file": self.board_file or None, "firmware": self.firmware, "medium": self.medium,
                "safety": self.safety, "envelope": self.envelope, "run": self.run}

    def _check_channels(self, path: Path) -> None:
        sensors = self.medium.get("sensors")
        for key in ("noise_floor", "min_linearity"):
            value = self.envelope.get(key)
            if isinstance(value, list) and sensors is not None and len(value) != sensors:
                raise RigError(f"rig file {path}: envelope.{key} has {len(value)} values, but medium.sensors is {sensors}")
        for key, count in (("silent_sensors", sensors), ("silent_actuators", self.medium.get("actuators"))):
            bad = [i for i in self.medium[key] if not isinstance(i, int) or isinstance(i, bool)
                   or i < 0 or (count is not None and i >= count)]
            if bad:
                raise RigError(f"rig file {path}: medium.{key} holds {bad}, not indices"
                               + (f" in 0..{count - 1}" if count else ""))

    def _check_board(self, path: Path) -> dict:
        try:
            info = board_info(board_path(self.board_file, path.parent))
        except BoardFileError as exc:
            raise RigError(f"rig file {path}: board_file: {exc}") from None
        wrong = [f"{key} = {self._value(key)!r}, but the board file builds {built!r} (INFO {what})"
                 for key, what, built in _board_facts(info) if self._value(key) not in (None, built)]
        watchdog = self.safety["watchdog_ms"]
        if not 0 < info["watchdog_ms"] <= watchdog:
            wrong.append(f"safety.watchdog_ms = {watchdog}, but the board file sets a watchdog of "
                         f"{info['watchdog_ms']} ms (INFO watchdog_ms)")
        if wrong:
            raise RigError(f"rig file {path} does not match board file {self.board_file}: " + "; ".join(wrong))
        if self.firmware.get("board") is None:
            self.firmware["board"] = info["board"]
        return info

    def _value(self, dotted: str):
        section, _, key = dotted.partition(".")
        return getattr(self, section).get(key)


def _board_facts(info: dict) -> list[tuple[str, str, object]]:
    """(rig key, INFO key, what the board file builds) for every rig key a board file decides."""
    return [("medium.actuators", "n_actuators", info["n_actuators"]),
            ("medium.sensors", "n_sensors", info["n_sensors"]),
            ("medium.static", "n_static", info.get("n_static", 0)),
            ("medium.encoder", "encoding.encoder", info["encoding"]["encoder"]),
            ("medium.kind", "medium", info["medium"]),
            ("firmware.board", "board", info["board"]),
            ("firmware.version", "firmware", info["firmware"]),
            ("safety.actuator_low", "encoding.low", info["encoding"]["low"]),
            ("safety.actuator_high", "encoding.high", info["encoding"]["high"])]


def _read(path: Path) -> dict:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise RigError(f"rig file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RigError(f"rig file {path} cannot be read: {exc}") from None
    try:
        return json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except json.JSONDecodeError as exc:
        raise RigError(f"rig file {path} is not valid JSON: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise RigError(f"rig file {path} is not valid TOML: {exc}") from None


def _check(document: dict, schema: dict, path: Path, prefix: str) -> dict:
    """The document's values with defaults filled in; every key checked against `schema`."""
    unknown = sorted(set(document) - set(schema))
    if unknown:
        known = ", ".join(sorted(schema))
        raise RigError(f"rig file {path}: unknown key {prefix}{unknown[0]} (known{' in [' + prefix[:-1] + ']' if prefix else ''}: {known})")
    values: dict = {}
    for name, spec in schema.items():
        where = f"{prefix}{name}"
        given = document.get(name)
        if isinstance(spec, dict):
            if given is not None and not isinstance(given, dict):
                raise RigError(f"rig file {path}: {where} must be a table [{where}], got {given!r}")
            values[name] = _check(given or {}, spec, path, f"{where}.")
            continue
        values[name] = spec.default if given is None else _value(given, spec, path, where)
        if isinstance(values[name], list):
            values[name] = list(values[name])
    if "name" in schema and not values.get("name"):
        raise RigError(f"rig file {path} needs a name = \"...\"")
    return values


def _value(given, spec: Key, path: Path, where: str):
    def wrong(expected: str) -> RigError:
        return RigError(f"rig file {path}: {where} must be {expected}, got {given!r}")

    def number(value) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)

    if spec.kind is str:
        if not isinstance(given, str):
            raise wrong("a string")
        if spec.choices and given not in spec.choices:
            raise wrong(f"one of {', '.join(spec.choices)}")
        return given
    if spec.kind is int and (not isinstance(given, int) or isinstance(given, bool)):
        raise wrong("a whole number")
    if spec.kind is float and not number(given):
        raise wrong("a number")
    if spec.kind is list:
        if not isinstance(given, list):
            raise wrong("a list")
        return given
    if spec.kind == CHANNELS:
        if isinstance(given, list):
            if not given or not all(number(v) for v in given):
                raise wrong("a number or a list of numbers, one per channel")
            return [float(v) for v in given]
        if not number(given):
            raise wrong("a number or a list of numbers, one per channel")
        return float(given)
    if spec.minimum is not None and given < spec.minimum:
        raise wrong(f">= {spec.minimum:g}")
    return float(given) if spec.kind is float else given
