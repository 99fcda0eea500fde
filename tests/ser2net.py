"""ser2net in front of a serial device, started as labgrid's exporter starts it: a test and bench rig.

Labs reach rigs over `rfc2217://` and `socket://` through ser2net. labgrid's SerialPortExport runs
ser2net 4 in the foreground (`-d -n`) with its whole configuration in `-Y` strings: a
`telnet(rfc2217,mode=server)` accepter, a `serialdev(nouucplock=true),PATH,SPEEDn81,local`
connector and `max-connections: 10`. `Ser2net` does the same, bound to 127.0.0.1, and adds a raw
`tcp` accepter on the same device for `socket://`: a telnet accepter doubles every 0xFF byte and
injects negotiation, which breaks binary frames.

What the owner of the device must know (measured with Debian's ser2net 4.3.11):
* ser2net opens the device only while a client is connected, puts it in raw mode, and on
  disconnect restores the termios it found. A pty left cooked then echoes the device's own
  writes back to it between clients: put the slave in raw mode (`tty.setraw`) and keep it open,
  or the peer on the master sees the pty hang up when ser2net closes it.
* Bytes the device writes while no client is connected reach the next client.
* One URL at a time: the clients of one connection all get the device's bytes, and while the
  device is open a client of the other connection is refused ("Port's device already in use").
* pyserial's rfc2217 client needs `?ign_set_control`: ser2net does not acknowledge SET_CONTROL,
  and without it `open()` fails after 3 s waiting for option 'control'.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO

_HOST = "127.0.0.1"
_READY_TIMEOUT_S = 5.0
_STOP_TIMEOUT_S = 2.0
_START_ATTEMPTS = 3
_TCP_LISTEN = "0A"  # the state column of /proc/net/tcp


def ser2net_binary() -> str | None:
    """Path of ser2net, also found in /usr/sbin when that is not on PATH (non-root users)."""
    return shutil.which("ser2net") or shutil.which("ser2net", path="/usr/sbin:/usr/local/sbin")


def missing_reason() -> str | None:
    """A pytest skip reason when ser2net is not installed, else None."""
    if ser2net_binary() is None:
        return "ser2net is not installed (apt-get install ser2net)"
    return None


class Ser2net:
    """ser2net serving `device` on two free ports of 127.0.0.1 for as long as the `with` block runs."""

    def __init__(self, device: str, baudrate: int = 115200) -> None:
        binary = ser2net_binary()
        if binary is None:
            raise FileNotFoundError("ser2net is not installed: apt-get install ser2net")
        if not os.path.exists(device):
            raise FileNotFoundError(f"serial device {device} does not exist; ser2net would only "
                                    "report it to each client as 'Device open failure'")
        self.binary, self.device, self.baudrate = binary, device, baudrate
        self.rfc2217_port = self.raw_port = 0
        self._process: subprocess.Popen | None = None
        self._log: IO[bytes] | None = None

    @property
    def rfc2217_url(self) -> str:
        return f"rfc2217://{_HOST}:{self.rfc2217_port}?ign_set_control"

    @property
    def socket_url(self) -> str:
        return f"socket://{_HOST}:{self.raw_port}"

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("ser2net is not running: use Ser2net in a with statement")
        return self._process.pid

    def command(self) -> list[str]:
        """The command line: labgrid's connection, plus a raw tcp one on the same device."""
        connector = f"  connector: serialdev(nouucplock=true),{self.device},{self.baudrate}n81,local"
        options = "  options:#    max-connections: 10"  # ser2net turns '#' outside quotes into a newline
        rfc2217 = f"connection: &rfc2217#  accepter: telnet(rfc2217,mode=server),tcp,{_HOST},{self.rfc2217_port}"
        raw = f"connection: &raw#  accepter: tcp,{_HOST},{self.raw_port}"
        return [self.binary, "-d", "-n",
                "-Y", rfc2217, "-Y", connector, "-Y", options,
                "-Y", raw, "-Y", connector, "-Y", options]

    def __enter__(self) -> "Ser2net":
        failure = ""
        for _ in range(_START_ATTEMPTS):  # another process may take a free port before ser2net binds it
            self.rfc2217_port, self.raw_port = _free_ports(2)
            self._log = log = tempfile.TemporaryFile()
            self._process = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                             stdout=log, stderr=subprocess.STDOUT)
            if self._wait_listening(self._process):
                return self
            failure = self.log()
            self._stop()
        raise RuntimeError(f"ser2net did not listen on {_HOST} ports {self.rfc2217_port} and "
                           f"{self.raw_port} ({_START_ATTEMPTS} attempts); its last log:\n{failure}")

    def __exit__(self, *exc_info: object) -> None:
        self._stop()

    def log(self) -> str:
        """What ser2net has written while running (with -d its syslog goes to stdout)."""
        if self._log is None:
            return ""
        fd = self._log.fileno()
        return os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")  # ser2net shares the offset

    def _wait_listening(self, process: subprocess.Popen) -> bool:
        """Wait until ser2net itself listens on both ports.

        Checked in /proc rather than by connecting: a probe connection would make ser2net open the
        device and switch its termios, and would be answered by whichever process holds the port
        if ser2net lost the race for it (it then logs the failure and serves the other port).
        """
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None or "Unable to startup network port" in self.log():
                return False
            if {self.rfc2217_port, self.raw_port} <= _listening_ports(process.pid):
                return True
            time.sleep(0.01)
        return False

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:  # 4.3.11 ignores SIGTERM once one of its accepters failed
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


def _free_ports(count: int) -> list[int]:
    """Distinct ports free on 127.0.0.1 a moment ago (all probes are open together)."""
    probes = [socket.create_server((_HOST, 0)) for _ in range(count)]
    ports = [probe.getsockname()[1] for probe in probes]
    for probe in probes:
        probe.close()
    return ports


def _listening_ports(pid: int) -> set[int]:
    """TCP ports the process `pid` listens on (Linux: its socket inodes matched in /proc/net/tcp)."""
    inodes = set()
    try:
        for fd in os.scandir(f"/proc/{pid}/fd"):
            target = os.readlink(fd.path)
            if target.startswith("socket:["):
                inodes.add(target[len("socket:["):-1])
        table = Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]
    except FileNotFoundError:  # the process or one of its descriptors went away meanwhile
        return set()
    ports = set()
    for line in table:
        fields = line.split()
        if fields[3] == _TCP_LISTEN and fields[9] in inodes:
            ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports
