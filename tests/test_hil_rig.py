"""Rig files: the schema refuses what it does not know, naming the file and key; a rig that names a
board file is checked against what that board file builds; `phyll hil check` says the same."""
from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # hil/ is a folder of the checkout, not installed

from hil.rig import Rig, RigError  # noqa: E402

RIGS = sorted((REPO / "hil" / "rigs").glob("*.toml"))


def write(tmp_path, text: str, name: str = "rig.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("path", RIGS, ids=[p.stem for p in RIGS])
def test_every_bundled_rig_file_loads(path):
    rig = Rig.load(path)
    assert rig.name and rig.device_url


def test_defaults_fill_what_a_rig_file_leaves_out(tmp_path):
    rig = Rig.load(write(tmp_path, 'name = "box"\nurl = "sim://acoustic"\n'))
    assert rig.envelope["smoke_margin"] == 20.0 and rig.run["repeats"] == 8 and rig.safety["watchdog_ms"] == 5000
    assert rig.envelope["noise_floor"] is None  # no limit: measured and recorded only


@pytest.mark.parametrize("text, message", [
    ('name = "box"\nurl = "sim://acoustic"\n[envelope]\nmax_noise = 1\n', "unknown key envelope.max_noise"),
    ('name = "box"\nurl = "sim://acoustic"\nlimits = {}\n', "unknown key limits"),
    ('name = "box"\nurl = "sim://acoustic"\n[medium]\nsensors = "20"\n', "medium.sensors must be a whole number, got '20'"),
    ('name = "box"\nurl = "sim://acoustic"\n[medium]\nsensors = 20.0\n', "medium.sensors must be a whole number"),
    ('name = "box"\nurl = "sim://acoustic"\n[envelope]\nnoise_floor = [0.1, "x"]\n',
     "envelope.noise_floor must be a number or a list of numbers, one per channel"),
    ('name = "box"\nurl = "sim://acoustic"\n[medium]\nsensors = 3\n[envelope]\nnoise_floor = [0.1, 0.2]\n',
     "envelope.noise_floor has 2 values, but medium.sensors is 3"),
    ('name = "box"\nurl = "sim://acoustic"\n[firmware]\nkind = "arduino"\n', "firmware.kind must be one of micropython, cpp"),
    ('name = "box"\nurl = "sim://acoustic"\nfirmware = "cpp"\n', "firmware must be a table [firmware]"),
    ('name = "box"\nurl = "sim://acoustic"\n[run]\nrepeats = 1\n', "run.repeats must be >= 2, got 1"),
    ('name = "box"\nurl = "sim://acoustic"\n[medium]\nsensors = 4\nsilent_sensors = [4]\n',
     "medium.silent_sensors holds [4], not indices in 0..3"),
    ('name = "box"\n', "needs a device: url"),
    ('name = "box"\nurl = "/dev/ttyACM0"\nplace = "rig-7"\n', "names both url and place"),
    ('url = "sim://acoustic"\n', "needs a name"),
    ('name = "box"\nurl = "sim://acoustic"\n[envelope\n', "is not valid TOML"),
])
def test_a_bad_rig_file_is_refused_naming_file_and_key(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(RigError) as caught:
        Rig.load(path)
    assert str(path) in str(caught.value) and message in str(caught.value), str(caught.value)


def test_json_rig_files_read_the_same_schema(tmp_path):
    rig = Rig.load(write(tmp_path, '{"name": "peer", "url": "/dev/pts/9", "envelope": {"link_errors": 2}}', "rig.json"))
    assert rig.envelope["link_errors"] == 2
    with pytest.raises(RigError, match="unknown key expect"):
        Rig.load(write(tmp_path, '{"name": "x", "url": "/dev/pts/9", "expect": {"n_sensors": 99}}', "old.json"))


def test_a_place_becomes_a_labgrid_url(tmp_path):
    rig = Rig.load(write(tmp_path, 'name = "box"\nplace = "acoustic-7"\ncoordinator = "10.1.2.3:20408"\n'))
    assert rig.device_url == "labgrid://acoustic-7?coordinator=10.1.2.3:20408"


def test_a_rig_is_checked_against_its_board_file(tmp_path):
    # The old esp32 rig description expected 40 x 20; boards/esp32_metasurface.py builds 32 x 10.
    text = (REPO / "hil" / "rigs" / "esp32-metasurface.toml").read_text()
    wrong = text.replace("actuators = 32", "actuators = 40").replace("sensors = 10", "sensors = 20")
    with pytest.raises(RigError) as caught:
        Rig.load(write(tmp_path, wrong))
    message = str(caught.value)
    assert "does not match board file esp32_metasurface" in message
    assert "medium.actuators = 40, but the board file builds 32 (INFO n_actuators)" in message
    assert "medium.sensors = 20, but the board file builds 10 (INFO n_sensors)" in message
    short = text.replace("watchdog_ms = 2000", "watchdog_ms = 500")
    with pytest.raises(RigError, match=r"safety.watchdog_ms = 500, but the board file sets a watchdog of 2000 ms"):
        Rig.load(write(tmp_path, short))
    assert Rig.load(write(tmp_path, text)).firmware["board"] == "esp32-devkitc"  # from the board file


def test_a_board_file_that_cannot_be_built_is_named(tmp_path):
    board = write(tmp_path, "raise RuntimeError('no such bus')\n", "myboard.py")
    with pytest.raises(RigError, match=r"board_file: board file .*myboard.py: make_server\(link\) failed .*no such bus"):
        Rig.load(write(tmp_path, f'name = "box"\nurl = "/dev/ttyACM0"\nboard_file = "{board}"\n'))


def test_phyll_hil_check_names_the_bad_key(tmp_path):
    bad = write(tmp_path, 'name = "box"\nurl = "sim://acoustic"\n[safety]\nwatchdog = 5\n')
    result = subprocess.run([sys.executable, "-c", "import sys; from phyll.cli import main; sys.exit(main())",
                             "hil", "check", str(REPO / "hil" / "rigs" / "pico-acoustic.toml"), str(bad)],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "pico-acoustic.toml: Raspberry Pi Pico" in result.stdout and "board file pico_acoustic agrees" in result.stdout
    assert f"phyll: error: rig file {bad}: unknown key safety.watchdog" in result.stderr


def test_docs_hil_names_every_rig_file_key():
    import re

    from hil.rig import SCHEMA

    rows = [line for line in (REPO / "docs" / "hil.md").read_text().splitlines() if line.startswith("| `")]

    def described(section: str, key: str | None) -> bool:
        if key is None:
            return any(row.startswith(f"| `{section}`") for row in rows)
        return any(row.startswith(f"| `[{section}] ") and re.search(rf"\b{key}\b", row.split("|")[1]) for row in rows)

    missing = [f"{section}.{key}" if key else section for section, spec in SCHEMA.items()
               for key in (spec if isinstance(spec, dict) else [None]) if not described(section, key)]
    assert not missing, f"docs/hil.md does not describe rig file keys {missing}"
