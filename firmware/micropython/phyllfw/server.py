"""The frame loop: receive, resynchronise, dispatch, reply (docs/protocol.md).

The steady-state path of an EXCITE is a fixed handful of interpreted operations per batch:
two poll+readinto pairs into a preallocated buffer, a header check, one CRC-32 over the whole
frame (compared with the CRC residue), a viper clamp, the HAL call writing straight into the
reply buffer, one CRC-32 and one write. Nothing is allocated on it (tests/test_server.py checks
this with the heap locked).

With a split HAL on a non-blocking link (the emulator) the medium never waits for the link:
while it measures one EXCITE, the loop reads the requests behind it, and the next EXCITE, once
complete and CRC-valid, is clamped and handed to the HAL at once ("started"), so the medium
measures it while this reply is sealed and written.
"""
import json
import sys

import micropython
from micropython import const

from . import NAME, VERSION, clock, frame
from .frame import CRC_RESIDUE, CRC_SIZE, HEADER_SIZE, MAX_PAYLOAD, VERSION as PROTOCOL
from .hal import HalFault
from .kernels import clamp_i16, crc32
from .link import LinkClosed
from .safety import Watchdog, code_limits
from .settings import read_settings
from .views import Tails, Views

_MAX_FRAME = const(16398)
_IDLE_WAIT_MS = const(60000)
_REPLY_STALL_MS = const(1000)  # docs/protocol.md section 2: then a reply the host does not read is dropped
_MAX_WATCHDOG_MS = const(3600000)
_PROTOCOL_BOUND = const(16380)  # max_payload - 4: a batch's bytes after (batch, width)
_BAD_CRC_MESSAGE = b"frame CRC-32 mismatch"


class FrameError(Exception):
    """A request the device refuses: becomes an ERROR reply with this code and message."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


class FrameServer:
    def __init__(self, link, hal, board, in_flight=4, watchdog_ms=2000, max_batch=0, now=None,
                 rx_frames=1):
        """rx_frames: frames the receive buffer holds. Above 1 pays off on a non-blocking link
        (link.nonblocking): reads then take what has arrived, and while a split HAL
        (excite_begin/excite_end, e.g. the emulator's) measures, the next request is read in."""
        if hal.n_actuators < 1 or hal.n_sensors < 1:
            raise ValueError("HAL %r must have n_actuators >= 1 and n_sensors >= 1" % hal.medium)
        self.board = board
        self._link = link
        self._hal = hal
        self._now = now or clock.ticks_ms
        self.watchdog = Watchdog(watchdog_ms, self._now)
        bits = hal.encoding["encoder"] == "bits"
        self._n_act = hal.n_actuators
        self._n_sens = hal.n_sensors
        self._vector_bytes = (hal.n_actuators + 7) // 8 if bits else 2 * hal.n_actuators
        self._clamping = False  # "bits" vectors are 0/1 elements: nothing to clamp
        if not bits:
            self._code_low, self._code_high = code_limits(
                hal.encoding["low"], hal.encoding["high"], hal.actuator_scale)
            self._clamping = self._code_low > -32768 or self._code_high < 32767
        self.max_batch = self._batch_bound(hal, max_batch)
        self._encoding = hal.encoding
        if not bits:  # INFO: one element per activation value, whatever the HAL's dict says
            self._encoding = dict(hal.encoding)
            self._encoding["bits"] = 1
        self._static_zeros = bytearray((hal.n_static + 7) // 8)

        self._rx = bytearray(_MAX_FRAME * rx_frames)
        self._have = 0
        self._read_ahead = getattr(link, "nonblocking", False)
        self._split_hal = hasattr(hal, "excite_begin")
        # While a split HAL measures elsewhere, wait on its reply and the link together.
        self._overlap = None
        if self._split_hal and self._read_ahead and hasattr(hal, "reply_stream"):
            self._overlap = link.pair_wait(hal.reply_stream)
        self._rx_tail = Tails(self._rx)
        self._rx_frame = Views(self._rx, 0)
        self._rx_body = Views(self._rx, HEADER_SIZE)
        self._rx_vectors = Views(self._rx, HEADER_SIZE + 4)
        self._rx_head = memoryview(self._rx)[0:9]

        self._slots = [bytearray(_MAX_FRAME) for _ in range(in_flight)]
        self._slot_frame = [Views(s, 0) for s in self._slots]
        self._slot_out = [Views(s, HEADER_SIZE + 4) for s in self._slots]
        self._slot_head = [memoryview(s)[0:9] for s in self._slots]
        self._slot_seq = [-1] * in_flight
        self._slot_type = [0] * in_flight
        self._slot_size = [0] * in_flight
        self._slot = 0
        self._error = bytearray(HEADER_SIZE + 2 + len(_BAD_CRC_MESSAGE) + CRC_SIZE)
        self._error_frame = Views(self._error, 0)
        self._error_head = memoryview(self._error)[0:9]

        self._answering = 0  # size of the request being answered while it is still buffered
        self._started = 0  # size of the EXCITE at the buffer's start that the HAL has begun
        self.repl_requested = False  # serve() returned for the REPL, not because the link closed
        self._uptime_ms = 0
        self._uptime_mark = self._now()
        self.reset_counters()

    def _batch_bound(self, hal, board_max):
        bound = min(_PROTOCOL_BOUND // self._vector_bytes, _PROTOCOL_BOUND // (2 * self._n_sens), 65535)
        for limit in (hal.max_batch, board_max):
            if 0 < limit < bound:
                bound = limit
        return bound

    def reset_counters(self):
        self.frames_ok = self.crc_errors = self.header_errors = 0
        self.excites = self.vectors = self.duplicates = self.clamps = 0
        self.skipped_bytes = self.inter_byte_timeouts = self.hal_faults = self.replies_dropped = 0
        self.watchdog.trips = 0

    # ---- the loop -------------------------------------------------------------------------

    def serve(self):
        """Serve frames until REPL is requested or the host link closes."""
        micropython.kbd_intr(-1)  # frames contain 0x03; Ctrl-C must not interrupt the loop
        try:
            while not self.repl_requested:
                size = self._next_frame()
                if size:
                    self._dispatch(size)
                elif self.watchdog.check():
                    self._safe()
        except LinkClosed:
            pass
        finally:
            self._finish_started()
            self._safe()
            micropython.kbd_intr(3)

    def _next_frame(self):
        """Size of the CRC-valid frame now at the start of the buffer; 0 if none came in time."""
        if self._started:
            return self._started  # checked when it was started
        while True:
            if self._have < HEADER_SIZE:
                if not self._fill(HEADER_SIZE):
                    return 0
                continue
            size = self._frame_size()
            if size < 0:
                self._realign(0)
                continue
            if not size:
                self.header_errors += 1
                self._realign(1)
                continue
            if self._have < size:
                if not self._fill(size):
                    return 0
                continue
            if crc32(self._rx_frame.get(size)) != CRC_RESIDUE:
                self.crc_errors += 1
                self._reply_bad_crc()
                self._realign(1)
                continue
            return size

    def _frame_size(self):
        """Size of the frame whose header is buffered at the start: -1 if it does not start with
        the magic, 0 if the header is damaged (version, length bound or header CRC)."""
        rx = self._rx
        if rx[0] != 0xA5 or rx[1] != 0x5A:
            return -1
        length = rx[6] | rx[7] << 8
        if rx[2] != PROTOCOL or length > MAX_PAYLOAD or rx[9] != crc32(self._rx_head) & 0xFF:
            return 0
        return HEADER_SIZE + length + CRC_SIZE

    def _fill(self, need):
        """Read towards `need` buffered bytes. False: stop for now (idle, or the watchdog is due).

        True means progress: bytes arrived, or a partial frame was abandoned after the
        inter-byte timeout (one byte dropped); the caller re-examines the buffer.
        """
        due = self.watchdog.remaining_ms()
        if due == 0:
            return False
        limit = frame.INTER_BYTE_TIMEOUT_MS if self._have else _IDLE_WAIT_MS
        timeout = limit if due < 0 or due > limit else due
        if self._link.wait(timeout):
            n = self._link.readinto(self._rx_window(need))
            if n:
                self._have += n
            return True
        if not self._have:
            self._advance_uptime()
            return False
        if timeout < limit:
            return False
        self.inter_byte_timeouts += 1
        self._realign(1)
        return True

    def _rx_window(self, need):
        have = self._have
        if self._read_ahead:  # take whatever has arrived, up to the buffer's end
            return self._rx_tail.get(have)
        if have == 0:
            return self._rx_frame.get(need)
        if have == HEADER_SIZE:
            return self._rx_body.get(need - HEADER_SIZE)
        return memoryview(self._rx)[have:need]

    def _read_while_measuring(self, overlap, seq):
        """Until the HAL's reply is ready, read the requests arriving behind this one (the
        EXCITE `seq`, already dropped from the buffer) and start the next EXCITE."""
        self._start_next(seq)
        rx_size = len(self._rx)
        while self._have < rx_size:
            ready = overlap.wait()
            if ready & 2 or not ready & 1:
                return
            try:
                n = self._link.readinto(self._rx_tail.get(self._have))
            except LinkClosed:
                return  # the loop meets the hang-up again at its next read, after this reply
            if n:
                self._have += n
                self._start_next(seq)

    def _start_next(self, seq):
        """Begin the EXCITE now at the buffer's start if it is complete, CRC-valid and would run.

        Anything else (incomplete, damaged, another type, a duplicate, a shape error) is left
        for the loop, which answers it in turn as usual.
        """
        if self._started:
            return
        size = self._complete_excite()
        if not size:
            return
        rx = self._rx
        next_seq = rx[4] | rx[5] << 8
        # seq's reply is not cached yet: a re-send of it behind it must be answered from the cache
        if next_seq == seq or self._cached(next_seq, frame.EXCITE) >= 0:
            return
        try:
            batch = self._excite_batch(size - HEADER_SIZE - CRC_SIZE)
            self._hal.excite_begin(self._clamped_vectors(batch), batch)
        except Exception:
            return  # the loop meets the same problem again and answers it
        self._started = size
        self.watchdog.feed()  # it arrived now; its reply may wait for the one being written

    def _complete_excite(self):
        """Size of a complete, CRC-valid EXCITE frame at the buffer's start, else 0."""
        if self._have < HEADER_SIZE or self._rx[3] != frame.EXCITE:
            return 0
        size = self._frame_size()
        if size <= 0 or size > self._have or crc32(self._rx_frame.get(size)) != CRC_RESIDUE:
            return 0
        return size

    def _finish_started(self):
        """Collect the reply of an EXCITE begun but never answered (the host left meanwhile),
        so the HAL is idle again; its measurement is dropped."""
        if not self._started:
            return
        rx = self._rx
        batch = rx[10] | rx[11] << 8
        self._started = 0
        self._slot_seq[self._slot] = -1  # the next slot to be reused takes the dropped reply
        try:
            self._hal.excite_end(batch, self._slot_out[self._slot].get(2 * batch * self._n_sens))
        except Exception:
            self.hal_faults += 1

    def _realign(self, drop):
        """Drop `drop` bytes, then discard everything before the next magic."""
        rx = self._rx
        have = self._have
        at = rx.find(frame.MAGIC, drop, have)
        if at < 0:
            # a trailing A5 may be the first half of a magic still on its way
            at = have - 1 if have > drop and rx[have - 1] == 0xA5 else have
        self.skipped_bytes += at - drop
        self._shift(at)

    def _drop_answering(self):
        """Drop the request being answered from the buffer (once; a split EXCITE drops it as
        soon as its vectors are with the HAL, to make room for the requests behind it)."""
        size = self._answering
        if size:
            self._answering = 0
            self._consume(size)

    def _consume(self, size):
        if self._have == size:
            self._have = 0
        else:
            self._shift(size)

    def _shift(self, start):
        have = self._have
        if start < have:
            self._rx[0:have - start] = memoryview(self._rx)[start:have]
        self._have = have - start if start < have else 0

    # ---- dispatch -------------------------------------------------------------------------

    def _dispatch(self, size):
        """Answer the frame at rx[0:size] and drop it from the buffer."""
        rx = self._rx
        msg_type = rx[3]
        seq = rx[4] | rx[5] << 8
        length = size - HEADER_SIZE - CRC_SIZE
        self._answering = size
        self.frames_ok += 1
        if not self._started:  # a begun EXCITE fed the watchdog when it was read
            self.watchdog.feed()
        if msg_type == frame.HELLO:
            self._forget_replies()
        else:
            hit = self._cached(seq, msg_type)
            if hit >= 0:
                self.duplicates += 1
                self._drop_answering()
                self._send(self._slot_frame[hit].get(self._slot_size[hit]))
                return
        slot = self._slot
        self._slot = (slot + 1) % len(self._slots)
        self._slot_seq[slot] = -1
        buf = self._slots[slot]
        reply = msg_type | frame.REPLY_BIT
        try:
            if msg_type == frame.EXCITE:
                n = self._excite(buf, slot, seq, length)
            elif msg_type == frame.PING:
                n = self._ping(buf, length)
            elif msg_type == frame.HELLO:
                n = self._hello(buf, length)
            elif msg_type == frame.STATUS:
                self._empty(length)
                n = self._put_json(buf, self.status())
            elif msg_type == frame.CONFIGURE:
                n = self._configure(buf, length)
            elif msg_type == frame.SET_STATIC:
                n = self._set_static(length)
            elif msg_type == frame.RESET:
                self._empty(length)
                n = self._reset()
            elif msg_type == frame.REPL:
                self._empty(length)
                self.repl_requested = True
                n = 0
            else:
                raise FrameError(frame.UNKNOWN_TYPE, "unknown request type 0x%02X" % msg_type)
        except FrameError as exc:
            reply = frame.ERROR
            n = self._put_error(buf, exc.code, msg_type, exc.message)
        self._drop_answering()
        reply_size = frame.seal(buf, reply, seq, n, self._slot_head[slot], self._slot_frame[slot])
        if msg_type != frame.HELLO:
            self._slot_seq[slot] = seq
            self._slot_type[slot] = msg_type
            self._slot_size[slot] = reply_size
        self._send(self._slot_frame[slot].get(reply_size))
        if self.repl_requested:
            self._link.flush()

    def _cached(self, seq, msg_type):
        for i in range(len(self._slots)):
            if self._slot_seq[i] == seq and self._slot_type[i] == msg_type:
                return i
        return -1

    def _forget_replies(self):
        for i in range(len(self._slots)):
            self._slot_seq[i] = -1

    def _reply_bad_crc(self):
        """ERROR BAD_CRC with the header's seq and type; never cached (the request never ran)."""
        rx = self._rx
        buf = self._error
        n = self._put_error(buf, frame.BAD_CRC, rx[3], _BAD_CRC_MESSAGE)
        size = frame.seal(buf, frame.ERROR, rx[4] | rx[5] << 8, n, self._error_head, self._error_frame)
        self._send(self._error_frame.get(size))

    def _send(self, view):
        """Write a reply whole, or as much of it as a host that stopped reading lets through."""
        done = self._link.write(view)
        if done < len(view):
            self._send_rest(view, done)

    def _send_rest(self, view, done):
        """The link is full: wait while it keeps taking bytes; after _REPLY_STALL_MS in which it
        took none, drop the rest and count it. The loop goes on serving, and the reply stays
        cached, so the host's re-send gets it whole. The watchdog keeps running meanwhile:
        silence counts from the last valid frame, whatever this loop is doing."""
        total = len(view)
        progress = self._now()
        while done < total:
            stalled = clock.ticks_diff(self._now(), progress)
            if stalled >= _REPLY_STALL_MS:
                self.replies_dropped += 1
                return
            # With an EXCITE begun, a split HAL cannot go safe before it ends; that EXCITE is
            # answered next, and the loop checks the watchdog again when it waits for input.
            due = -1 if self._started else self.watchdog.remaining_ms()
            if due == 0 and self.watchdog.check():
                self._safe()
                continue
            wait = _REPLY_STALL_MS - stalled
            if self._link.wait_writable(due if 0 < due < wait else wait):
                n = self._link.write(view[done:])
                if n:
                    done += n
                    progress = self._now()

    # ---- messages -------------------------------------------------------------------------

    def _excite(self, buf, slot, seq, length):
        started = self._started != 0
        if started:
            self._started = 0
            batch = self._rx[10] | self._rx[11] << 8
        else:
            batch = self._excite_batch(length)
            vectors = self._clamped_vectors(batch)
        out_size = 2 * batch * self._n_sens
        out = self._slot_out[slot].get(out_size)
        try:
            if self._split_hal:
                if not started:
                    self._hal.excite_begin(vectors, batch)
                if self._overlap is not None:
                    self._drop_answering()
                    self._read_while_measuring(self._overlap, seq)
                self._hal.excite_end(batch, out)
            else:
                self._hal.excite(vectors, batch, out)
        except Exception as exc:
            self.hal_faults += 1
            raise FrameError(frame.HAL_FAULT, _describe(exc))
        buf[10] = batch & 0xFF
        buf[11] = batch >> 8
        buf[12] = self._n_sens & 0xFF
        buf[13] = self._n_sens >> 8
        self.excites += 1
        self.vectors += batch
        return 4 + out_size

    def _excite_batch(self, length):
        """The batch of the EXCITE at the buffer's start; FrameError if it is malformed."""
        rx = self._rx
        if length < 4:
            raise FrameError(frame.BAD_LENGTH, "EXCITE payload of %d bytes; it starts with u16 batch, u16 width" % length)
        batch = rx[10] | rx[11] << 8
        width = rx[12] | rx[13] << 8
        if width != self._n_act or batch == 0:
            raise FrameError(frame.BAD_SHAPE, "EXCITE of %d x %d; this device takes width %d and batch >= 1"
                             % (batch, width, self._n_act))
        if batch > self.max_batch:
            raise FrameError(frame.BATCH_TOO_LARGE, "EXCITE batch %d > max_batch %d" % (batch, self.max_batch))
        size = batch * self._vector_bytes
        if length != 4 + size:
            raise FrameError(frame.BAD_LENGTH, "EXCITE of %d x %d needs %d payload bytes, got %d"
                             % (batch, width, 4 + size, length))
        return batch

    def _clamped_vectors(self, batch):
        vectors = self._rx_vectors.get(batch * self._vector_bytes)
        if self._clamping:
            self.clamps += clamp_i16(vectors, batch * self._n_act, self._code_low, self._code_high)
        return vectors

    def _ping(self, buf, length):
        if length > frame.MAX_PING:
            raise FrameError(frame.BAD_LENGTH, "PING carries at most %d bytes, got %d" % (frame.MAX_PING, length))
        buf[HEADER_SIZE:HEADER_SIZE + length] = self._rx_body.get(length)
        return length

    def _hello(self, buf, length):
        if length != 2:
            raise FrameError(frame.BAD_LENGTH, "HELLO payload is u8 min_version, u8 max_version; got %d bytes" % length)
        low = self._rx[10]
        high = self._rx[11]
        if low > high or not low <= PROTOCOL <= high:
            raise FrameError(frame.BAD_VERSION, "supported protocol versions %d..%d" % (PROTOCOL, PROTOCOL))
        return self._put_json(buf, self.info())

    def _configure(self, buf, length):
        try:
            settings = read_settings(bytes(self._rx_body.get(length)), self._config_ranges())
        except ValueError as exc:
            raise FrameError(frame.BAD_CONFIG, str(exc))
        for key in settings:
            if key == "watchdog_ms":
                self.watchdog.timeout_ms = settings[key]
            else:
                setattr(self._hal, key, settings[key])
        return self._put_json(buf, self.config())

    def _set_static(self, length):
        rx = self._rx
        if length < 2:
            raise FrameError(frame.BAD_LENGTH, "SET_STATIC payload starts with u16 n_elements; got %d bytes" % length)
        n = rx[10] | rx[11] << 8
        if n != self._hal.n_static:
            raise FrameError(frame.BAD_SHAPE, "SET_STATIC of %d elements; this device has n_static %d"
                             % (n, self._hal.n_static))
        size = (n + 7) // 8
        if length != 2 + size:
            raise FrameError(frame.BAD_LENGTH, "SET_STATIC of %d elements needs %d payload bytes, got %d"
                             % (n, 2 + size, length))
        self._hal_call(self._hal.set_static, memoryview(rx)[HEADER_SIZE + 2:HEADER_SIZE + 2 + size], n)
        return 0

    def _reset(self):
        self._safe()
        self._hal_call(self._hal.set_static, self._static_zeros, self._hal.n_static)
        self.reset_counters()
        self._forget_replies()
        return 0

    def _empty(self, length):
        if length:
            raise FrameError(frame.BAD_LENGTH, "this request takes an empty payload, got %d bytes" % length)

    def _hal_call(self, method, packed, n):
        try:
            method(packed, n)
        except Exception as exc:
            self.hal_faults += 1
            raise FrameError(frame.HAL_FAULT, _describe(exc))

    def _safe(self):
        """Actuators to safe state; a failing HAL is counted, never allowed to stop the loop."""
        try:
            self._hal.safe()
        except Exception:
            self.hal_faults += 1

    # ---- JSON replies ---------------------------------------------------------------------

    def info(self):
        hal = self._hal
        return {
            "protocol": PROTOCOL, "firmware": NAME + " " + VERSION, "board": self.board,
            "medium": hal.medium, "runtime": sys.implementation.name,
            "n_actuators": hal.n_actuators, "n_sensors": hal.n_sensors, "n_static": hal.n_static,
            "encoding": self._encoding, "actuator_scale": hal.actuator_scale,
            "sensor_scale": hal.sensor_scale, "max_batch": self.max_batch,
            "max_payload": MAX_PAYLOAD, "in_flight": len(self._slots),
            "settle_us": hal.settle_us, "watchdog_ms": self.watchdog.timeout_ms,
        }

    def config(self):
        settings = {"watchdog_ms": self.watchdog.timeout_ms}
        for key in self._hal.config_ranges:
            settings[key] = getattr(self._hal, key)
        return settings

    def _config_ranges(self):
        ranges = {"watchdog_ms": (0, _MAX_WATCHDOG_MS)}
        ranges.update(self._hal.config_ranges)
        return ranges

    def status(self):
        self._advance_uptime()
        return {
            "frames_ok": self.frames_ok, "crc_errors": self.crc_errors,
            "header_errors": self.header_errors, "excites": self.excites, "vectors": self.vectors,
            "duplicates": self.duplicates, "clamps": self.clamps,
            "watchdog_trips": self.watchdog.trips, "uptime_ms": self._uptime_ms,
            "skipped_bytes": self.skipped_bytes, "inter_byte_timeouts": self.inter_byte_timeouts,
            "hal_faults": self.hal_faults, "replies_dropped": self.replies_dropped,
        }

    def _advance_uptime(self):
        """Accumulate uptime across tick wraps: called on STATUS and after every idle minute."""
        now = self._now()
        self._uptime_ms += clock.ticks_diff(now, self._uptime_mark)
        self._uptime_mark = now

    def _put_json(self, buf, obj):
        data = json.dumps(obj).encode()
        buf[HEADER_SIZE:HEADER_SIZE + len(data)] = data
        return len(data)

    def _put_error(self, buf, code, request_type, message):
        if isinstance(message, str):
            message = message.encode()
        message = message[:frame.MAX_ERROR_MESSAGE]
        buf[HEADER_SIZE] = code
        buf[HEADER_SIZE + 1] = request_type
        buf[HEADER_SIZE + 2:HEADER_SIZE + 2 + len(message)] = message
        return 2 + len(message)


def _describe(exc):
    text = str(exc)
    return text if isinstance(exc, HalFault) and text else "%s: %s" % (type(exc).__name__, text)
