"""memoryview slices of one buffer, kept so the steady state allocates none.

Views: from a fixed offset, kept by length. Tails: from a start offset to the buffer's end, kept
by start (the read-ahead windows of a non-blocking link).

Slicing a memoryview allocates on MicroPython. A frame loop sees few distinct lengths (the
batch sizes a host uses), so keeping the slice per length makes the steady state allocation-free
while still handing every reader/writer an exact-length buffer (portable: no `nbytes` arguments,
which CPython's streams do not take).
"""
from micropython import const

_KEEP = const(12)


class Views:
    def __init__(self, buf, offset):
        self._whole = memoryview(buf)
        self._offset = offset
        self._kept = {}

    def get(self, length):
        view = self._kept.get(length)
        if view is None:
            view = self._whole[self._offset:self._offset + length]
            if len(self._kept) >= _KEEP:
                self._kept.clear()  # many lengths seen (odd JSON replies): start keeping afresh
            self._kept[length] = view
        return view


class Tails:
    def __init__(self, buf):
        self._whole = memoryview(buf)
        self._kept = {}

    def get(self, start):
        view = self._kept.get(start)
        if view is None:
            view = self._whole[start:]
            if len(self._kept) >= _KEEP:
                self._kept.clear()
            self._kept[start] = view
        return view
