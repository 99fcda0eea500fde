"""`--port auto`: the one port a flash can mean, or an error listing what is there."""
from __future__ import annotations

from .errors import NoPortError
from .probe import Probe, probe_all
from .usb import SerialPort, boot_drives, serial_ports


def find_micropython_port(platform: str | None) -> str:
    """The one port answering with MicroPython's REPL or the MicroPython phyll firmware, not
    hinted (by its USB ID) to be a chip of another family than `platform`."""
    ports = [port for port in serial_ports() if not _other_family(port, platform)]
    found = probe_all([port.device for port in ports])
    fits = [answer for answer in found if answer.state == "micropython"
            or (answer.state == "phyll" and answer.info.get("runtime") == "micropython")]
    if len(fits) == 1:
        return fits[0].port
    if fits:
        raise NoPortError(f"several boards run MicroPython: {', '.join(a.port for a in fits)}; name one with --port")
    raise NoPortError("no port answers with MicroPython or phyll's MicroPython firmware" + _seen(found)
                      + "; plug the board in, or name its port with --port")


def find_cpp_port(family: str) -> str:
    """The one port whose USB ID says it is a board of `family` ("rp2", "esp32")."""
    ports = [port for port in serial_ports() if port.hint is not None and port.hint.family == family]
    if len(ports) == 1:
        return ports[0].device
    if ports:
        raise NoPortError(f"several {family} boards: {', '.join(p.device for p in ports)}; name one with --port")
    raise NoPortError(f"no port's USB ID says it is an {family} board" + _seen(probe_all([p.device for p in serial_ports()]))
                      + "; name its port with --port")


def _other_family(port: SerialPort, platform: str | None) -> bool:
    return platform is not None and port.hint is not None and port.hint.family not in (None, platform)


def _seen(found: list[Probe]) -> str:
    seen = [f"{answer.port}: {answer.summary}" for answer in found]
    drives = [f"{drive.path} (UF2 boot drive {drive.board_id})" for drive in boot_drives()]
    if not seen and not drives:
        return " (no serial ports at all)"
    return " (found: " + "; ".join(seen + drives) + ")"
