"""The board column: --rig picks the device (hil/rig.py's rig files), its absence skips the
column with the reason, and the HIL suite's --rig is the same option when both suites run."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from serial_peer import serve_pty

from .devices import REPO, contract_peer

POINTS = "test_point and board and (version_negotiation or status_keys)"


def run_suite(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PHYLL_RIG"}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                           "tests/contract/test_contract.py", *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def peer_rig(tmp_path):
    """A rig file whose device is the test peer on a pty."""
    server, path, slave = serve_pty(contract_peer())
    rig = tmp_path / "peer-rig.json"
    rig.write_text(json.dumps({"name": "test peer", "url": path}))
    yield rig
    server.stop()
    os.close(slave)


def test_board_column_runs_the_points_on_the_rig_device(peer_rig):
    result = run_suite("-k", POINTS, "--rig", str(peer_rig))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout, result.stdout


def test_board_column_skips_without_a_rig():
    result = run_suite("-k", POINTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 skipped" in result.stdout and "no rig configured" in result.stdout, result.stdout


def test_a_simulated_rig_has_no_wire_to_check(tmp_path):
    rig = tmp_path / "sim.json"
    rig.write_text(json.dumps({"name": "sim", "url": "sim://acoustic"}))
    result = run_suite("-k", POINTS, "--rig", str(rig))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 skipped" in result.stdout and "no wire" in result.stdout, result.stdout


def test_one_rig_option_serves_the_hil_suite_too(peer_rig):
    # Both plugins loaded: the HIL tests are collected (and deselected by -k) beside ours.
    result = run_suite("hil", "-k", POINTS, "--rig", str(peer_rig))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout, result.stdout
