"""A UART's pace on the emulated link: `baud=` puts this relay between the firmware and the host.

A real UART moves one byte per 10 bit times (start, 8 data, stop) in each direction at once. The
relay reads what either side writes as soon as it is written (into a FIFO of FIFO_BYTES, the
UART's buffer; a writer blocks when it is full, as on a board) and hands it to the other side at
baud / 10 bytes per second: the byte budget grows with the clock while bytes are queued, and is
dropped when the queue runs dry, since an idle wire cannot bank time. The budget is paid out
every TICK_S, so bytes arrive in small bursts that add up to the wire rate exactly.

The relay owns the two descriptors it is given and closes them when it stops. If the firmware's
side hangs up, it closes the host's side too, so the host sees the device vanish.
"""
from __future__ import annotations

import errno
import os
import select
import threading
import time

BITS_PER_BYTE = 10
FIFO_BYTES = 4096
TICK_S = 0.001
_HANGUP = (errno.EIO, errno.EBADF)


class _Direction:
    def __init__(self, name: str, source: int, sink: int) -> None:
        self.name = name
        self.source = source
        self.sink = sink
        self.queue = bytearray()
        self.budget = 0.0
        self.tick = 0.0
        self.blocked = False  # the sink refused bytes: wait until it is writable
        self.bytes = 0


class UartRelay:
    def __init__(self, device_fd: int, host_fd: int, baud: int) -> None:
        """device_fd: the firmware pty's slave; host_fd: the host pty's master (both raw)."""
        if baud <= 0:
            raise ValueError(f"baud must be > 0, got {baud}")
        self.baud = int(baud)
        self.rate = baud / BITS_PER_BYTE  # bytes per second, each way
        for fd in (device_fd, host_fd):
            os.set_blocking(fd, False)
        self._to_device = _Direction("host->device", host_fd, device_fd)
        self._to_host = _Direction("device->host", device_fd, host_fd)
        self._wake_r, self._wake_w = os.pipe()
        self._stopping = False
        self.device_hung_up = False
        self._thread = threading.Thread(target=self._run, name="phyll-emu-uart", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stopping = True
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass  # the thread already ended (the firmware hung up) and closed its end
        self._thread.join(timeout)
        os.close(self._wake_w)

    def counters(self) -> dict:
        return {"baud": self.baud, "bytes_to_device": self._to_device.bytes,
                "bytes_to_host": self._to_host.bytes}

    def _run(self) -> None:
        directions = (self._to_device, self._to_host)
        try:
            while not self._stopping:
                now = time.monotonic()
                for d in directions:
                    self._pay_out(d, now)
                readers = [d.source for d in directions if len(d.queue) < FIFO_BYTES] + [self._wake_r]
                writers = [d.sink for d in directions if d.queue and d.blocked]
                timeout = TICK_S if any(d.queue and not d.blocked for d in directions) else None
                readable, writable, _ = select.select(readers, writers, [], timeout)
                for d in directions:
                    if d.sink in writable:
                        d.blocked, d.tick = False, time.monotonic()  # a stalled sink banks no time
                    if d.source in readable and not self._fill(d):
                        return
        finally:
            for fd in (self._to_device.source, self._to_host.source, self._wake_r):
                os.close(fd)

    def _fill(self, d: _Direction) -> bool:
        """Read what the source has into the FIFO; False when the firmware's side hung up."""
        try:
            data = os.read(d.source, FIFO_BYTES - len(d.queue))
        except BlockingIOError:
            return True
        except OSError as exc:
            if exc.errno not in _HANGUP:
                raise
            data = b""
        if not data:
            if d is self._to_host:  # firmware gone: close the host's side so the host notices
                self.device_hung_up = True
                return False
            return True  # the host's master cannot hang up while the emulator keeps a slave open
        if not d.queue:
            d.tick, d.budget = time.monotonic(), 0.0  # the wire was idle: start timing now
        d.queue += data
        return True

    def _pay_out(self, d: _Direction, now: float) -> None:
        if not d.queue or d.blocked:
            return
        d.budget += (now - d.tick) * self.rate
        d.tick = now
        n = min(int(d.budget), len(d.queue))
        if n <= 0:
            return
        # Counted before the write, so a reader of counters() never sees bytes the other side
        # already read and this count does not hold yet; what the sink refused is taken back.
        d.bytes += n
        try:
            written = os.write(d.sink, d.queue[:n])
        except BlockingIOError:
            written = 0
        except OSError as exc:
            if exc.errno not in _HANGUP:
                raise
            written = 0
        d.bytes -= n - written
        if written < n:
            d.blocked = True
        d.budget -= written
        del d.queue[:written]
        if not d.queue:
            d.budget = min(d.budget, 1.0)
