"""`phyll flash`: from a board in a drawer to a board that trains.

    phyll flash --micropython RPI_PICO-v1.24.1.uf2          MicroPython onto an RP2040 in BOOTSEL mode
    phyll flash --micropython ESP32_GENERIC.bin --port P    MicroPython onto an ESP32 (esptool)
    phyll flash --board pico_acoustic [--port P|auto]       phyll's MicroPython firmware, verified
    phyll flash --board pico --firmware cpp --port P        the C++ firmware (PlatformIO), verified
    phyll flash --to-repl --port P                          stop the firmware: the board's REPL, for mpremote

`--micropython` and `--board` together do both, in that order. `--dry-run` prints the UF2 copy,
esptool's and PlatformIO's command lines without running them. docs/boards.md.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from ..flash import probe
from ..flash.probe import await_answer
from ..flash.boards import cpp_board, cpp_firmware_name, cpp_project, micropython_board, micropython_board_names
from ..flash.deploy import deploy, hand_back_to_repl
from ..flash.find import find_cpp_port, find_micropython_port
from ..flash.tools import esptool_commands, platformio_upload
from ..flash.uf2 import find_boot_drive, install_uf2, read_uf2
from ..flash.verify import verify
from ..protocol import VERSION
from .common import USER_ERRORS, fail

FIRMWARES = ("micropython", "cpp")
_UF2_WAIT_S = 30.0
_BOOT_S = 10.0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "flash", help="put MicroPython and phyll's firmware on a board",
        description="Put MicroPython on a bare board (a UF2 onto an RP2040's boot drive, esptool for an "
                    "ESP32), then phyll's firmware: the MicroPython firmware through the board's REPL "
                    "(compiled with mpy-cross, unchanged files skipped), or the C++ firmware through "
                    "PlatformIO. Each flash ends with HELLO answering the versions just flashed.")
    p.add_argument("--board", help=f"MicroPython board file ({', '.join(micropython_board_names())}, or a path "
                   "to your own board file), or with --firmware cpp a PlatformIO environment "
                   "(see firmware/cpp/platformio.ini)")
    p.add_argument("--firmware", choices=FIRMWARES, default="micropython",
                   help="which firmware --board gets (default micropython)")
    p.add_argument("--port", default="auto",
                   help="serial port or pyserial URL (default auto: the one board that fits)")
    p.add_argument("--micropython", type=Path, metavar="FILE",
                   help="put MicroPython on the board first: a .uf2 (RP2040/RP2350 in BOOTSEL mode) or "
                   "an ESP32 .bin (esptool, needs --port)")
    p.add_argument("--drive", type=Path, help="the UF2 boot drive (default: the one mounted)")
    p.add_argument("--chip", help="ESP chip the .bin is for (default: read from the .bin)")
    p.add_argument("--erase", action="store_true", help="erase the ESP32's flash first (its files too)")
    p.add_argument("--wait", type=float, default=_UF2_WAIT_S,
                   help=f"seconds to wait for MicroPython's port after a UF2 (default {_UF2_WAIT_S:g}; 0: do not wait)")
    p.add_argument("--to-repl", action="store_true",
                   help="only hand a running phyll firmware back to the board's REPL (for mpremote)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the UF2 copy and the esptool / PlatformIO command lines instead of running them")
    p.add_argument("--json", action="store_true", help="print what was flashed as JSON")
    p.set_defaults(run=run)


def run(args) -> int:
    if not (args.board or args.micropython or args.to_repl):
        return fail("say what to flash: --micropython FILE, --board BOARD, or --to-repl")
    if args.to_repl and (args.board or args.micropython):
        return fail("--to-repl only stops the firmware; flash with --board or --micropython in another run")
    try:
        if args.to_repl:
            return _to_repl(args)
        port = args.port
        report: dict = {}
        if args.micropython:
            port = _micropython(args, report) or args.port  # not known after --wait 0: --port, or auto
            if args.dry_run:
                return 0
            if args.board and port != "auto":
                await_answer(port, _BOOT_S)  # MicroPython's first boot after its flash was written
        if args.board:
            report.update(_firmware(args, port))
    except USER_ERRORS as exc:
        return fail(str(exc))
    if args.json:
        print(json.dumps(report, indent=2))
    return 0


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _summary(args, line: str) -> None:
    """The last line: on stdout, unless --json puts the JSON there."""
    print(line, file=sys.stderr if args.json else sys.stdout, flush=True)


def _to_repl(args) -> int:
    if args.port == "auto":
        raise ValueError("--to-repl needs --port PORT")
    hand_back_to_repl(args.port, probe(args.port), "put MicroPython on it (phyll flash --micropython FILE)", _say)
    print(f"{args.port} is at MicroPython's REPL: mpremote connect {args.port} resume ...; the firmware starts "
          "again at the board's next reset from its friendly REPL (Ctrl-D) or power-up")
    return 0


def _micropython(args, report: dict) -> str | None:
    """MicroPython onto the bare board; the port it is on afterwards, None if not known (a dry
    run, or --wait 0)."""
    image = args.micropython
    if not image.is_file():
        raise ValueError(f"--micropython {image}: no such file")
    if image.suffix.lower() == ".uf2":
        drive = find_boot_drive(args.drive)
        if args.dry_run:
            uf2 = read_uf2(image)
            print(f"would copy {image} ({uf2.blocks} UF2 blocks for {uf2.family_names}) to {drive.path / image.name}, "
                  f"then wait {args.wait:g} s for MicroPython's serial port (USB 2e8a:0005)")
            return None
        port = install_uf2(image, drive, wait=args.wait, say=_say)
        report["micropython"] = {"uf2": str(image), "drive": str(drive.path), "port": port.device if port else None}
        return port.device if port else None
    if args.port == "auto":
        raise ValueError("an ESP32 .bin goes through esptool, which needs --port PORT (see phyll devices)")
    commands = esptool_commands(image, args.port, args.chip, erase=args.erase)
    if args.dry_run:
        print("\n".join(map(str, commands)))
        if commands[0].tool_missing:
            _say(f"note: {commands[0].tool_missing}")
        return None
    for command in commands:
        _say(f"running {command}")
        command.run()
    report["micropython"] = {"image": str(image), "port": args.port, "commands": [str(c) for c in commands]}
    return args.port


def _firmware(args, port: str) -> dict:
    if args.firmware == "cpp":
        return _cpp(args, port)
    board = micropython_board(args.board)
    if args.dry_run:
        raise ValueError("--dry-run shows external tools' commands; the MicroPython firmware is copied through "
                         "the board's REPL (run without --dry-run; unchanged files are skipped)")
    if port == "auto":
        port = find_micropython_port(board.platform)
    done = deploy(port, board, say=_say)
    info = done.info
    _summary(args, f"flashed {info['firmware']} onto {port}: board {info['board']}, protocol {info['protocol']}, "
                   f"{len(done.copied)} files copied ({done.copied_bytes:,} bytes), {len(done.unchanged)} unchanged"
                   + (f", {len(done.removed)} removed" if done.removed else "") + f", in {done.seconds:.2f} s; "
                   f"HELLO verified. Train with: phyll train --device {port}")
    return {"firmware": done.as_dict()}


def _cpp(args, port: str) -> dict:
    project = cpp_project()
    board = cpp_board(args.board, project)
    if args.dry_run:  # without --port, PlatformIO picks the port itself
        command = platformio_upload(project, board.env, None if port == "auto" else port)
        print(command)
        if command.tool_missing:
            _say(f"note: {command.tool_missing}")
        return {}
    if port == "auto":
        port = find_cpp_port(board.family)
    command = platformio_upload(project, board.env, port)
    _say(f"running {command}")
    command.run()
    info = verify(port, cpp_firmware_name(project), VERSION, board.board_id, within=20.0)
    _summary(args, f"flashed {info['firmware']} onto {port}: board {info['board']}, protocol {info['protocol']}; "
                   f"HELLO verified. Train with: phyll train --device {port}")
    return {"firmware": {"port": port, "env": board.env, "command": str(command), "verified": info}}
