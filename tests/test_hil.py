"""The HIL suite end to end: through pytest (--rig, JUnit properties, --hil-report) and through
`phyll hil run` (progress, reports, the summary naming the failed group and why, exit codes)."""
import json
import subprocess
import sys
import xml.etree.ElementTree as ET

from conftest import REPO

PHYLL = [sys.executable, "-c", "import sys; from phyll.cli import main; sys.exit(main())"]


def run_hil(*args):
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "hil", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=600)


def phyll(*args):
    return subprocess.run([*PHYLL, *args], cwd=REPO, capture_output=True, text=True, timeout=600)


def properties(junit) -> dict:
    suite = ET.parse(junit).getroot().find("testsuite")
    return {p.get("name"): p.get("value") for p in suite.find("properties")}


def test_hil_suite_passes_on_a_simulated_rig_through_pytest(tmp_path):
    junit, report = tmp_path / "hil.xml", tmp_path / "report"
    result = run_hil("--rig", "hil/rigs/sim-acoustic.toml", "-k", "not drift", "--junitxml", str(junit),
                     "--hil-report", str(report))
    assert result.returncode == 0, result.stdout + result.stderr
    # the simulation has no firmware and no link: conformance's points and safety skip, saying so
    assert "9 passed" in result.stdout and "no firmware" in result.stdout, result.stdout
    props = properties(junit)
    assert props["rig_file"] == "hil/rigs/sim-acoustic.toml" and props["device_url"] == "sim://acoustic?seed=3"
    assert json.loads(props["device"])["url"] == "sim://acoustic?seed=3" and len(props["git_commit"]) == 40
    record = json.loads((report / "record.json").read_text())
    assert record["outcome"] == "PASS" and (report / "plots" / "noise.png").is_file()


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


def test_phyll_hil_run_reports_and_names_the_failed_group(tmp_path):
    rig = tmp_path / "dead-element.toml"
    rig.write_text((REPO / "hil" / "rigs" / "emu-metasurface.toml").read_text()
                   .replace('url = "emu://metasurface?seed=3"', 'url = "emu://metasurface?seed=3&dead_actuators=7"')
                   .replace("drift_s = 2.0", "drift_s = 0.5"))
    result = phyll("hil", "run", "--rig", str(rig), "--only", "timing.latency,characterisation", "--report",
                   str(tmp_path / "report"))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "[3/6] characterisation.response FAIL" in result.stderr  # progress as it goes
    assert "  timing            PASS  1 checks" in result.stdout
    assert "failed: characterisation (response: actuator 7 moves no sensor" in result.stdout
    names = {p.name for p in (tmp_path / "report").iterdir()} | {p.name for p in (tmp_path / "report" / "plots").iterdir()}
    assert names >= {"junit.xml", "record.json", "summary.txt", "noise.png", "latency.png", "linearity.png",
                     "drift.png", "response.png"}
    props = properties(tmp_path / "report" / "junit.xml")
    assert props["firmware"] == "phyll-mpy 0.1.0" and props["rig_file"] == str(rig)
    assert json.loads(props["device"])["board"] == "unix" and len(props["git_commit"]) == 40
    failure = ET.parse(tmp_path / "report" / "junit.xml").getroot().find(
        "testsuite[@name='characterisation']/testcase[@name='response']/failure")
    assert failure is not None and "actuator 7" in failure.get("message")
    record = json.loads((tmp_path / "report" / "record.json").read_text())
    response = next(c for g in record["groups"] for c in g["checks"] if c["name"] == "response")
    seven = next(m for m in response["measurements"] if m["name"] == "response.actuator07")
    assert seven["outcome"] == "FAIL" and seven["low"] == 3.0 and seven["value"] < 3.0


def test_phyll_hil_run_refuses_an_unknown_group():
    result = phyll("hil", "run", "--rig", "hil/rigs/sim-acoustic.toml", "--only", "timming")
    assert result.returncode == 2 and "unknown group or check 'timming'" in result.stderr


def test_sigterm_stops_phyll_hil_run_and_closes_the_device(tmp_path):
    import signal

    rig = tmp_path / "long-drift.toml"
    rig.write_text((REPO / "hil" / "rigs" / "emu-metasurface.toml").read_text().replace("drift_s = 2.0", "drift_s = 60"))
    child = subprocess.Popen([*PHYLL, "hil", "run", "--rig", str(rig), "--only", "characterisation.drift"], cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in child.stderr:
            if "characterisation.drift ..." in line:
                break
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=20) == 128 + signal.SIGTERM
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert "stopped; the device was closed" in child.stderr.read()
