"""The HIL suite itself through pytest: it runs against a simulated rig, skips without one, refuses
bad rig files with the file and key named."""
import subprocess
import sys

from conftest import REPO


def run_hil(*args):
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "hil", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=600)


def test_hil_suite_passes_on_a_simulated_rig():
    result = run_hil("--rig", "hil/rigs/sim-acoustic.toml", "-k", "not drift")
    assert result.returncode == 0, result.stdout + result.stderr
    # the simulation has no firmware and no link: conformance's points and safety skip, saying so
    assert "9 passed" in result.stdout and "no firmware" in result.stdout, result.stdout


def test_hil_suite_skips_cleanly_without_a_rig():
    result = run_hil("-k", "timing")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 skipped" in result.stdout and "no rig configured" in result.stdout, result.stdout


def test_bad_rig_file_is_named(tmp_path):
    rig = tmp_path / "rig.toml"
    rig.write_text('name = "box"\nurl = "sim://acoustic"\n[envelope]\nmax_noise = 1\n')
    result = run_hil("--rig", str(rig), "-k", "timing")
    assert result.returncode != 0
    assert f"rig file {rig}: unknown key envelope.max_noise" in result.stdout + result.stderr
