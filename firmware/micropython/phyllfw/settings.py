"""CONFIGURE's payload (docs/protocol.md section 3): a JSON object of int settings.

Every member is checked before any is applied. MicroPython's json.loads is lenient (it takes a
trailing comma, a missing colon or comma, and 012), so a payload it accepts is scanned again
against JSON's own grammar, as the C++ firmware's reader does.
"""
import json

_OPEN = 0x7B  # {
_CLOSE = 0x7D  # }
_COLON = 0x3A
_COMMA = 0x2C
_QUOTE = 0x22
_BACKSLASH = 0x5C
_MINUS = 0x2D
_ZERO = 0x30
_NINE = 0x39


def read_settings(payload, ranges):
    """{key: int} from a CONFIGURE payload (bytes); ValueError saying what is wrong.

    ranges: {key: (low, high)}, the inclusive range of every setting the device takes.
    """
    try:
        settings = json.loads(str(payload, "utf-8"))
    except UnicodeError:  # first: on CPython it is a ValueError too
        raise ValueError("CONFIGURE payload is not UTF-8")
    except ValueError:
        raise ValueError("CONFIGURE payload is not JSON")
    if not isinstance(settings, dict):
        raise ValueError("CONFIGURE payload must be a JSON object")
    for key in settings:
        if key not in ranges:
            raise ValueError("unknown key %r" % key)
        low, high = ranges[key]
        value = settings[key]
        if type(value) is not int or not low <= value <= high:
            raise ValueError("%s must be an int in %d..%d, got %s" % (key, low, high, json.dumps(value)))
    if not _is_int_object(payload):
        raise ValueError("CONFIGURE payload is not JSON")
    return settings


def _is_int_object(text):
    """True if text is a JSON object whose values are JSON ints, written as the grammar says."""
    at = _space(text, 0)
    if _byte(text, at) != _OPEN:
        return False
    at = _space(text, at + 1)
    if _byte(text, at) == _CLOSE:
        return _space(text, at + 1) == len(text)
    while True:
        at = _space(text, _string_end(text, at))
        if _byte(text, at) != _COLON:
            return False
        at = _space(text, _int_end(text, _space(text, at + 1)))
        if _byte(text, at) == _COMMA:
            at = _space(text, at + 1)
            continue
        return _byte(text, at) == _CLOSE and _space(text, at + 1) == len(text)


def _byte(text, at):
    return text[at] if 0 <= at < len(text) else -1


def _space(text, at):
    if at < 0:
        return at
    while _byte(text, at) in (0x20, 0x09, 0x0A, 0x0D):
        at += 1
    return at


def _string_end(text, at):
    """Index after the string starting at `at`, or -1 (json.loads already checked escapes)."""
    if _byte(text, at) != _QUOTE:
        return -1
    at += 1
    while True:
        c = _byte(text, at)
        if c < 0:
            return -1
        if c == _QUOTE:
            return at + 1
        at += 2 if c == _BACKSLASH else 1


def _int_end(text, at):
    """Index after the int -?(0|[1-9][0-9]*) starting at `at`, or -1."""
    if _byte(text, at) == _MINUS:
        at += 1
    first = _byte(text, at)
    if not _ZERO <= first <= _NINE:
        return -1
    at += 1
    if first == _ZERO:
        return -1 if _ZERO <= _byte(text, at) <= _NINE else at
    while _ZERO <= _byte(text, at) <= _NINE:
        at += 1
    return at
