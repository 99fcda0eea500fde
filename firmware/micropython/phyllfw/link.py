"""The byte link to the host: any pair of streams with readinto/write (USB-CDC stdio, UART, pty).

Waiting is done with select.poll so the frame loop can time out (watchdog, inter-byte timeout).
After a successful wait, readinto returns at least one byte. On a stream opened non-blocking
(the emulator's pty, a UART with timeout=0) it returns what has arrived, so a frame cut short
is abandoned after the inter-byte timeout. On a blocking stream (MicroPython's USB-CDC stdin)
it blocks until the requested bytes arrive: there a truncated frame is only resolved by the
bytes that follow it (see firmware/README.md).

Writing takes what the link accepts now; waiting for room, and giving up on a host that does not
read, is the frame loop's (docs/protocol.md section 2, "Writing replies").
"""
import select

_HANGUP = select.POLLHUP | select.POLLERR


class LinkClosed(Exception):
    """The host side went away (EOF or hang-up); the frame loop ends instead of spinning."""


class StreamLink:
    def __init__(self, rx_stream, tx_stream, nonblocking=False):
        """nonblocking: rx returns what has arrived at once (None if nothing), never waits; the
        frame loop may then read ahead of the current frame (greedy reads, reading the next
        request while the HAL works). False for blocking streams such as USB-CDC stdin."""
        self.nonblocking = nonblocking
        self._rx = rx_stream
        self._tx = tx_stream
        self._rx_poll = select.poll()
        self._rx_poll.register(rx_stream, select.POLLIN)
        # ipoll iterates without allocating a result list; CPython's poll has no ipoll.
        self._wait_rx = getattr(self._rx_poll, "ipoll", self._rx_poll.poll)
        self._wait_tx = None

    def wait(self, timeout_ms):
        """True once a byte can be read; False after timeout_ms (-1: wait forever)."""
        for event in self._wait_rx(timeout_ms):
            if event[1] & select.POLLIN:
                return True
            if event[1] & _HANGUP:
                raise LinkClosed("host link hung up")
        return False

    def readinto(self, view):
        """Bytes read into view: 0 or None when nothing is available (a spurious wake-up)."""
        try:
            n = self._rx.readinto(view)
        except OSError as exc:  # a pty master reads EIO once its slave side is closed
            raise LinkClosed("host link failed: %s" % exc)
        if n == 0 and len(view):
            raise LinkClosed("host link reached end of file")
        return n

    def write(self, view):
        """How many bytes of view the link took. A non-blocking stream takes what fits and never
        waits (0 when the host has not read and the buffer is full); a blocking one returns when
        it took them all, or what the port took before its own write timeout."""
        try:
            n = self._tx.write(view)
        except OSError as exc:
            raise LinkClosed("host link failed: %s" % exc)
        return n or 0

    def wait_writable(self, timeout_ms):
        """True once the link can take a byte; False after timeout_ms."""
        if self._wait_tx is None:  # made on first need: a host that keeps reading never needs it
            tx_poll = select.poll()
            tx_poll.register(self._tx, select.POLLOUT)
            self._wait_tx = getattr(tx_poll, "ipoll", tx_poll.poll)
        for event in self._wait_tx(timeout_ms):
            if event[1] & select.POLLOUT:
                return True
            if event[1] & _HANGUP:
                raise LinkClosed("host link hung up")
        return False

    def pair_wait(self, other):
        """A PairWait on this link's input and `other`, a pollable stream (a HAL's channel)."""
        return PairWait(self._rx, other)

    def flush(self):
        flush = getattr(self._tx, "flush", None)
        if flush is not None:
            flush()


class PairWait:
    """Blocks until the link has input (or hangs up) and/or another stream is readable.

    wait() returns LINK | OTHER bits. MicroPython's ipoll yields the registered objects (without
    allocating), CPython's poll their descriptors: both are recognised.
    """

    LINK = 1
    OTHER = 2

    def __init__(self, link_stream, other):
        self._poll = select.poll()
        self._poll.register(link_stream, select.POLLIN)
        self._poll.register(other, select.POLLIN)
        self._wait = getattr(self._poll, "ipoll", self._poll.poll)
        self._other = other
        self._other_fd = other.fileno() if hasattr(other, "fileno") else -1

    def wait(self):
        ready = 0
        for entry in self._wait(-1):
            who = entry[0]
            if who is self._other or who == self._other_fd:
                ready |= 2
            else:
                ready |= 1
        return ready
