"""Runs on the board, sent through its raw REPL by deploy.py: what is there, in few bytes.

MicroPython and CPython alike (the tests run it on a folder under CPython). The host execs this
file's source, then `describe()` and `survey(...)`, each of which prints one line of JSON. The
board compares the files itself and names only those that differ: mpremote reads a board's
output a byte at a time, so what comes back is kept short.
"""
import hashlib
import json
import os
import sys

_DIR = 0x4000
_CHUNK = 1024


def describe():
    """Print the board's MicroPython port, its .mpy format, and whether it is phyll's emulated
    board (whose / is a folder of the host, not this machine's root)."""
    print(json.dumps({
        "platform": sys.platform,
        "implementation": sys.implementation.name,
        "mpy": getattr(sys.implementation, "_mpy", None),
        "emulated_flash": os.getenv("PHYLL_EMULATED_FLASH") if hasattr(os, "getenv") else None,
    }))


def survey(expected, folders):
    """Print, as JSON: which of `expected` ({path: [size, sha256 hex]}) are missing or differ,
    which of `folders` exist, the files under them that `expected` lacks (with their sizes),
    and the filesystem's block size and free blocks."""
    fs = os.statvfs("/")
    found = {}
    for folder in folders:
        for path in _walk(folder):
            found[path] = os.stat(path)[6]
    print(json.dumps({
        "changed": [path for path, want in expected.items() if _digest(path) != want],
        "folders": [folder for folder in folders if _is_folder(folder)],
        "stale": {path: size for path, size in found.items() if path not in expected},
        "block_size": fs[0],
        "free_blocks": fs[3],
    }))


def _digest(path):
    try:
        size = os.stat(path)[6]
    except OSError:
        return None
    sha = hashlib.sha256()
    chunk = bytearray(_CHUNK)
    view = memoryview(chunk)
    with open(path, "rb") as f:
        while True:
            n = f.readinto(chunk)
            if not n:
                break
            sha.update(view[:n])
    return [size, "".join("%02x" % byte for byte in sha.digest())]


def _is_folder(path):
    try:
        return os.stat(path)[0] & _DIR != 0
    except OSError:
        return False


def _walk(folder):
    if not _is_folder(folder):
        return []
    found = []
    for name in os.listdir(folder):
        path = folder + "/" + name
        found.extend(_walk(path) if _is_folder(path) else [path])
    return found
