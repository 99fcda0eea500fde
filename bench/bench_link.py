"""How fast the one host link is: the emulated device on its pty, and rigs behind ser2net.

Not a test: prints figures measured in one run, side by side (on a shared machine the clock also
counts other people's work, so the setups take turns). Targets (issue 12):

1. link: 20->20 vectors through the MicroPython firmware with a zero-latency medium
   (emu://loopback: the firmware reads the actuator codes back itself), batches of 256
   pipelined by the host Device: >= 500,000 passes/s; median batch-1 round trip <= 300 us.
   "bare link" drives the same firmware with pre-encoded frames from a bare select loop, no
   Device: the floor of the pty and the firmware. "medium thread" serves the same loopback
   from the emulator's CPython medium thread, the path every numpy medium takes.
2. transports: the 200-epoch vowel run (1 split) through the emulator's pty, then through
   ser2net in front of that pty as labgrid's exporter starts it (tests/ser2net.py), reached as
   `socket://` (a raw tcp accepter) and `rfc2217://...?ign_set_control` (the telnet accepter):
   each <= 5x the pty's time. Beside them the floor of each transport: the seconds a bare
   pyserial client of the same URL needs only to move the run's bytes through ser2net (every
   request and reply of the run, replayed against an echo device), with no phyll in the loop.
3. vowels: the same run through emu://acoustic and sim://acoustic: accuracies within 1 point
   (`--splits 10` decides it); the time ratio is printed, with no target.
4. uart: with baud=1000000, payload bytes per second each way >= 90 % of the wire's 100,000.
5. faults (issue 13): the vowel run (`--fault-epochs`, default 100, 1 split) through
   emu://acoustic with seeded link faults on both directions -- corrupt r, drop r/10 per byte --
   for r = 0, 1e-6, 1e-5, 1e-4, 1e-3: each completes with the clean run's test accuracy, in at
   most 1.2x / 1.5x / 3x / 10x the clean run's time; at r = 1e-2 the error names the link's error
   rate within 10 s. Beside each damaged run its floor: the same run on a clean link with frames
   no bigger than the damaged run ended with (`max_batch=`), i.e. what those frames cost alone.
6. firmwares (issue 16): the three emulated devices side by side -- the MicroPython firmware on
   the unix port, the C++ firmware's host build (firmware=cpp) and its Cortex-M3 image under
   qemu-system-arm (firmware=cpp-arm) -- each with its in-firmware loopback (20->20): passes/s
   in batches of 256 and the median batch-1 round trip, the setups taking turns (QEMU's UARTs
   take ~20 KB/s, so the ARM image gets --arm-vectors and --arm-trips); then the vowel run
   (`--firmware-epochs`, default 200; `--firmware-splits`, default 3) through emu://acoustic on
   each: test accuracies within 1 point of the MicroPython firmware's.

    python bench/bench_link.py [--json] [--parts link,transports,vowels,uart,faults,firmwares] [--vectors N] [--splits K] [--rounds R]

With --json the last line is one JSON object: {"link": {setup: {"throughput": {...},
"round_trip": {...}}}, "transports": {...}, "vowels": {...}, "uart": {...}, "firmwares": {...}}.
"""
from __future__ import annotations

import argparse
import json
from contextlib import ExitStack
import os
import select
import socket
import statistics
import subprocess
import sys
import tempfile
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
TCP_QUICKACK = getattr(socket, "TCP_QUICKACK", 12)  # Linux


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


# -- 2. transports: the emulator's pty, and ser2net in front of it ----------------------------

ECHO_DEVICE = r"""
import os
while True:
    data = os.read(0, 65536)
    if not data:
        break
    view = memoryview(data)
    while view:
        view = view[os.write(0, view):]
"""


def _train(url: str, epochs: int, out: Path, splits: int = 1) -> tuple[float, dict]:
    """`phyll train` on the vowels through `url`, as a user runs it: (wall seconds, its JSON)."""
    command = [sys.executable, "-c", "import sys; from phyll.cli import main; sys.exit(main())",
               "train", "--dataset", str(VOWELS), "--label-column", "vowel", "--device", url,
               "--layers", "2", "--epochs", str(epochs), "--splits", str(splits), "--quiet", "--json-out", str(out)]
    start = time.perf_counter()
    # in out's folder: whatever the run writes there (a failed run's checkpoint) stays out of the repo
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=out.parent)
    wall = time.perf_counter() - start
    summary = json.loads(out.read_text())
    out.unlink()
    return wall, summary


def _pty_device(stack: ExitStack, script: str) -> str:
    """A process serving `script` on a raw pty's master; returns the slave path."""
    master, slave = os.openpty()
    tty.setraw(slave)
    process = subprocess.Popen([sys.executable, "-c", script], stdin=master, stdout=master)
    os.close(master)
    stack.callback(os.close, slave)
    stack.callback(process.wait)
    stack.callback(process.kill)
    return os.ttyname(slave)


def _bare_round_trips(url: str, trips: int, size: int) -> float:
    """Seconds a bare pyserial client needs for `trips` echo round trips of `size` bytes: one
    write, one read of all of it, and over TCP the ACK sent at once as the link engine does."""
    import serial

    payload = (bytes(range(256)) * (size // 256 + 1))[:size]
    port = serial.serial_for_url(url, timeout=5)
    tcp = getattr(port, "_socket", None)
    try:
        start = time.perf_counter()
        for _ in range(trips):
            port.write(payload)
            if tcp is not None:
                tcp.setsockopt(socket.IPPROTO_TCP, TCP_QUICKACK, 1)
            if len(port.read(size)) != size:
                raise TimeoutError(f"{url}: the echo stopped short of {size} bytes")
        return time.perf_counter() - start
    finally:
        port.close()


def transport_figures(epochs: int, rounds: int) -> dict:
    """The vowel run through the pty, socket:// and rfc2217:// (one emulator, ser2net in front
    of its pty), taking turns `rounds` times, the best of each counting; then each transport's
    floor: the run's requests as echo round trips of the same mean size, by a bare client."""
    if not VOWELS.is_file():
        return {"skipped": f"no vowel data at {VOWELS}"}
    sys.path.insert(0, str(REPO / "tests"))
    from ser2net import Ser2net, missing_reason  # a test utility, not part of phyll

    if missing_reason():
        return {"skipped": missing_reason()}
    results: dict[str, dict] = {}
    with ExitStack() as stack:
        emulate = subprocess.Popen([sys.executable, "-c", "import sys; from phyll.cli import main; sys.exit(main())",
                                    "emulate", "--medium", "acoustic", "--runtime", "micropython"],
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        stack.callback(emulate.wait)
        stack.callback(emulate.terminate)
        path = emulate.stdout.readline().strip()
        relay = stack.enter_context(Ser2net(path))
        urls = {"pty": path, "socket": relay.socket_url, "rfc2217": relay.rfc2217_url}
        out = Path(f"/tmp/bench_link_transport_{os.getpid()}.json")
        for _ in range(rounds):
            for name, url in urls.items():
                wall, summary = _train(url, epochs, out)
                counters = summary["device"]["counters"]
                best = results.get(name)
                walls = (best["walls_s"] if best else []) + [wall]
                results[name] = {"url": url, "wall_s": min(walls), "walls_s": walls,
                                 "test_accuracy": summary["test_accuracy"],
                                 "requests": counters["requests"], "bytes_out": counters["bytes_out"],
                                 "bytes_in": counters["bytes_in"], "retries": counters["retries"],
                                 "latency_ms_p50": counters.get("latency_ms_p50"),
                                 "latency_ms_p99": counters.get("latency_ms_p99")}
    run = results["pty"]
    trips, size = run["requests"], max(1, (run["bytes_out"] + run["bytes_in"]) // (2 * run["requests"]))
    with ExitStack() as stack:
        echo = _pty_device(stack, ECHO_DEVICE)
        relay = stack.enter_context(Ser2net(echo))
        floors = {"pty": echo, "socket": relay.socket_url, "rfc2217": relay.rfc2217_url}
        for name, url in floors.items():
            results[name]["floor_s"] = _bare_round_trips(url, trips, size)
    for name in results:
        results[name]["ratio_to_pty"] = results[name]["wall_s"] / results["pty"]["wall_s"]
    return {"epochs": epochs, "rounds": rounds, "floor_trips": trips, "floor_bytes_each_way": size, **results}


# -- 3. the vowel task --------------------------------------------------------------------------


def vowel_figures(splits: int, epochs: int, rounds: int) -> dict:
    """sim and emu take turns `rounds` times (the machine's speed drifts); each scheme's best
    wall time counts, and every round's times are kept."""
    if not VOWELS.is_file():
        return {"skipped": f"no vowel data at {VOWELS}"}
    results: dict[str, dict] = {}
    out = Path(f"/tmp/bench_link_vowels_{os.getpid()}.json")
    for scheme in ("sim", "emu") * rounds:
        wall, summary = _train(f"{scheme}://acoustic", epochs, out, splits)
        walls = results.get(scheme, {}).get("walls_s", []) + [wall]
        results[scheme] = {"wall_s": min(walls), "walls_s": walls, "test_accuracy": summary["test_accuracy"],
                           "train_accuracy": summary["train_accuracy"],
                           "runtime": summary["device"].get("runtime")}
    return {"splits": splits, "epochs": epochs, "rounds": rounds, "sim": results["sim"], "emu": results["emu"],
            "time_ratio": results["emu"]["wall_s"] / results["sim"]["wall_s"],
            "accuracy_gap": abs(results["emu"]["test_accuracy"] - results["sim"]["test_accuracy"])}


# -- 5. link faults ------------------------------------------------------------------------------

FAULT_RATES = (0.0, 1e-6, 1e-5, 1e-4, 1e-3)
FAULT_TARGETS = {1e-6: 1.2, 1e-5: 1.5, 1e-4: 3.0, 1e-3: 10.0}
UNUSABLE_RATE = 1e-2


def fault_figures(epochs: int) -> dict:
    """The vowel run through emu://acoustic behind seeded link faults at each rate, then the
    unusable rate's error and how long it took to come."""
    if not VOWELS.is_file():
        return {"skipped": f"no vowel data at {VOWELS}"}
    with tempfile.TemporaryDirectory(prefix="bench_link_faults_") as folder:
        return _fault_runs(epochs, Path(folder) / "run.json")


def _fault_runs(epochs: int, out: Path) -> dict:
    runs = {}
    for rate in FAULT_RATES:
        url = "emu://acoustic?seed=0&runtime=micropython" + (f"#flip={rate}&drop={rate / 10}&fault_seed=1" if rate else "")
        wall, summary = _train(url, epochs, out)
        device = summary["device"]
        runs[rate] = {"url": url, "wall_s": wall, "test_accuracy": summary["test_accuracy"],
                      "counters": {k: device["counters"][k] for k in ("requests", "retries", "crc_errors",
                                   "bad_crc_replies", "truncated_replies", "lost_replies", "timeouts", "probes")},
                      "frames": device["frames"], "error_per_byte": device["link"]["error_per_byte"],
                      "device_status": {k: device["device_status"].get(k) for k in ("excites", "duplicates", "crc_errors")}}
    clean = runs[0.0]
    for rate, run in runs.items():
        run["time_ratio"] = run["wall_s"] / clean["wall_s"]
        run["accuracy_gap"] = run["test_accuracy"] - clean["test_accuracy"]
        vectors = run["frames"]["vectors_per_excite"]
        if rate and vectors < run["frames"]["max_batch"]:
            floor_wall, _ = _train(f"emu://acoustic?seed=0&runtime=micropython&max_batch={vectors}", epochs, out)
            run["floor"] = {"max_batch": vectors, "wall_s": floor_wall, "time_ratio": floor_wall / clean["wall_s"]}
    url = f"emu://acoustic?seed=0&runtime=micropython#flip={UNUSABLE_RATE}&drop={UNUSABLE_RATE / 10}&fault_seed=1"
    command = [sys.executable, "-c", "import sys; from phyll.cli import main; sys.exit(main())",
               "train", "--dataset", str(VOWELS), "--label-column", "vowel", "--device", url,
               "--epochs", str(epochs), "--quiet"]
    start = time.perf_counter()
    result = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=out.parent)
    unusable = {"url": url, "exit_code": result.returncode, "seconds": time.perf_counter() - start,
                "error": next((line for line in result.stderr.splitlines() if "error" in line), result.stderr[-300:])}
    return {"epochs": epochs, "runs": {str(rate): run for rate, run in runs.items()}, "unusable": unusable}


def fault_report(args) -> dict:
    figures = fault_figures(args.fault_epochs)
    if "skipped" in figures:
        print(f"5. faults: skipped, {figures['skipped']}")
        return {"faults": figures}
    print(f"5. vowels, {args.fault_epochs} epochs, 1 split, emu://acoustic, corrupt r + drop r/10 per byte each way:")
    for rate, run in figures["runs"].items():
        target = FAULT_TARGETS.get(float(rate))
        c, f = run["counters"], run["frames"]
        print(f"   r = {float(rate):7.0e}: {run['wall_s']:6.1f} s, {run['time_ratio']:5.2f}x clean"
              + (f" (target <= {target}x)" if target else "")
              + f"; test {run['test_accuracy']:.2f} % ({run['accuracy_gap']:+.2f}); retries {c['retries']}, "
              f"probes {c['probes']}, timeouts {c['timeouts']}; frames {f['smallest']}..{f['vectors_per_excite']} "
              f"vectors ({f['shrinks']} shrinks); measured {run['error_per_byte']:.1e}/byte"
              + (f"; floor (clean, max_batch={run['floor']['max_batch']}): {run['floor']['wall_s']:.1f} s, "
                 f"{run['floor']['time_ratio']:.2f}x" if "floor" in run else ""))
    bad = figures["unusable"]
    print(f"   r = {UNUSABLE_RATE:7.0e}: exit {bad['exit_code']} after {bad['seconds']:.1f} s (target: named within 10 s): "
          f"{bad['error'][:300]}")
    return {"faults": figures}


# -- 6. the three firmwares ----------------------------------------------------------------------

FIRMWARES = {"MicroPython": "runtime=micropython", "C++ host": "firmware=cpp", "C++ ARM (QEMU)": "firmware=cpp-arm"}


class _FirmwareSetup(_Setup):
    """One firmware's emulated device with its in-firmware loopback, and how much to ask of it."""

    def __init__(self, stack: ExitStack, name: str, query: str, vector_count: int, trip_count: int) -> None:
        self.url = f"emu://loopback?width={WIDTH}&{query}&max_batch={BATCH}"
        device = stack.enter_context(open_device(self.url))
        one = vectors(1)
        assert np.max(np.abs(device.forward(one) - one)) <= 2.0 / 32767, f"{self.url} did not loop back"

        def bulk(n_vectors: int):
            x = vectors(n_vectors)
            return (lambda: device.forward(x)), n_vectors

        super().__init__(name, device.describe()["emulator"]["pid"], lambda: device.forward(one), bulk)
        self.vector_count, self.trip_count = vector_count, trip_count


def firmware_link_figures(args) -> dict:
    """Batch-1 round trips, then throughput, of the three firmwares taking turns, as part 1."""
    with ExitStack() as stack:
        setups = [_FirmwareSetup(stack, name, query, *((args.arm_vectors, args.arm_trips) if "cpp-arm" in query
                                                        else (args.vectors, args.trips)))
                  for name, query in FIRMWARES.items()]
        blocks = 10
        for _ in range(blocks):
            for setup in setups:
                for _ in range(setup.trip_count // blocks):
                    t0 = time.perf_counter()
                    setup.trip()
                    setup.trips.append(time.perf_counter() - t0)
        runs = [setup.bulk(setup.vector_count) for setup in setups]
        for run, _ in runs:
            run()  # warm-up
        for _ in range(args.repeats):
            for setup, (run, _) in zip(setups, runs):
                meter = CpuMeter(setup.firmware_pid)
                start = time.perf_counter()
                run()
                setup.runs.append((time.perf_counter() - start, meter.read()))
        return {setup.name: {"url": setup.url, "throughput": _throughput(setup.runs, passed),
                             "round_trip": _trip_stats(setup.trips)}
                for setup, (_, passed) in zip(setups, runs)}


def firmware_vowel_figures(epochs: int, splits: int) -> dict:
    if not VOWELS.is_file():
        return {"skipped": f"no vowel data at {VOWELS}"}
    out = Path(f"/tmp/bench_link_firmwares_{os.getpid()}.json")
    runs = {}
    for name, query in FIRMWARES.items():
        url = f"emu://acoustic?{query}"
        wall, summary = _train(url, epochs, out, splits)
        device = summary["device"]
        runs[name] = {"url": url, "wall_s": wall, "test_accuracy": summary["test_accuracy"],
                      "test_accuracy_std": summary["test_accuracy_std"],
                      "split_test_accuracies": [split["test_accuracy"] for split in summary["splits"]],
                      "train_accuracy": summary["train_accuracy"],
                      "info": {key: device.get(key) for key in ("firmware", "board", "runtime")},
                      "emulator_runtime": device["emulator"]["runtime"]}
    reference = runs["MicroPython"]["test_accuracy"]
    for run in runs.values():
        run["accuracy_gap"] = run["test_accuracy"] - reference
    return {"epochs": epochs, "splits": splits, "runs": runs}


def firmware_report(args) -> dict:
    link = firmware_link_figures(args)
    print(f"6. the three firmwares, {WIDTH}->{WIDTH} in-firmware loopback, batches of {BATCH}, {IN_FLIGHT} in flight, "
          f"best (median) of {args.repeats} runs, the setups taking turns:")
    for name, both in link.items():
        tp, trip = both["throughput"], both["round_trip"]
        print(f"   {name:15s}: {tp['passes_per_s']:>9,.0f} ({tp['passes_per_s_median']:,.0f}) passes/s at batch {BATCH} "
              f"({tp['us_per_frame']:,.0f} us/frame, {tp['frames']} frames); batch-1 round trip median "
              f"{trip['median_us']:,.0f} us (p10 {trip['p10_us']:,.0f}, p90 {trip['p90_us']:,.0f}; {trip['samples']} trips)")
    vowels = firmware_vowel_figures(args.firmware_epochs, args.firmware_splits)
    if "skipped" in vowels:
        print(f"   vowels: skipped, {vowels['skipped']}")
    else:
        print(f"   vowels, {vowels['epochs']} epochs, {vowels['splits']} splits, emu://acoustic "
              "(target: each within 1 point of MicroPython):")
        for name, run in vowels["runs"].items():
            splits = ", ".join(f"{a:.2f}" for a in run["split_test_accuracies"])
            info = run["info"]
            print(f"   {name:15s}: test {run['test_accuracy']:.2f} % (splits {splits}; {run['accuracy_gap']:+.2f} "
                  f"points), {run['wall_s']:,.1f} s; INFO firmware {info['firmware']!r}, board {info['board']!r}, "
                  f"runtime {info['runtime']!r}; emulator runtime {run['emulator_runtime']}")
    return {"firmwares": {"link": link, "vowels": vowels}}


# -- 4. a UART's pace ---------------------------------------------------------------------------


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
              f"firmware {tp['firmware_cpu_us_per_frame']:.0f} us)" + ("   target >= 500,000" if name == "host Device" else ""))
    for name, both in figures.items():
        trip = both["round_trip"]
        print(f"   batch-1 round trip, {name:13s}: median {trip['median_us']:.0f} us "
              f"(p10 {trip['p10_us']:.0f}, p90 {trip['p90_us']:.0f}; {trip['samples']} trips in 10 turns)"
              + ("   target <= 300 us" if name == "host Device" else ""))
    return {"link": figures}


def transport_report(args) -> dict:
    figures = transport_figures(args.epochs, args.rounds)
    if "skipped" in figures:
        print(f"2. transports: skipped, {figures['skipped']}")
        return {"transports": figures}
    print(f"2. vowels, {args.epochs} epochs, 1 split, one emulated device, best of {args.rounds} turns; floor: "
          f"{figures['floor_trips']:,} echo round trips of {figures['floor_bytes_each_way']:,} bytes by a bare "
          "pyserial client through the same path:")
    for name in ("pty", "socket", "rfc2217"):
        run = figures[name]
        walls = " / ".join(f"{wall:.1f}" for wall in run["walls_s"])
        print(f"   {name:8s}: {run['wall_s']:6.1f} s ({walls}), {run['ratio_to_pty']:5.2f}x the pty"
              + ("" if name == "pty" else "   target <= 5x")
              + f"; floor {run['floor_s']:.1f} s; request p50 {run['latency_ms_p50']:.2f} ms, "
              f"p99 {run['latency_ms_p99']:.2f} ms; {run['retries']} retries; test {run['test_accuracy']:.2f} %")
    return {"transports": figures}


def main() -> None:
    parser = argparse.ArgumentParser(description="How fast the host link is (see the module docstring).")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    parser.add_argument("--vectors", type=int, default=200_000, help="vectors for the throughput run")
    parser.add_argument("--repeats", type=int, default=3, help="throughput runs (best and median reported)")
    parser.add_argument("--trips", type=int, default=3000, help="batch-1 round trips to time")
    parser.add_argument("--splits", type=int, default=1, help="vowel splits per scheme in part 3 (10 decides the accuracy)")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2, help="turns of the vowel runs (best of each counts)")
    parser.add_argument("--parts", default="link,transports,vowels,uart,faults,firmwares",
                        help="comma-separated: link (1), transports (2), vowels (3), uart (4), faults (5), firmwares (6)")
    parser.add_argument("--fault-epochs", type=int, default=100, help="epochs of the vowel runs in part 5")
    parser.add_argument("--arm-vectors", type=int, default=4096, help="vectors for the ARM image's throughput run (part 6)")
    parser.add_argument("--arm-trips", type=int, default=300, help="batch-1 round trips of the ARM image (part 6)")
    parser.add_argument("--firmware-epochs", type=int, default=200, help="epochs of the vowel runs in part 6")
    parser.add_argument("--firmware-splits", type=int, default=3, help="splits of the vowel runs in part 6")
    parser.add_argument("--uart-seconds", type=float, default=4.0)
    args = parser.parse_args()

    parts = set(args.parts.split(","))
    unknown = parts - {"link", "transports", "vowels", "uart", "faults", "firmwares"}
    if unknown:
        parser.error(f"unknown part(s) {sorted(unknown)}; choose from link, transports, vowels, uart, faults, firmwares")
    report = {}
    if "link" in parts:
        report.update(link_report(args))
    if "transports" in parts:
        report.update(transport_report(args))
    if "vowels" in parts:
        vowels = report["vowels"] = vowel_figures(args.splits, args.epochs, args.rounds)
        if "skipped" in vowels:
            print(f"3. vowels: skipped, {vowels['skipped']}")
        else:
            walls = {scheme: " / ".join(f"{wall:.1f}" for wall in vowels[scheme]["walls_s"]) for scheme in ("sim", "emu")}
            print(f"3. vowels, {args.epochs} epochs, {args.splits} split(s), best of {args.rounds} turns: "
                  f"sim {vowels['sim']['wall_s']:.1f} s ({walls['sim']} s; "
                  f"{vowels['sim']['test_accuracy']:.2f} %), emu {vowels['emu']['wall_s']:.1f} s ({walls['emu']} s; "
                  f"{vowels['emu']['test_accuracy']:.2f} %, {vowels['emu']['runtime']}): "
                  f"time ratio {vowels['time_ratio']:.2f}, accuracy gap {vowels['accuracy_gap']:.2f} points (target <= 1)")
    if "uart" in parts:
        uart = report["uart"] = uart_figures(1_000_000, args.uart_seconds)
        print(f"4. baud {uart['baud']:,}: {uart['payload_bytes_per_s_each_way']:,.0f} payload bytes/s each way = "
              f"{100 * uart['fraction_of_wire']:.1f} % of the wire's {uart['wire_bytes_per_s']:,.0f}   "
              "target >= 90 %")
    if "faults" in parts:
        report.update(fault_report(args))
    if "firmwares" in parts:
        report.update(firmware_report(args))
    if args.json:
        print(json.dumps(report))


if __name__ == "__main__":
    main()
