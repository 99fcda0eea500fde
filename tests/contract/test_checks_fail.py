"""Every check can fail: each point's check run against a test peer broken in that point.

The contract suite's peer column shows the checks pass on the correct test peer; here each one
meets a peer that differs from it in one defect (broken_peers.py) and must raise AssertionError
naming that defect -- not skip, not pass, not fail for some other reason.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import partial

import pytest

import protocol_vectors
from phyll.protocol import MsgType
from serial_peer import PeerDevice, PeerServer

from . import broken_peers as broken
from . import checks
from .devices import contract_peer, peer_device, shaped_peer


@dataclass(frozen=True)
class Defect:
    """A broken peer (its device and server classes) and what the check's message must say."""

    match: str
    device: type[PeerDevice] = PeerDevice
    server: type[PeerServer] = PeerServer


DEFECTS = {
    checks.check_frame_layout: Defect("bad_header_check", broken.WrongReplyHeaderCheck),
    checks.check_header_rejected: Defect("must get no reply", server=broken.IgnoresHeaderCheck),
    checks.check_garbage_skipped: Defect("skipped_bytes is 0", server=broken.SkippedBytesUncounted),
    checks.check_bad_crc: Defect("must run", broken.BadCrcCached),
    checks.check_inter_byte_timeout: Defect("cut short must be dropped", server=broken.NoInterByteTimeout),
    checks.check_resend_answered_from_cache: Defect("answered from the cache", broken.NoReplyCache),
    checks.check_cache_is_fifo: Defect("must not refresh", broken.LruReplyCache),
    checks.check_errors_cached_except_bad_crc: Defect("ERROR reply is cached", broken.ErrorsNotCached),
    checks.check_hello_empties_cache: Defect("must empty the reply cache", broken.HelloKeepsCache),
    checks.check_pipelined_replies_in_order: Defect("pipelined requests", broken.ErrorWithWrongSeq),
    checks.check_unread_reply_dropped: Defect("replies", server=broken.GivesUpOnUnreadReply),
    checks.check_version_negotiation: Defect(r"HELLO 1\.\.0", broken.AcceptsMinAboveMax),
    checks.check_watchdog_trips_once_per_silence: Defect("expected 1 trip", broken.WatchdogTripsEveryPeriod),
    checks.check_watchdog_armed_by_first_frame: Defect("armed by the first valid frame", broken.WatchdogArmedAtBoot),
    checks.check_hello_info: Defect("bits is always 1", broken.AnalogBitsNotOne),
    checks.check_configure_all_or_nothing: Defect("changed the configuration", broken.ConfigureAppliesAsItReads),
    checks.check_configure_types_and_ranges: Defect("settle_us=true", broken.ConfigureAcceptsBool),
    checks.check_excite_check_order: Defect("batch is checked before length", broken.LengthCheckedBeforeBatch),
    checks.check_clamping: Defect("STATUS clamps is 0", broken.ClampsNotCounted),
    checks.check_measure_layout: Defect("MEASURE header says", broken.MeasureHeaderCarriesWidth),
    checks.check_rejected_excites_not_counted: Defect("count in neither", broken.CountsRejectedExcites),
    checks.check_set_static: Defect("expected ERROR BAD_SHAPE", broken.AnyStaticCountAccepted),
    checks.check_ping: Defect("PING of 65 bytes", broken.PingLimitOffByOne),
    checks.check_status_keys: Defect("lacks.*replies_dropped", broken.StatusWithoutRepliesDropped),
    checks.check_reset: Defect("frames_ok 1", broken.ResetCountedAfterZeroing),
    checks.check_repl: Defect("leaves its frame loop", broken.ReplKeepsServing),
    checks.check_unknown_type: Defect("expected ERROR UNKNOWN_TYPE", broken.ReplyTypesServedAsRequests),
}
VECTOR_CASES = [c for c in json.loads(protocol_vectors.VECTORS_PATH.read_text())
                if c.get("reply", {}).get("type") == MsgType.ERROR]


def test_every_point_has_a_broken_peer():
    assert set(DEFECTS) == set(checks.POINTS)


@pytest.mark.parametrize("check", checks.POINTS, ids=lambda c: c.__name__.removeprefix("check_"))
def test_check_fails_on_the_peer_broken_in_its_point(check):
    defect = DEFECTS[check]
    make = partial(contract_peer, defect.device)
    with peer_device(make, defect.server, name=defect.device.__name__) as dut:
        with pytest.raises(AssertionError, match=defect.match):
            check(dut)


@pytest.mark.parametrize("case", VECTOR_CASES, ids=lambda c: c["name"])
def test_vector_check_fails_on_a_peer_whose_errors_name_no_request(case):
    with shaped_peer(case["device"], cls=broken.ErrorNamesNoRequestType) as dut:
        with pytest.raises(AssertionError, match="naming type"):
            checks.check_vector(dut, case)
