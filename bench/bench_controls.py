"""How much of each result the physics earns: every task beside its controls, over 10 splits.

    python bench/bench_controls.py [--splits 10] [--only NAME[,NAME]] [--json FILE]
    python bench/bench_controls.py --depth [--splits 10]

Runs `phyll train --controls on` (in this process, one BLAS thread) for each row below and prints
a markdown table: the physics' test accuracy, the constant and noise media's, the logistic
regression's, and the physics' contribution (physics minus constant), each mean ± std over the
splits. Hyper-parameters are the paper's for the vowels (2 layers 40 -> 20, theta 4, lr 5e-4,
10 inner steps, full batch, 200 epochs) unless a row says otherwise. Rows on `sim://twin` train
through a twin of the paper's recorded cavity (`phyll twin fit --model magnitude` on
../shared/data/phyll-acoustic); they are left out when the recordings are missing, as the vowel
rows are without ../shared/data/phyll-vowels.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from contextlib import redirect_stderr, redirect_stdout
from io import StringIO
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from phyll.cli import main

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
VOWELS = ["--dataset", str(SHARED / "phyll-vowels" / "vowels.csv"), "--label-column", "vowel"]
DIGITS = ["--dataset", "builtin:digits"]
NO_SKIP = ["--no-skip"]
PLACED = ["--no-skip", "--placement", "sensitive"]
TUNED = [*PLACED, "--layers", "1", "--lr", "2e-3"]

# name: (task, device, extra flags)
ROWS = {
    "vowels-acoustic": ("vowels", "sim://acoustic", []),
    "vowels-optical": ("vowels", "sim://optical", []),
    "vowels-metasurface": ("vowels", "sim://metasurface", []),
    "vowels-noskip-acoustic": ("vowels", "sim://acoustic", NO_SKIP),
    "vowels-noskip-optical": ("vowels", "sim://optical", NO_SKIP),
    "vowels-noskip-metasurface": ("vowels", "sim://metasurface", NO_SKIP),
    "vowels-noskip-placed-acoustic": ("vowels", "sim://acoustic", PLACED),
    "vowels-noskip-placed-1layer-paperlr-acoustic": ("vowels", "sim://acoustic", [*PLACED, "--layers", "1"]),
    "vowels-noskip-placed-1layer-acoustic": ("vowels", "sim://acoustic", TUNED),
    "vowels-noskip-ideal-acoustic": ("vowels", "sim://acoustic?ideal=true", NO_SKIP),
    "vowels-twin": ("vowels", "twin", []),
    "vowels-noskip-twin": ("vowels", "twin", NO_SKIP),
    "vowels-noskip-placed-twin": ("vowels", "twin", PLACED),
    "vowels-noskip-placed-1layer-twin": ("vowels", "twin", TUNED),
    "digits-optical": ("digits", "sim://optical", []),
    "digits-noskip-optical": ("digits", "sim://optical", NO_SKIP),
}


def twin_url(folder: Path) -> str | None:
    x, y = SHARED / "phyll-acoustic" / "x_data.csv", SHARED / "phyll-acoustic" / "y_data.csv"
    if not x.is_file():
        return None
    out = folder / "cavity.twin.npz"
    with redirect_stdout(StringIO()):
        if main(["twin", "fit", "--x", str(x), "--y", str(y), "--out", str(out)]) != 0:
            raise SystemExit("phyll twin fit failed on the paper's recordings")
    return f"sim://twin?path={out}"


def run_row(name: str, splits: int, folder: Path, twin: str | None) -> dict | None:
    task, device, extra = ROWS[name]
    if task == "vowels" and not (SHARED / "phyll-vowels" / "vowels.csv").is_file():
        return None
    if device == "twin":
        if twin is None:
            return None
        device = twin
    out = folder / f"{name}.json"
    started = time.monotonic()
    with redirect_stdout(StringIO()), redirect_stderr(StringIO()):
        code = main(["train", *(VOWELS if task == "vowels" else DIGITS), "--device", device,
                     "--splits", str(splits), "--eval-every", "0", "--controls", "on", "--quiet",
                     "--json-out", str(out), *extra])
    if code != 0:
        raise SystemExit(f"{name}: phyll train exited {code}")
    summary = json.loads(out.read_text())
    return {"name": name, "task": task, "device": ROWS[name][1], "flags": " ".join(extra),
            "seconds": time.monotonic() - started, "splits": splits,
            "physics": [summary["test_accuracy"], summary["test_accuracy_std"]],
            **{control: [summary["controls"][control]["test_accuracy"],
                         summary["controls"][control]["test_accuracy_std"]]
               for control in ("constant", "noise", "logistic_regression")},
            "contribution": [summary["physics_contribution"]["mean"], summary["physics_contribution"]["std"]]}


def depth_rows(splits: int, folder: Path, layers: int = 6) -> list[str]:
    """Test accuracy using layers 1..k of a `layers`-deep network (each layer learns locally, so
    the first k layers are a k-layer network), mean ± std over the splits."""
    lines = []
    for label, flags in (("skip", []), ("no skip, placed", PLACED)):
        out = folder / f"depth-{len(flags)}"
        with redirect_stdout(StringIO()), redirect_stderr(StringIO()):
            code = main(["train", *VOWELS, "--device", "sim://acoustic", "--splits", str(splits),
                         "--layers", str(layers), "--eval-every", "0", "--controls", "off", "--quiet",
                         "--out", str(out), *flags])
        if code != 0:
            raise SystemExit(f"depth ({label}): phyll train exited {code}")
        by_depth = np.asarray([json.loads(path.read_text())["history"]["evaluations"][-1]["test"]
                               for path in sorted(out.glob("split-*/metrics.json"))])
        lines.append(f"| {label} | " + " | ".join(f"{m:.1f} ± {d:.1f}" for m, d in
                                                 zip(by_depth.mean(axis=0), by_depth.std(axis=0))) + " |")
    return lines


def table_row(row: dict) -> str:
    def cell(pair):
        return f"{pair[0]:.1f} ± {pair[1]:.1f}"

    return (f"| {row['task']} | `{row['device']}` | {row['flags'] or 'paper'} | {cell(row['physics'])} | "
            f"{cell(row['constant'])} | {cell(row['noise'])} | {cell(row['logistic_regression'])} | "
            f"{row['contribution'][0]:+.1f} ± {row['contribution'][1]:.1f} |")


def main_bench() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--splits", type=int, default=10)
    parser.add_argument("--only", help=f"comma-separated rows of: {', '.join(ROWS)}")
    parser.add_argument("--json", type=Path, help="write every row here")
    parser.add_argument("--depth", action="store_true",
                        help="instead: the vowels through sim://acoustic, accuracy by depth of a 6-layer "
                        "network, with the skip and without it (labels placed on the heard drives)")
    args = parser.parse_args()
    if args.depth:
        with tempfile.TemporaryDirectory() as tmp, threadpool_limits(1):
            print("| layers used | " + " | ".join(f"1..{k}" for k in range(1, 7)) + " |")
            print("| --- |" + " --- |" * 6)
            for line in depth_rows(args.splits, Path(tmp)):
                print(line, flush=True)
        return
    names = args.only.split(",") if args.only else list(ROWS)
    unknown = [name for name in names if name not in ROWS]
    if unknown:
        parser.error(f"unknown rows {unknown}; choose from {', '.join(ROWS)}")
    print("| task | device | flags | physics | constant medium | noise medium | logistic regression "
          "| physics contribution (points) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    rows = []
    with tempfile.TemporaryDirectory() as tmp, threadpool_limits(1):
        folder = Path(tmp)
        twin = twin_url(folder)
        for name in names:
            row = run_row(name, args.splits, folder, twin)
            if row is None:
                print(f"| {name}: skipped, its data is missing from {SHARED} | | | | | | | |", flush=True)
                continue
            rows.append(row)
            print(table_row(row), flush=True)
            print(f"  ({name}: {row['seconds']:.0f} s)", file=sys.stderr, flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main_bench()
