"""Time one forward pass of each built-in medium at its default size, batch 1 and batch 256.

Not a test: prints best-of-N wall times per call and per measurement with one BLAS thread (the
media's small solves and products lose to thread start-up otherwise, worst of all on a shared
machine). Every round times every case in turn, so a busy spell slows all of them alike. The
budget is < 1 ms per pass at batch 1. Beside the metasurface it times the solves of the plain
Schur form (one elements x elements solve per frequency) that its Woodbury update replaces.

    python bench/bench_media.py [--json] [--repeat N] [--threads T]

With --json the last line is one JSON object keyed by case:
{"acoustic": {"setup_ms": .., "batch1_us": .., "batch256_ms": .., "batch256_us_per_pass": ..}, ...,
 "plain_schur_solve_us": ..}
"""
import argparse
import json
import time

import numpy as np
from threadpoolctl import threadpool_limits

from phyll.media import load_medium

CASES = {  # label -> (medium, options); the first three are the defaults the budget is for
    "acoustic": ("acoustic", {}),
    "metasurface": ("metasurface", {}),
    "optical": ("optical", {}),
    "acoustic+imperfections": ("acoustic", dict(drift=0.015, temperature_drift=1.0)),
    "optical 64x64, 256 modes": ("optical", dict(slm=4096, camera=4096, modes=256)),
}
BATCHES = (1, 256)
ROUND_S = 0.05  # seconds of calls per case per round


def commands(medium, batch: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    if medium.encoding.encoder == "bits":
        return rng.integers(0, 2, (batch, medium.n_actuators)).astype(np.float32)
    x = rng.uniform(0, 1, (batch, medium.n_actuators))
    if medium.encoding.encoder == "l2":
        x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32)


def plain_schur_solve(elements: int = 40, frequencies: int = 20):
    """One (elements x elements) solve per frequency with two right-hand sides, on random
    matrices of the metasurface's shapes: the per-pass work of the form without Woodbury."""
    rng = np.random.default_rng(0)
    shape = (1, frequencies, elements, elements)
    system = rng.standard_normal(shape) + 1j * rng.standard_normal(shape) + 10 * np.eye(elements)
    rhs = rng.standard_normal((1, frequencies, elements, 2)) + 0j
    return lambda: np.linalg.solve(system, rhs)


def calls_per_round(call) -> int:
    call()  # warm caches and lazy set-up
    start = time.perf_counter()
    call()
    return max(1, int(ROUND_S / max(time.perf_counter() - start, 1e-6)))


def interleaved_best(calls: dict, repeat: int) -> dict:
    """Min over `repeat` rounds of each call's mean time, every round visiting every call."""
    counts = {key: calls_per_round(call) for key, call in calls.items()}
    best = dict.fromkeys(calls, float("inf"))
    for _ in range(repeat):
        for key, call in calls.items():
            start = time.perf_counter()
            for _ in range(counts[key]):
                call()
            best[key] = min(best[key], (time.perf_counter() - start) / counts[key])
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description="Time one forward pass of each built-in medium.")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    parser.add_argument("--repeat", type=int, default=7, help="timing rounds; the best is kept")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    args = parser.parse_args()
    setup_ms, calls = {}, {}
    with threadpool_limits(args.threads):
        for label, (name, options) in CASES.items():
            start = time.perf_counter()
            medium = load_medium(name, **options)
            setup_ms[label] = 1e3 * (time.perf_counter() - start)
            for batch in BATCHES:
                calls[label, batch] = lambda medium=medium, x=commands(medium, batch): medium.forward(x)
        calls["plain Schur"] = plain_schur_solve()
        best = interleaved_best(calls, args.repeat)
    results: dict = {label: {"setup_ms": setup_ms[label], "batch1_us": 1e6 * best[label, 1],
                             "batch256_ms": 1e3 * best[label, 256],
                             "batch256_us_per_pass": 1e6 * best[label, 256] / 256} for label in CASES}
    results["plain_schur_solve_us"] = plain = 1e6 * best["plain Schur"]

    print(f"{'medium':28s} {'set-up ms':>10s} {'batch 1 us':>11s} {'batch 256 ms':>13s} {'us/pass @256':>13s}")
    for label in CASES:
        r = results[label]
        print(f"{label:28s} {r['setup_ms']:10.1f} {r['batch1_us']:11.1f} {r['batch256_ms']:13.2f} "
              f"{r['batch256_us_per_pass']:13.1f}")
    woodbury = results["metasurface"]["batch1_us"]
    print(f"metasurface, batch 1: the whole pass {woodbury:.0f} us; the plain Schur form's solves "
          f"alone {plain:.0f} us ({plain / woodbury:.2f} x the whole pass)")
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
