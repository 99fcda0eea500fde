"""`phyll train --splits K` over two labgrid places against the same run on one place.

A local labgrid farm (hil/local_farm.py: coordinator, exporter, ser2net, two emulated acoustic
boards) serves two places whose medium waits `--latency` seconds per pass, so the physics is the
slow part, as on a real rig. The same training -- K splits of iris, --controls off -- runs once with
`--device labgrid://phyll-bench-a` (one place, the splits one after another in one process) and once
with `--device labgrid://phyll-bench-a,phyll-bench-b` (half the splits on each place, at once), taking
turns; it prints each wall time and their ratio, and whether both runs reached the same
accuracies (the medium is noiseless and alike on both places, so they must).

    python bench/bench_labgrid_farm.py [--splits 4] [--epochs 20] [--latency 0.005] [--rounds 1] [--json]

Needs labgrid (pip install 'phyll[labgrid]') and ser2net; asserts nothing about speed.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hil.local_farm import LocalFarm, missing_reason  # noqa: E402

PHYLL = [sys.executable, "-c", "import sys; from phyll.cli import main; sys.exit(main())"]


def train(device: str, args, env: dict) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as folder:
        command = [*PHYLL, "train", "--dataset", "builtin:iris", "--device", device, "--splits", str(args.splits),
                   "--epochs", str(args.epochs), "--layers", "1", "--controls", "off", "--eval-every", "0",
                   "--quiet", "--json-out", f"{folder}/summary.json"]
        started = time.monotonic()
        result = subprocess.run(command, env=env, capture_output=True, text=True, cwd=folder)
        wall = time.monotonic() - started
        if result.returncode != 0:
            raise SystemExit(f"{device}: exit {result.returncode}\n{result.stdout}\n{result.stderr}")
        return wall, json.loads(Path(folder, "summary.json").read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--splits", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.005, help="seconds per pass of each place's medium")
    parser.add_argument("--rounds", type=int, default=1, help="one place then two, this many times")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args()
    if (reason := missing_reason()) is not None:
        print(f"skipped: {reason}")
        return 0
    board = ["--medium", "acoustic", "--seed", "3", "noise=0", "noise_floor=0", f"latency={args.latency}"]
    with LocalFarm({"phyll-bench-a": board, "phyll-bench-b": board}) as farm:
        env = {**os.environ, "LG_COORDINATOR": farm.coordinator}
        runs = {"one place": [], "two places": []}
        for _ in range(args.rounds):
            for name, device in (("one place", "labgrid://phyll-bench-a"),
                                 ("two places", "labgrid://phyll-bench-a,phyll-bench-b")):
                wall, summary = train(device, args, env)
                runs[name].append((wall, [round(s["test_accuracy"], 2) for s in summary["splits"]]))
                print(f"{name:>10}: {wall:6.1f} s, test accuracy per split {runs[name][-1][1]}", flush=True)
    one = min(wall for wall, _ in runs["one place"])
    two = min(wall for wall, _ in runs["two places"])
    same = all(a == b for (_, a), (_, b) in zip(runs["one place"], runs["two places"]))
    print(f"{args.splits} splits x {args.epochs} epochs of iris, {1e3 * args.latency:g} ms per pass: two places take "
          f"{two / one:.2f} x the wall time of one (best of {args.rounds}: {two:.1f} s against {one:.1f} s); "
          f"same accuracies: {same}")
    if args.json:
        print(json.dumps({"one_place_s": one, "two_places_s": two, "ratio": two / one, "same_accuracies": same,
                          "splits": args.splits, "epochs": args.epochs, "latency_s": args.latency}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
