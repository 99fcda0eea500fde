"""Test peers each broken in one point of docs/protocol.md, to show every check can fail.

Each class changes the one thing its docstring names and nothing else; test_checks_fail.py runs
the matching check against it and expects an AssertionError naming the defect.
"""
from __future__ import annotations

import json
import math
import time
import zlib

from phyll import protocol as p
from phyll.protocol import ErrorCode, MsgType

from serial_peer import PeerDevice, PeerServer, _Reject


def _frame_of(reply: bytes) -> p.Frame:
    (frame,) = p.FrameParser().feed(reply)
    return frame


# -------------------------------------------------------------------------------------------------
# frames


class WrongReplyHeaderCheck(PeerDevice):
    """Seals replies with the header check over bytes 0..7 (one byte short) instead of 0..8."""

    def respond(self, event):
        reply = super().respond(event)
        if reply is None:
            return None
        body = bytearray(reply[:-p.CRC_SIZE])
        body[9] = zlib.crc32(body[:8]) & 0xFF
        if body[9] == reply[9]:
            body[9] ^= 0x01  # the off-by-one can collide; a broken peer must stay broken
        return bytes(body) + p.CRC.pack(zlib.crc32(body))


class _ParserIgnoringHeaderCheck(p.FrameParser):
    def _header_fault(self, data, at, version, length, check):
        return super()._header_fault(data, at, version, length, p.header_check(bytes(data[at:at + 9])))


class IgnoresHeaderCheck(PeerServer):
    """Never looks at the header check byte."""

    parser_class = _ParserIgnoringHeaderCheck


class SkippedBytesUncounted(PeerServer):
    """Skips garbage but leaves STATUS skipped_bytes at 0."""

    def _parse(self, step, *data):
        return step(*data)


class BadCrcCached(PeerDevice):
    """Stores its BAD_CRC replies in the reply cache, so the intact re-send gets the ERROR."""

    def respond(self, event):
        reply = super().respond(event)
        if reply is not None and isinstance(event, p.FrameFault) and event.kind == "bad_crc":
            self._remember((event.seq, event.type), reply)
        return reply


class NoInterByteTimeout(PeerServer):
    """Waits for the rest of a cut frame for ever."""

    inter_byte_timeout_s = math.inf


# -------------------------------------------------------------------------------------------------
# sessions


class NoReplyCache(PeerDevice):
    """Keeps no replies: every re-send runs again."""

    def _remember(self, key, reply):
        pass


class LruReplyCache(PeerDevice):
    """Refreshes a cache entry on a hit (least recently used, not first in first out)."""

    def respond(self, event):
        if isinstance(event, p.Frame) and (event.seq, event.type) in self.cache:
            self.cache.move_to_end((event.seq, event.type))
        return super().respond(event)


class ErrorsNotCached(PeerDevice):
    """Caches only replies that are not ERRORs."""

    def _remember(self, key, reply):
        if reply[3] != MsgType.ERROR:
            super()._remember(key, reply)


class HelloKeepsCache(PeerDevice):
    """Does not empty the reply cache on HELLO."""

    def respond(self, event):
        kept = self.cache.copy()
        reply = super().respond(event)
        if isinstance(event, p.Frame) and event.type == MsgType.HELLO:
            self.cache = kept
        return reply


class ErrorWithWrongSeq(PeerDevice):
    """Puts seq + 1 in its ERROR replies."""

    def respond(self, event):
        reply = super().respond(event)
        if reply is None or reply[3] != MsgType.ERROR:
            return reply
        frame = _frame_of(reply)
        return p.encode_frame(MsgType.ERROR, (frame.seq + 1) % p.SEQ_MODULO, frame.payload)


class GivesUpOnUnreadReply(PeerServer):
    """Leaves its frame loop when the host has not read a reply for 1 s (as the MicroPython
    firmware did before the protocol decided otherwise)."""

    def _reply_stalled(self) -> bool:
        return False


class AcceptsMinAboveMax(PeerDevice):
    """Answers INFO to a HELLO whose min_version > max_version when 1 is one of them."""

    def _hello(self, payload):
        if len(payload) == 2 and payload[0] > payload[1] and p.VERSION in payload:
            return p.pack_json(self.info())
        return super()._hello(payload)


class WatchdogTripsEveryPeriod(PeerDevice):
    """Stays armed after a trip, so one long silence trips it again every watchdog_ms."""

    def tick(self):
        last = self.last_valid_frame
        super().tick()
        if last is not None and self.last_valid_frame is None:
            self.last_valid_frame = time.monotonic()


class WatchdogArmedAtBoot(PeerDevice):
    """Arms the watchdog at boot instead of at the first valid frame."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.last_valid_frame = time.monotonic()


# -------------------------------------------------------------------------------------------------
# messages


class AnalogBitsNotOne(PeerDevice):
    """Reports encoding bits 2 for its minmax encoder."""

    def info(self):
        info = super().info()
        return {**info, "encoding": {**info["encoding"], "bits": 2}}


class ConfigureAppliesAsItReads(PeerDevice):
    """Applies each CONFIGURE member as soon as it is checked, so a bad later one leaves the
    earlier ones applied."""

    def _configure(self, payload):
        try:
            settings = json.loads(payload)
        except ValueError:
            return super()._configure(payload)
        if isinstance(settings, dict):
            for key in sorted(settings):
                super()._configure(p.pack_json({key: settings[key]}))
        return super()._configure(payload)


class ConfigureAcceptsBool(PeerDevice):
    """Takes true and false as the integers 1 and 0."""

    def _configure(self, payload):
        try:
            settings = json.loads(payload)
        except ValueError:
            return super()._configure(payload)
        if isinstance(settings, dict):
            payload = p.pack_json({k: int(v) if isinstance(v, bool) else v for k, v in settings.items()})
        return super()._configure(payload)


class LengthCheckedBeforeBatch(PeerDevice):
    """Checks an EXCITE's length before its batch against max_batch."""

    def _excite(self, payload):
        if len(payload) >= 4:
            batch, width = p.BATCH_HEADER.unpack_from(payload)
            if width == self.n_actuators and batch and len(payload) != 4 + 2 * batch * width:
                raise _Reject(ErrorCode.BAD_LENGTH, "EXCITE payload length wrong")
        return super()._excite(payload)


class ClampsNotCounted(PeerDevice):
    """Clamps codes into its limits but does not count them."""

    def _excite(self, payload):
        clamps = self.counters["clamps"]
        try:
            return super()._excite(payload)
        finally:
            self.counters["clamps"] = clamps


class MeasureHeaderCarriesWidth(PeerDevice):
    """Writes n_actuators where MEASURE's header holds n_sensors."""

    def _excite(self, payload):
        measure = super()._excite(payload)
        return measure[:2] + p.SET_STATIC_HEADER.pack(self.n_actuators) + measure[4:]


class CountsRejectedExcites(PeerDevice):
    """Counts an EXCITE and its vectors in STATUS even when it refuses it."""

    def _excite(self, payload):
        try:
            return super()._excite(payload)
        except _Reject:
            if len(payload) >= 4:
                self.counters["excites"] += 1
                self.counters["vectors"] += p.BATCH_HEADER.unpack_from(payload)[0]
            raise


class AnyStaticCountAccepted(PeerDevice):
    """Takes SET_STATIC with any n_elements."""

    def _set_static(self, payload):
        if len(payload) >= 2:
            (n_elements,) = p.SET_STATIC_HEADER.unpack_from(payload)
            if len(payload) == 2 + p.bits_per_vector(n_elements):
                return b""
        return super()._set_static(payload)


class PingLimitOffByOne(PeerDevice):
    """Echoes a PING of 65 bytes."""

    def _ping(self, payload):
        return payload if len(payload) == p.MAX_PING + 1 else super()._ping(payload)


class StatusWithoutRepliesDropped(PeerDevice):
    """Has no replies_dropped in STATUS."""

    def _status(self, payload):
        status = p.unpack_json(super()._status(payload))
        del status["replies_dropped"]
        return p.pack_json(status)


class ResetCountedAfterZeroing(PeerDevice):
    """Counts RESET in frames_ok after zeroing the counters, so the next STATUS reports 2."""

    def _reset(self, payload):
        done = super()._reset(payload)
        self.counters["frames_ok"] += 1
        return done


class ReplKeepsServing(PeerDevice):
    """Answers REPL with 0x88 and goes on serving frames."""

    def _repl(self, payload):
        self._expect_empty(payload, "REPL")
        return b""


class ReplyTypesServedAsRequests(PeerDevice):
    """Serves a reply type (0x85) as its request (PING) instead of refusing it."""

    def _dispatch(self, frame):
        if frame.type & p.REPLY_BIT and frame.type != MsgType.ERROR:
            frame = p.Frame(frame.type & ~p.REPLY_BIT, frame.seq, frame.payload)
        return super()._dispatch(frame)


class ErrorNamesNoRequestType(PeerDevice):
    """Writes 0 where an ERROR names its request's type."""

    def respond(self, event):
        reply = super().respond(event)
        if reply is None or reply[3] != MsgType.ERROR:
            return reply
        frame = _frame_of(reply)
        return p.encode_frame(MsgType.ERROR, frame.seq, frame.payload[:1] + b"\x00" + frame.payload[2:])
