"""`phyll emulate`: serve an emulated device on a pty until Ctrl-C or SIGTERM.

The first line printed is the device's serial path (flushed at once), for scripts:

    path=$(phyll emulate --medium acoustic --seed 3 | head -n 1)   # or read one line
    phyll train --device "$path" ...

When a host sends REPL, it says so on stderr and how to attach (`mpremote connect PATH resume`),
and keeps the emulator up until Ctrl-C or SIGTERM.

With --fs DIR it emulates a MicroPython board instead (emulator/board.py): the unix port's REPL
with DIR as its flash, to rehearse `phyll devices` and `phyll flash --board emu` on.
"""
from __future__ import annotations

import signal
import sys
from pathlib import Path

from ..emulator import RUNTIMES, Emulator, start_emulator
from ..emulator.board import DEFAULT_FLASH_BYTES, EmulatedBoard, start_board
from ..emulator.firmware import FIRMWARES
from ..urls import parse_value
from .common import USER_ERRORS, fail

_POLL_S = 0.5


class _Terminated(Exception):
    """SIGTERM arrived: leave the serving loop through the normal clean-up path."""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "emulate", help="serve an emulated device on a pty",
        description="Run the phyll firmware (MicroPython, or C++ with --firmware) as an emulated device, "
                    "a medium behind it, and print the serial path to use as --device (first line of output). "
                    "Serves until Ctrl-C or SIGTERM.")
    p.add_argument("--medium", default="acoustic",
                   help="medium name or module.path:ClassName (default acoustic)")
    p.add_argument("--seed", type=int, help="the medium's seed")
    p.add_argument("--baud", type=int, help="pace the link like a UART at this baud rate (10 bits per byte)")
    p.add_argument("--firmware", choices=FIRMWARES, default="micropython",
                   help="the MicroPython firmware (default), the C++ firmware's host build (cpp), or its ARM "
                   "image under qemu-system-arm (cpp-arm); the C++ ones are built at first use")
    p.add_argument("--runtime", choices=RUNTIMES, default="auto",
                   help="the MicroPython firmware's interpreter: MicroPython's unix port, or CPython (default auto)")
    p.add_argument("--max-batch", type=int, default=0,
                   help="vectors per EXCITE the device advertises (default: the protocol bound)")
    p.add_argument("--fs", type=Path, metavar="DIR",
                   help="emulate a MicroPython board instead, with DIR (made if missing) as its flash: a "
                   "blank one sits at its REPL; flash it with `phyll flash --board emu --port PATH`")
    p.add_argument("--fs-size", type=int, default=DEFAULT_FLASH_BYTES, metavar="BYTES",
                   help=f"the board's flash size (default {DEFAULT_FLASH_BYTES}): what statvfs reports, "
                   "and where writes fail")
    p.add_argument("options", nargs="*", metavar="OPTION=VALUE",
                   help="medium options, as in a sim:// URL (e.g. noise=0 tones=5)")
    p.set_defaults(run=run)


def run(args) -> int:
    try:
        options = _medium_options(args.options)
    except ValueError as exc:
        return fail(str(exc))
    if args.seed is not None:
        options["seed"] = args.seed
    if args.fs is not None and (args.baud is not None or args.runtime == "cpython" or args.firmware != "micropython"):
        return fail("--fs emulates a MicroPython board on the unix port, over a pty: without --baud, "
                    "--runtime cpython or --firmware")
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        if args.fs is not None:
            emulator = start_board(args.medium, args.fs, options, flash_bytes=args.fs_size,
                                   max_batch=args.max_batch)
        else:
            emulator = start_emulator(args.medium, options, firmware=args.firmware, runtime=args.runtime,
                                      baud=args.baud, max_batch=args.max_batch)
        with emulator:
            return _serve(emulator, args)
    except _Terminated:
        return 0  # SIGTERM while starting: start_emulator cleaned up after itself
    except USER_ERRORS as exc:
        return fail(str(exc))
    finally:
        signal.signal(signal.SIGTERM, previous)


def _serve(emulator: Emulator, args) -> int:
    print(emulator.path, flush=True)
    if isinstance(emulator, EmulatedBoard):
        started = "runs its main.py" if (emulator.flash / "main.py").is_file() else "is blank: it sits at its REPL"
        print(f"phyll: emulating a MicroPython board on {emulator.path} (pid {emulator.pid}), its flash "
              f"{emulator.flash} ({emulator.flash_bytes} bytes), medium {emulator.medium.name!r}; it {started}. "
              f"Flash it with `phyll flash --board emu --port {emulator.path}`; Ctrl-C or SIGTERM stops it",
              file=sys.stderr, flush=True)
    else:
        print(f"phyll: emulating {emulator.medium.name!r} with the {emulator.runtime.name} firmware "
              f"(pid {emulator.pid}) on {emulator.path}" + (f" at {args.baud} baud" if args.baud else "")
              + "; Ctrl-C or SIGTERM stops it", file=sys.stderr, flush=True)
    announced = False
    try:
        while (ended := emulator.exit_status(_POLL_S)) is None:
            if emulator.at_repl and not announced:
                print(f"phyll: {_at_repl(emulator)}", file=sys.stderr, flush=True)
                announced = True
    except (KeyboardInterrupt, _Terminated):
        return 0
    # The firmware ended by itself: it failed, or a user left its REPL (Ctrl-D, a soft reset).
    message = f"the emulated firmware {ended}"
    tail = emulator.stderr_tail()
    print(f"phyll: {message}" + (f"; its stderr: {tail}" if tail else ""), file=sys.stderr)
    return 0 if ended == "exited with code 0" else 1


def _at_repl(emulator: Emulator) -> str:
    left = "a host sent REPL: the firmware left its frame loop"
    if emulator.runtime.name == "micropython":
        return (f"{left} for MicroPython's REPL on {emulator.path}; attach with "
                f"`mpremote connect {emulator.path} resume` (without `resume`, mpremote's soft reset "
                "ends the unix port). Ctrl-C or SIGTERM stops the emulator")
    return (f"{left}; the CPython fallback has no REPL to hand over to, so the link stays open, "
            "unanswered, until the emulator stops (Ctrl-C or SIGTERM; use --runtime micropython for a REPL)")


def _terminate(signum, frame) -> None:
    raise _Terminated()


def _medium_options(pairs: list[str]) -> dict:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"medium option {pair!r} is not OPTION=VALUE")
        options[key] = parse_value(value)
    return options
