"""The emulated device: this firmware on MicroPython's unix port (or CPython) behind a pty.

    micropython firmware/micropython/boards/emu.py CHANNEL_FD CONTROL_FD
    python      firmware/micropython/boards/emu.py CHANNEL_FD CONTROL_FD   (fallback, CPython)

stdin/stdout are the host link (the master side of a raw pty, non-blocking); CHANNEL_FD is an
inherited, blocking stream socket to the host's medium server (wire format: phyllfw/hal/emu.py
and firmware/README.md); CONTROL_FD a socket to whoever started the board, through which the
frame loop hands the link to the REPL (below). The process ends when the link hangs up. After a
REPL request MicroPython stays at its REPL on the same pty until the link hangs up; CPython, which
has no such REPL, holds the link open until then.

Flashed as board.py onto an emulated MicroPython board (`phyll emulate --fs DIR`, `phyll flash
--board emu`), main.py calls main() with no arguments: see serve_on_board.
"""
import os
import select
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


def make_server(channel_fd, tx=None):
    """tx: the stream replies go to (default stdout)."""
    from phyllfw.link import StreamLink
    from phyllfw.server import FrameServer

    hal = make_hal(open(channel_fd, "r+b", buffering=0))
    rx, stdout = _stdio()
    # The host's pty master was made non-blocking before this process started (the unix port
    # has no fcntl): reads return what has arrived, so the loop may read ahead.
    link = StreamLink(rx, tx or stdout, nonblocking=True)
    return FrameServer(link, hal, BOARD, in_flight=IN_FLIGHT, watchdog_ms=WATCHDOG_MS, rx_frames=RX_FRAMES)


def _parent(path):
    return path.rsplit("/", 1)[0] if "/" in path else "."


def main(argv=None):
    if argv is None:
        serve_on_board()
        return
    if len(argv) != 3 or not (argv[1].isdigit() and argv[2].isdigit()):
        sys.stderr.write("usage: %s CHANNEL_FD CONTROL_FD  (inherited sockets to the medium server "
                         "and to whoever started the board)\n" % argv[0])
        sys.exit(2)
    control = open(int(argv[2]), "r+b", buffering=0)
    try:
        server = make_server(int(argv[1]))
        server.serve()
    except Exception as exc:  # stdout is the host link: the host would take a traceback for noise
        _print_exception(exc)
        sys.exit(1)
    if server.repl_requested:
        hand_over_to_repl(control)


_board_control = []  # the emulated board's control socket, opened once per boot


def serve_on_board():
    """Serve frames as board.py of an emulated MicroPython board, until REPL or a hang-up.

    The board (host/phyll/emulator/board.py) names the medium channel and the control socket in
    the environment. Its stdout is the board's console, so replies go to stdin, the pty master,
    opened for reading and writing. The link is blocking at the REPL; the loop asks for a
    non-blocking one ("N") and gives it back ("R"), and then returns: the board's own REPL takes
    the link, as a board's does when its main.py ends.
    """
    channel_fd = os.getenv("PHYLL_EMU_CHANNEL_FD")
    control_fd = os.getenv("PHYLL_EMU_CONTROL_FD")
    if channel_fd is None or control_fd is None:
        raise RuntimeError("boards/emu.py as board.py runs on an emulated board (phyll emulate --fs) "
                           "only: PHYLL_EMU_CHANNEL_FD and PHYLL_EMU_CONTROL_FD are not set")
    if not _board_control:
        _board_control.append(open(int(control_fd), "r+b", buffering=0))
    control = _board_control[0]
    _ask(control, b"N")
    try:
        make_server(int(channel_fd), tx=sys.stdin.buffer).serve()
    finally:
        _ask(control, b"R")


def _ask(control, request):
    control.write(request)
    answer = control.read(1)
    if answer == b"E":
        raise RuntimeError("the emulated board serves its medium to one firmware run per boot: "
                           "soft-reset it (Ctrl-D at its REPL) to run the firmware again")
    if answer != b"K":
        raise RuntimeError("the emulated board did not answer %r on its control socket" % request)


def hand_over_to_repl(control):
    """Leave the link to the interpreter once the frame loop answered REPL.

    The frame loop read the pty master non-blocking, but a REPL must block on it (MicroPython's
    reads EAGAIN as a stream of junk characters), and the unix port cannot clear O_NONBLOCK
    itself (no fcntl). The flag belongs to the open file, which the board's starter shares: it
    clears it when told "R", and answers "K".
    """
    control.write(b"R")
    if control.read(1) != b"K":
        sys.stderr.write("emu: nobody on CONTROL_FD made the link blocking; not entering the REPL\n")
        return
    if sys.implementation.name != "micropython":
        _hold_link_open()
        return
    import _thread  # pyright: ignore[reportMissingImports]

    _thread.start_new_thread(_end_on_hang_up, ())
    os.putenv("MICROPYINSPECT", "1")  # the unix port enters its REPL when this script ends


def _end_on_hang_up():
    """The REPL reads a hung-up pty master as endless junk (EIO, not end of file) and would spin:
    end the process when the host side of the link closes. There is no other way to end it from a
    thread on the unix port than a signal."""
    hang_up = select.poll()
    hang_up.register(sys.stdin.buffer, 0)  # no events asked: only POLLHUP / POLLERR wake it
    hang_up.poll(-1)
    os.system("kill -HUP $PPID")  # the shell's parent is this process


def _hold_link_open():
    """CPython: no MicroPython REPL to hand over to. Read and drop what arrives, so the link stays
    open and a host's writes never block, until the host hangs up."""
    try:
        while os.read(0, 4096):
            pass
    except OSError:  # EIO: a pty master whose slave side closed
        pass


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
