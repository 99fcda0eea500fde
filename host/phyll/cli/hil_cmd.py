"""`phyll hil`: the hardware-in-the-loop suite against rigs (hil/, docs/hil.md).

    phyll hil run --rig FILE [--rig FILE ...] [--only GROUP[,GROUP]] [--report DIR]
    phyll hil check FILE ...     # rig files against their schema and board files, nothing opened

One rig runs here, a line of progress per check on stderr and its summary on stdout. Several rigs
run in parallel, one child process each (a rig's timing must not wait on another's numpy), with
one report per rig in DIR/<rig file stem>/; their progress lines are passed through as they come.
Exit 0 when every rig passed, 1 when a check failed, 2 when a rig file or flag was refused,
128 + the signal when Ctrl-C (130) or SIGTERM (143) stopped it, its devices closed (places released).

The suite lives in the source checkout (hil/ beside tests/contract/, whose protocol points it
runs): found at $PHYLL_HIL_DIR, else the checkout phyll is installed from, else the current folder
or one above it.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from .common import fail

_GROUP_CHOICES = ("conformance", "timing", "characterisation", "safety", "smoke")


def register(subparsers) -> None:
    p = subparsers.add_parser("hil", help="run the hardware-in-the-loop suite on rigs",
                              description="The hardware-in-the-loop suite: conformance, timing, "
                                          "characterisation, safety and a smoke run, against rigs "
                                          "described by rig files (docs/hil.md).")
    commands = p.add_subparsers(dest="hil_command", required=True, metavar="SUBCOMMAND")
    run_p = commands.add_parser("run", help="run the suite on one rig, or on several in parallel")
    run_p.add_argument("--rig", action="append", required=True, type=Path,
                       help="rig file (TOML); repeat to run several rigs in parallel")
    run_p.add_argument("--only", action="append", default=[],
                       help=f"run only these groups ({', '.join(_GROUP_CHOICES)}) or checks (GROUP.CHECK); "
                       "repeat or separate with commas")
    run_p.add_argument("--report", type=Path, help="folder for junit.xml, record.json, plots/ and summary.txt "
                       "(a folder per rig with several rigs)")
    run_p.add_argument("--quiet", action="store_true", help="no progress lines")
    run_p.set_defaults(run=run)
    check_p = commands.add_parser("check", help="check rig files (schema, board file) without opening anything")
    check_p.add_argument("rigs", nargs="+", type=Path, help="rig files")
    check_p.set_defaults(run=check)


def run(args) -> int:
    try:
        hil = _import_hil()
        groups = [g.strip() for item in args.only for g in item.split(",") if g.strip()] or None
        hil.checks.select(groups)  # an unknown group is refused before anything opens
        rigs = [hil.rig.Rig.load(path) for path in args.rig]
    except (ValueError, ImportError) as exc:
        return fail(str(exc))
    if len(rigs) > 1:
        return _run_parallel(args, groups)
    return _run_one(hil, rigs[0], groups, args.report, args.quiet)


def check(args) -> int:
    try:
        hil = _import_hil()
        for path in args.rigs:
            rig = hil.rig.Rig.load(path)
            board = f", board file {rig.board_file} agrees" if rig.board_file else ""
            print(f"{path}: {rig.name} ({rig.device_url}){board}")
    except (ValueError, ImportError) as exc:
        return fail(str(exc))
    return 0


def _run_one(hil, rig, groups: list[str] | None, report: Path | None, quiet: bool) -> int:
    def progress(line: str) -> None:
        if not quiet:
            print(line, file=sys.stderr, flush=True)

    suite = hil.runner.Suite(rig, groups, progress)
    previous = signal.signal(signal.SIGTERM, _stop)  # so the session closes (a place is released)
    try:
        record = suite.run()
    except KeyboardInterrupt as stop:
        return fail(f"{rig.name}: stopped; the device was closed", 128 + _signum(stop))
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(hil.report.summary(record), flush=True)
    if report is not None:
        written = hil.report.write_reports(record, suite.plot_data, report)
        progress(f"{rig.name}: reports in {report}: {', '.join(p.name for p in written)}")
    return 0 if record.outcome == "PASS" else 1


class _Stopped(KeyboardInterrupt):
    """SIGTERM, raised where the suite is, so its session closes as after a Ctrl-C."""

    signum = signal.SIGTERM


def _stop(signum, frame):
    raise _Stopped


def _signum(stop: KeyboardInterrupt) -> int:
    return getattr(stop, "signum", signal.SIGINT)


def _run_parallel(args, groups: list[str] | None) -> int:
    """One child `phyll hil run` per rig; their lines passed through, their worst exit returned."""
    root = _hil_root()
    stems = [path.stem for path in args.rig]
    if len(set(stems)) < len(stems):
        return fail(f"rig files {', '.join(map(str, args.rig))} share a name; their reports would collide")
    children = []
    for path in args.rig:
        command = [sys.executable, "-c", "import sys; from phyll.cli import main; sys.exit(main())",
                   "hil", "run", "--rig", str(path)]
        command += [f"--only={','.join(groups)}"] if groups else []
        command += ["--report", str(args.report / path.stem)] if args.report else []
        command += ["--quiet"] if args.quiet else []
        children.append(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                         env={**os.environ, "PHYLL_HIL_DIR": str(root)}))
    pumps = [threading.Thread(target=_pump, args=(child,), daemon=True) for child in children]
    for pump in pumps:
        pump.start()
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        codes = [child.wait() for child in children]
    except KeyboardInterrupt as stop:
        for child in children:
            child.send_signal(signal.SIGTERM)  # each closes its device and releases its place
        codes = [child.wait() for child in children]
        return fail("stopped; every rig's device was closed", 128 + _signum(stop))
    finally:
        signal.signal(signal.SIGTERM, previous)
        for pump in pumps:
            pump.join(timeout=5)
    print(f"phyll hil: {sum(c == 0 for c in codes)} of {len(codes)} rigs passed"
          + "".join(f"\n  {path}: {'PASS' if code == 0 else 'FAIL' if code == 1 else f'exit {code}'}"
                    for path, code in zip(args.rig, codes)))
    return max(codes)


def _pump(child: subprocess.Popen) -> None:
    for line in child.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()


def _hil_root() -> Path:
    """The checkout holding hil/ (and tests/contract/)."""
    candidates = []
    if os.environ.get("PHYLL_HIL_DIR"):
        candidates.append(Path(os.environ["PHYLL_HIL_DIR"]))
    candidates.append(Path(__file__).resolve().parents[3])  # host/phyll/cli -> the checkout (editable install)
    cwd = Path.cwd().resolve()
    candidates += [cwd, *cwd.parents]
    for root in candidates:
        if (root / "hil" / "rig.py").is_file() and (root / "tests" / "contract").is_dir():
            return root
    raise ImportError("phyll hil needs phyll's source checkout (hil/ and tests/contract/): run it from the "
                      "checkout, or set PHYLL_HIL_DIR to it")


def _import_hil():
    root = str(_hil_root())
    if root not in sys.path:
        sys.path.insert(0, root)
    import importlib

    hil = importlib.import_module("hil")
    for module in ("rig", "checks", "runner", "report"):
        importlib.import_module(f"hil.{module}")
    return hil
