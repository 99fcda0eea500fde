"""How fast the emulated device is: the MicroPython firmware on a pty with a medium behind it.

Not a test: prints figures measured in one run, each beside the CPU time the parts used (on a
shared machine the wall clock also counts other people's work). Targets:

1. passes/s for 20->20 vectors through the emulated MicroPython device with a zero-latency medium
   (emu://loopback: the firmware reads the actuator codes back itself), batches of 256
   pipelined by the host Device: >= 500,000; median round trip of a batch of 1: <= 100 us.
   "bare link" figures drive the same firmware with pre-encoded frames from a bare select loop,
   without the host Device, to show which side limits. "medium thread" figures use the same
   loopback served by the emulator's CPython medium thread (`ThreadLoopback` below), the path
   every other medium takes.
2. the 200-epoch vowel run through emu://acoustic vs sim://acoustic: <= 1.5x the time, and
   accuracies within 1 point (`--splits 10` for the comparison that decides it). 2b splits the
   two runs' time into the trainer's forwards and its own work (in this process, no target).
3. with baud=1000000, payload bytes per second each way >= 90 % of the wire's 100,000.

    python bench/bench_link.py [--json] [--parts link,vowels,breakdown,uart] [--vectors N] [--splits K] [--rounds R]

With --json the last line is one JSON object: {"link": {setup: {"throughput": {...},
"round_trip": {...}}}, "vowels": {...}, "breakdown": {...}, "uart": {...}}.
"""
from __future__ import annotations

import argparse
import json
from contextlib import ExitStack
import os
import select
import statistics
import subprocess
import sys
import time
import tty
from pathlib import Path

import numpy as np

from phyll import protocol as p
from phyll.devices import open_device
from phyll.emulator import start_emulator
from phyll.media.loopback import Loopback

REPO = Path(__file__).resolve().parents[1]
VOWELS = REPO.parent / "shared" / "data" / "phyll-vowels" / "vowels.csv"
WIDTH = 20
BATCH = 256
IN_FLIGHT = 4
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class ThreadLoopback(Loopback):
    """emu://loopback without its firmware twin: served by the emulator's medium thread."""

    firmware_hal = None


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class CpuMeter:
    """CPU seconds used by this process (host Device + medium thread) and by the firmware."""

    def __init__(self, firmware_pid: int) -> None:
        self.firmware_pid = firmware_pid
        self.host0, self.firmware0 = time.process_time(), cpu_seconds(firmware_pid)

    def read(self) -> dict:
        return {"host_cpu_s": time.process_time() - self.host0,
                "firmware_cpu_s": cpu_seconds(self.firmware_pid) - self.firmware0}


def vectors(n: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, WIDTH))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


# -- 1. throughput and round trip ------------------------------------------------------------


class _Setup:
    """One way to drive the firmware: `trip()` runs one batch-1 EXCITE, `bulk(n)` makes the
    throughput run (passing at least n vectors) and returns it with the vectors it passes."""

    def __init__(self, name: str, firmware_pid: int, trip, bulk) -> None:
        self.name, self.firmware_pid, self.trip, self.bulk = name, firmware_pid, trip, bulk
        self.runs: list[tuple[float, dict]] = []
        self.trips: list[float] = []


def _device_setup(stack: ExitStack, name: str, medium: str) -> _Setup:
    url = f"emu://{medium}?width={WIDTH}&runtime=micropython&max_batch={BATCH}"
    device = stack.enter_context(open_device(url))
    one = vectors(1)
    y = device.forward(one)
    assert np.max(np.abs(y - one)) <= 2.0 / 32767, "the loopback medium did not loop back"

    def bulk(n_vectors: int):
        x = vectors(n_vectors)
        return (lambda: device.forward(x)), n_vectors

    return _Setup(name, device.describe()["emulator"]["pid"], lambda: device.forward(one), bulk)


def _bare_link_setup(stack: ExitStack) -> _Setup:
    """The firmware with the in-firmware loopback, driven by pre-encoded frames from a bare
    select loop (no host Device)."""
    emulator = stack.enter_context(start_emulator("loopback", {"width": WIDTH}, runtime="micropython",
                                                  max_batch=BATCH))
    fd = os.open(emulator.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    stack.callback(os.close, fd)
    tty.setraw(fd)
    link = _RawLink(fd)
    link.call(p.encode_frame(p.MsgType.HELLO, 0, p.pack_hello()))
    codes = p.quantize(vectors(BATCH), 1 / 32767)
    one = p.pack_excite_codes(codes[:1])
    seqs = iter(range(1 << 62))

    def trip() -> None:
        link.call(p.encode_frame(p.MsgType.EXCITE, 61000 + next(seqs) % 4000, one))

    def bulk(n_vectors: int):
        frames = [p.encode_frame(p.MsgType.EXCITE, 1 + i % 60000, p.pack_excite_codes(codes))
                  for i in range(max(1, n_vectors // BATCH))]
        return (lambda: link.pipeline(frames)), len(frames) * BATCH

    assert emulator.pid is not None
    return _Setup("bare link", emulator.pid, trip, bulk)


def link_figures(n_vectors: int, trips: int, repeats: int) -> dict:
    """Batch-1 round trips, then throughput, of the three setups taking turns (the machine's
    speed drifts minute to minute: each figure is compared with the others of the same minutes).
    Round trips come first: on the dev machine, once the throughput runs' ~100 MB of vectors
    exist, every round trip of the process is 20-70 us slower."""
    with ExitStack() as stack:
        setups = [_device_setup(stack, "host Device", "loopback"), _bare_link_setup(stack),
                  _device_setup(stack, "medium thread", "bench_link:ThreadLoopback")]
        blocks = 10
        for _ in range(blocks):
            for setup in setups:
                for _ in range(trips // blocks):
                    t0 = time.perf_counter()
                    setup.trip()
                    setup.trips.append(time.perf_counter() - t0)
        runs = [setup.bulk(n_vectors) for setup in setups]
        for run, _ in runs:
            run()  # warm-up
        for _ in range(repeats):
            for setup, (run, _) in zip(setups, runs):
                meter = CpuMeter(setup.firmware_pid)
                start = time.perf_counter()
                run()
                setup.runs.append((time.perf_counter() - start, meter.read()))
        return {setup.name: {"throughput": _throughput(setup.runs, passed),
                             "round_trip": _trip_stats(setup.trips)}
                for setup, (_, passed) in zip(setups, runs)}


def _throughput(runs: list[tuple[float, dict]], n_vectors: int) -> dict:
    """passes/s best and median over the runs, and the CPU per frame of the host process and of
    the firmware in the best run."""
    elapsed, cpu = min(runs, key=lambda r: r[0])
    frames = -(-n_vectors // BATCH)
    return {"passes_per_s": n_vectors / elapsed,
            "passes_per_s_median": n_vectors / statistics.median(r[0] for r in runs),
            "repeats": len(runs), "batch": BATCH, "frames": frames, "us_per_frame": 1e6 * elapsed / frames,
            "host_cpu_us_per_frame": 1e6 * cpu["host_cpu_s"] / frames,
            "firmware_cpu_us_per_frame": 1e6 * cpu["firmware_cpu_s"] / frames}


class _RawLink:
    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.parser = p.FrameParser()

    def call(self, frame: bytes) -> None:
        self.pipeline([frame])

    def pipeline(self, frames: list[bytes]) -> None:
        sent = received = 0
        pending = memoryview(b"")
        while received < len(frames):
            if not pending and sent < len(frames) and sent - received < IN_FLIGHT:
                pending = memoryview(frames[sent])
                sent += 1
            readable, writable, _ = select.select([self.fd], [self.fd] if pending else [], [], 10)
            if not readable and not writable:
                raise TimeoutError(f"no progress after {received} of {len(frames)} replies")
            if writable:
                pending = pending[os.write(self.fd, pending):]
            if readable:
                received += sum(isinstance(e, p.Frame) for e in self.parser.feed(os.read(self.fd, 65536)))


def _trip_stats(times: list[float]) -> dict:
    return {"median_us": 1e6 * statistics.median(times), "p10_us": 1e6 * np.percentile(times, 10),
            "p90_us": 1e6 * np.percentile(times, 90), "samples": len(times)}


# -- 2. the vowel task --------------------------------------------------------------------------


def vowel_figures(splits: int, epochs: int, rounds: int) -> dict:
    """sim and emu take turns `rounds` times (the machine's speed drifts); each scheme's best
    wall time counts, and every round's times are kept."""
    if not VOWELS.is_file():
        return {"skipped": f"no vowel data at {VOWELS}"}
    results: dict[str, dict] = {}
    for scheme in ("sim", "emu") * rounds:
        out = Path(f"/tmp/bench_link_{scheme}_{os.getpid()}.json")
        command = [sys.executable, "-c", "import sys; from phyll.cli import main; sys.exit(main())",
                   "train", "--dataset", str(VOWELS), "--label-column", "vowel",
                   "--device", f"{scheme}://acoustic", "--layers", "2", "--epochs", str(epochs),
                   "--splits", str(splits), "--quiet", "--json-out", str(out)]
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        summary = json.loads(out.read_text())
        out.unlink()
        walls = results.get(scheme, {}).get("walls_s", []) + [wall]
        results[scheme] = {"wall_s": min(walls), "walls_s": walls, "test_accuracy": summary["test_accuracy"],
                           "train_accuracy": summary["train_accuracy"],
                           "runtime": summary["device"].get("runtime")}
    return {"splits": splits, "epochs": epochs, "rounds": rounds, "sim": results["sim"], "emu": results["emu"],
            "time_ratio": results["emu"]["wall_s"] / results["sim"]["wall_s"],
            "accuracy_gap": abs(results["emu"]["test_accuracy"] - results["sim"]["test_accuracy"])}


class TimedTransform:
    """A physical transform passed through unchanged, the wall time of its forwards summed:
    what the trainer spends waiting for the physics, the rest being its own work."""

    def __init__(self, transform) -> None:
        self.transform = transform
        self.n_actuators, self.n_sensors = transform.n_actuators, transform.n_sensors
        self.encoding = transform.encoding
        self.forward_s = 0.0
        self.forwards = 0

    def forward(self, actuation: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        try:
            return self.transform.forward(actuation)
        finally:
            self.forward_s += time.perf_counter() - start
            self.forwards += 1

    def describe(self) -> dict:
        return self.transform.describe()

    def close(self) -> None:
        self.transform.close()


def breakdown_figures(splits: int, epochs: int, rounds: int) -> dict:
    """In this process, sim and emu taking turns: a vowel run's time in the trainer's forwards
    (the physics, seen from the trainer) and in its own work (local updates, layer outputs,
    evaluation arithmetic), from each scheme's fastest of `rounds` runs."""
    if not VOWELS.is_file():
        return {"skipped": f"no vowel data at {VOWELS}"}
    from phyll.cli import blas_threads
    from phyll.data import load_dataset
    from phyll.network import TrainConfig
    from phyll.training import SplitRun

    dataset = load_dataset(str(VOWELS), "vowel")
    results: dict[str, dict] = {}
    for scheme in ("sim", "emu") * rounds:
        with blas_threads(), open_device(f"{scheme}://acoustic") as device:  # as `phyll train` runs
            timed = TimedTransform(device)
            start = time.perf_counter()
            for seed in range(splits):
                SplitRun(dataset, timed, TrainConfig(epochs=epochs, seed=seed), seed).fit()
            wall = time.perf_counter() - start
        if scheme not in results or wall < results[scheme]["wall_s"]:
            results[scheme] = {"wall_s": wall, "forward_s": timed.forward_s,
                               "other_s": wall - timed.forward_s, "forwards": timed.forwards}
    return {"splits": splits, "epochs": epochs, "rounds": rounds, **results}


# -- 3. a UART's pace ---------------------------------------------------------------------------


def uart_figures(baud: int, seconds: float) -> dict:
    wire = baud / 10
    n = int(seconds * wire / (2 * WIDTH))
    with open_device(f"emu://loopback?width={WIDTH}&runtime=micropython&baud={baud}") as device:
        device.forward(vectors(8))
        start = time.perf_counter()
        device.forward(vectors(n))
        elapsed = time.perf_counter() - start
        max_batch = device.max_batch
    frames = -(-n // max_batch)
    payload_each_way = n * 2 * WIDTH + frames * p.BATCH_HEADER.size
    return {"baud": baud, "wire_bytes_per_s": wire, "vectors": n, "seconds": elapsed,
            "payload_bytes_per_s_each_way": payload_each_way / elapsed,
            "fraction_of_wire": payload_each_way / elapsed / wire}


def link_report(args) -> dict:
    figures = link_figures(args.vectors, args.trips, args.repeats)
    print(f"1. {WIDTH}->{WIDTH} through the MicroPython firmware, batches of {BATCH}, {IN_FLIGHT} in flight, "
          f"best (median) of {args.repeats} runs of {args.vectors:,} vectors, the setups taking turns:")
    for name, both in figures.items():
        tp = both["throughput"]
        print(f"   {name:13s}: {tp['passes_per_s']:>9,.0f} ({tp['passes_per_s_median']:,.0f}) passes/s  "
              f"({tp['us_per_frame']:.0f} us/frame; CPU per frame: host {tp['host_cpu_us_per_frame']:.0f} us, "
              f"firmware {tp['firmware_cpu_us_per_frame']:.0f} us)   target >= 500,000")
    for name, both in figures.items():
        trip = both["round_trip"]
        print(f"   batch-1 round trip, {name:13s}: median {trip['median_us']:.0f} us "
              f"(p10 {trip['p10_us']:.0f}, p90 {trip['p90_us']:.0f}; {trip['samples']} trips in 10 turns)   "
              "target <= 100 us")
    return {"link": figures}


def main() -> None:
    parser = argparse.ArgumentParser(description="How fast the emulated device is (see the module docstring).")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    parser.add_argument("--vectors", type=int, default=200_000, help="vectors for the throughput run")
    parser.add_argument("--repeats", type=int, default=3, help="throughput runs (best and median reported)")
    parser.add_argument("--trips", type=int, default=3000, help="batch-1 round trips to time")
    parser.add_argument("--splits", type=int, default=1, help="vowel splits per scheme (10 decides the accuracy)")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2, help="turns of sim and emu vowel runs (best of each counts)")
    parser.add_argument("--parts", default="link,vowels,breakdown,uart",
                        help="comma-separated: link (1: throughput, round trip), vowels (2), "
                             "breakdown (2b: forwards vs the trainer's own work), uart (3)")
    parser.add_argument("--breakdown-splits", type=int, default=2, help="vowel splits per scheme in 2b")
    parser.add_argument("--uart-seconds", type=float, default=4.0)
    args = parser.parse_args()

    parts = set(args.parts.split(","))
    unknown = parts - {"link", "vowels", "breakdown", "uart"}
    if unknown:
        parser.error(f"unknown part(s) {sorted(unknown)}; choose from link, vowels, breakdown, uart")
    report = {}
    if "link" in parts:
        report.update(link_report(args))
    if "vowels" in parts:
        vowels = report["vowels"] = vowel_figures(args.splits, args.epochs, args.rounds)
        if "skipped" in vowels:
            print(f"2. vowels: skipped, {vowels['skipped']}")
        else:
            walls = {scheme: " / ".join(f"{wall:.1f}" for wall in vowels[scheme]["walls_s"]) for scheme in ("sim", "emu")}
            print(f"2. vowels, {args.epochs} epochs, {args.splits} split(s), best of {args.rounds} turns: "
                  f"sim {vowels['sim']['wall_s']:.1f} s ({walls['sim']} s; "
                  f"{vowels['sim']['test_accuracy']:.2f} %), emu {vowels['emu']['wall_s']:.1f} s ({walls['emu']} s; "
                  f"{vowels['emu']['test_accuracy']:.2f} %, {vowels['emu']['runtime']}): "
                  f"ratio {vowels['time_ratio']:.2f} (target <= 1.5), accuracy gap "
                  f"{vowels['accuracy_gap']:.2f} points (target <= 1)")
    if "breakdown" in parts:
        split = report["breakdown"] = breakdown_figures(args.breakdown_splits, args.epochs, args.rounds)
        if "skipped" in split:
            print(f"2b. breakdown: skipped, {split['skipped']}")
        else:
            sim, emu = split["sim"], split["emu"]
            print(f"2b. where the vowel run's time goes ({args.breakdown_splits} split(s) in this process, fastest of "
                  f"{args.rounds} turns; {sim['forwards']} forwards each): sim {sim['forward_s']:.2f} s in forwards + "
                  f"{sim['other_s']:.2f} s the trainer's own work; emu {emu['forward_s']:.2f} s + {emu['other_s']:.2f} s; "
                  f"the emulated run's extra: {emu['forward_s'] - sim['forward_s']:.2f} s in forwards, "
                  f"{emu['other_s'] - sim['other_s']:.2f} s in the trainer's own work")
    if "uart" in parts:
        uart = report["uart"] = uart_figures(1_000_000, args.uart_seconds)
        print(f"3. baud {uart['baud']:,}: {uart['payload_bytes_per_s_each_way']:,.0f} payload bytes/s each way = "
              f"{100 * uart['fraction_of_wire']:.1f} % of the wire's {uart['wire_bytes_per_s']:,.0f}   "
              "target >= 90 %")
    if args.json:
        print(json.dumps(report))


if __name__ == "__main__":
    main()
