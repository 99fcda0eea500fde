"""Peak memory of `phyll train` and `phyll eval` on a large CSV, beside the dataset's own size.

    python bench/bench_memory.py [--size-mb 200] [--epochs 2] [--keep DIR] [--json]

Writes a synthetic CSV of about --size-mb MB (12 numeric features with two decimals, 3 classes
whose means differ, so there is something to learn), trains on it through a noiseless
sim://acoustic, then evaluates the checkpoint on all its rows. Each command runs as a child
process; its peak RSS is the kernel's (wait4's ru_maxrss). The dataset's size in memory is what
phyll holds for it: float32 features plus int64 labels. The target: peak RSS <= 3x that + 0.5 GB.
A tiny run on the bundled wine data gives the interpreter's own floor (numpy, scipy, sklearn,
matplotlib).
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

import numpy as np

FEATURES, CLASSES = 12, 3
DEVICE = "sim://acoustic?noise=0&noise_floor=0"
_ROWS_PER_WRITE = 100_000


def write_csv(path: Path, size_mb: float, seed: int = 0) -> int:
    """Rows of N(class mean, 1) features until the file reaches size_mb; returns the row count."""
    rng = np.random.default_rng(seed)
    means = rng.normal(0, 1, (CLASSES, FEATURES))
    rows = 0
    with path.open("w") as fh:
        fh.write(",".join(f"f{i}" for i in range(FEATURES)) + ",label\n")
        while fh.tell() < size_mb * 1e6:
            labels = rng.integers(0, CLASSES, _ROWS_PER_WRITE)
            features = means[labels] + rng.normal(0, 1, (_ROWS_PER_WRITE, FEATURES))
            table = np.column_stack([features, labels])
            np.savetxt(fh, table, fmt=["%.2f"] * FEATURES + ["c%d"], delimiter=",")
            rows += _ROWS_PER_WRITE
    return rows


def run_child(argv: list[str]) -> tuple[int, float, float, str]:
    """(exit code, peak RSS in MiB, wall seconds, the last line it printed) of `phyll ARGV`."""
    code = "import sys; from phyll.cli import main; sys.exit(main(sys.argv[1:]))"
    started = time.monotonic()
    with tempfile.TemporaryFile("w+") as output:
        child = subprocess.Popen([sys.executable, "-c", code, *argv], stdout=output, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)  # reaps it, with its own rusage
        child.returncode = os.waitstatus_to_exitcode(status)
        output.seek(0)
        lines = output.read().strip().splitlines()
    return child.returncode, usage.ru_maxrss / 1024, time.monotonic() - started, lines[-1] if lines else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=float, default=200.0)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of the numbers")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = args.keep or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        csv_path = work / "large.csv"
        started = time.monotonic()
        rows = write_csv(csv_path, args.size_mb)
        file_mb = csv_path.stat().st_size / 1e6
        in_memory_mb = rows * (FEATURES * 4 + 8) / 2**20
        bound_mb = 3 * in_memory_mb + 512
        print(f"dataset: {csv_path.name}, {file_mb:.0f} MB on disk, {rows} rows x {FEATURES} features, "
              f"{CLASSES} classes (written in {time.monotonic() - started:.0f} s); in memory "
              f"{in_memory_mb:.0f} MiB; bound 3 x {in_memory_mb:.0f} + 512 = {bound_mb:.0f} MiB")
        runs = {
            "floor (wine, 1 epoch)": ["train", "--epochs", "1", "--quiet", "--device", DEVICE],
            f"train ({args.epochs} epochs)": [
                "train", "--dataset", str(csv_path), "--label-column", "label", "--device", DEVICE,
                "--epochs", str(args.epochs), "--eval-every", "0", "--out", str(work / "run"),
                "--json-out", str(work / "train.json"), "--quiet"],
            "eval --rows all": ["eval", str(work / "run" / "split-00" / "checkpoint.npz"), "--rows", "all",
                                "--json-out", str(work / "eval.json")],
        }
        results = {}
        print(f"{'command':<24} {'exit':>4} {'peak RSS':>10} {'x in-memory':>12} {'within bound':>13} {'wall':>7}")
        for name, argv in runs.items():
            code, peak_mb, wall, last = run_child(argv)
            within = peak_mb <= bound_mb
            results[name] = {"exit": code, "peak_rss_mib": round(peak_mb), "wall_s": round(wall, 1),
                             "within_bound": within, "last_line": last}
            print(f"{name:<24} {code:>4} {peak_mb:>7.0f} MiB {peak_mb / in_memory_mb:>11.2f}x "
                  f"{'yes' if within else 'NO':>13} {wall:>6.0f}s")
            if code:
                print(f"    {last}")
        if (work / "eval.json").is_file():
            measured = json.loads((work / "eval.json").read_text())
            print(f"eval: train {measured['train_accuracy']:.2f} %, test {measured['test_accuracy']:.2f} % "
                  f"on {measured['rows']['all']} rows")
            results["eval_accuracy"] = {k: measured[k] for k in ("train_accuracy", "test_accuracy")}
        if args.json:
            print(json.dumps({"rows": rows, "file_mb": round(file_mb), "in_memory_mib": round(in_memory_mb),
                              "bound_mib": round(bound_mb), "runs": results}))


if __name__ == "__main__":
    main()
