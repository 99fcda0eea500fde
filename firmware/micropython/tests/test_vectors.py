"""Every case of docs/protocol-vectors.json through the firmware's parser and dispatcher."""
import json
import sys

from support import ANALOG_DEVICE, BITS_DEVICE, encode, int16s, load_vectors, serve

_PING = 0x05
_PONG = 0x85
_ERROR = 0xFF


def _cases():
    return {case["name"]: case for case in load_vectors()}


def _stream(case):
    return bytes.fromhex(case["hex"])


def _device(case):
    return case.get("device") or ANALOG_DEVICE


def test_every_request_gets_the_specified_reply():
    cases = _cases()
    checked = 0
    for case in cases.values():
        if "device" not in case or "decoded" not in case:
            continue
        request = case["decoded"]
        server, hal, replies = serve([_stream(case)], device=_device(case))
        expected = case["reply"]
        assert len(replies) == 1, "%s: %d replies" % (case["name"], len(replies))
        msg_type, seq, payload = replies[0]
        assert msg_type == expected["type"], "%s: reply type 0x%02X" % (case["name"], msg_type)
        assert seq == request["seq"], case["name"]
        if "code" in expected:
            assert payload[0] == expected["code"] and payload[1] == request["type"], (case["name"], payload)
        if "applied_codes" in expected:
            applied = [c for v in expected["applied_codes"] for c in v]
            assert int16s(hal.applied[0]) == applied, (case["name"], int16s(hal.applied[0]))
            assert server.clamps == expected["clamps"], case["name"]
        checked += 1
    assert checked >= 15, checked


def _json_payload(case):
    return json.loads(bytes.fromhex(case["decoded"]["payload_hex"]))


def test_info_matches_the_vectors():
    cases = _cases()
    for hello, info, device in (("hello", "info_analog", ANALOG_DEVICE), ("hello", "info_bits", BITS_DEVICE)):
        expected = _json_payload(cases[info])
        expected["runtime"] = sys.implementation.name
        _, _, replies = serve([_stream(cases[hello])], device=device, board=expected["board"])
        got = json.loads(replies[0][2])
        assert got == expected, (got, expected)


def test_excite_bits_reaches_the_hal_packed():
    case = _cases()["excite_bits"]
    _, hal, replies = serve([_stream(case)], device=case["device"])
    assert replies[0][0] == 0x83
    assert hal.applied == [bytes.fromhex(case["decoded"]["payload_hex"])[4:]]
    batch, n_sensors = replies[0][2][0], replies[0][2][2]
    assert (batch, n_sensors) == (2, 3)


def test_set_static_reaches_the_hal():
    case = _cases()["set_static"]
    _, hal, replies = serve([_stream(case)], device=case["device"])
    assert replies[0][0] == 0x84 and replies[0][2] == b""
    assert hal.statics == [(12, bytes.fromhex(case["decoded"]["payload_hex"])[2:])]


def test_configure_reply_is_the_whole_configuration():
    cases = _cases()
    _, _, replies = serve([_stream(cases["configure"])])
    assert json.loads(replies[0][2]) == _json_payload(cases["config_reply"])


def test_rejected_headers_get_no_reply():
    for name in ("corrupt_bad_header_check", "corrupt_unknown_frame_version", "corrupt_length_too_large"):
        server, _, replies = serve([_stream(_cases()[name])])
        assert replies == [], name
        assert server.header_errors >= 1 and server.crc_errors == 0, name
        assert server.inter_byte_timeouts == 0, name


def test_bad_crc_reply_carries_the_header_seq_and_type():
    case = _cases()["corrupt_bad_crc"]
    server, hal, replies = serve([_stream(case)])
    assert [(t, s, p[0], p[1]) for t, s, p in replies] == [(_ERROR, case["seq"], 1, case["type"])]
    assert server.crc_errors == 1 and hal.applied == []


def test_truncated_frame_is_dropped_after_the_inter_byte_timeout():
    case = _cases()["corrupt_truncated"]
    ping = encode(_PING, 40, b"hi")
    server, _, replies = serve([_stream(case), 150, ping])
    assert [(t, s, p) for t, s, p in replies] == [(_PONG, 40, b"hi")]
    assert server.inter_byte_timeouts >= 1


def test_streams_with_garbage_and_back_to_back_frames():
    cases = _cases()
    for name in ("garbage_before_magic", "two_frames_back_to_back"):
        decoded = cases[name]["decoded"]
        decoded = decoded if isinstance(decoded, list) else [decoded]
        _, _, replies = serve([_stream(cases[name])])
        assert [(t, s) for t, s, _ in replies] == [(d["type"] | 0x80, d["seq"]) for d in decoded], name
