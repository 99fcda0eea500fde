"""Writing replies to a host that reads late (docs/protocol.md section 2, "Writing replies").

A reply the link does not take is waited for as long as the link keeps taking bytes; after
1000 ms in which it took none, the rest is dropped and counted, and the loop goes on serving.
"""
import json

from phyllfw.server import FrameServer
from support import (ANALOG_DEVICE, RecordingHal, ScriptedPairWait, SlowReader, SplitHal, decode_all,
                     encode, excite_payload, make_server)

EXCITE, STATUS = 3, 6
BIG = 1 << 20  # room for everything once the host reads again


def _excite(seq):
    return encode(EXCITE, seq, excite_payload([(1, 2, 3), (4, 5, 6)]))


def _serve_bytes(script):
    server, link, _ = make_server(script)
    server.serve()
    return bytes(link.written)


def _status(link_bytes):
    return json.loads(decode_all(link_bytes)[-1][2])


def test_a_reply_the_host_does_not_read_for_1_s_is_dropped_and_the_loop_goes_on():
    reply = _serve_bytes([_excite(1)])
    # The host reads nothing from t=1000 to t=2500; the EXCITE's reply stalls after 7 bytes.
    link = SlowReader([_excite(1), 1500, encode(STATUS, 2)], room=7, drains=[(2500, BIG)])
    server, _, hal = make_server(link=link, watchdog_ms=0)
    server.serve()
    assert server.replies_dropped == 1 and link.stalls == 1
    assert link.written[:7] == reply[:7]
    status = _status(link.written[7:])  # the cut frame, then the next reply whole
    assert status["replies_dropped"] == 1 and status["excites"] == 1 and status["frames_ok"] == 2
    assert len(hal.applied) == 1


def test_the_dropped_reply_stays_cached_and_a_resend_gets_it_whole():
    reply = _serve_bytes([_excite(1)])
    link = SlowReader([_excite(1), 1500, _excite(1), encode(STATUS, 2)], drains=[(2500, BIG)])
    server, _, hal = make_server(link=link, watchdog_ms=0)
    server.serve()
    assert link.written[:len(reply)] == reply  # nothing of the first went out; the re-send whole
    status = _status(link.written[len(reply):])
    assert (status["replies_dropped"], status["duplicates"], status["excites"]) == (1, 1, 1)
    assert len(hal.applied) == 1  # the medium was not excited again


def test_a_host_that_reads_slowly_is_waited_for_without_a_drop():
    reply = _serve_bytes([_excite(1)])
    # 8 bytes every 900 ms: the whole reply takes seconds, but no gap reaches 1000 ms
    drains = [(1000 + 900 * i, 8) for i in range(1, 10)] + [(10000, BIG)]
    link = SlowReader([_excite(1), encode(STATUS, 2)], drains=drains)
    server, _, _ = make_server(link=link, watchdog_ms=0)
    server.serve()
    assert server.replies_dropped == 0 and link.stalls == 0
    assert link.written[:len(reply)] == reply
    assert _status(link.written[len(reply):])["replies_dropped"] == 0
    assert link.now_ms >= 1000 + 900 * 3  # it did wait: 22 bytes at 8 per drain


def test_the_watchdog_runs_while_a_reply_waits_for_the_host():
    link = SlowReader([_excite(1), 2000, encode(STATUS, 2)], drains=[(5000, BIG)])
    server, _, hal = make_server(link=link, watchdog_ms=300)
    server.serve()
    # silence counted from the EXCITE at t=1000, not from the end of the wait to write
    assert hal.safe_at[0] == 1300
    assert server.replies_dropped == 1
    status = _status(link.written)
    assert status["watchdog_trips"] == 1 and status["replies_dropped"] == 1


def _split_server_reading_late(watchdog_ms):
    """Two EXCITEs arrive at t=1000 on a non-blocking link to a split HAL; the host reads
    nothing until t=9000. The second EXCITE is begun while the first is measured."""
    link = SlowReader([_excite(1), _excite(2)], drains=[(9000, BIG)])
    link.nonblocking = True
    waiter = ScriptedPairWait(link)
    link.pair_wait = lambda stream: waiter
    box = []
    medium = RecordingHal(ANALOG_DEVICE)
    medium.clock = link.now
    hal = SplitHal(medium, box)  # it fails a test that calls safe() with an EXCITE begun
    server = FrameServer(link, hal, "unix", rx_frames=2, watchdog_ms=watchdog_ms, now=link.now)
    box.append(server)
    server.serve()
    assert hal.calls == ["begin", "begin", "end", "end"]
    assert server.replies_dropped == 2
    return server, medium


def test_an_excite_begun_while_another_is_written_fed_the_watchdog_when_it_was_read():
    server, medium = _split_server_reading_late(watchdog_ms=1500)
    # The second EXCITE is answered at t=2000, once the first reply was dropped; its silence
    # runs from t=1000, when it was read: the watchdog trips at t=2500 while its reply waits.
    assert medium.safe_at[0] == 2500 and server.watchdog.trips == 1


def test_the_watchdog_waits_for_a_begun_excite_before_going_safe():
    server, medium = _split_server_reading_late(watchdog_ms=500)
    # Due at t=1500 while the second EXCITE is begun: it trips once that one has ended.
    assert medium.safe_at[0] == 2000 and server.watchdog.trips == 1
