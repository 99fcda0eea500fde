"""How long `phyll flash` takes on the emulated board: a first flash (compiling, as on a new
machine) against a second one that finds every file up to date. Issue 14's target: the second
takes at most 1/3 of the first.

Not a test: prints the flash's own times (`phyll flash --json` "seconds", without the ~0.8 s a
command spends starting Python) for --rounds fresh boards, and their ratio.

    python bench/bench_flash.py [--rounds N] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

BIN = Path(sys.executable).parent


def flash(path: str, env: dict) -> dict:
    done = subprocess.run([str(BIN / "phyll"), "flash", "--board", "emu", "--port", path, "--json"],
                          capture_output=True, text=True, env=env, timeout=300, check=True)
    return json.loads(done.stdout)["firmware"]


def one_round() -> tuple[dict, dict]:
    with tempfile.TemporaryDirectory() as scratch:
        env = {**os.environ, "XDG_CACHE_HOME": str(Path(scratch) / "cache")}  # nothing compiled yet
        board = subprocess.Popen([str(BIN / "phyll"), "emulate", "--fs", str(Path(scratch) / "flash")],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        try:
            path = board.stdout.readline().strip()
            return flash(path, env), flash(path, env)
        finally:
            board.send_signal(signal.SIGTERM)
            board.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = [one_round() for _ in range(args.rounds)]
    ratios = [second["seconds"] / first["seconds"] for first, second in rows]
    for (first, second), ratio in zip(rows, ratios):
        print(f"first {first['copied_files']} files, {first['copied_bytes']:,} bytes in {first['seconds']:.3f} s; "
              f"second {second['copied_files']} files in {second['seconds']:.3f} s: {ratio:.2f} of the first")
    print(f"ratio median {statistics.median(ratios):.2f}, max {max(ratios):.2f} (target <= 0.33)")
    if args.json:
        print(json.dumps({"rounds": [{"first_s": f["seconds"], "second_s": s["seconds"]} for f, s in rows],
                          "ratio_median": statistics.median(ratios), "ratio_max": max(ratios)}))


if __name__ == "__main__":
    main()
