"""SIGTERM `phyll train` at random moments, then continue each run with the command it printed.

    python bench/bench_signals.py [--runs 10] [--device URL] [--epochs 1500] [--seed 0] [--json]

One uninterrupted run first, then --runs runs each sent SIGTERM at a moment drawn uniformly over
the first 90 % of the uninterrupted run's training time (from its progress bar's first line to
its "split seed" line), so the signal lands in training, not in the interpreter's start-up or
the final plots, even when the machine's speed drifts. For each: the exit code, whether
checkpoint-interrupted.npz was saved and at which epoch, the JSON's status, the firmware
processes left behind (emu:// devices), and the continued run's accuracies and weights against
the uninterrupted run's. The continuation is the very command the stopped run printed.

Through a noiseless medium (the default device) a continued run must end bit for bit where the
uninterrupted one did. With measurement noise it cannot: a reopened medium restarts its seeded
noise stream, so the continued epochs see other noise (reported as the accuracy difference).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
VOWELS = REPO.parent / "shared" / "data" / "phyll-vowels" / "vowels.csv"
LAUNCH = [sys.executable, "-c", "import sys; from phyll.cli import main; sys.exit(main(sys.argv[1:]))"]


def train_argv(args, out: Path) -> list[str]:
    data = ["--dataset", str(VOWELS), "--label-column", "vowel"] if VOWELS.is_file() else []
    return ["train", *data, "--device", args.device, "--epochs", str(args.epochs), "--eval-every", "50",
            "--out", str(out), "--json-out", str(out / "summary.json")]


def start(argv: list[str]) -> subprocess.Popen:
    # Without --quiet and into a pipe, the progress bar prints its first line as training starts.
    return subprocess.Popen([*LAUNCH, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_for(child: subprocess.Popen, text: str) -> float:
    """Blocks until the child prints `text`; returns that moment (monotonic). Reads what has
    arrived, not lines: a progress bar into a pipe ends its line only when it closes."""
    seen = ""
    while chunk := os.read(child.stderr.fileno(), 4096).decode(errors="replace"):
        seen = seen[-len(text):] + chunk
        if text in seen:
            return time.monotonic()
    raise RuntimeError(f"the run ended before it printed {text!r}")


def firmware_children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def final_weights(out: Path) -> list[np.ndarray]:
    with np.load(out / "split-00" / "checkpoint.npz") as archive:
        return [archive[k] for k in sorted(archive.files) if k.startswith("layer") and k.endswith(".W")]


def uninterrupted(args, work: Path) -> dict:
    out = work / "straight"
    child = start(train_argv(args, out))
    began = wait_for(child, "epochs")
    took = wait_for(child, "split seed") - began
    child.communicate()
    code = child.returncode
    summary = json.loads((out / "summary.json").read_text())
    assert code == 0 and summary["status"] == "completed", (code, summary.get("error"))
    return {"out": out, "training_s": took, "test": summary["test_accuracy"], "train": summary["train_accuracy"]}


def interrupted(args, work: Path, index: int, delay: float, reference: dict) -> dict:
    out = work / f"run-{index:02d}"
    child = start(train_argv(args, out))
    wait_for(child, "epochs")
    time.sleep(delay)
    helpers = firmware_children(child.pid)
    child.terminate()
    stderr = child.communicate()[1].decode()
    code = child.returncode
    time.sleep(0.5)  # the firmware's own exit after its host hung up
    left = [pid for pid in helpers if alive(pid)]
    saved = out / "split-00" / "checkpoint-interrupted.npz"
    summary = json.loads((out / "summary.json").read_text()) if (out / "summary.json").is_file() else {}
    row = {"delay_s": delay, "exit": code, "status": summary.get("status"), "checkpoint_epoch": None,
           "firmware_left": left, "resume_exit": None, "test": None, "train": None, "same_weights": False,
           "said": stderr.strip().splitlines()[-1] if stderr.strip() else ""}
    if not saved.is_file():
        return row
    with np.load(saved) as archive:
        row["checkpoint_epoch"] = json.loads(str(archive["__meta__"]))["epoch"]
    resume = shlex.split(stderr.rsplit("continue with: ", 1)[1].strip().splitlines()[0])
    assert resume[0] == "phyll", resume
    row["resume_exit"] = subprocess.run([*LAUNCH, *resume[1:], "--quiet"], capture_output=True).returncode
    resumed = json.loads((out / "summary.json").read_text())
    row.update(test=resumed.get("test_accuracy"), train=resumed.get("train_accuracy"),
               same_weights=all(np.array_equal(a, b) for a, b in zip(final_weights(out),
                                                                     final_weights(reference["out"]))))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--device", default="sim://acoustic?noise=0&noise_floor=0")
    parser.add_argument("--epochs", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0, help="seeds the moments of the signals")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of the results")
    args = parser.parse_args()
    moments = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        reference = uninterrupted(args, work)
        print(f"{args.device}, {args.epochs} epochs: uninterrupted test {reference['test']:.2f} %, "
              f"train {reference['train']:.2f} %, training took {reference['training_s']:.1f} s")
        print(f"{'run':>3} {'SIGTERM at':>10} {'exit':>4} {'status':>11} {'ckpt epoch':>10} {'fw left':>7} "
              f"{'resume':>6} {'test %':>7} {'train %':>7} {'same W':>6}")
        rows = []
        for index in range(args.runs):
            row = interrupted(args, work, index, moments.uniform(0, 0.9 * reference["training_s"]), reference)
            rows.append(row)
            if row["checkpoint_epoch"] is None:
                print(f"{index:>3} {row['delay_s']:>9.2f}s {row['exit']:>4} {row['status']!s:>11}  no checkpoint: "
                      f"{row['said']}")
                continue
            print(f"{index:>3} {row['delay_s']:>9.2f}s {row['exit']:>4} {row['status']:>11} "
                  f"{row['checkpoint_epoch']:>10} {len(row['firmware_left']):>7} {row['resume_exit']:>6} "
                  f"{row['test']:>7.2f} {row['train']:>7.2f} {'yes' if row['same_weights'] else 'no':>6}")
        saved = [r for r in rows if r["checkpoint_epoch"] is not None]
        exact = sum(r["test"] == reference["test"] and r["train"] == reference["train"] for r in saved)
        differences = [abs(r["test"] - reference["test"]) for r in saved if r["test"] is not None]
        print(f"{sum(r['exit'] == 143 for r in saved)}/{len(rows)} exited 143 with a checkpoint; "
              f"{exact}/{len(rows)} resumed to the uninterrupted accuracies, "
              f"{sum(r['same_weights'] for r in rows)}/{len(rows)} to its weights bit for bit; "
              f"max |test difference| {max(differences, default=float('nan')):.2f} points; "
              f"firmware processes left: {sum(len(r['firmware_left']) for r in rows)}")
        if args.json:
            print(json.dumps({"device": args.device, "reference": {k: reference[k] for k in ("test", "train")},
                              "runs": rows}))


if __name__ == "__main__":
    main()
