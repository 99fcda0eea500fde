"""The few `micropython` module names the firmware uses, for running it under CPython.

Only boards/emu.py puts this directory on sys.path, and only when sys.implementation.name is
not "micropython"; MicroPython's built-in module always wins there anyway.
"""


def const(value):
    return value


def viper(function):
    raise RuntimeError("viper kernels are MicroPython-only; phyllfw.kernels picks the plain ones")


def kbd_intr(char):
    """CPython has no REPL Ctrl-C hook to disable; SIGINT stays with the parent process."""
