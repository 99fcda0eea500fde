"""Minimal test runner for the firmware, on MicroPython's unix port (and CPython).

    micropython firmware/micropython/tests/run.py [test_module ...]
    python      firmware/micropython/tests/run.py [test_module ...]

Runs every function named test_* in tests/test_*.py (or the modules named) and ends with the
line "N passed, N failed, N skipped"; exits 1 if anything failed.
"""
import os
import sys


def _parent(path):
    return path.rsplit("/", 1)[0] if "/" in path else "."


HERE = _parent(__file__)
ROOT = _parent(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)
if sys.implementation.name != "micropython":
    sys.path.insert(0, ROOT + "/cpython")

from support import Skip  # noqa: E402


def _print_exception(exc):
    if hasattr(sys, "print_exception"):
        sys.print_exception(exc)  # pyright: ignore[reportAttributeAccessIssue]
    else:
        import traceback
        traceback.print_exception(type(exc), exc, exc.__traceback__)


def run(names):
    passed = failed = skipped = 0
    for name in names:
        module = __import__(name)
        for attr in sorted(dir(module)):
            test = getattr(module, attr)
            if not attr.startswith("test_") or not callable(test):
                continue
            label = "%s.%s" % (name, attr)
            try:
                test()
            except Skip as why:
                skipped += 1
                print("SKIP", label, "-", why)
            except Exception as exc:
                failed += 1
                print("FAIL", label)
                _print_exception(exc)
            else:
                passed += 1
                print("ok  ", label)
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return failed


def main(argv):
    names = argv[1:] or sorted(f[:-3] for f in os.listdir(HERE) if f.startswith("test_") and f.endswith(".py"))
    sys.exit(1 if run(names) else 0)


main(sys.argv)
