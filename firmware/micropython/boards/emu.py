"""The emulated device: this firmware on MicroPython's unix port (or CPython) behind a pty.

    micropython firmware/micropython/boards/emu.py CHANNEL_FD
    python      firmware/micropython/boards/emu.py CHANNEL_FD   (fallback: same source, CPython)

stdin/stdout are the host link (the master side of a raw pty); CHANNEL_FD is an inherited,
blocking stream socket to the host's medium server (wire format: phyllfw/hal/emu.py and
firmware/README.md). The process ends when the link hangs up or after a REPL request.
"""
import sys

BOARD = "unix"
IN_FLIGHT = 4
WATCHDOG_MS = 2000
RX_FRAMES = 2  # room to read the next request while the medium measures (see FrameServer)


def _stdio():
    if sys.implementation.name == "micropython":
        return sys.stdin.buffer, sys.stdout.buffer
    return open(0, "rb", buffering=0, closefd=False), open(1, "wb", buffering=0, closefd=False)


def make_hal(channel):
    """The medium the description names: served over the channel, or -- for a medium with a
    firmware twin ("hal": "loopback") -- computed here, and the channel closed (the medium
    server then ends: it is not needed)."""
    from phyllfw.hal.emu import EmuHal, read_description

    description = read_description(channel)
    if description.get("hal") == "loopback":
        from phyllfw.hal.loopback import LoopbackHal

        channel.close()
        if description["n_actuators"] != description["n_sensors"] \
                or description["actuator_scale"] != description["sensor_scale"]:
            raise ValueError("a loopback medium needs as many sensors as actuators, on one scale")
        return LoopbackHal(int(description["n_actuators"]), float(description["actuator_scale"]),
                           description["encoding"], int(description.get("max_batch", 0)))
    return EmuHal(channel, description)


def make_server(channel_fd):
    from phyllfw.link import StreamLink
    from phyllfw.server import FrameServer

    hal = make_hal(open(channel_fd, "r+b", buffering=0))
    rx, tx = _stdio()
    # The host's pty master was made non-blocking before this process started (the unix port
    # has no fcntl): reads return what has arrived, so the loop may read ahead.
    link = StreamLink(rx, tx, nonblocking=True)
    return FrameServer(link, hal, BOARD, in_flight=IN_FLIGHT, watchdog_ms=WATCHDOG_MS, rx_frames=RX_FRAMES)


def _parent(path):
    return path.rsplit("/", 1)[0] if "/" in path else "."


def main(argv):
    if len(argv) != 2 or not argv[1].isdigit():
        sys.stderr.write("usage: %s CHANNEL_FD  (an inherited socket to the medium server)\n" % argv[0])
        sys.exit(2)
    try:
        make_server(int(argv[1])).serve()
    except Exception as exc:  # stdout is the host link: the host would take a traceback for noise
        _print_exception(exc)
        sys.exit(1)


def _print_exception(exc):
    if hasattr(sys, "print_exception"):
        sys.print_exception(exc, sys.stderr)  # pyright: ignore[reportAttributeAccessIssue, reportArgumentType]
    else:
        import traceback
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)


if __name__ == "__main__":
    _root = _parent(_parent(__file__))
    sys.path.insert(0, _root)
    if sys.implementation.name != "micropython":
        sys.path.insert(0, _root + "/cpython")
    main(sys.argv)
