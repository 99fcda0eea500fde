"""Units of the link room (host/phyll/link): options from a URL's fragment, seeded faults, ports."""
from __future__ import annotations

import os

import numpy as np
import pytest

from phyll.link import LinkOptions, open_port, split_link_options
from phyll.link.faults import Damage, FaultPlan, _Direction
from phyll.link.engine import LinkEngine, _Job
from phyll.link.ports import ChunkPort, DescriptorPort
from phyll.protocol import LinkError


def test_the_fragment_holds_phylls_options_and_the_query_stays_pyserials():
    url, options = split_link_options("rfc2217://rig:4000?ign_set_control#timeout=5&retries=0&in_flight=2")
    assert url == "rfc2217://rig:4000?ign_set_control"
    assert (options.timeout, options.retries, options.in_flight) == (5, 0, 2)
    url, options = split_link_options("/dev/ttyACM0")
    assert url == "/dev/ttyACM0" and options == LinkOptions()
    _, options = split_link_options("/dev/ttyUSB0#baudrate=921600&exclusive=false")
    assert (options.baudrate, options.exclusive) == (921600, False)


@pytest.mark.parametrize("fragment, message", [
    ("timeout=0", "timeout must be a number of seconds > 0"),
    ("retries=1.5", "retries must be a whole number >= 0"),
    ("in_flight=0", "in_flight must be a whole number >= 1"),
    ("exclusive=maybe", "exclusive must be true or false"),
    ("speed=3", r"unknown link option\(s\) \['speed'\]"),
    ("drop=-1", r"drop is a probability per byte in \[0, 1\]"),
    ("fault_seed=-2", "fault_seed must be a whole number >= 0"),
])
def test_bad_link_options_name_the_option_and_what_is_accepted(fragment, message):
    with pytest.raises(ValueError, match=message):
        split_link_options(f"/dev/ttyACM0#{fragment}")


def test_fault_names_set_both_directions_or_one():
    plan = FaultPlan().with_settings(flip=1e-3, drop_rx=2e-3, fault_seed=4)
    assert (plan.tx.flip, plan.rx.flip, plan.tx.drop, plan.rx.drop, plan.seed) == (1e-3, 1e-3, 0.0, 2e-3, 4)
    assert plan.active and not FaultPlan().active


def test_damage_depends_on_the_bytes_not_on_how_they_are_cut():
    data = np.random.default_rng(0).integers(0, 256, 200_000, dtype=np.uint8).tobytes()
    damage = Damage(flip=1e-3, drop=1e-3, junk=1e-3)
    whole = _Direction(damage, np.random.SeedSequence(7)).apply(data)
    cut = _Direction(damage, np.random.SeedSequence(7))
    bounds = np.sort(np.random.default_rng(1).integers(0, len(data), 300))
    pieces = b"".join(cut.apply(data[a:b]) for a, b in zip([0, *bounds], [*bounds, len(data)]))
    assert pieces == whole and whole != data
    assert cut.counts["flipped"] > 0 and cut.counts["dropped"] > 0 and cut.counts["junk"] > 0
    assert len(whole) == len(data) - cut.counts["dropped"] + cut.counts["junk"]


@pytest.mark.parametrize("rate", [1e-5, 1e-4, 1e-3, 1e-2])
def test_the_error_rate_per_byte_is_estimated_from_round_trips_of_mixed_sizes(rate):
    # 256 round trips of the sizes a shrinking frame goes through, each arriving whole with
    # probability (1 - rate) ** bytes; the estimate is a maximum likelihood, within its spread
    engine = LinkEngine(port=None, url="test://", retries=3)
    rng = np.random.default_rng(int(-np.log10(rate)))
    sizes = rng.choice([116, 436, 1636, 6436, 32756], 4096)
    damaged = rng.random(sizes.size) > (1 - rate) ** sizes
    for size, hit in zip(sizes, damaged):
        engine._judge(_Job(0, 0x03, 0, bytes(int(size) // 2), 0.0), damaged=bool(hit))
    recent = damaged[-256:]
    assert 0 < recent.sum() < recent.size
    assert engine.error_per_byte() == pytest.approx(rate, rel=0.4)


def test_the_error_rate_of_a_clean_link_is_zero_and_of_one_damaging_all_an_even_chance():
    engine = LinkEngine(port=None, url="test://", retries=3)
    job = _Job(0, 0x03, 0, bytes(250), 0.0)  # 250 bytes out, as many back: 500 a round trip
    engine._judge(job, damaged=False)
    assert engine.error_per_byte() == 0.0
    for _ in range(256):
        engine._judge(job, damaged=True)
    # no rate is most likely when every round trip is damaged; the one at which 256 round trips
    # of 500 bytes all come back damaged with probability 1/2: (1 - 0.9882 ** 500) ** 256 = 0.5
    rate = engine.error_per_byte()
    assert (1 - (1 - rate) ** 500) ** 256 == pytest.approx(0.5, abs=0.01) and rate == pytest.approx(0.0118, rel=0.01)


def test_a_pty_that_hung_up_before_its_first_flush_is_a_link_error():
    # an emulated firmware that exits at once can hang its pty up between open and the flush
    # before HELLO: tcflush then fails with EIO (termios.error, not an OSError)
    master, slave = os.openpty()
    port = open_port(os.ttyname(slave), LinkOptions())
    os.close(master)
    os.close(slave)
    try:
        with pytest.raises(LinkError, match="cannot flush the port.*Input/output error"):
            port.discard_input()
    finally:
        port.close()


def test_ports_are_chosen_by_whether_they_have_a_descriptor():
    master, slave = os.openpty()
    try:
        path = os.ttyname(slave)
        port = open_port(path, LinkOptions())
        assert isinstance(port, DescriptorPort) and port.pipelined
        assert port._fd_io >= 0  # pyserial's own posix class: read and written directly
        port.close()
        port = open_port(f"spy://{path}?file=/dev/null", LinkOptions())
        assert isinstance(port, DescriptorPort) and port._fd_io < 0  # the wrapper sees every byte
        port.close()
    finally:
        os.close(master)
        os.close(slave)
    port = open_port("loop://", LinkOptions())
    assert isinstance(port, ChunkPort) and not port.pipelined  # its writes may block: stop-and-wait
    port.write(b"echo")
    assert port.wait(False, 1.0) == (True, False) and port.read() == b"echo"
    assert port.wait(False, 0.05) == (False, False) and port.read() is None
    port.close()
