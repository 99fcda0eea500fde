"""The frame codec, payload codecs and stream parser against docs/protocol-vectors.json.

The replies the vectors expect of a device are checked against every device by tests/contract.
"""
from __future__ import annotations

import json
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phyll import protocol as p
from phyll.physical import PhysicalError
from phyll.protocol import ErrorCode, MsgType

import protocol_vectors as vectors

CASES = json.loads(vectors.VECTORS_PATH.read_text())
FRAME_CASES = [c for c in CASES if "decoded" in c]
ERROR_CASES = [c for c in CASES if "error" in c]


def _ids(cases):
    return [c["name"] for c in cases]


def reference_decode(wire: bytes) -> dict:
    """The frame layout read with struct and zlib only, independent of phyll.protocol."""
    assert wire[:2] == b"\xa5\x5a"
    version, message_type, seq, length, flags, check = struct.unpack_from("<BBHHBB", wire, 2)
    assert check == zlib.crc32(wire[:9]) & 0xFF
    assert len(wire) == 10 + length + 4
    assert struct.unpack_from("<I", wire, 10 + length)[0] == zlib.crc32(wire[:10 + length])
    return {"version": version, "type": message_type, "seq": seq, "flags": flags,
            "payload_hex": wire[10:10 + length].hex()}


def _frames_of(case) -> list[dict]:
    decoded = case["decoded"]
    return decoded if isinstance(decoded, list) else [decoded]


def _packing(case) -> str | None:
    device = case.get("device")
    return p.packing_for(device["encoding"]["encoder"]) if device else None


# ---------------------------------------------------------------------------------------------
# vectors


def test_vector_file_is_what_the_generator_writes():
    assert vectors.VECTORS_PATH.read_text() == vectors.render(vectors.build_cases()), \
        "docs/protocol-vectors.json is stale: run `python tests/protocol_vectors.py`"


def test_vectors_cover_every_message_type_both_packings_and_every_fault():
    types = {f["type"] for c in FRAME_CASES for f in _frames_of(c)}
    assert {int(t) for t in MsgType} <= types
    packings = {f["fields"].get("packing") for c in FRAME_CASES for f in _frames_of(c)}
    assert {"int16", "bits"} <= packings
    assert {c["error"] for c in ERROR_CASES} == {
        "bad_header_check", "unknown_frame_version", "length_too_large", "bad_crc", "truncated"}
    codes = {c["reply"]["code"] for c in CASES if c.get("reply", {}).get("type") == MsgType.ERROR}
    assert codes >= {ErrorCode.BAD_CRC, ErrorCode.BAD_VERSION, ErrorCode.UNKNOWN_TYPE, ErrorCode.BAD_LENGTH,
                     ErrorCode.BAD_SHAPE, ErrorCode.BATCH_TOO_LARGE, ErrorCode.BAD_CONFIG}


@pytest.mark.parametrize("case", FRAME_CASES, ids=_ids(FRAME_CASES))
def test_vector_decodes_as_stated(case):
    events = p.FrameParser().feed(bytes.fromhex(case["hex"]))
    expected = _frames_of(case)
    assert all(isinstance(e, p.Frame) for e in events)
    assert [vectors.decoded(e, _packing(case)) for e in events] == expected


@pytest.mark.parametrize("case", FRAME_CASES, ids=_ids(FRAME_CASES))
def test_vector_matches_the_independent_reader(case):
    wire = bytes.fromhex(case["hex"])
    frames = _frames_of(case)
    offset = wire.find(b"\xa5\x5a\x01")  # garbage_before_magic: the frame starts at its magic
    for frame in frames:
        length = struct.unpack_from("<H", wire, offset + 6)[0]
        one = wire[offset:offset + 10 + length + 4]
        expected = {k: frame[k] for k in ("version", "type", "seq", "flags", "payload_hex")}
        assert reference_decode(one) == expected
        offset += len(one)
    assert offset == len(wire)


@pytest.mark.parametrize("case", FRAME_CASES, ids=_ids(FRAME_CASES))
def test_encoding_the_decoded_form_reproduces_the_hex(case):
    wire = b""
    for frame in _frames_of(case):
        fields = frame["fields"]
        payload = bytes.fromhex(frame["payload_hex"])
        if not fields.get("malformed"):
            assert vectors.payload_from_fields(frame["type"], fields) == payload
        wire += p.encode_frame(frame["type"], frame["seq"], payload, version=frame["version"], flags=frame["flags"])
    assert bytes.fromhex(case["hex"]).endswith(wire)


@pytest.mark.parametrize("case", ERROR_CASES, ids=_ids(ERROR_CASES))
def test_corrupt_vector_yields_its_fault_and_no_frame(case):
    parser = p.FrameParser()
    events = parser.feed(bytes.fromhex(case["hex"]))
    if case["error"] == "truncated":
        assert events == [] and parser.pending > 0
        events = parser.expire()
    assert not any(isinstance(e, p.Frame) for e in events)
    assert events[0].kind == case["error"]
    if case["error"] == "bad_crc":
        assert (events[0].seq, events[0].type) == (case["seq"], case["type"])


# ---------------------------------------------------------------------------------------------
# payload codecs


def test_bits_are_packed_lsb_first_per_vector():
    states = np.zeros((2, 10), np.uint8)
    states[0, [0, 8]] = 1
    states[1, [7, 9]] = 1
    assert p.pack_excite_bits(states)[4:] == bytes([0x01, 0x01, 0x80, 0x02])
    assert np.array_equal(p.unpack_excite(p.pack_excite_bits(states), "bits"), states)


def test_quantize_rounds_to_nearest_and_saturates_to_int16():
    codes = p.quantize(np.array([0.26, -0.26, 1e9, -1e9]), 0.5)
    assert codes.tolist() == [1, -1, 32767, -32768] and codes.dtype == np.dtype("<i2")
    with pytest.raises(ValueError, match="NaN"):
        p.quantize(np.array([np.nan]), 1.0)


def test_code_limits_follow_the_recommended_scale():
    scale = 1.0 / 32767
    assert p.code_limits(-1.0, 1.0, scale) == (-32767, 32767)
    assert p.code_limits(0.0, 0.5, 2.0 ** -15) == (0, 16384)
    assert p.code_limits(-4.0, 4.0, 2.0 ** -15) == (-32768, 32767)


def test_measure_roundtrip_and_length_checks():
    codes = np.arange(-6, 6, dtype=np.int16).reshape(4, 3)
    payload = p.pack_measure(codes)
    assert np.array_equal(p.unpack_measure(payload), codes)
    with pytest.raises(p.ProtocolError, match="expected 28"):
        p.unpack_measure(payload[:-1])
    with pytest.raises(p.ProtocolError, match="shorter"):
        p.unpack_measure(b"\x01")


def test_max_batch_bound_fits_both_directions():
    assert p.max_batch_bound(64, 16, "int16") == 127
    assert p.max_batch_bound(16, 64, "int16") == 127
    assert p.max_batch_bound(64, 4, "bits") == (p.MAX_PAYLOAD - 4) // 8
    bound = p.max_batch_bound(7, 3, "int16")
    assert len(p.pack_excite_codes(np.zeros((bound, 7), np.int16))) <= p.MAX_PAYLOAD
    assert len(p.pack_excite_codes(np.zeros((bound + 1, 7), np.int16))) > p.MAX_PAYLOAD


def test_json_payloads_must_be_objects():
    assert p.unpack_json(p.pack_json({"b": 1, "a": [1, 2]})) == {"a": [1, 2], "b": 1}
    with pytest.raises(p.ProtocolError, match="object"):
        p.unpack_json(b"[1]")
    with pytest.raises(p.ProtocolError, match="UTF-8 JSON"):
        p.unpack_json(b"\xff{")


def test_version_negotiation_picks_the_highest_common_version():
    assert p.negotiate_version((1, 3), (2, 5)) == 3
    assert p.negotiate_version((1, 1), (1, 1)) == 1
    assert p.negotiate_version((2, 3), (1, 1)) is None


def test_encode_frame_rejects_what_does_not_fit():
    with pytest.raises(ValueError, match="16384"):
        p.encode_frame(MsgType.PING, 0, bytes(p.MAX_PAYLOAD + 1))
    with pytest.raises(ValueError, match="u16"):
        p.encode_frame(MsgType.PING, 65536)


def test_largest_frame_roundtrips():
    payload = np.random.default_rng(0).integers(0, 256, p.MAX_PAYLOAD, dtype=np.uint8).tobytes()
    wire = p.encode_frame(MsgType.EXCITE, 9, payload)
    assert len(wire) == p.MAX_FRAME
    assert p.FrameParser().feed(wire) == [p.Frame(MsgType.EXCITE, 9, payload)]


def test_device_errors_become_typed_exceptions():
    error = p.DeviceError.for_code(ErrorCode.BATCH_TOO_LARGE, MsgType.EXCITE, "batch 9 > 8", "/dev/ttyX")
    assert isinstance(error, p.BatchTooLargeError) and isinstance(error, PhysicalError)
    assert error.code is ErrorCode.BATCH_TOO_LARGE
    assert "/dev/ttyX" in str(error) and "EXCITE" in str(error) and "batch 9 > 8" in str(error)
    unknown = p.DeviceError.for_code(99, MsgType.PING, "?")
    assert type(unknown) is p.DeviceError and "code 99" in str(unknown)


# ---------------------------------------------------------------------------------------------
# parser robustness

frame_strategy = st.builds(
    lambda t, seq, payload: p.encode_frame(t, seq, payload),
    st.sampled_from([int(t) for t in MsgType]), st.integers(0, 65535), st.binary(max_size=80))


def _drain(parser: p.FrameParser, events: list) -> list:
    while parser.pending:
        events += parser.expire()
    return events


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000), st.integers(1, 64))
def test_random_bytes_never_crash_the_parser(data, chunk):
    parser = p.FrameParser()
    events = []
    for start in range(0, len(data), chunk):
        events += parser.feed(data[start:start + chunk])
    for event in _drain(parser, events):
        assert isinstance(event, (p.Frame, p.FrameFault))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.binary(max_size=30), frame_strategy), max_size=8), st.integers(1, 50))
def test_frames_between_garbage_are_all_recovered_in_order(pieces, chunk):
    stream = b"".join(garbage + frame for garbage, frame in pieces)
    parser = p.FrameParser()
    events = []
    for start in range(0, len(stream), chunk):
        events += parser.feed(stream[start:start + chunk])
    frames = [e for e in _drain(parser, events) if isinstance(e, p.Frame)]
    assert [p.encode_frame(f.type, f.seq, f.payload) for f in frames] == [frame for _, frame in pieces]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(frame_strategy, st.sampled_from(["keep", "flip", "drop", "cut"]),
                          st.integers(0, 10 ** 6), st.integers(1, 255)), min_size=1, max_size=8))
def test_damaged_frames_are_lost_alone_and_the_parser_resynchronises(plan):
    stream = b""
    intact = []
    for frame, damage, where, xor in plan:
        at = where % len(frame)
        if damage == "keep":
            intact.append(frame)
        elif damage == "flip":
            frame = frame[:at] + bytes([frame[at] ^ xor]) + frame[at + 1:]
        elif damage == "drop":
            # Not the leading A5: after a frame cut down to "A5" that would rebuild a whole frame.
            at = 1 + where % (len(frame) - 1)
            # A noise byte unlike the last one, so the frame cannot be completed by the next
            # frame's first byte sliding into the gap (which would rebuild it and lose that one).
            frame = frame[:at] + frame[at + 1:] + bytes([frame[-1] ^ 0xFF])
        else:
            frame = frame[:at] + bytes([frame[at] ^ 0xFF])  # likewise: no rebuilding from the next frame
        stream += frame
    parser = p.FrameParser()
    frames = [e for e in _drain(parser, parser.feed(stream)) if isinstance(e, p.Frame)]
    assert [p.encode_frame(f.type, f.seq, f.payload) for f in frames] == intact


def test_header_rejection_drops_one_byte_so_a_following_frame_survives():
    good = p.encode_frame(MsgType.PING, 5, b"x")
    bogus_header = bytearray(p.HEADER.pack(p.MAGIC, 1, MsgType.PING, 1, 500, 0, 0))
    bogus_header[9] = p.header_check(bogus_header[:9])
    parser = p.FrameParser()
    events = parser.feed(bytes(bogus_header) + good)
    assert events == []  # waits for the 500-byte payload the bogus header promises
    events = parser.expire()
    # the cut frame's header passed its checks: its seq, type and size are known
    assert events == [p.FrameFault("truncated", 1, MsgType.PING, 10 + 500 + 4), p.Frame(MsgType.PING, 5, b"x")]


def test_a_frame_failing_its_crc_is_reported_with_its_size():
    damaged = bytearray(p.encode_frame(MsgType.MEASURE, 9, bytes(100)))
    damaged[50] ^= 0xFF
    events = p.FrameParser().feed(bytes(damaged))
    assert events[0] == p.FrameFault("bad_crc", 9, MsgType.MEASURE, len(damaged))


def test_parser_counts_what_it_rejected():
    good = p.encode_frame(MsgType.PING, 1, b"")
    bad = bytearray(good)
    bad[10] ^= 1
    parser = p.FrameParser()
    parser.feed(b"junk" + bytes(bad) + good)
    assert (parser.frames, parser.crc_errors, parser.header_errors) == (1, 1, 0)
    assert parser.skipped_bytes >= 4
