"""`phyll train --splits K --device 'labgrid://A,B,...'`: K splits spread over several places.

Each split is one child `phyll train` with the run's own flags, `--seed` and `--splits 1`, on one
place (`labgrid://A`, the URL's options and link options kept), so each acquires its place, trains,
writes its split folder under --out, and releases its place however it ends. A place takes the
next split as soon as its child is done, so faster rigs train more of them. When the physics is
the slow part (a rig's latency per pass), N places train K splits about N times faster.

The run's summary (--out/metrics.json, --json-out) is the children's splits merged as one run's,
with each split's place and each place's device description. A child that fails stops the farm
from starting new splits; the ones running finish. SIGTERM or SIGHUP is passed on to the children
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


class _Farm:
    def __init__(self, args, flags: list[str]) -> None:
        self.args = args
        self.urls = place_urls(args.device)
        self.seeds = [args.seed + i for i in range(args.splits)]
        self.flags = flags
        self.folder = tempfile.TemporaryDirectory(prefix="phyll-farm-train-")
        self.running: dict[str, tuple[int, subprocess.Popen, threading.Thread]] = {}
        self.done: dict[int, tuple[str, int]] = {}  # seed -> (place, exit code)
        self.stop_signal: int | None = None

    def run(self) -> int:
        started = time.monotonic()
        queue = list(self.seeds)
        handlers = {s: signal.signal(s, self._forward) for s in (signal.SIGTERM, signal.SIGHUP)}
        try:
            while queue or self.running:
                for place in self.urls:
                    if queue and place not in self.running and self._may_start():
                        self._start(place, queue.pop(0))
                self._reap()
        except KeyboardInterrupt:  # the terminal's Ctrl-C reached the children too: wait for them
            self.stop_signal = signal.SIGINT
            while self.running:
                self._reap()
        finally:
            for signum, handler in handlers.items():
                signal.signal(signum, handler)
        return self._finish(time.monotonic() - started, queue)

    def _may_start(self) -> bool:
        return self.stop_signal is None and all(code == 0 for _, code in self.done.values())

    def _start(self, place: str, seed: int) -> None:
        command = [sys.executable, "-c", "import sys; from phyll.cli import main; sys.exit(main())", "train",
                   *self.flags, "--device", self.urls[place], "--seed", str(seed), "--splits", "1",
                   "--json-out", str(self._json(seed)), "--quiet"]
        child = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                                 stdin=subprocess.DEVNULL)
        pump = threading.Thread(target=_pass_through, args=(child, f"[{place} seed {seed}] "), daemon=True)
        pump.start()
        self.running[place] = (seed, child, pump)
        print(f"phyll: split seed {seed} started on labgrid place {place}", file=sys.stderr, flush=True)

    def _reap(self) -> None:
        for place, (seed, child, pump) in list(self.running.items()):
            if child.poll() is not None:
                pump.join()
                self.done[seed] = (place, child.returncode)
                del self.running[place]
        time.sleep(0.05)

    def _forward(self, signum, frame) -> None:
        self.stop_signal = signum
        for _, child, _ in self.running.values():
            child.send_signal(signum)

    def _json(self, seed: int) -> Path:
        return Path(self.folder.name) / f"split-{seed}.json"

    def _finish(self, wall_s: float, not_started: list[int]) -> int:
        splits, devices, errors, stopped = [], {}, [], []
        for seed in self.seeds:
            if seed not in self.done:
                continue
            place, code = self.done[seed]
            try:
                child = json.loads(self._json(seed).read_text())
            except (OSError, ValueError):
                child = {"status": "failed", "error": f"exited {code} before writing its summary", "splits": []}
            for split in child.get("splits", []):
                splits.append({**split, "place": place})
            if child.get("device"):
                devices[place] = child["device"]
            if code != 0:
                errors.append(f"seed {seed} on {place}: {child.get('error') or f'exit {code}'}")
                if child.get("stopped_split"):
                    stopped.append({**child["stopped_split"], "place": place})
        status = "completed" if not errors and not not_started and self.stop_signal is None else \
            "interrupted" if self.stop_signal is not None else "failed"
        summary = {"status": status, "error": "; ".join(errors) or None, **summarize(splits, None),
                   "devices": devices, "places": {str(s): self.done[s][0] for s in self.seeds if s in self.done},
                   "wall_s": wall_s}
        if stopped:
            summary["stopped_splits"] = stopped
        if not_started:
            summary["not_started"] = {"seeds": not_started,
                                      "run_with": f"--seed {not_started[0]} --splits {len(not_started)}"}
        summary["config"] = {"device": self.args.device, "dataset": self.args.dataset or "builtin:wine",
                             "places": list(self.urls)}
        for path in (self.args.out / "metrics.json" if self.args.out else None, self.args.json_out):
            if path is not None:
                _write(path, summary)
        self.folder.cleanup()
        if status == "completed":
            print(f"test accuracy {summary['test_accuracy']:.2f} % (± {summary['test_accuracy_std']:.2f}) over "
                  f"{len(splits)} split(s) on {len(self.urls)} labgrid places in {wall_s:.1f} s")
            return 0
        print(f"phyll: error: {status}: {summary['error'] or 'stopped'}"
              + (f"; splits not started: seeds {not_started}, run them with the same flags and "
                 f"{summary['not_started']['run_with']}" if not_started else ""), file=sys.stderr)
        return 128 + self.stop_signal if self.stop_signal is not None else 1


def _pass_through(child: subprocess.Popen, prefix: str) -> None:
    for line in child.stderr:
        sys.stderr.write(prefix + line)
        sys.stderr.flush()


def _write(path: Path, document: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(document, indent=2) + "\n")
    partial.replace(path)


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

