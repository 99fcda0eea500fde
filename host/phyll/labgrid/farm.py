"""`phyll train --splits K --device 'labgrid://A,B,...'`: K splits spread over several places.

The K seeds are cut into one block per place, as even as can be (4 splits over 2 places: seeds
0-1 and 2-3), and each block is one child `phyll train` with the run's own flags, its `--seed` and
`--splits`, on its place (`labgrid://A`, the URL's options and link options kept). So each child
acquires its place once, trains its splits one after another, writes their folders under --out,
and releases the place however it ends; the children run at once. When the physics is the slow
part (a rig's latency per pass), N equal places train K splits about N times faster. Blocks are
fixed at the start: a slower place finishes last.

The run's summary (--out/metrics.json, --json-out) is the children's splits merged as one run's,
with each split's place and each place's device description; a child that fails leaves the others
running, and the summary names what it did not train. SIGTERM or SIGHUP is passed on to the children
(each saves its split's checkpoint and prints how to continue it, as `phyll train` does); a Ctrl-C
reaches them from the terminal. Exit codes are train's: 0 completed, 1 failed, 128 + signal.
"""
from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from ..training import summarize
from ..urls import DeviceURL

SCHEME = "labgrid"


def several_places(url: str | None) -> bool:
    return bool(url) and url.startswith(f"{SCHEME}://") and "," in DeviceURL.parse(url).target


def place_urls(url: str) -> dict[str, str]:
    """labgrid://A,B?opts#link -> {A: labgrid://A?opts#link, B: ...}"""
    head, hash_, fragment = url.partition("#")
    base, question, query = head.partition("?")
    places = [p for p in base[len(f"{SCHEME}://"):].split(",") if p]
    if len(set(places)) < len(places):
        raise ValueError(f"{url} names a place twice")
    return {p: f"{SCHEME}://{p}{question}{query}{hash_}{fragment}" for p in places}


def child_flags(args, parser) -> list[str]:
    """The train flags this run was given, as a command line (without --device, --seed, --splits,
    --json-out, --quiet, which each child gets its own of)."""
    own = {"device", "seed", "splits", "json_out", "quiet", "resume", "run", "command", "parser"}
    flags = []
    for action in parser._actions:  # argparse keeps its actions here; the train parser is ours
        if action.dest in own or not action.option_strings or action.dest == "help":
            continue
        value = getattr(args, action.dest, action.default)
        if value == action.default:
            continue
        if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
            flags.append(action.option_strings[0])
        else:
            flags += [action.option_strings[0], str(value)]
    return flags


def blocks(seeds: list[int], places: list[str]) -> dict[str, list[int]]:
    """Contiguous blocks of seeds, one per place, as even as can be (places beyond K get none)."""
    count = min(len(places), len(seeds))
    bounds = [len(seeds) * i // count for i in range(count + 1)]
    return {place: seeds[a:b] for place, a, b in zip(places, bounds, bounds[1:])}


class _Farm:
    def __init__(self, args, flags: list[str]) -> None:
        self.args = args
        self.urls = place_urls(args.device)
        self.seeds = [args.seed + i for i in range(args.splits)]
        self.blocks = blocks(self.seeds, list(self.urls))
        self.flags = flags
        self.folder = tempfile.TemporaryDirectory(prefix="phyll-farm-train-")
        self.children: dict[str, tuple[subprocess.Popen, threading.Thread]] = {}
        self.stop_signal: int | None = None

    def run(self) -> int:
        started = time.monotonic()
        handlers = {s: signal.signal(s, self._forward) for s in (signal.SIGTERM, signal.SIGHUP)}
        try:
            for place, seeds in self.blocks.items():
                self._start(place, seeds)
            self._wait()
        except KeyboardInterrupt:  # the terminal's Ctrl-C reached the children too: wait for them
            self.stop_signal = signal.SIGINT
            self._wait()
        finally:
            for signum, handler in handlers.items():
                signal.signal(signum, handler)
        return self._finish(time.monotonic() - started)

    def _start(self, place: str, seeds: list[int]) -> None:
        command = [sys.executable, "-c", "import sys; from phyll.cli import main; sys.exit(main())", "train",
                   *self.flags, "--device", self.urls[place], "--seed", str(seeds[0]), "--splits", str(len(seeds)),
                   "--json-out", str(self._json(place)), "--quiet"]
        child = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                                 stdin=subprocess.DEVNULL)
        pump = threading.Thread(target=_pass_through, args=(child, f"[{place}] "), daemon=True)
        pump.start()
        self.children[place] = (child, pump)
        print(f"phyll: splits of seeds {seeds[0]}..{seeds[-1]} on labgrid place {place}", file=sys.stderr, flush=True)

    def _wait(self) -> None:
        for child, pump in self.children.values():
            child.wait()
            pump.join()

    def _forward(self, signum, frame) -> None:
        self.stop_signal = signum
        for child, _ in self.children.values():
            child.send_signal(signum)

    def _json(self, place: str) -> Path:
        return Path(self.folder.name) / f"{place}.json"

    def _finish(self, wall_s: float) -> int:
        from ..cli.common import write_json  # the cli package imports this module

        splits, devices, errors, stopped, trained = [], {}, [], [], set()
        for place, (child, _) in self.children.items():
            code = child.returncode
            try:
                summary = json.loads(self._json(place).read_text())
            except (OSError, ValueError):
                summary = {"error": f"exited {code} before writing its summary", "splits": []}
            for split in summary.get("splits", []):
                splits.append({**split, "place": place})
                trained.add(split["seed"])
            if summary.get("device"):
                devices[place] = summary["device"]
            if code != 0:
                errors.append(f"{place}: {summary.get('error') or f'exit {code}'}")
                if summary.get("stopped_split"):
                    stopped.append({**summary["stopped_split"], "place": place})
        splits.sort(key=lambda split: split["seed"])
        missing = [seed for seed in self.seeds if seed not in trained]
        status = "interrupted" if self.stop_signal is not None else "failed" if errors or missing else "completed"
        summary = {"status": status, "error": "; ".join(errors) or None, **summarize(splits, None),
                   "devices": devices, "places": {str(s["seed"]): s["place"] for s in splits}, "wall_s": wall_s}
        if stopped:
            summary["stopped_splits"] = stopped
        if missing:
            summary["not_trained"] = missing
        summary["config"] = {"device": self.args.device, "dataset": self.args.dataset or "builtin:wine",
                             "places": {place: seeds for place, seeds in self.blocks.items()}}
        for path in (self.args.out / "metrics.json" if self.args.out else None, self.args.json_out):
            if path is not None:
                write_json(path, summary)
        self.folder.cleanup()
        if status == "completed":
            print(f"test accuracy {summary['test_accuracy']:.2f} % (± {summary['test_accuracy_std']:.2f}) over "
                  f"{len(splits)} split(s) on {len(self.children)} labgrid places in {wall_s:.1f} s")
            return 0
        print(f"phyll: error: {status}: {summary['error'] or 'stopped'}"
              + (f"; seeds not trained: {', '.join(map(str, missing))}" if missing else ""), file=sys.stderr)
        return 128 + self.stop_signal if self.stop_signal is not None else 1


def _pass_through(child: subprocess.Popen, prefix: str) -> None:
    for line in child.stderr:
        sys.stderr.write(prefix + line)
        sys.stderr.flush()


def train_over_places(args, parser, check) -> int:
    """Run `phyll train` args whose --device names several labgrid places; `check(args)` refuses bad
    flags and data before any child starts (train's own checks)."""
    from ..cli.common import USER_ERRORS, fail

    if args.resume:
        return fail("--resume continues one split on one device: give it one place, "
                    f"e.g. --device {next(iter(place_urls(args.device).values()))}")
    try:
        place_urls(args.device)
        check(args)
    except USER_ERRORS as exc:
        return fail(str(exc))
    return _Farm(args, child_flags(args, parser)).run()

