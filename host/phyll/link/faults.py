"""Link faults: seeded damage between the link engine and any port, in the spirit of pyserial's
`spy://` wrapper, so a fault matrix runs against every kind of device (`emu://`, a pty, a board).

Given as link options in a device URL's fragment (docs/link.md):

    emu://acoustic#flip=1e-5&drop=1e-6&fault_seed=3
    /dev/ttyACM0#junk_rx=1e-4&stall_every=1000000&stall_s=0.3

Rates are per byte. `flip` replaces a byte with another, `drop` loses it, `junk` inserts a random
byte before it; every `stall_every` bytes the direction stops for `stall_s` seconds, as a USB
hub, a congested network or a host process that stops reading does: a stalled `_rx` direction
reads nothing from the port, so the device meets a full buffer when it writes. A name alone sets both directions;
`_tx` (host to device) or `_rx` (device to host) sets one. The damage is drawn from
`fault_seed`, so a run can be repeated byte for byte against the same device behaviour.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, fields, replace

import numpy as np

_KINDS = ("flip", "drop", "junk", "stall_every", "stall_s")
_DIRECTIONS = ("tx", "rx")


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class Damage:
    """What happens to the bytes of one direction."""

    flip: float = 0.0
    drop: float = 0.0
    junk: float = 0.0
    stall_every: float = 0.0  # bytes between stalls; 0: never
    stall_s: float = 0.0

    def __post_init__(self) -> None:
        for name in ("flip", "drop", "junk"):
            value = getattr(self, name)
            if not _number(value) or not 0.0 <= value <= 1.0:
                raise ValueError(f"link fault {name} is a probability per byte in [0, 1], got {value!r}")
        for name in ("stall_every", "stall_s"):
            value = getattr(self, name)
            if not _number(value) or value < 0:
                raise ValueError(f"link fault {name} must be a number >= 0, got {value!r}")
        if bool(self.stall_every) != bool(self.stall_s):
            raise ValueError("link faults stall_every and stall_s go together (bytes between stalls, "
                             f"seconds per stall), got stall_every={self.stall_every}, stall_s={self.stall_s}")

    @property
    def active(self) -> bool:
        return bool(self.flip or self.drop or self.junk or self.stall_every)


@dataclass(frozen=True)
class FaultPlan:
    tx: Damage = Damage()
    rx: Damage = Damage()
    seed: int = 0

    @property
    def active(self) -> bool:
        return self.tx.active or self.rx.active

    @staticmethod
    def option_names() -> frozenset[str]:
        both = set(_KINDS)
        one = {f"{kind}_{direction}" for kind in _KINDS for direction in _DIRECTIONS}
        return frozenset(both | one | {"fault_seed"})

    def with_settings(self, **settings) -> "FaultPlan":
        plan = {"tx": {}, "rx": {}}
        for name, value in settings.items():
            if name == "fault_seed":
                continue
            kind, _, direction = name.rpartition("_") if name.endswith(("_tx", "_rx")) else (name, "", "")
            for side in (direction,) if direction else _DIRECTIONS:
                plan[side][kind] = value
        seed = settings.get("fault_seed", self.seed)
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"link fault fault_seed must be a whole number >= 0, got {seed!r}")
        return FaultPlan(replace(self.tx, **plan["tx"]), replace(self.rx, **plan["rx"]), seed)

    def describe(self) -> dict:
        return {"seed": self.seed, **{side: {f.name: getattr(getattr(self, side), f.name) for f in fields(Damage)}
                                      for side in _DIRECTIONS}}


class _Strikes:
    """Where one kind of damage strikes a byte stream at a given rate per byte, and with what
    byte: each strike draws its distance from the last one (geometric) and its value (low..255)
    together, as it is reached, so the n-th byte's fate does not depend on how the bytes are cut
    into reads and writes, and clean bytes cost no draws."""

    def __init__(self, rate: float, rng: np.random.Generator, low: int = 0) -> None:
        self.rate = rate
        self.rng = rng
        self.low = low
        self._next, self._value = (-1, 0)
        if rate:
            self._draw(-1)

    def _draw(self, last: int) -> None:
        self._next = last + int(self.rng.geometric(self.rate))
        self._value = int(self.rng.integers(self.low, 256))

    def take(self, size: int) -> tuple[list[int], list[int]]:
        """Offsets struck among the next `size` bytes, and their values."""
        if not self.rate:
            return [], []
        offsets, values = [], []
        while self._next < size:
            offsets.append(self._next)
            values.append(self._value)
            self._draw(self._next)
        self._next -= size
        return offsets, values


class _Direction:
    """Damage applied to one direction's bytes, with its own random streams and counters.

    Each kind of damage has a stream of its own (_Strikes); a flipped byte is xor-ed with
    1..255, an inserted one is 0..255.
    """

    def __init__(self, damage: Damage, seed: np.random.SeedSequence) -> None:
        self.damage = damage
        self._strikes = {kind: _Strikes(getattr(damage, kind), np.random.default_rng(s), low=int(kind == "flip"))
                         for kind, s in zip(("flip", "drop", "junk"), seed.spawn(3))}
        self.counts = {"bytes": 0, "flipped": 0, "dropped": 0, "junk": 0, "stalls": 0}
        self._until_stall = damage.stall_every or float("inf")
        self.stalled_until = 0.0

    def apply(self, data: bytes) -> bytes:
        d = self.damage
        self.counts["bytes"] += len(data)
        self._until_stall -= len(data)
        if self._until_stall <= 0:
            self._until_stall += d.stall_every
            self.stalled_until = time.monotonic() + d.stall_s
            self.counts["stalls"] += 1
        if not (d.flip or d.drop or d.junk) or not data:
            return data
        size = len(data)
        (flipped, flips), (dropped, _), (junk, values) = (self._strikes[kind].take(size)
                                                          for kind in ("flip", "drop", "junk"))
        if not (flipped or dropped or junk):
            return data
        array = np.frombuffer(data, np.uint8).copy()
        if flipped:
            array[flipped] ^= np.array(flips, np.uint8)  # 1..255: never a no-op
            self.counts["flipped"] += len(flipped)
        kept = np.ones(size, bool)
        kept[dropped] = False
        self.counts["dropped"] += len(dropped)
        if junk:
            array = np.insert(array, junk, np.array(values, np.uint8))  # each before the byte at its offset
            kept = np.insert(kept, junk, True)  # inserted bytes are never the dropped ones
            self.counts["junk"] += len(junk)
        return array[kept].tobytes()

    def stalled(self, now: float) -> float:
        """Seconds this direction stays stalled from `now` (0 if it flows)."""
        return max(self.stalled_until - now, 0.0)


class FaultyPort:
    """A Port (ports.py) whose bytes are damaged on the way through, both ways.

    Outgoing bytes are taken whole, damaged, and kept here until the port takes them;
    incoming ones are damaged as they are read. A stalled direction holds its bytes.
    """

    def __init__(self, port, plan: FaultPlan) -> None:
        self.port = port
        self.plan = plan
        self.url = port.url
        self.pipelined = port.pipelined
        seed_tx, seed_rx = np.random.SeedSequence(plan.seed).spawn(2)
        self._tx = _Direction(plan.tx, seed_tx)
        self._rx = _Direction(plan.rx, seed_rx)
        self._out = bytearray()
        self._held_in = bytearray()

    def read(self) -> bytes | None:
        """What wait() took from the port, once its direction flows."""
        if not self._held_in or self._rx.stalled(time.monotonic()):
            return None
        data = bytes(self._held_in)
        self._held_in.clear()
        return data

    def write(self, data) -> int:
        self._out += self._tx.apply(bytes(data))
        self._flush()
        return len(data)

    def _flush(self) -> None:
        if self._out and not self._tx.stalled(time.monotonic()):
            del self._out[:self.port.write(self._out)]

    def wait(self, want_write: bool, timeout: float) -> tuple[bool, bool]:
        """The engine can always write here (write() takes everything); what waits is the port.
        Whatever the port has is read here, damaged, and held until its direction flows; while
        the receiving direction is stalled the port is not read at all."""
        now = time.monotonic()
        if self._held_in and not self._rx.stalled(now):
            return True, want_write
        if self._rx.stalled(now):  # nothing is read; what is to be written still goes
            timeout = min(max(timeout, 0.0), self._rx.stalled(now))
            if self._out and not self._tx.stalled(now):
                self.port.wait(True, timeout, want_read=False)
            else:
                time.sleep(timeout)
            self._flush()
            return bool(self._held_in) and not self._rx.stalled(time.monotonic()), want_write
        stalls = [left for left in (self._tx.stalled(now), self._rx.stalled(now)) if left]
        if stalls:
            timeout = min(timeout, *stalls)  # wake when a stall ends, to release what it held
        flushing = bool(self._out) and not self._tx.stalled(now)
        readable, _ = self.port.wait(flushing, timeout)
        self._flush()  # what the port has room for, or what a stall that just ended held
        if readable:
            data = self.port.read()  # a hang-up raises here, as it would for the engine
            if data:
                self._held_in += self._rx.apply(data)
        return bool(self._held_in) and not self._rx.stalled(time.monotonic()), want_write

    def discard_input(self) -> None:
        self._held_in.clear()
        self.port.discard_input()

    def close(self) -> None:
        self.port.close()

    def describe(self) -> dict:
        return {**self.port.describe(), "faults": {**self.plan.describe(),
                                                  "tx_counts": dict(self._tx.counts),
                                                  "rx_counts": dict(self._rx.counts)}}

