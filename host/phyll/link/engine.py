"""The link engine: requests out, replies in, pipelined, re-sent, counted (docs/protocol.md section 2).

One engine per open link. `exchange(requests)` frames each request under a new seq, keeps up to
`in_flight` of them unanswered (a sliding window within the device's reply cache, so a re-send
is answered from the cache and never run twice), reads replies while it is still writing, and
re-sends a request (same seq, same bytes) on a damaged or cut reply, an ERROR BAD_CRC, a later
request answered first, or a timeout. When the oldest request is overdue by the link's own
measured pace, it sends that request again as a probe (the device answers a copy from its reply
cache, so nothing runs twice): its reply comes back, or completes a cut frame, long before the
configured timeout.
Replies are matched by seq, never by arrival order. It knows frames, not what they carry: the
device above it (devices/serial_device.py) encodes and decodes payloads.
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
_PROBE_FLOOR_S = 0.02  # the earliest a probe goes out: below it, a busy machine's scheduling alone
_PACE_GAIN, _SPREAD_GAIN = 1 / 8, 1 / 4  # the smoothing of TCP's RTO estimator (RFC 6298)
_QUALITY_GAIN = 1 / 32  # how fast the damaged share of round trips follows the link
# Above this damaged share, a request that got no reply is taken as damaged too: on such a link
# silence is mostly frames destroyed beyond recognition, not a device that stopped.
_DAMAGED_LINK_SHARE = 0.1
_RECENT_ROUND_TRIPS = 256  # the round trips the error rate per byte is estimated from
_RATE_GRID = 64  # rates tried at once per refinement of the error rate's estimate
_SERVICE_SAMPLES = 256  # whole round trips per request type kept to model what a frame costs

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
    sent_at: float = 0.0  # its last transmission, a probe's included
    attempt_at: float = 0.0  # its last counted attempt: the timeout runs from here
    resends: int = 0
    reply: p.Frame | None = None
    sends: list[int] = field(default_factory=list)  # the link's send count at each transmission
    heard: int = 0  # replies heard to it so far, whole or damaged
    probes: int = 0  # copies sent as probes since its last counted attempt
    damaged: bool = False  # its last attempt came back damaged (rather than not at all)


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
    probes: int = 0
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


class DamagedLinkError(LinkError):
    """A request's every attempt came back damaged: the device answers, the bytes do not survive.

    damaged_share: the share of recent round trips that came back damaged; per_byte: the
    error rate per byte it implies for round trips of the mean size seen.
    """

    def __init__(self, message: str, damaged_share: float, per_byte: float) -> None:
        super().__init__(message)
        self.damaged_share = damaged_share
        self.per_byte = per_byte


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
        self._pace = self._spread = 0.0  # smoothed service time of a request, and its deviation
        self._timed = 0  # service times sampled so far
        self.damaged_share = 0.0  # smoothed share of round trips that came back damaged
        self._judged = 0
        self._recent: deque[tuple[int, bool]] = deque(maxlen=_RECENT_ROUND_TRIPS)  # (bytes, damaged)
        self._recent_damaged = 0  # how many of them were damaged
        self._reply_bytes: dict[int, int] = {}  # request type -> size of its last whole reply
        # request type -> (bytes both ways, service seconds) of its recent whole round trips
        self._service: dict[int, deque[tuple[int, float]]] = {}
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
        except DamagedLinkError:
            raise  # the device answered, if in damaged frames: it is there, nothing to explain
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
                "service_ms": 1e3 * self._pace, "probe_after_ms": 1e3 * self._probe_after(),
                "damaged_share": self.damaged_share, "error_per_byte": self.error_per_byte(),
                **(self.port.describe() if self.port is not None else {"closed": True})}

    def error_per_byte(self) -> float:
        """The error rate per byte most likely to have damaged what the recent round trips saw:
        a round trip of n bytes arrives whole with probability (1 - rate) ** n. The likelihood's
        slope falls as the rate grows; its zero is found on a grid of rates, refined three times
        around the sign change. When every round trip came back damaged the likelihood grows for
        ever: then it is the rate at which all of them come back damaged with an even chance."""
        if not self._recent_damaged:
            return 0.0
        recent = np.array(self._recent, float)
        sizes, where = np.unique(recent[:, 0], return_inverse=True)
        damaged = np.bincount(where, weights=recent[:, 1], minlength=sizes.size)
        whole = np.bincount(where, minlength=sizes.size) - damaged
        low, high = np.log(1e-12), np.log(0.5)
        for _ in range(3):
            rates = np.exp(np.linspace(low, high, _RATE_GRID))[:, None]
            log_whole = sizes * np.log1p(-rates)  # log P(a round trip of each size arrives whole)
            if whole.any():  # the likelihood's slope
                falling = np.sum(damaged * sizes * np.exp(log_whole) / -np.expm1(log_whole) - whole * sizes, axis=1)
            else:  # log 1/2 - log P(every one of them damaged)
                falling = np.log(0.5) - np.sum(damaged * np.log(-np.expm1(log_whole)), axis=1)
            above = np.flatnonzero(falling > 0)
            last = above[-1] if above.size else 0
            if last == _RATE_GRID - 1:
                return 0.5
            low, high = np.log(rates[last, 0]), np.log(rates[last + 1, 0])
        return float(np.exp((low + high) / 2))

    def service_samples(self, request_type: int) -> np.ndarray:
        """(bytes both ways, service seconds) of the recent whole round trips of one request
        type, as an (n, 2) array. A service time runs from the later of the request's sending and
        the previous reply, so with requests pipelined it is what the link's slowest stage
        spends on that round trip."""
        return np.array(self._service.get(request_type, ()), float).reshape(-1, 2)

    def _probe_after(self) -> float:
        """How long the oldest request may go unanswered before a probe: 2x the measured
        service time plus 4 deviations (0: not measured yet, no probes)."""
        if not self._pace:
            return 0.0
        return max(2 * self._pace + 4 * self._spread, _PROBE_FLOOR_S)

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
            while next_job < len(jobs) and self._window_open(waiting, next_job):
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
            deadline = max(head.attempt_at, last_reply) + head.timeout
            # No probe while requests are still being written or replies still arrive: on a slow
            # link (a UART) the oldest reply is late because the wire is busy, and a copy of a
            # large request would only make it busier.
            probe_at = 0.0 if self._tx else self._probe_due(head, last_reply)
            if probe_at:
                deadline = min(deadline, probe_at)
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
                answered = self._handle(event, waiting, now, last_reply)
                if answered is not None:
                    done += 1
                    last_reply = now
                    if on_reply is not None:
                        on_reply(answered.index, event)
            if head.seq not in waiting:
                continue
            if now >= max(head.attempt_at, last_reply) + head.timeout:
                counters.timeouts += 1
                head.damaged = False
                self._resend(head, waiting, "no reply before its timeout")
            elif probe_at and now >= probe_at:
                head.probes += 1
                counters.probes += 1
                self._send(head)
                waiting[head.seq] = waiting.pop(head.seq)
        return [job.reply for job in jobs]  # type: ignore[misc]

    def _probe_due(self, head: _Job, last_reply: float) -> float:
        """When to send the oldest request again as a probe (0: not measured yet): the pace
        after its last transmission, the last reply or the last byte heard, whichever is latest
        (the link has been quiet that long), doubled for each probe already sent since its last
        counted attempt. A probe is a copy under the same seq, so a device that is only slow
        answers it from its cache and nothing runs twice."""
        after = self._probe_after()
        if not after:
            return 0.0
        return max(head.sent_at, last_reply, self._last_rx) + after * (1 << head.probes)

    def _window_open(self, waiting: dict[int, _Job], next_index: int) -> bool:
        """Room for request next_index: fewer than in_flight requests from the oldest unanswered
        on, so the device's reply cache keeps every reply still owed."""
        if not waiting:
            return True
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
        if not job.probes:
            job.attempt_at = now
        job.sends.append(self._sent)
        self._sent += 1
        self._tx += job.wire

    def _resend(self, job: _Job, waiting: dict[int, _Job], why: str) -> None:
        if job.resends >= self.retries:
            message = (f"{self.url}: no valid reply to {p.MsgType(job.type).name} (seq {job.seq}) "
                       f"after {job.resends + 1} attempts; last problem: {why}")
            if job.damaged or self.damaged_share > _DAMAGED_LINK_SHARE:
                share, per_byte = self.damaged_share, self.error_per_byte()
                raise DamagedLinkError(f"{message}; the link damages {100 * share:.0f} % of round trips "
                                       f"(about {per_byte:.1e} per byte)", share, per_byte)
            raise LinkError(message)
        job.resends += 1
        job.probes = 0
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

    def _handle(self, event: p.Frame | p.FrameFault, waiting: dict[int, _Job], now: float,
                last_reply: float) -> _Job | None:
        """Apply one parser event; the job it answered, if any."""
        if isinstance(event, p.FrameFault):
            self._fault(event, waiting, now, last_reply)
            return None
        job = waiting.get(event.seq)
        if job is None:
            self.counters.stale_replies += 1
            return None
        if event.type == p.reply_type(job.type):  # the usual case first
            del waiting[job.seq]
            reply_bytes = self._reply_bytes[job.type] = event.size
            service = self._time_reply(job, now, last_reply)
            if service is not None:
                samples = self._service.setdefault(job.type, deque(maxlen=_SERVICE_SAMPLES))
                samples.append((len(job.wire) + reply_bytes, service))
            self._heard_from(job, waiting)
            self._judge(job, damaged=False)
            job.reply = event
            self.counters.latencies_s.append(now - job.first_sent)
            return job
        if event.type == MsgType.ERROR:
            code, request_type, message = p.unpack_error(event.payload)
            if request_type != job.type:
                self.counters.stale_replies += 1
                return None
            if code == ErrorCode.BAD_CRC:
                self.counters.bad_crc_replies += 1
                self._time_reply(job, now, last_reply)
                self._heard_from(job, waiting)
                self._judge(job, damaged=True, reply_bytes=event.size)
                self._resend(job, waiting, "device saw a CRC-32 error in the request")
                return None
            del waiting[job.seq]
            raise DeviceError.for_code(code, request_type, message, self.url)
        self.counters.stale_replies += 1  # a reply of another type under this seq
        return None

    def _time_reply(self, job: _Job, now: float, last_reply: float) -> float | None:
        """Time a reply, whole or damaged, when it surely answers the job's last transmission,
        i.e. the replies to every earlier one were heard already (Karn's rule); the service
        time, or None when it cannot be told."""
        if job.heard != len(job.sends) - 1:
            return None
        sample = now - (job.sent_at if job.sent_at > last_reply else last_reply)
        self._time(sample)
        return sample

    def _time(self, sample: float) -> None:
        """Fold one service time into the pace and its deviation (RFC 6298's estimator). The
        first sample starts the estimator and the second starts it again: the link's first reply
        carries the device's start-up too (a firmware just booted, a port just opened; 60 ms on
        the emulated board against 1-4 ms after), and on a link that damages most frames too few
        samples come to wash it out."""
        self._timed += 1
        if self._timed <= 2:
            self._pace, self._spread = sample, sample / 2
            return
        self._spread += _SPREAD_GAIN * (abs(sample - self._pace) - self._spread)
        self._pace += _PACE_GAIN * (sample - self._pace)

    def _judge(self, job: _Job, damaged: bool, reply_bytes: int | None = None) -> None:
        """One round trip heard: keep the damaged share and the size of round trips current
        (reply_bytes: the reply's size when known, as a damaged frame's header gives it)."""
        job.damaged = damaged
        self._judged += 1
        gain = max(1 / self._judged, _QUALITY_GAIN)  # a plain mean until there are enough
        self.damaged_share += gain * (damaged - self.damaged_share)
        # a reply whose header was lost has no size: the last whole one of its type stands in
        reply = reply_bytes or self._reply_bytes.get(job.type, len(job.wire))
        if len(self._recent) == self._recent.maxlen:
            self._recent_damaged -= self._recent[0][1]
        self._recent.append((len(job.wire) + reply, damaged))
        self._recent_damaged += damaged

    def _fault(self, fault: p.FrameFault, waiting: dict[int, _Job], now: float, last_reply: float) -> None:
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
            if fault.kind == "bad_crc":  # a cut frame "arrives" when the inter-byte timeout ends it
                self._time_reply(job, now, last_reply)
            self._heard_from(job, waiting)
            self._judge(job, damaged=True, reply_bytes=fault.size)
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
