"""The robustness experiment where the physics matters, beside its constant-medium control.

    python bench/bench_robustness.py [--seeds 5] [--only NAME[,NAME]] [--out DIR]

Runs `phyll experiment perturbation` (in this process, one BLAS thread) for each setting below
and prints its two summary lines: the physics and the constant-medium control, each with the
accuracy before the perturbation, right after it for both arms (in situ, the stale twin), 20
epochs later, and the epochs until in situ is back within 1 point, means with 95 % t-intervals
over the seeds. DIR keeps each setting's perturbation.json and .png.

- digits-optical-redraw: 8x8 digits through sim://optical, where the physics adds ~5 points over
  the constant medium (bench_controls.py); the scattering medium redrawn (eps 0.5) after 60 of
  100 epochs.
- vowels-noskip-acoustic-redraw: the vowels without the skip through the calibrated acoustic
  medium (labels on the heard drives), where the physics carries the whole result; an object
  moved in the room (redraw eps 0.5).
- vowels-acoustic-gain: the vowels with the skip, a +6 dB gain step: the setting in which a
  constant medium showed the same "in-situ advantage" as the physics.
"""
from __future__ import annotations

import argparse
import json
import sys
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path

from threadpoolctl import threadpool_limits

from phyll.cli import main
from phyll.cli.experiment_cmd import summary_line

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
VOWELS = ["--dataset", str(SHARED / "phyll-vowels" / "vowels.csv"), "--label-column", "vowel"]
COMMON = ["--epochs", "100", "--perturb-epoch", "60", "--recover-epochs", "40", "--window", "5"]

SETTINGS = {
    "digits-optical-redraw": ["--dataset", "builtin:digits", "--device", "sim://optical",
                              "--perturb-kind", "redraw", "--perturb-size", "0.5", "--twin", "linear"],
    "vowels-noskip-acoustic-redraw": [*VOWELS, "--device", "sim://acoustic", "--no-skip", "--placement",
                                      "sensitive", "--perturb-kind", "redraw", "--perturb-size", "0.5",
                                      "--twin", "magnitude"],
    "vowels-acoustic-gain": [*VOWELS, "--device", "sim://acoustic", "--perturb-kind", "gain",
                             "--perturb-size", "6", "--twin", "magnitude"],
}


def main_bench() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--only", help=f"comma-separated settings of: {', '.join(SETTINGS)}")
    parser.add_argument("--out", type=Path, default=Path("robustness"))
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(SETTINGS)
    for name in names:
        if name not in SETTINGS:
            parser.error(f"unknown setting {name!r}; choose from {', '.join(SETTINGS)}")
        if "--label-column" in SETTINGS[name] and not (SHARED / "phyll-vowels" / "vowels.csv").is_file():
            print(f"{name}: skipped, the vowels are not in {SHARED}")
            continue
        out = args.out / name
        with redirect_stdout(StringIO()), threadpool_limits(1):
            code = main(["experiment", "perturbation", *SETTINGS[name], *COMMON, "--seeds", str(args.seeds),
                         "--out", str(out)])
        if code != 0:
            sys.exit(f"{name}: phyll experiment exited {code}")
        result = json.loads((out / "perturbation.json").read_text())
        print(f"## {name}")
        for arm in ("physics", "control"):
            print(summary_line(arm, result[arm], result["plan"]), flush=True)


if __name__ == "__main__":
    main_bench()
