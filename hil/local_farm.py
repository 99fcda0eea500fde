"""A rig farm on this machine: a labgrid coordinator and exporter serving emulated rigs as places.

What a lab runs across machines -- labgrid-coordinator somewhere, labgrid-exporter on each host a
rig is plugged into, ser2net under it -- here on 127.0.0.1, with `phyll emulate` boards in place of
the rigs: each place's RawSerialPort is an emulated board's pty. CI, tests/test_hil_labgrid.py and
bench/bench_labgrid_farm.py use it; so can anyone rehearsing a farm:

    with LocalFarm({"rig-a": ["--medium", "acoustic", "latency=0.002"]}) as farm:
        os.environ["LG_COORDINATOR"] = farm.coordinator
        open_device("labgrid://rig-a")

On exit every place is released, the exporter, the coordinator and the emulators are stopped, and
any ser2net the exporter left is ended: nothing stays running.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from phyll.labgrid.client import LabgridClient, LabgridError, labgrid_program

EXPORTER_NAME = "phyll-farm"
_START_S = 30.0
_STOP_S = 5.0


def missing_reason() -> str | None:
    """Why a farm cannot start here (a pytest skip reason), or None."""
    for name in ("labgrid-coordinator", "labgrid-exporter", "labgrid-client"):
        try:
            labgrid_program(name)
        except LabgridError as exc:
            return str(exc)
    if shutil.which("ser2net") is None and shutil.which("ser2net", path="/usr/sbin:/usr/local/sbin") is None:
        return "ser2net is not installed (apt-get install ser2net); labgrid's exporter runs it"
    return None


class LocalFarm:
    """places: place name -> `phyll emulate` arguments of the board that serves it."""

    def __init__(self, places: dict[str, list[str]]) -> None:
        self.places = places
        self.coordinator = ""
        self.client: LabgridClient | None = None
        self._folder: tempfile.TemporaryDirectory | None = None
        self._processes: list[subprocess.Popen] = []  # emulators, coordinator, exporter
        self._exporter: subprocess.Popen | None = None
        self.ports: dict[str, str] = {}  # place -> the emulated board's pty

    def __enter__(self) -> "LocalFarm":
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def log(self) -> str:
        """What the coordinator and exporter wrote, for a failure's message."""
        if self._folder is None:
            return ""
        folder = Path(self._folder.name)
        return "\n".join(f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
                         for path in sorted(folder.glob("*.log")))

    def _start(self) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="phyll-farm-")
        folder = Path(self._folder.name)
        for place, arguments in self.places.items():
            self.ports[place] = self._emulate(place, arguments, folder)
        port = _free_port()
        self.coordinator = f"127.0.0.1:{port}"
        self._spawn([labgrid_program("labgrid-coordinator"), "-l", self.coordinator], folder, "coordinator")
        _wait_listening(port, self._processes[-1], self)
        config = folder / "exporter.yaml"
        config.write_text("".join(f"{place}:\n  RawSerialPort:\n    port: {path}\n    speed: 115200\n"
                                  for place, path in self.ports.items()))
        self._exporter = self._spawn([labgrid_program("labgrid-exporter"), "-c", self.coordinator, "-n", EXPORTER_NAME,
                                      "--hostname", "127.0.0.1", str(config)], folder, "exporter")
        self._wait_for_log(folder / "exporter.log", "Exporter ready")
        self.client = LabgridClient(self.coordinator)
        for place in self.places:
            self.client.call(place, "create")
            self.client.call(place, "add-match", f"{EXPORTER_NAME}/{place}/*")

    def _emulate(self, place: str, arguments: list[str], folder: Path) -> str:
        command = [sys.executable, "-c", "import sys; from phyll.cli import main; sys.exit(main())", "emulate",
                   *arguments]
        with open(folder / f"emulate-{place}.log", "wb") as log:
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL)
        self._processes.append(process)
        path = process.stdout.readline().decode().strip()  # its first line, flushed: the serial path
        if not path.startswith("/dev/"):
            raise LabgridError(f"phyll emulate {' '.join(arguments)} printed no serial path for place {place}: "
                               f"{path!r}\n{(folder / f'emulate-{place}.log').read_text()}")
        return path

    def _spawn(self, command: list[str], folder: Path, name: str) -> subprocess.Popen:
        with open(folder / f"{name}.log", "wb") as log:
            process = subprocess.Popen(command, cwd=folder, stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        self._processes.append(process)
        return process

    def _wait_for_log(self, path: Path, marker: str) -> None:
        deadline = time.monotonic() + _START_S
        while marker not in path.read_text(errors="replace"):
            if time.monotonic() > deadline or any(p.poll() is not None for p in self._processes):
                raise LabgridError(f"the local labgrid farm did not start ({path.name} has no {marker!r}):\n{self.log}")
            time.sleep(0.1)

    def close(self) -> None:
        if self.client is not None:
            for place in self.places:
                try:
                    self.client.call(place, "release", "--kick")
                except LabgridError:
                    pass  # not acquired: the usual case
            self.client = None
        leftovers = _descendants(self._exporter.pid) if self._exporter is not None else []
        for process in reversed(self._processes):  # exporter, coordinator, then the boards
            _stop(process)
        for pid in leftovers:  # a ser2net its exporter did not stop
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._processes.clear()
        self._exporter = None
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(_STOP_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (Linux /proc)."""
    found, queue = [], [pid]
    while queue:
        parent = queue.pop()
        try:
            children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found.append(child)
            queue.append(child)
    return found


def _free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return probe.getsockname()[1]


def _wait_listening(port: int, process: subprocess.Popen, farm: LocalFarm) -> None:
    deadline = time.monotonic() + _START_S
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise LabgridError(f"labgrid-coordinator did not listen on 127.0.0.1:{port}:\n{farm.log}") from None
            time.sleep(0.1)
