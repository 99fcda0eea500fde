"""The link engine: requests out, replies in, pipelined, re-sent, counted (docs/protocol.md section 2).

One engine per open link. `exchange(requests)` frames each request under a new seq, keeps up to
`in_flight` of them unanswered (a sliding window within the device's reply cache, so a re-send
is answered from the cache and never run twice), reads replies while it is still writing, and
re-sends a request (same seq, same bytes) on a damaged or cut reply, an ERROR BAD_CRC, or a
timeout. Replies are matched by seq, never by arrival order. It knows frames, not what they
carry: the device above it (devices/serial_device.py) encodes and decodes payloads.
"""
from __future__ import annotations

import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .. import protocol as p
from ..protocol import DeviceError, ErrorCode, LinkError, MsgType

_LATENCY_WINDOW = 4096

Request = tuple[int, bytes, float]  # (message type, payload, reply timeout in seconds)


@dataclass(slots=True)
class _Job:
    """One request until its reply arrives: re-sent with the same seq and bytes when needed."""

    index: int
    type: int
    seq: int
    wire: bytes
    timeout: float
    first_sent: float = 0.0
    sent_at: float = 0.0
    resends: int = 0
    reply: p.Frame | None = None
    sends: list[int] = field(default_factory=list)  # the link's send count at each transmission
    heard: int = 0  # replies heard to it so far, whole or damaged


@dataclass
class LinkCounters:
    """Public counters of a link (docs/link.md says what each one counts)."""

    requests: int = 0
    passes: int = 0
    bytes_out: int = 0
    bytes_in: int = 0
    retries: int = 0
    crc_errors: int = 0
    bad_crc_replies: int = 0
    truncated_replies: int = 0
    lost_replies: int = 0
    header_errors: int = 0
    timeouts: int = 0
    stale_replies: int = 0
    peak_in_flight: int = 0
    latencies_s: deque = field(default_factory=lambda: deque(maxlen=_LATENCY_WINDOW))

    def as_dict(self) -> dict:
        counts = {k: v for k, v in self.__dict__.items() if k != "latencies_s"}
        if self.latencies_s:
            p50, p90, p99 = (float(q) for q in np.percentile(np.fromiter(self.latencies_s, float), [50, 90, 99]))
            counts.update(latency_ms_p50=1e3 * p50, latency_ms_p90=1e3 * p90, latency_ms_p99=1e3 * p99)
        return counts


class LinkEngine:
    """Drives one Port (ports.py): exchange() is the only way frames go out and come back.

    retries: re-sends per request before LinkError; in_flight: requests kept unanswered at once
    (1 until the device has said how many it caches); explain: turns a LinkError into a more
    useful one (an emulator names its dead firmware process) before it is raised.
    """

    def __init__(self, port, url: str, retries: int,
                 explain: Callable[[LinkError], LinkError] | None = None) -> None:
        self.port = port
        self.url = url
        self.retries = retries
        self.in_flight = 1
        self.counters = LinkCounters()
        self._explain = explain
        self._parser = p.FrameParser()
        self._tx = bytearray()
        self._sent = 0  # transmissions so far: the order the device sees requests in
        self._last_rx = time.monotonic()
        # A random first seq keeps a late reply from a previous session from matching this one.
        self._next_seq = secrets.randbelow(p.SEQ_MODULO)

    def exchange(self, requests: list[Request], on_reply: Callable[[int, p.Frame], None] | None = None,
                 on_bytes: Callable[[bytes], None] | None = None) -> list[p.Frame]:
        """Send requests pipelined, return their replies in request order.

        on_reply(index, reply), if given, is called as each reply arrives: the caller decodes
        one while the device still measures the next. on_bytes(data) sees every chunk read
        (the HELLO handshake looks in it for a MicroPython prompt).
        """
        if self.port is None:
            raise LinkError(f"device {self.url} is closed")
        try:
            return self._exchange(requests, on_reply, on_bytes)
        except LinkError as exc:
            if self._explain is None:
                raise
            explained = self._explain(exc)
            if explained is exc:
                raise
            raise explained from exc

    def discard_input(self) -> None:
        self._parser.reset()
        self.port.discard_input()

    def close(self) -> None:
        if self.port is not None:
            self.port.close()
            self.port = None

    def describe(self) -> dict:
        return {"retries": self.retries, "in_flight": self.in_flight,
                **(self.port.describe() if self.port is not None else {"closed": True})}

    # -- the loop -----------------------------------------------------------------------------

    def _exchange(self, requests, on_reply, on_bytes) -> list[p.Frame]:
        port = self.port
        parser = self._parser
        counters = self.counters
        jobs = [_Job(i, t, 0, b"", timeout) for i, (t, _, timeout) in enumerate(requests)]
        waiting: dict[int, _Job] = {}  # seq -> job, oldest send first (re-sends move to the end)
        next_job = 0
        done = 0
        last_reply = time.monotonic()
        while done < len(jobs):
            while next_job < len(jobs) and (not waiting or self._window_open(waiting, next_job)):
                job = jobs[next_job]
                job.seq = self._take_seq()
                job.wire = p.encode_frame(job.type, job.seq, requests[next_job][1])
                self._send(job, first=True)
                waiting[job.seq] = job
                next_job += 1
                if port.pipelined:
                    self._flush_some()  # on the wire before the next frame is even framed
            if len(waiting) > counters.peak_in_flight:
                counters.peak_in_flight = len(waiting)
            if self._tx and port.pipelined:
                self._flush_some()  # a link is nearly always writable: skip one poll
            for head in waiting.values():
                break  # the oldest send
            deadline = (head.sent_at if head.sent_at > last_reply else last_reply) + head.timeout
            if parser.pending:
                deadline = min(deadline, self._last_rx + p.HOST_INTER_BYTE_TIMEOUT_S)
            readable, writable = port.wait(bool(self._tx), deadline - time.monotonic())
            if writable and self._tx:
                self._flush_some()
            events = self._receive(on_bytes) if readable else ()
            now = time.monotonic()
            if parser.pending and now - self._last_rx >= p.HOST_INTER_BYTE_TIMEOUT_S:
                events = [*events, *parser.expire()]
            for event in events:
                answered = self._handle(event, waiting, now)
                if answered is not None:
                    done += 1
                    last_reply = now
                    if on_reply is not None:
                        on_reply(answered.index, event)
            if head.seq in waiting and now >= max(head.sent_at, last_reply) + head.timeout:
                counters.timeouts += 1
                self._resend(head, waiting, "no reply before its timeout")
        return [job.reply for job in jobs]  # type: ignore[misc]

    def _window_open(self, waiting: dict[int, _Job], next_index: int) -> bool:
        oldest = min(job.index for job in waiting.values())
        return next_index - oldest < self.in_flight

    def _take_seq(self) -> int:
        seq = self._next_seq
        self._next_seq = (seq + 1) % p.SEQ_MODULO
        return seq

    def _send(self, job: _Job, first: bool = False) -> None:
        now = time.monotonic()
        if first:
            job.first_sent = now
            self.counters.requests += 1
        job.sent_at = now
        job.sends.append(self._sent)
        self._sent += 1
        self._tx += job.wire

    def _resend(self, job: _Job, waiting: dict[int, _Job], why: str) -> None:
        if job.resends >= self.retries:
            raise LinkError(f"{self.url}: no valid reply to {p.MsgType(job.type).name} (seq {job.seq}) "
                            f"after {job.resends + 1} attempts; last problem: {why}")
        job.resends += 1
        self.counters.retries += 1
        self._send(job)
        waiting[job.seq] = waiting.pop(job.seq)  # the device will see it after everything already sent

    def _flush_some(self) -> None:
        written = self.port.write(self._tx)
        del self._tx[:written]
        self.counters.bytes_out += written

    def _receive(self, on_bytes) -> list[p.Frame | p.FrameFault]:
        data = self.port.read()
        if data is None:
            return []
        self._last_rx = time.monotonic()
        self.counters.bytes_in += len(data)
        if on_bytes is not None:
            on_bytes(data)
        return self._parser.feed(data)

    def _handle(self, event: p.Frame | p.FrameFault, waiting: dict[int, _Job], now: float) -> _Job | None:
        """Apply one parser event; the job it answered, if any."""
        if isinstance(event, p.FrameFault):
            self._fault(event, waiting)
            return None
        job = waiting.get(event.seq)
        if job is None:
            self.counters.stale_replies += 1
            return None
        if event.type == p.reply_type(job.type):  # the usual case first
            del waiting[job.seq]
            job.reply = event
            self.counters.latencies_s.append(now - job.first_sent)
            self._heard_from(job, waiting)
            return job
        if event.type == MsgType.ERROR:
            code, request_type, message = p.unpack_error(event.payload)
            if request_type != job.type:
                self.counters.stale_replies += 1
                return None
            if code == ErrorCode.BAD_CRC:
                self.counters.bad_crc_replies += 1
                self._heard_from(job, waiting)
                self._resend(job, waiting, "device saw a CRC-32 error in the request")
                return None
            del waiting[job.seq]
            raise DeviceError.for_code(code, request_type, message, self.url)
        self.counters.stale_replies += 1  # a reply of another type under this seq
        return None

    def _fault(self, fault: p.FrameFault, waiting: dict[int, _Job]) -> None:
        """A damaged or cut frame whose header named an outstanding request: re-send it at once
        (the device answers from its reply cache). Anything else is only counted."""
        if fault.kind == "bad_crc":
            self.counters.crc_errors += 1
            why = "reply failed its CRC-32"
        elif fault.kind == "truncated":
            self.counters.truncated_replies += 1
            why = "reply was cut short"
        else:
            self.counters.header_errors += 1
            return
        job = waiting.get(fault.seq) if fault.seq is not None else None
        if job is not None and fault.type in (p.reply_type(job.type), MsgType.ERROR):
            self._heard_from(job, waiting)
            self._resend(job, waiting, why)

    def _heard_from(self, job: _Job, waiting: dict[int, _Job]) -> None:
        """A reply to one of job's transmissions came (the first not yet accounted for: a
        device answers each transmission once, in order). The device answers requests in the
        order they arrive, so every request still waiting whose last transmission went before
        that one has lost its reply (dropped by a device the host did not read, or destroyed on
        the wire beyond recognition): re-send it now rather than at its timeout."""
        mark = job.sends[min(job.heard, len(job.sends) - 1)]
        job.heard += 1
        for other in [w for w in waiting.values() if w is not job and w.sends[-1] < mark]:
            self.counters.lost_replies += 1
            self._resend(other, waiting, "its reply was lost: a request sent after it was answered")
