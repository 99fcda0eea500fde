"""The HIL suite itself: it runs against a simulated rig, skips without one, refuses bad rig files."""
import subprocess
import sys

from conftest import REPO


def run_hil(*args):
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "hil", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=600)


def test_hil_suite_passes_on_a_simulated_rig():
    result = run_hil("--rig", "hil/rigs/sim-acoustic.json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 passed" in result.stdout


def test_hil_suite_skips_cleanly_without_a_rig():
    result = run_hil()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 skipped" in result.stdout


def test_bad_rig_file_is_named(tmp_path):
    rig = tmp_path / "rig.json"
    rig.write_text('{"name": "box", "url": "sim://acoustic", "limits": {"max_noise": 1}}')
    result = run_hil("--rig", str(rig))
    assert result.returncode != 0
    assert "unknown limit(s) ['max_noise']" in result.stdout
