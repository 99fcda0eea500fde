"""labgrid's client, driven through its command line: acquire a place, find its serial port, release it.

phyll talks to a labgrid coordinator the way a lab member does, with `labgrid-client`: its command
line is labgrid's stable interface (the Python API under it changes between releases). The
program is looked for beside this Python (a venv's bin/, where `pip install 'phyll[labgrid]'` puts
it) and then on PATH, and runs with the coordinator address given (`-x`), else labgrid's own
LG_COORDINATOR, else labgrid's default 127.0.0.1:20408.

A place's serial port is the NetworkSerialPort the exporter publishes for it: ser2net's rfc2217
accepter, started when the place is acquired (so its port is known only then, after a moment) and
stopped when it is released. `labgrid-client env` prints it as YAML; only its host, port and
resource name are read here.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

CLIENT = "labgrid-client"
_CALL_TIMEOUT_S = 60
_PORT_WAIT_S = 20.0  # how long the exporter may take to start ser2net after an acquire
_POLL_S = 0.25
_INSTALL = "pip install 'phyll[labgrid]' (labgrid brings labgrid-client and its own pyserial)"


class LabgridError(RuntimeError):
    """labgrid said no (a place acquired by someone else, no such place, no coordinator)."""


@dataclass(frozen=True)
class SerialEndpoint:
    """The rfc2217 server ser2net runs for a place's serial port."""

    resource: str
    host: str
    port: int

    @property
    def url(self) -> str:
        # labgrid's own console driver opens it the same way: ser2net does not acknowledge
        # SET_CONTROL, which pyserial's rfc2217 client would otherwise wait 3 s for.
        return f"rfc2217://{self.host}:{self.port}?ign_set_control"


def labgrid_program(name: str = CLIENT) -> str:
    """labgrid's `name` (labgrid-client, -coordinator, -exporter): beside this Python (a venv's
    bin/), else on PATH."""
    beside = Path(sys.executable).with_name(name)
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise LabgridError(f"{name} is not installed: {_INSTALL}")
    return found


class LabgridClient:
    """labgrid-client against one coordinator (None: LG_COORDINATOR or labgrid's default)."""

    def __init__(self, coordinator: str | None = None) -> None:
        self.coordinator = coordinator or os.environ.get("LG_COORDINATOR") or "127.0.0.1:20408"
        self.program = labgrid_program()

    def call(self, place: str, *command: str) -> str:
        """Run `labgrid-client -x COORDINATOR -p PLACE COMMAND...`; its output, or LabgridError."""
        argv = [self.program, "-x", self.coordinator, "-p", place, *command]
        try:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=_CALL_TIMEOUT_S,
                                    stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise LabgridError(f"`{' '.join(command)}` on labgrid place {place!r} got no answer from the coordinator "
                               f"at {self.coordinator} within {_CALL_TIMEOUT_S} s") from None
        if result.returncode != 0:
            said = (result.stderr.strip() or result.stdout.strip()).splitlines()
            raise LabgridError(f"labgrid place {place!r} (coordinator {self.coordinator}): `{' '.join(command)}` "
                               f"failed: {said[-1] if said else f'exit {result.returncode}'}")
        return result.stdout

    def acquire(self, place: str) -> None:
        self.call(place, "acquire")

    def release(self, place: str) -> None:
        self.call(place, "release")

    def serial_endpoint(self, place: str, resource: str | None = None) -> SerialEndpoint:
        """The place's network serial port, once the exporter has published its TCP port."""
        deadline = time.monotonic() + _PORT_WAIT_S
        while True:
            ports = network_serial_ports(self.call(place, "env"))
            if resource is not None:
                ports = [p for p in ports if p.resource == resource]
            if len(ports) > 1:
                names = ", ".join(p.resource for p in ports)
                raise LabgridError(f"labgrid place {place!r} has several serial ports ({names}): name one with "
                                   f"labgrid://{place}?resource=NAME")
            if ports and ports[0].port:
                return ports[0]
            if not ports and resource is not None:
                raise LabgridError(f"labgrid place {place!r} has no serial port named {resource!r}")
            if time.monotonic() > deadline:
                what = "publishes no NetworkSerialPort (does its exporter export a RawSerialPort or " \
                       "USBSerialPort for it?)" if not ports else "has not published ser2net's port"
                raise LabgridError(f"labgrid place {place!r} {what} within {_PORT_WAIT_S:g} s of acquiring it")
            time.sleep(_POLL_S)


def network_serial_ports(env_yaml: str) -> list[SerialEndpoint]:
    """The NetworkSerialPort resources in `labgrid-client env` output (a labgrid environment YAML).

    Read line by line for the few keys needed, so this runs without PyYAML: each resource is a
    list item `- NetworkSerialPort:` followed by its indented `name`, `host` and `port`.
    """
    ports = []
    current: dict | None = None
    indent = 0
    for line in env_yaml.splitlines():
        stripped = line.strip()
        if re.fullmatch(r"-\s*NetworkSerialPort:", stripped):
            current, indent = {}, len(line) - len(line.lstrip())
            ports.append(current)
            continue
        if current is None or not stripped:
            continue
        if len(line) - len(line.lstrip()) <= indent or stripped.startswith("- "):
            current = None  # the next resource or section
            continue
        key, _, value = stripped.partition(":")
        current[key.strip()] = value.strip().strip("'\"")
    return [SerialEndpoint(p.get("name", "NetworkSerialPort"), p.get("host", ""),
                           int(p["port"]) if p.get("port", "").isdigit() else 0) for p in ports]
