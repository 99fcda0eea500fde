"""The emulated board's boot: what a MicroPython port does before its REPL, run by the unix port.

    MICROPYINSPECT=1 micropython board_boot.py FLASH_DIR FLASH_BYTES MODE

This file is not imported by the host; host/phyll/emulator/board.py starts it, once per boot,
with the pty master as stdin, the board's console (a pipe the host relays to the pty) as stdout.
It mounts FLASH_DIR at / as the board's filesystem, reporting a flash of FLASH_BYTES and
refusing writes past it (ENOSPC, as littlefs does), then does what rp2's and esp32's main.c do:
run boot.py, then main.py unless the board was soft-reset from the raw REPL (MODE "raw"; MODE
is "power-on", "friendly" or "raw"). When this script ends, the unix port's REPL takes the link
(MICROPYINSPECT).
"""
import os
import sys

_BLOCK = 4096
_ROOT_BLOCKS = 2  # littlefs keeps its superblock pair in the first two blocks
_ENOSPC = 28
_DIR = 0x4000


class EmulatedFlash:
    """A VfsPosix on the flash folder that reports, and keeps to, the flash's size."""

    def __init__(self, folder, size):
        self._posix = os.VfsPosix(folder)
        self.blocks = size // _BLOCK

    def mount(self, readonly, mkfs):
        pass

    def umount(self):
        pass

    def __getattr__(self, name):
        return getattr(self._posix, name)

    def ilistdir(self, path):
        """As littlefs lists: (name, type, inode, size); the unix port's VfsPosix gives no size."""
        for entry in self._posix.ilistdir(path):
            size = 0 if entry[1] == _DIR else self._posix.stat(_join(path, entry[0]))[6]
            yield (entry[0], entry[1], entry[2], size)

    def statvfs(self, path):
        free = max(0, self.blocks - self.used_blocks())
        return (_BLOCK, _BLOCK, self.blocks, free, free, 0, 0, 0, 0, 255)

    def open(self, path, mode):
        opened = self._posix.open(path, mode)
        if "w" in mode or "a" in mode or "+" in mode:
            return _BoundedFile(opened, self)
        return opened

    def used_blocks(self, folder=""):
        """A block per folder, at least one per file, as littlefs counts them (roughly)."""
        used = _ROOT_BLOCKS if not folder else 1
        for entry in self._posix.ilistdir(folder or "/"):
            path = folder + "/" + entry[0]
            if entry[1] == _DIR:
                used += self.used_blocks(path)
            else:
                used += max(1, -(-self._posix.stat(path)[6] // _BLOCK))
        return used


class _BoundedFile:
    """A file open for writing on the emulated flash: a write past the flash's end fails."""

    def __init__(self, opened, flash):
        self._file = opened
        self._flash = flash
        self._written = 0
        self._others = flash.used_blocks() - _blocks(opened.seek(0, 1))

    def write(self, data):
        if self._others + _blocks(self._written + len(data)) > self._flash.blocks:
            raise OSError(_ENOSPC)
        n = self._file.write(data)
        self._written += n
        return n

    def __getattr__(self, name):
        return getattr(self._file, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._file.close()


def _join(folder, name):
    return "/" + name if folder in ("", "/") else folder.rstrip("/") + "/" + name


def _blocks(size):
    return max(1, -(-size // _BLOCK))


def _run(path, namespace):
    """Run a file as the port runs boot.py and main.py: an error is printed, then the REPL."""
    try:
        os.stat(path)
    except OSError:
        return
    try:
        exec(open(path).read(), namespace)
    except SystemExit:
        # A port soft-resets: this process ends (not at the REPL) and the board starts the next.
        os.unsetenv("MICROPYINSPECT")
        raise
    except BaseException as exc:  # noqa: B036 - the port prints Ctrl-C and errors alike
        sys.print_exception(exc)


def _watch_for_hang_up():
    """The REPL reads a hung-up pty as endless junk (EIO, not end of file) and would spin: end
    the process when the link hangs up (the board powered off). A thread of the unix port has no
    other way to end it than a signal."""
    import _thread
    import select

    def watch():
        hang_up = select.poll()
        hang_up.register(sys.stdin.buffer, 0)  # no events asked: only POLLHUP / POLLERR wake it
        hang_up.poll(-1)
        os.system("kill -HUP $PPID")  # the shell's parent is this process

    _thread.start_new_thread(watch, ())


def boot(folder, size, mode, namespace):
    os.umount("/")
    os.mount(EmulatedFlash(folder, size), "/")
    os.chdir("/")
    sys.path[:] = ["", "/", ".frozen", "/lib"]
    _watch_for_hang_up()
    if mode != "power-on":
        sys.stdout.write("MPY: soft reboot\r\n")
    _run("boot.py", namespace)
    if mode != "raw":
        _run("main.py", namespace)


if __name__ == "__main__":
    boot(sys.argv[1], int(sys.argv[2]), sys.argv[3], globals())
