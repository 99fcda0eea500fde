"""Every HIL check fails on its fault, naming it, and passes without it.

Faults are injected into the emulator's medium (phyll.media.faults, as emu:// options), into its
link (link faults after '#'), from outside its port (a RESET written behind the host's back), or
come from a test peer broken in one point of the firmware's behaviour (tests/serial_peer.py,
tests/contract/broken_peers.py). Each fault runs only the group its check belongs to; the clean
runs run the same groups on the same rigs. docs/hil.md has this table.
"""
from __future__ import annotations

import dataclasses
import os
import re
import sys
from dataclasses import dataclass, field

import numpy as np
import pytest

from conftest import REPO

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # hil/ is a folder of the checkout, not installed

from contract import broken_peers  # noqa: E402
from contract.devices import contract_peer  # noqa: E402
from hil.faults import reset_behind_the_host  # noqa: E402
from hil.record import ERROR, FAIL, PASS, SKIP  # noqa: E402
from hil.rig import Rig  # noqa: E402
from hil.runner import Suite  # noqa: E402
from phyll.physical import ActuatorEncoding  # noqa: E402
from serial_peer import PeerDevice, serve_pty  # noqa: E402

METASURFACE = REPO / "hil" / "rigs" / "emu-metasurface.toml"
ACOUSTIC = REPO / "hil" / "rigs" / "emu-acoustic.toml"
# Shorter than the rig files' runs: the faults are gross, and CI runs every one of them.
QUICK = {"drift_s": 0.5, "latency_samples": 30, "throughput_passes": 512}


@dataclass(frozen=True)
class Fault:
    name: str
    base: object  # the rig file the fault is injected into
    option: str  # appended to the rig's URL: a medium option, or a link option after '#'
    only: tuple[str, ...]
    fails: dict[str, str]  # check -> what its message must say
    run: dict = field(default_factory=dict)


MEDIUM_FAULTS = [
    Fault("dead element", METASURFACE, "&dead_actuators=7", ("characterisation",),
          {"characterisation.response": r"actuator 7 moves no sensor"}),
    Fault("stuck element", METASURFACE, "&stuck_actuators=12", ("characterisation",),
          {"characterisation.response": r"actuator 12 moves no sensor \(dead, or stuck"}),
    Fault("dead sensor", METASURFACE, "&dead_sensors=4", ("characterisation",),
          {"characterisation.response": r"sensor 4 reads 0 whatever the drive"}),
    Fault("stuck sensor", METASURFACE, "&stuck_sensors=9", ("characterisation",),
          {"characterisation.response": r"sensor 9 reads [0-9.]+ whatever the drive \(dead or stuck\)"}),
    Fault("noisy channel", METASURFACE, "&noisy_sensors=5", ("characterisation",),
          {"characterisation.noise_floor": r"noisy channel: .* on sensor 5 \("}),
    Fault("crosstalk", METASURFACE, "&crosstalk=2>3", ("characterisation",),
          {"characterisation.crosstalk": r"crosstalk: sensors [23] and [23] read the same thing"}),
    Fault("clipping", ACOUSTIC, "&sensor_clip=0.5", ("characterisation",),
          {"characterisation.linearity": r"non-linear response \(clipping or saturation\?\)"}),
    Fault("drift ramp", METASURFACE, "&drift_ramp=720", ("characterisation",),
          {"characterisation.drift": r"drift: gain ramps beyond .* sensor 0 \+[0-9.]+ %/h"}, {"drift_s": 1.5}),
    Fault("slow replies", METASURFACE, "&latency=0.015", ("timing.latency", "timing.throughput"),
          {"timing.latency": r"slow replies: a one-pass round trip takes 1\d\.\d\d ms \(p50\)",
           "timing.throughput": r"slow device: \d+ passes/s"}, {"throughput_passes": 64}),
    Fault("jittery replies", METASURFACE, "&latency_jitter=0.15", ("timing.latency", "timing.jitter"),
          {"timing.jitter": r"jittery replies: one-pass round trips spread", "timing.latency": r"slow replies"}),
    Fault("link corruption", METASURFACE, "#flip=3e-4&fault_seed=1", ("timing",),
          {"timing.link_errors": r"link corruption: \d+ crc errors"}),
    Fault("physics does nothing", METASURFACE, "&dead_actuators=all", ("smoke",),
          {"smoke.smoke_run": r"the physics does not compute: [0-9.]+ % through the rig against 33\.3 % through a "
                              r"constant medium"}),
]


def fault_rig(base, url_suffix: str = "", run: dict | None = None, **changes) -> Rig:
    rig = Rig.load(base)
    return dataclasses.replace(rig, url=rig.url + url_suffix, run={**rig.run, **QUICK, **(run or {})}, **changes)


def outcomes(record) -> dict[str, tuple[str, str]]:
    return {check.full_name: (check.outcome, check.message) for check in record.checks}


def assert_fails_exactly(record, fails: dict[str, str]) -> None:
    found = outcomes(record)
    failed = {name for name, (outcome, _) in found.items() if outcome in (FAIL, ERROR)}
    assert failed == set(fails), f"failed {sorted(failed)}, expected {sorted(fails)}: {found}"
    for name, pattern in fails.items():
        assert re.search(pattern, found[name][1]), f"{name}: {found[name][1]!r} does not say {pattern!r}"


def assert_passes(record) -> None:
    bad = {name: result for name, result in outcomes(record).items() if result[0] not in (PASS, SKIP)}
    assert not bad, bad


@pytest.mark.parametrize("fault", [pytest.param(f, id=f.name) for f in MEDIUM_FAULTS])
def test_a_medium_or_link_fault_fails_its_check(fault):
    rig = fault_rig(fault.base, fault.option, fault.run)
    assert_fails_exactly(Suite(rig, list(fault.only)).run(), fault.fails)


@pytest.mark.parametrize("base, groups", [(METASURFACE, ["timing", "characterisation", "smoke"]),
                                          (ACOUSTIC, ["characterisation"])], ids=["metasurface", "acoustic"])
def test_the_same_groups_pass_without_a_fault(base, groups):
    record = Suite(fault_rig(base), groups).run()
    assert_passes(record)
    assert {c.full_name for c in record.checks if c.outcome == PASS} >= \
        {name for f in MEDIUM_FAULTS if f.base == base and set(f.only) <= set(groups) for name in f.fails}


@pytest.mark.parametrize("inject", [True, False], ids=["reset mid-run", "clean"])
def test_a_reset_mid_run_fails_continuity(inject):
    suite = Suite(fault_rig(METASURFACE), ["characterisation.noise_floor", "characterisation.drift", "safety"])

    def progress(line: str) -> None:
        if inject and line.endswith("characterisation.drift ..."):  # the device is idle between checks
            reset_behind_the_host(suite.session.device.emulator.path)

    suite.progress = progress
    record = suite.run()
    if inject:
        assert_fails_exactly(record, {"safety.continuity": r"reset mid-run: the device was reset between "
                                                           r"characterisation.noise_floor and characterisation.drift "
                                                           r"\((vectors \d+ -> \d+|STATUS vectors rose by)"})
    else:
        assert_passes(record)


class NoClampPeer(PeerDevice):
    """Applies every code as sent: no limits enforced, nothing counted."""

    def _excite(self, payload: bytes) -> bytes:
        low, high = self.code_low, self.code_high
        self.code_low, self.code_high = -32768, 32767
        try:
            return super()._excite(payload)
        finally:
            self.code_low, self.code_high = low, high


class NoisyPeer(PeerDevice):
    """The test peer with a little measurement noise, as every rig has (its clamp check compares
    readings against their repeat noise)."""

    def expected_codes(self, applied: np.ndarray) -> np.ndarray:
        if not hasattr(self, "noise"):
            self.noise = np.random.default_rng(5)
        codes = super().expected_codes(applied).astype(np.int32) + self.noise.integers(-3, 4, (len(applied), self.n_sensors))
        return codes.astype(np.int16)


@dataclass(frozen=True)
class PeerFault:
    name: str
    make: object  # () -> PeerDevice, the broken one
    only: tuple[str, ...]
    fails: dict[str, str]
    clean: object = None  # () -> the correct PeerDevice it differs from


# Limits inside the code range, so a drive beyond them can be sent (and, unclamped, acts).
NARROW = {"encoding": ActuatorEncoding("minmax", -0.5, 0.5), "actuator_scale": 1.0 / 32767}


def _peer(cls=NoisyPeer, **options):
    return lambda: cls(**{"watchdog_ms": 2000, **options})


class _NoisyTripsEveryPeriod(broken_peers.WatchdogTripsEveryPeriod, NoisyPeer):
    pass


class _NoisyResetCountedAfterZeroing(broken_peers.ResetCountedAfterZeroing, NoisyPeer):
    pass


class _NoisyNoClamp(NoClampPeer, NoisyPeer):
    pass


PEER_FAULTS = [
    PeerFault("watchdog off", _peer(watchdog_ms=0), ("safety.limits",), {"safety.limits": r"the watchdog is off"}),
    PeerFault("watchdog trips every period", _peer(_NoisyTripsEveryPeriod), ("safety.watchdog",),
              {"safety.watchdog": r"counted [2-9] trip\(s\) \(expected 1\)"}),
    PeerFault("no clamping", _peer(_NoisyNoClamp, **NARROW), ("safety.clamps",),
              {"safety.clamps": r"STATUS clamps counted 0; a drive beyond the limit measures unlike the limit"},
              clean=_peer(**NARROW)),
    PeerFault("RESET counted after zeroing", _peer(_NoisyResetCountedAfterZeroing), ("safety.reset",),
              {"safety.reset": r"after RESET STATUS reports frames_ok 2 \(expected 1"}),
    PeerFault("reply cache refreshed on a hit", lambda: contract_peer(broken_peers.LruReplyCache),
              ("conformance.cache_is_fifo",),
              {"conformance.cache_is_fifo": r"protocol contract point cache_is_fifo: .*must not refresh"},
              clean=contract_peer),
]


@pytest.fixture
def peer_rig(tmp_path):
    """A rig file around a test peer served on a pty: (make the rig for a peer, ...)."""
    served = []

    def rig_for(device: PeerDevice) -> Rig:
        server, path, slave = serve_pty(device)
        served.append((server, slave))
        rig = tmp_path / "peer.toml"
        rig.write_text(f'name = "test peer"\nurl = "{path}"\n[run]\nrepeats = 4\n')
        return Rig.load(rig)

    yield rig_for
    for server, slave in served:
        server.stop()
        os.close(slave)


@pytest.mark.parametrize("fault", [pytest.param(f, id=f.name) for f in PEER_FAULTS])
def test_a_broken_firmware_fails_its_check(fault, peer_rig):
    assert_fails_exactly(Suite(peer_rig(fault.make()), list(fault.only)).run(), fault.fails)
    clean = (fault.clean or _peer())()
    assert_passes(Suite(peer_rig(clean), list(fault.only)).run())


def test_a_rig_file_that_names_another_device_fails_identity():
    rig = fault_rig(METASURFACE, firmware={"kind": "cpp", "version": "phyll-cpp 9", "protocol": 1, "board": "unix"},
                    medium={**Rig.load(METASURFACE).medium, "sensors": 99})
    assert_fails_exactly(Suite(rig, ["conformance.identity"]).run(), {
        "conformance.identity": r"INFO runtime is 'micropython', the rig file expects 'cpp'.*INFO firmware is "
                                r"'phyll-mpy 0.1.0', the rig file expects 'phyll-cpp 9'.*INFO n_sensors is 20, the "
                                r"rig file expects 99"})
    assert_passes(Suite(fault_rig(METASURFACE), ["conformance.identity"]).run())
