"""Frame-loop behaviour beyond single vectors: reply cache, sessions, watchdog, faults, allocation."""
import json
import struct

from phyllfw.hal import HalFault
from phyllfw.link import LinkClosed
from phyllfw.server import FrameServer
from support import (ANALOG_DEVICE, BITS_DEVICE, MICROPYTHON, RecordingHal, ScriptedLink, ScriptedPairWait,
                     SplitHal, decode_all, encode, excite_payload, int16s, make_server, need_micropython,
                     serve)

HELLO, CONFIGURE, EXCITE, SET_STATIC, PING, STATUS, RESET, REPL = 1, 2, 3, 4, 5, 6, 7, 8
ERROR = 0xFF
HELLO_1 = b"\x01\x01"


def _excite(seq, vectors=((1, 2, 3),)):
    return encode(EXCITE, seq, excite_payload(vectors))


def _status(replies):
    return json.loads(replies[-1][2])


def test_resent_excite_is_answered_from_the_cache():
    frame = _excite(5)
    server, hal, replies = serve([frame, frame, encode(STATUS, 6)])
    assert len(hal.applied) == 1
    assert replies[0] == replies[1] and replies[0][0] == 0x83
    status = _status(replies)
    assert status["duplicates"] == 1 and status["excites"] == 1 and status["frames_ok"] == 3


def test_cache_holds_in_flight_replies_then_forgets_the_oldest():
    frames = [_excite(seq) for seq in range(5)]
    _, hal, _ = serve(frames + [frames[1], frames[0]], in_flight=4)
    # seq 1 is still cached; seq 0 was evicted by seq 4 and is excited again
    assert len(hal.applied) == 6


def test_same_seq_different_type_is_not_a_duplicate():
    _, hal, replies = serve([_excite(9), encode(PING, 9, b"x")])
    assert [r[0] for r in replies] == [0x83, 0x85]


def test_hello_starts_a_session_and_is_never_cached():
    hello = encode(HELLO, 0, HELLO_1)
    _, hal, replies = serve([_excite(0), hello, _excite(0), hello])
    assert len(hal.applied) == 2
    assert [r[0] for r in replies] == [0x83, 0x81, 0x83, 0x81]


def test_error_replies_are_cached_but_bad_crc_is_not():
    bad_shape = encode(EXCITE, 3, excite_payload([(1, 2)]))
    good = _excite(4)
    corrupt = bytearray(good)
    corrupt[12] ^= 0x01
    server, hal, replies = serve([bad_shape, bad_shape, bytes(corrupt), good])
    assert [(r[0], r[2][0]) for r in replies[:3]] == [(ERROR, 5), (ERROR, 5), (ERROR, 1)]
    assert replies[3][0] == 0x83 and replies[3][1] == 4
    assert server.duplicates == 1 and len(hal.applied) == 1


def test_reset_zeroes_counters_static_and_cache_and_is_itself_cached():
    reset = encode(RESET, 2)
    server, hal, replies = serve([_excite(1), reset, reset, _excite(1), encode(STATUS, 3)],
                                 device=dict(ANALOG_DEVICE, n_static=12))
    assert hal.statics == [(12, b"\x00\x00")]
    assert hal.safes >= 1
    assert len(hal.applied) == 2  # the cache was emptied: seq 1 ran again
    status = _status(replies)
    assert status["frames_ok"] == 3 and status["duplicates"] == 1 and status["excites"] == 1


def test_configure_is_all_or_nothing():
    bad = encode(CONFIGURE, 1, b'{"settle_us": 5, "watchdog_ms": -1}')
    boolean = encode(CONFIGURE, 2, b'{"settle_us": true}')
    not_object = encode(CONFIGURE, 3, b"[1]")
    not_json = encode(CONFIGURE, 4, b"{settle")
    read = encode(CONFIGURE, 5, b"{}")
    server, hal, replies = serve([bad, boolean, not_object, not_json, read])
    assert [(r[0], r[2][0]) for r in replies[:4]] == [(ERROR, 7)] * 4
    assert b"watchdog_ms" in replies[0][2]
    assert json.loads(replies[4][2]) == {"settle_us": 100, "watchdog_ms": 2000}


def test_a_cache_hit_does_not_refresh_its_entry():
    frames = [_excite(seq) for seq in range(5)]
    # seq 0 is re-sent (a hit) before seq 4 arrives; the cache is FIFO, so seq 4 still evicts it
    server, hal, replies = serve(frames[:4] + [frames[0], frames[4], frames[0]], in_flight=4)
    assert replies[4] == replies[0] and server.duplicates == 1
    assert len(hal.applied) == 6  # 0..4, then 0 again


def test_status_right_after_reset_reports_frames_ok_1():
    _, _, replies = serve([_excite(1), encode(PING, 2), encode(RESET, 3), encode(STATUS, 4)])
    status = _status(replies)
    assert status["frames_ok"] == 1 and status["excites"] == 0


def test_status_has_every_counter_the_spec_requires():
    _, _, replies = serve([encode(STATUS, 1)])
    status = _status(replies)
    for key in ("frames_ok", "crc_errors", "header_errors", "skipped_bytes", "excites", "vectors",
                "duplicates", "clamps", "watchdog_trips", "replies_dropped", "uptime_ms"):
        assert type(status.get(key)) is int, (key, status)


def test_configure_takes_json_integers_in_range_only():
    refused = [
        b'{"settle_us": true}', b'{"settle_us": 5.0}', b'{"settle_us": "5"}', b'{"settle_us": null}',
        b'{"settle_us": 10000001}', b'{"settle_us": -1}', b'{"watchdog_ms": 3600001}',
        b'{"watchdog_ms": 1e3}', b'{"settle_us": [5]}',
    ]
    malformed = [
        b'{"settle_us": 5,}', b'{"settle_us" 5}', b'{"settle_us": 05}', b'{"settle_us": 5 "watchdog_ms": 6}',
        b'{"settle_us": 5', b'{"settle_us": 5}}', b"[1]", b"5", b"null", b"", b'{"settle_us": 5, "\xff": 1}',
        b'\xff{"settle_us": 5}', b'{"colour": 1}',
    ]
    script = [encode(CONFIGURE, i, payload) for i, payload in enumerate(refused + malformed)]
    script.append(encode(CONFIGURE, 99, b' {"settle_us": 10000000,\n "watchdog_ms" : 3600000 } '))
    _, hal, replies = serve(script)
    errors = replies[:-1]
    assert [(r[0], r[2][0]) for r in errors] == [(ERROR, 7)] * len(errors)
    for reply, payload in zip(errors, refused):
        key = payload[2:payload.index(b'"', 2)]
        low_high = b"0..10000000" if key == b"settle_us" else b"0..3600000"
        assert key in reply[2] and low_high in reply[2], (payload, reply[2])
    assert errors[-1][2][2:] == b"unknown key 'colour'"
    assert json.loads(replies[-1][2]) == {"settle_us": 10000000, "watchdog_ms": 3600000}
    assert hal.settle_us == 10000000


def test_rejected_excites_count_in_neither_excites_nor_vectors():
    server, link, hal = make_server([
        encode(EXCITE, 1, excite_payload([(1, 2)])),                         # BAD_SHAPE
        encode(EXCITE, 2, excite_payload([(1, 2, 3)] * 5)),                  # BATCH_TOO_LARGE
        encode(EXCITE, 3, excite_payload([(1, 2, 3)])[:-1]),                 # BAD_LENGTH
        encode(EXCITE, 4, excite_payload([(9, 9, 9)] * 2)),                  # HAL_FAULT
        _excite(5, [(1, 2, 3)] * 3), _excite(5, [(1, 2, 3)] * 3), encode(STATUS, 6)])
    hal.fail = None
    original = hal.excite

    def fail_on_nines(vectors, batch, out):
        if bytes(vectors)[:2] == b"\x09\x00":
            raise HalFault("medium overloaded")
        original(vectors, batch, out)

    hal.excite = fail_on_nines
    server.serve()
    replies = decode_all(link.written)
    assert [r[2][0] for r in replies[:4]] == [5, 6, 4, 8]
    status = _status(replies)
    assert (status["excites"], status["vectors"], status["duplicates"]) == (1, 3, 1)


def test_info_encoding_bits_is_1_for_analog_encoders():
    device = dict(ANALOG_DEVICE, encoding={"encoder": "minmax", "low": 0.0, "high": 0.5, "bits": 3})
    _, _, replies = serve([encode(HELLO, 1, HELLO_1)], device=device)
    assert json.loads(replies[0][2])["encoding"] == {"encoder": "minmax", "low": 0.0, "high": 0.5, "bits": 1}
    _, _, replies = serve([encode(HELLO, 1, HELLO_1)], device=BITS_DEVICE)
    assert json.loads(replies[0][2])["encoding"]["bits"] == 2


def test_hal_fault_becomes_an_error_reply():
    server, link, hal = make_server([_excite(1)])
    hal.fail = "ADC read timed out"
    server.serve()
    (msg_type, seq, payload), = decode_all(link.written)
    assert (msg_type, seq, payload[0], payload[1], payload[2:]) == (ERROR, 1, 8, EXCITE, b"ADC read timed out")
    assert server.hal_faults == 1


def test_length_and_shape_checks_follow_the_specified_order():
    cases = [
        (encode(EXCITE, 1, b"\x01\x00"), 4),                                  # < 4 bytes
        (encode(EXCITE, 2, struct.pack("<HH", 0, 3)), 5),                     # batch 0
        (encode(EXCITE, 3, struct.pack("<HH", 9, 4)), 5),                     # width before batch
        (encode(EXCITE, 4, struct.pack("<HH", 5, 3)), 6),                     # too large before length
        (encode(EXCITE, 5, struct.pack("<HH", 2, 3) + b"\x00" * 11), 4),      # one byte short
        (encode(STATUS, 6, b"x"), 4),
        (encode(HELLO, 7, b"\x01"), 4),
        (encode(HELLO, 8, b"\x02\x01"), 2),
        (encode(SET_STATIC, 9, struct.pack("<H", 12) + b"\x00"), 4),
        (encode(0x40, 10), 3),
    ]
    _, _, replies = serve([c[0] for c in cases], device=dict(ANALOG_DEVICE, n_static=12))
    assert [r[2][0] for r in replies] == [c[1] for c in cases]


def test_measure_carries_the_hal_codes():
    _, _, replies = serve([encode(EXCITE, 1, excite_payload([(1, 2, 3), (4, 5, 6)]))])
    payload = replies[0][2]
    assert struct.unpack("<HH", payload[:4]) == (2, 2)
    assert int16s(payload[4:]) == [0, 1, 100, 101]


def test_max_batch_is_bounded_by_the_payload():
    device = dict(ANALOG_DEVICE, n_actuators=64, n_sensors=16, max_batch=0)
    server, _, _ = make_server(device=device)
    assert server.max_batch == 127
    bits = dict(BITS_DEVICE, max_batch=0, n_sensors=1)
    server, _, _ = make_server(device=bits)
    assert server.max_batch == 8190


def test_watchdog_trips_once_per_silence_with_an_injected_clock():
    script = [encode(PING, 1), 1999, encode(STATUS, 2), 2001, 5000, _excite(3), 2500, encode(STATUS, 4)]
    server, hal, replies = serve(script, watchdog_ms=2000)
    first = json.loads(replies[1][2])
    assert first["watchdog_trips"] == 0
    assert _status(replies)["watchdog_trips"] == 2
    assert hal.safes >= 2


def test_watchdog_off_and_unarmed_never_trips():
    server, _, replies = serve([encode(PING, 1), 10000, encode(STATUS, 2)], watchdog_ms=0)
    assert _status(replies)["watchdog_trips"] == 0
    server, _, _ = serve([10000], watchdog_ms=100)
    assert server.watchdog.trips == 0


def test_frame_arriving_in_pieces_within_the_timeout_is_served():
    frame = _excite(7)
    pieces = []
    for i in range(0, len(frame), 3):
        pieces += [frame[i:i + 3], 60]
    _, hal, replies = serve(pieces)
    assert [r[0] for r in replies] == [0x83] and len(hal.applied) == 1


def test_repl_reply_is_flushed_and_the_loop_ends():
    server, link, hal = make_server([encode(REPL, 1), encode(PING, 2)])
    server.serve()
    assert [r[0] for r in decode_all(link.written)] == [0x88]
    assert link.flushes == 1 and hal.safes >= 1
    assert link.script  # the PING behind it was left for the REPL


def test_steady_state_excite_allocates_nothing():
    need_micropython("micropython.heap_lock")
    import micropython
    frame = bytearray(_excite(0, [(c, c + 1, 40000 - 65536) for c in range(4)]))
    server, link, hal = make_server(device=ANALOG_DEVICE)
    sink = _Sink()
    server._link = sink
    server._hal = _QuietHal(hal)
    for seq in range(4):  # warm the per-length views of every reply slot
        _set_seq(frame, seq)
        sink.load(frame)
        server._dispatch(server._next_frame())
    _set_seq(frame, 4)
    sink.load(frame)
    micropython.heap_lock()
    try:
        server._dispatch(server._next_frame())
    finally:
        micropython.heap_unlock()
    assert server.excites == 5 and server.clamps == 20
    assert decode_all(bytes(sink.out[:sink.n]))[0][0] == 0x83


def test_started_excite_path_allocates_nothing():
    """The emulator's path: read ahead while the medium measures, begin the next EXCITE early."""
    need_micropython("micropython.heap_lock")
    import micropython
    first = bytearray(_excite(0, [(1, 2, 3)] * 4))
    second = bytearray(first)
    sink = _Sink()
    sink.nonblocking = True
    sink.pair_wait = lambda stream: _SinkPairWait(sink)
    server = FrameServer(sink, _QuietSplitHal(RecordingHal(ANALOG_DEVICE)), "unix", rx_frames=2)
    for seq in range(0, 6, 2):  # the first two rounds warm the per-length views of all 4 slots
        _set_seq(first, seq)
        _set_seq(second, seq + 1)
        sink.load_frames(first, second)
        if seq < 4:
            server._dispatch(server._next_frame())
            server._dispatch(server._next_frame())
            continue
        micropython.heap_lock()
        try:
            server._dispatch(server._next_frame())
            server._dispatch(server._next_frame())
        finally:
            micropython.heap_unlock()
    assert server.excites == 6 and server._hal.begun == 6
    assert server._hal.most_outstanding == 2  # the second EXCITE was begun while the first measured
    assert [(r[0], r[1]) for r in decode_all(bytes(sink.out[:sink.n]))] == [(0x83, 4), (0x83, 5)]


def _set_seq(frame, seq):
    import binascii
    frame[4] = seq
    frame[9] = binascii.crc32(frame[0:9]) & 0xFF
    struct.pack_into("<I", frame, len(frame) - 4, binascii.crc32(frame[:-4]))


class _Sink:
    """An allocation-free link: reads from a loaded frame, writes into a preallocated buffer."""

    def __init__(self):
        self.parts = []
        self.out = bytearray(256)
        self.n = 0

    def load(self, frame):
        """The server reads a header, then the rest: slice both now, not under the heap lock."""
        self.parts = [memoryview(frame)[0:10], memoryview(frame)[10:]]
        self.n = 0

    def load_frames(self, *frames):
        """Whole frames, one per read (a non-blocking link's greedy reads)."""
        self.parts = list(frames)
        self.n = 0

    def wait(self, timeout_ms):
        return len(self.parts) > 0

    def readinto(self, view):
        part = self.parts.pop(0)
        view[0:len(part)] = part
        return len(part)

    def write(self, view):
        self.out[self.n:self.n + len(view)] = view
        self.n += len(view)
        return len(view)


class _SinkPairWait:
    """The sink's next part arrives before the medium's reply, as long as there is one."""

    def __init__(self, sink):
        self._sink = sink

    def wait(self):
        return 1 if self._sink.parts else 2


class _QuietSplitHal:
    """An allocation-free split HAL (begin only counts; end writes fixed codes)."""

    reply_stream = "the medium channel"

    def __init__(self, hal):
        self.begun = 0
        self.outstanding = 0
        self.most_outstanding = 0
        for key in ("medium", "n_actuators", "n_sensors", "n_static", "encoding", "actuator_scale",
                    "sensor_scale", "settle_us", "max_batch", "config_ranges"):
            setattr(self, key, getattr(hal, key))

    def excite_begin(self, vectors, batch):
        self.begun += 1
        self.outstanding += 1
        if self.outstanding > self.most_outstanding:
            self.most_outstanding = self.outstanding

    def excite_end(self, batch, out):
        self.outstanding -= 1
        for i in range(len(out)):
            out[i] = i

    def safe(self):
        pass


class _QuietHal:
    """Wraps RecordingHal's description with an allocation-free excite."""

    def __init__(self, hal):
        for key in ("medium", "n_actuators", "n_sensors", "n_static", "encoding", "actuator_scale",
                    "sensor_scale", "settle_us", "max_batch", "config_ranges"):
            setattr(self, key, getattr(hal, key))

    def excite(self, vectors, batch, out):
        for i in range(len(out)):
            out[i] = i

    def safe(self):
        pass


def _split_server(script, nonblocking, link_type=ScriptedLink):
    link = link_type(script)
    link.nonblocking = nonblocking
    waiter = ScriptedPairWait(link)
    link.pair_wait = lambda stream: waiter
    box = []
    hal = SplitHal(RecordingHal(ANALOG_DEVICE), box)
    server = FrameServer(link, hal, "unix", rx_frames=2, now=link.now)
    box.append(server)
    return server, link, hal, waiter


def test_split_hal_lets_a_nonblocking_link_read_the_next_requests_meanwhile():
    first, second, third = _excite(1), _excite(2, [(7, 8, 9)]), encode(PING, 3, b"p")
    server, link, hal, waiter = _split_server([first, second, third], nonblocking=True)
    server.serve()
    replies = decode_all(link.written)
    assert [(r[0], r[1]) for r in replies] == [(0x83, 1), (0x83, 2), (0x85, 3)]
    # While the first vectors were measured, the second request and the PING were read in (the
    # first request itself was dropped once its vectors were with the HAL), and the second
    # EXCITE was begun before the first ended.
    assert hal.buffered_at_end[0] == len(second) + len(third)
    assert hal.calls == ["begin", "begin", "end", "end"]
    assert hal._hal.applied == [excite_payload([(1, 2, 3)])[4:], excite_payload([(7, 8, 9)])[4:]]
    status = server.status()
    assert status["excites"] == 2 and status["frames_ok"] == 3 and status["crc_errors"] == 0


def test_blocking_link_never_reads_ahead():
    server, link, hal, waiter = _split_server([_excite(1), _excite(2)], nonblocking=False)
    server.serve()
    assert hal.buffered_at_end == [len(_excite(1))] * 2 and waiter.waits == 0
    assert hal.calls == ["begin", "end", "begin", "end"]
    assert [r[0] for r in decode_all(link.written)] == [0x83, 0x83]


def test_resend_behind_the_excite_being_measured_is_answered_from_the_cache():
    first = _excite(1)
    server, link, hal, waiter = _split_server([first, first, _excite(2)], nonblocking=True)
    server.serve()
    replies = decode_all(link.written)
    assert [(r[0], r[1]) for r in replies] == [(0x83, 1), (0x83, 1), (0x83, 2)]
    assert replies[0] == replies[1] and len(hal._hal.applied) == 2 and server.duplicates == 1


def test_damaged_or_malformed_excite_behind_is_not_begun_but_answered_in_turn():
    damaged = bytearray(_excite(2))
    damaged[12] ^= 0xFF
    wrong_width = encode(EXCITE, 3, excite_payload([(1, 2)]))
    server, link, hal, waiter = _split_server([_excite(1), bytes(damaged), wrong_width, _excite(4)],
                                              nonblocking=True)
    server.serve()
    replies = decode_all(link.written)
    assert [(r[0], r[1]) for r in replies] == [(0x83, 1), (ERROR, 2), (ERROR, 3), (0x83, 4)]
    assert [r[2][0] for r in replies[1:3]] == [1, 5]  # BAD_CRC, BAD_SHAPE
    assert len(hal._hal.applied) == 2 and not hal.pending


class _HangUpOnWrite(ScriptedLink):
    def write(self, view):
        raise LinkClosed("host gone")


def test_host_leaving_with_an_excite_begun_ends_it_before_safe():
    server, _, hal, _ = _split_server([_excite(1), _excite(2)], True, _HangUpOnWrite)
    server.serve()  # the reply to the first EXCITE finds the host gone
    assert hal.calls == ["begin", "begin", "end", "end"] and not hal.pending and hal.safes == 1
