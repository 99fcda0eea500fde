"""A rig description: what hardware exists and what it should do, apart from how to reach it.

A rig file (JSON) names the device URL and what the HIL suite may expect of it:

    {"name": "pico-acoustic-box", "url": "/dev/ttyACM0",
     "expect": {"n_actuators": 20, "n_sensors": 20, "encoder": "l2"},
     "limits": {"repeat_noise": 0.15, "min_accuracy": 80}}

`limits.repeat_noise` is the largest relative difference allowed between two measurements of the
same actuation; `limits.min_accuracy` the test accuracy (%) a short training run must reach.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

_LIMIT_DEFAULTS = {"repeat_noise": 0.2, "min_accuracy": 80.0, "train_epochs": 40}


class RigError(ValueError):
    """A rig file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Rig:
    name: str
    url: str
    expect: dict = field(default_factory=dict)
    limits: dict = field(default_factory=dict)
    source: str = ""

    @classmethod
    def load(cls, path: str | Path) -> "Rig":
        path = Path(path)
        try:
            document = json.loads(path.read_text())
        except FileNotFoundError:
            raise RigError(f"rig file {path} does not exist") from None
        except json.JSONDecodeError as exc:
            raise RigError(f"rig file {path} is not valid JSON: {exc}") from None
        for key in ("name", "url"):
            if not isinstance(document.get(key), str) or not document[key]:
                raise RigError(f"rig file {path} needs a string {key!r}")
        unknown = set(document) - {"name", "url", "expect", "limits", "notes"}
        if unknown:
            raise RigError(f"rig file {path} has unknown field(s) {sorted(unknown)}")
        limits = {**_LIMIT_DEFAULTS, **document.get("limits", {})}
        bad = set(limits) - set(_LIMIT_DEFAULTS)
        if bad:
            raise RigError(f"rig file {path}: unknown limit(s) {sorted(bad)}; known: {sorted(_LIMIT_DEFAULTS)}")
        return cls(document["name"], document["url"], dict(document.get("expect", {})), limits, str(path))
