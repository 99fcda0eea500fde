"""Every point of docs/protocol.md a device must meet, as a plain function of a device.

Each check takes a `DeviceUnderTest`, talks to it with the raw client, and raises AssertionError
naming what the device did wrong, or `NotApplicable` when the point cannot apply to this device
(the reason says why). test_contract.py runs them against every device; test_checks_fail.py runs
each against a peer broken in that one point, to show the check can fail.

Checks leave the device as they found it: configuration restored, statics off (RESET).
"""
from __future__ import annotations

import json
import time

import numpy as np

from phyll import protocol as p
from phyll.protocol import ErrorCode, MsgType

from .client import LinkClosed, RawClient, check_layout, describe_error, expect_reply_to
from .devices import DeviceUnderTest, NotApplicable

# Request types that mean nothing to a device: outside 0x01..0x3F, or reply types.
UNKNOWN_TYPES = (0x00, 0x09, 0x20, 0x3F, 0x40, 0x7F, 0x81, 0x85, 0x86, 0x88, 0xFF)
REQUIRED_INFO = {"protocol": int, "firmware": str, "board": str, "medium": str, "runtime": str,
                 "n_actuators": int, "n_sensors": int, "encoding": dict, "actuator_scale": float,
                 "sensor_scale": float, "max_batch": int, "max_payload": int, "in_flight": int,
                 "settle_us": int, "watchdog_ms": int}
RUNTIMES = ("micropython", "cpython", "cpp")
STATUS_KEYS = ("frames_ok", "crc_errors", "header_errors", "skipped_bytes", "excites", "vectors",
               "duplicates", "clamps", "watchdog_trips", "replies_dropped", "uptime_ms")
CONFIG_RANGES = {"settle_us": (0, 10_000_000), "watchdog_ms": (0, 3_600_000)}
WRONG_TYPES = (True, False, 5.0, "5", None, [5], {"value": 5})
WATCHDOG_MS = 400  # long enough that a loaded machine delays no keep-alive PING past it
WRITE_STALL_S = 1.0  # docs/protocol.md section 2
# How long the host reads nothing: past WRITE_STALL_S even if a loaded machine makes the device
# reach its full buffer 1.5 s after our last request went out.
UNREAD_PAUSE_S = 2.5 * WRITE_STALL_S
DEVICE_INTER_BYTE_S = p.DEVICE_INTER_BYTE_TIMEOUT_S


# -------------------------------------------------------------------------------------------------
# helpers


def is_int(value) -> bool:
    return type(value) is int  # JSON true/false decode to bool, a subclass of int


def is_number(value) -> bool:
    return type(value) in (int, float)


def packing(info: dict) -> str:
    return p.packing_for(info["encoding"]["encoder"])


def vector_bytes(info: dict) -> int:
    width = info["n_actuators"]
    return p.bits_per_vector(width) if packing(info) == "bits" else 2 * width


def code_limits(info: dict) -> tuple[int, int]:
    encoding = info["encoding"]
    return p.code_limits(encoding["low"], encoding["high"], info["actuator_scale"])


def in_range_codes(info: dict, batch: int, seed: int = 0) -> np.ndarray:
    """Codes (or 0/1 states for "bits") the device applies as they are.

    Analog codes are drawn from values none of whose bytes is 0xA5, so no magic appears inside
    a frame: after a damaged frame the device rescans its bytes, and a magic there would add a
    header error the checks do not expect.
    """
    rng = np.random.default_rng(seed)
    shape = (batch, info["n_actuators"])
    if packing(info) == "bits":
        return rng.integers(0, 2, shape, dtype=np.uint8)
    low, high = code_limits(info)
    values = np.arange(max(low, -8192), min(high, 8191) + 1)  # high byte 0x00..0x1F or 0xE0..0xFF
    clean = values[(values & 0xFF) < 0x80]  # low byte without bit 7, so never 0xA5
    return rng.choice(clean if clean.size else values, shape).astype(np.int16)


def excite_payload(info: dict, rows: np.ndarray) -> bytes:
    if packing(info) == "bits":
        return p.pack_excite_bits(rows)
    return p.pack_excite_codes(np.asarray(rows, np.int16))


def corrupted(frame: bytes) -> bytes:
    """The frame with one bit of its CRC-covered body flipped after the header: the header still
    passes its checks, the CRC does not."""
    damaged = bytearray(frame)
    damaged[p.HEADER_SIZE if len(frame) > p.HEADER_SIZE + p.CRC_SIZE else -1] ^= 0x04
    return bytes(damaged)


def expect_error(link: RawClient, message_type: int, payload: bytes, code: ErrorCode, why: str,
                 seq: int | None = None) -> str:
    """Send one request that must be refused with `code`; returns the ERROR's message."""
    reply = link.request(message_type, payload, seq)
    assert reply.type == MsgType.ERROR, f"{why}: expected ERROR {code.name}, got {describe_frames([reply])}"
    got, _, message = p.unpack_error(reply.payload)
    name = ErrorCode(got).name if got in ErrorCode._value2member_map_ else f"code {got}"
    assert got == code, f"{why}: expected ERROR {code.name}, got {name} ({message!r})"
    return message


def replies_until_probe(link: RawClient, stream: bytes, what: str, timeout: float = 2.0) -> list[p.Frame]:
    """Write `stream` (`what` it is) then a PING probe; the frames the device sent before the
    probe's PONG. The device replies in order, so whatever `stream` made it answer comes first.
    """
    seq = link.new_seq()
    link.write(stream + p.encode_frame(MsgType.PING, seq, b"probe"))
    before: list[p.Frame] = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        try:
            assert left > 0, f"{timeout} s passed"
            (frame,) = link.frames(1, left)
        except LinkClosed:
            raise
        except AssertionError as exc:
            raise AssertionError(f"a PING sent right after {what} was not answered: the frame after it was "
                                 f"lost ({exc})") from exc
        if frame.type == MsgType.PONG and frame.seq == seq:
            assert frame.payload == b"probe", f"the probe PING was echoed as {frame.payload!r}"
            return before
        before.append(frame)


def describe_frames(frames: list[p.Frame]) -> str:
    parts = []
    for frame in frames:
        text = describe_error(frame) if frame.type == MsgType.ERROR else frame.type_name
        parts.append(f"{text} (seq {frame.seq})")
    return ", ".join(parts) or "nothing"


def expect_silence_before_probe(link: RawClient, stream: bytes, what: str) -> None:
    before = replies_until_probe(link, stream, what)
    assert not before, f"{what} must get no reply; the device sent {describe_frames(before)}"


def silence(seconds: float) -> None:
    time.sleep(seconds)


# -------------------------------------------------------------------------------------------------
# 1. frames


def check_frame_layout(dut: DeviceUnderTest) -> None:
    """Replies are laid out as section 1 says (read with struct and zlib alone); requests are
    read whatever their flags and however their bytes are spread over writes."""
    with dut.connect() as link:
        for message_type, payload in ((MsgType.PING, b"\xa5\x5a\x03\x00\xff"), (MsgType.STATUS, b""),
                                      (MsgType.PING, bytes(p.MAX_PING + 1)), (MsgType.HELLO, p.pack_hello())):
            link.drain(0.05)
            start = len(link.received)
            link.request(message_type, payload)
            check_layout(bytes(link.received[start:]))
        seq = link.new_seq()
        link.write(p.encode_frame(MsgType.PING, seq, b"flags", flags=0xA5))
        (reply,) = link.frames(1)
        expect_reply_to(reply, MsgType.PING, seq)
        assert reply.payload == b"flags", "a request with flags 0xA5 must be read as if they were 0"
        seq = link.new_seq()
        frame = p.encode_frame(MsgType.PING, seq, b"one byte at a time")
        for i in range(len(frame)):
            link.write(frame[i:i + 1])
            time.sleep(0.002)
        (reply,) = link.frames(1)
        expect_reply_to(reply, MsgType.PING, seq)
        assert reply.payload == b"one byte at a time", f"a frame written byte by byte came back as {reply.payload!r}"


def _bad_headers(seq: int) -> dict[str, bytes]:
    """Headers a receiver must reject, each with a byte of its own so no two look alike."""
    def header(version: int, length: int, check_xor: int) -> bytes:
        head = p.HEADER.pack(p.MAGIC, version, MsgType.PING, seq, length, 0, 0)[:9]
        return head + bytes((p.header_check(head) ^ check_xor,))
    return {
        "a wrong header check byte": header(1, 4, 0x01) + b"abcd" + bytes(4),
        "frame version 2": header(2, 0, 0) + bytes(4),
        "a length of 16385": header(1, p.MAX_PAYLOAD + 1, 0),
        # Claims 300 bytes: a receiver that skipped the claimed frame would swallow the probe.
        "a wrong check byte claiming 300 bytes": header(1, 300, 0x80),
    }


def check_header_rejected(dut: DeviceUnderTest) -> None:
    """A header with a wrong check byte, version or length is rejected at once without a reply,
    one byte is dropped, and the frame right behind it is served; counted in header_errors."""
    with dut.connect() as link:
        link.reset()
        skipped = 0
        headers = _bad_headers(seq=0x3C3C)
        for what, stream in headers.items():
            assert p.MAGIC not in stream[1:], "a test header must hold one magic only"
            expect_silence_before_probe(link, stream, f"a header with {what}")
            skipped += len(stream) - 1  # all but the rejected A5 is skipped looking for a magic
        status = link.status()
        assert status["header_errors"] == len(headers), \
            f"{len(headers)} headers rejected, STATUS header_errors is {status['header_errors']}"
        assert status["crc_errors"] == 0, f"no frame failed its CRC, crc_errors is {status['crc_errors']}"
        assert status["skipped_bytes"] == skipped, \
            f"{skipped} bytes followed the rejected A5s before the next magic, skipped_bytes is {status['skipped_bytes']}"


def check_garbage_skipped(dut: DeviceUnderTest) -> None:
    """Bytes before a magic (stray A5s included) are discarded, counted in skipped_bytes, and
    the frame after them is served."""
    garbage = bytes(range(0x20, 0x60)) + b"\xa5\x00\xa5\xa5\x13" + b"\x5a\x5a" + b"\xa5"
    with dut.connect() as link:
        link.reset()
        expect_silence_before_probe(link, garbage, "garbage")
        expect_silence_before_probe(link, garbage[:7], "garbage")
        status = link.status()
        expected = len(garbage) + 7
        assert status["skipped_bytes"] == expected, \
            f"{expected} bytes of garbage preceded magics, STATUS skipped_bytes is {status['skipped_bytes']}"
        assert status["header_errors"] == 0 and status["crc_errors"] == 0, \
            f"garbage is skipped, not a rejected frame: header_errors {status['header_errors']}, " \
            f"crc_errors {status['crc_errors']}"


def check_bad_crc(dut: DeviceUnderTest) -> None:
    """A frame failing its CRC gets ERROR BAD_CRC with the header's seq and type, one byte is
    dropped so the next frame survives, and the reply is not cached: the re-send is run."""
    with dut.connect() as link:
        link.reset()
        info = link.info
        seq = link.new_seq()
        excite = p.encode_frame(MsgType.EXCITE, seq, excite_payload(info, in_range_codes(info, 1)))
        before = replies_until_probe(link, corrupted(excite), "an EXCITE failing its CRC")
        assert len(before) == 1, f"a frame with a bad CRC must get exactly one reply before the next " \
                                 f"frame's; the device sent {describe_frames(before)}"
        (error,) = before
        assert error.type == MsgType.ERROR, f"a bad CRC was answered {error.type_name}, not ERROR BAD_CRC"
        code, request_type, _ = p.unpack_error(error.payload)
        assert (code, request_type, error.seq) == (ErrorCode.BAD_CRC, MsgType.EXCITE, seq), \
            f"expected ERROR BAD_CRC naming EXCITE with seq {seq}, got {describe_frames([error])}"
        link.write(excite)  # the re-send, same seq and bytes
        (reply,) = link.frames(1)
        expect_reply_to(reply, MsgType.EXCITE, seq)
        assert reply.type == MsgType.MEASURE, \
            f"the intact re-send of a frame that failed its CRC must run; got {describe_frames([reply])}"
        status = link.status()
        assert (status["crc_errors"], status["excites"], status["duplicates"]) == (1, 1, 0), \
            f"expected crc_errors 1, excites 1, duplicates 0; STATUS says {status['crc_errors']}, " \
            f"{status['excites']}, {status['duplicates']}"


def check_inter_byte_timeout(dut: DeviceUnderTest) -> None:
    """A frame cut short is abandoned ~100 ms after its last byte and the next frame is served
    (not read as the cut frame's tail); a frame whose bytes pause for 30 ms is still read."""
    with dut.connect() as link:
        # Cut so that the next frame would complete it: a device that never gives up on the cut
        # frame reads the next one as its tail and answers BAD_CRC.
        cut = p.encode_frame(MsgType.PING, link.new_seq(), bytes(range(12)))[:p.HEADER_SIZE + 4]
        link.write(cut)
        silence(3 * DEVICE_INTER_BYTE_S)
        before = replies_until_probe(link, b"", "a frame cut short and a 300 ms pause")
        assert not before, f"a frame cut short must be dropped after the inter-byte timeout, not answered; " \
                           f"after a 300 ms pause the device sent {describe_frames(before)} before the next frame's reply"
        seq = link.new_seq()
        frame = p.encode_frame(MsgType.PING, seq, b"paused")
        link.write(frame[:12])
        silence(0.3 * DEVICE_INTER_BYTE_S)
        link.write(frame[12:])
        (reply,) = link.frames(1)
        expect_reply_to(reply, MsgType.PING, seq)
        assert reply.type == MsgType.PONG and reply.payload == b"paused", \
            f"a frame with a 30 ms gap must be read whole; got {describe_frames([reply])}"


# -------------------------------------------------------------------------------------------------
# 3. messages


def check_hello_info(dut: DeviceUnderTest) -> None:
    """INFO has every key with its type and range; bits is 1 for l2 and minmax; INFO's
    settle_us and watchdog_ms are the configuration's."""
    with dut.connect() as link:
        info = link.info
        config = link.configure()
    for key, kind in REQUIRED_INFO.items():
        assert key in info, f"INFO lacks {key!r}: {info}"
        ok = is_number(info[key]) if kind is float else type(info[key]) is kind
        assert ok, f"INFO {key} is {info[key]!r}, expected a JSON {kind.__name__}"
    assert info["protocol"] == p.VERSION, f"INFO protocol {info['protocol']}, negotiated from HELLO 1..1"
    assert info["runtime"] in RUNTIMES, f"INFO runtime {info['runtime']!r}, expected one of {RUNTIMES}"
    assert info["n_actuators"] >= 1 and info["n_sensors"] >= 1, "INFO n_actuators and n_sensors must be >= 1"
    encoding = info["encoding"]
    assert encoding.get("encoder") in ("l2", "minmax", "bits"), f"INFO encoder {encoding.get('encoder')!r}"
    assert is_number(encoding.get("low")) and is_number(encoding.get("high")), f"INFO encoding {encoding}"
    assert encoding["low"] < encoding["high"], f"INFO encoding needs low < high: {encoding}"
    assert is_int(encoding.get("bits")) and encoding["bits"] >= 1, f"INFO encoding bits {encoding.get('bits')!r}"
    if encoding["encoder"] == "bits":
        assert info["actuator_scale"] == 1, f"a bits device has actuator_scale 1, not {info['actuator_scale']}"
    else:
        assert encoding["bits"] == 1, f"bits is always 1 for {encoding['encoder']}, INFO says {encoding['bits']}"
    assert info["actuator_scale"] > 0 and info["sensor_scale"] > 0, "scales must be > 0"
    bound = p.max_batch_bound(info["n_actuators"], info["n_sensors"], packing(info))
    assert 1 <= info["max_batch"] <= bound, f"max_batch {info['max_batch']} outside 1..{bound} (section 4)"
    assert info["max_payload"] == p.MAX_PAYLOAD, f"max_payload {info['max_payload']}, expected {p.MAX_PAYLOAD}"
    assert info["in_flight"] >= 1, f"in_flight {info['in_flight']} must be >= 1"
    assert info["settle_us"] >= 0 and info["watchdog_ms"] >= 0, "settle_us and watchdog_ms are >= 0"
    if "n_static" in info:
        assert is_int(info["n_static"]) and info["n_static"] >= 0, f"INFO n_static {info['n_static']!r}"
    for key in ("settle_us", "watchdog_ms"):
        assert config.get(key) == info[key], f"INFO {key} {info[key]} but CONFIGURE {{}} reads {config.get(key)}"


def check_version_negotiation(dut: DeviceUnderTest) -> None:
    """HELLO gets the highest version both ranges hold; none in common, or min > max, is
    BAD_VERSION "supported protocol versions 1..1"; a HELLO not of 2 bytes is BAD_LENGTH."""
    with dut.connect() as link:
        for low, high in ((1, 1), (0, 1), (1, 7), (0, 255)):
            info = p.unpack_json(link.call(MsgType.HELLO, p.pack_hello(low, high)), "INFO")
            assert info["protocol"] == 1, f"HELLO {low}..{high} negotiated protocol {info['protocol']}, expected 1"
        for low, high in ((2, 3), (2, 255), (0, 0), (1, 0), (3, 2)):
            message = expect_error(link, MsgType.HELLO, p.pack_hello(low, high), ErrorCode.BAD_VERSION,
                                   f"HELLO {low}..{high}")
            assert message == "supported protocol versions 1..1", \
                f"BAD_VERSION message {message!r}, expected 'supported protocol versions 1..1'"
        for payload in (b"", b"\x01", b"\x01\x01\x01"):
            expect_error(link, MsgType.HELLO, payload, ErrorCode.BAD_LENGTH, f"HELLO of {len(payload)} bytes")


def _bad_config(link: RawClient, payload: bytes, why: str, names: str = "") -> None:
    message = expect_error(link, MsgType.CONFIGURE, payload, ErrorCode.BAD_CONFIG, why)
    if names:
        assert names in message, f"{why}: the BAD_CONFIG message must name {names!r}, got {message!r}"


def check_configure_all_or_nothing(dut: DeviceUnderTest) -> None:
    """`{}` reads the whole configuration; a CONFIGURE with one bad member applies none of the
    others; a payload that is not a UTF-8 JSON object is BAD_CONFIG; a good one is applied and
    answered with the whole configuration."""
    with dut.connect() as link:
        before = link.configure()
        for key in CONFIG_RANGES:
            assert is_int(before.get(key)), f"CONFIGURE {{}} must list {key} as an int: {before}"
        settle = before["settle_us"]
        changed = settle + 7 if settle + 7 <= CONFIG_RANGES["settle_us"][1] else settle - 7
        # Sorted keys: a device applying members as it reads them meets settle_us first.
        for bad in ({"settle_us": changed, "zz_colour": 1}, {"settle_us": changed, "watchdog_ms": -1},
                    {"settle_us": changed, "watchdog_ms": True}):
            _bad_config(link, p.pack_json(bad), f"CONFIGURE {json.dumps(bad)}")
            after = link.configure()
            assert after == before, f"a refused CONFIGURE {json.dumps(bad)} changed the configuration: " \
                                    f"{before} -> {after}"
        for payload, what in ((b"\xff\xfe{}", "not UTF-8"), (b"{", "not JSON"), (b"", "empty"),
                              (b"[1]", "a list"), (b"7", "a number"), (b"null", "null"), (b'"{}"', "a string")):
            _bad_config(link, payload, f"a CONFIGURE payload that is {what}")
        try:
            applied = link.configure(settle_us=changed)
            assert applied == {**before, "settle_us": changed}, \
                f"CONFIGURE settle_us={changed} must answer the whole applied configuration; got {applied}"
            assert link.configure() == applied, "CONFIGURE {} does not read back what was applied"
        finally:
            link.configure(settle_us=settle)


def check_configure_types_and_ranges(dut: DeviceUnderTest) -> None:
    """settle_us and watchdog_ms take JSON integers in their ranges, ends included; any other
    type or an out-of-range value is BAD_CONFIG naming the key (and its range)."""
    with dut.connect() as link:
        before = link.configure()
        try:
            for key, (low, high) in CONFIG_RANGES.items():
                for value in WRONG_TYPES:
                    _bad_config(link, p.pack_json({key: value}), f"CONFIGURE {key}={json.dumps(value)}", key)
                for value in (low - 1, high + 1, -(2 ** 40), 2 ** 40):
                    message = expect_error(link, MsgType.CONFIGURE, p.pack_json({key: value}),
                                           ErrorCode.BAD_CONFIG, f"CONFIGURE {key}={value}")
                    digits = message.replace(",", "").replace("_", "")
                    assert key in message and str(high) in digits, \
                        f"CONFIGURE {key}={value}: the message must name {key} and its range {low}..{high}; " \
                        f"got {message!r}"
                for value in (low, high):
                    applied = link.configure(**{key: value})
                    assert applied.get(key) == value, f"CONFIGURE {key}={value} (in range) answered {applied}"
                link.configure(**{key: before[key]})
            assert link.configure() == before, "the refused CONFIGUREs changed the configuration"
        finally:
            link.configure(**{key: before[key] for key in CONFIG_RANGES})


def check_excite_check_order(dut: DeviceUnderTest) -> None:
    """EXCITE is checked in the stated order: length < 4 -> BAD_LENGTH; width or batch 0 ->
    BAD_SHAPE; batch > max_batch -> BATCH_TOO_LARGE; then the exact length -> BAD_LENGTH."""
    with dut.connect() as link:
        info = link.info
        width, max_batch, per_vector = info["n_actuators"], info["max_batch"], vector_bytes(info)
        header = p.BATCH_HEADER.pack
        cases = [
            (b"", ErrorCode.BAD_LENGTH, "an empty EXCITE"),
            (b"\x01\x00\x05", ErrorCode.BAD_LENGTH, "an EXCITE of 3 bytes"),
            (header(1, width + 1) + bytes(per_vector + 2), ErrorCode.BAD_SHAPE, "width n_actuators + 1"),
            (header(1, width - 1) + bytes(per_vector), ErrorCode.BAD_SHAPE, "width n_actuators - 1")
            if width > 1 else None,
            (header(0, width), ErrorCode.BAD_SHAPE, "batch 0"),
            (header(0, width) + bytes(per_vector), ErrorCode.BAD_SHAPE, "batch 0 with a vector's bytes"),
            (header(1, width) + bytes(per_vector - 1), ErrorCode.BAD_LENGTH, "one byte short"),
            (header(1, width) + bytes(per_vector + 1), ErrorCode.BAD_LENGTH, "one byte over"),
            (header(2, width) + bytes(per_vector), ErrorCode.BAD_LENGTH, "batch 2 carrying one vector")
            if max_batch >= 2 else None,
        ]
        if max_batch < p.SEQ_MODULO - 1:
            cases += [
                (header(max_batch + 1, width + 1), ErrorCode.BAD_SHAPE, "wrong width and batch > max_batch"),
                (header(max_batch + 1, width), ErrorCode.BATCH_TOO_LARGE,
                 "batch max_batch + 1 with no vectors (batch is checked before length)"),
            ]
        for case in filter(None, cases):
            payload, code, why = case
            expect_error(link, MsgType.EXCITE, payload, code, why)
        measure = link.call(MsgType.EXCITE, excite_payload(info, in_range_codes(info, max_batch)))
        assert p.BATCH_HEADER.unpack_from(measure)[0] == max_batch, "an EXCITE of max_batch vectors must run"


def check_clamping(dut: DeviceUnderTest) -> None:
    """Codes outside [code_low, code_high] are clamped into it, each counted in clamps (a cached
    re-send counts nothing); the MEASURE is that of the clamped codes where the medium is known."""
    with dut.connect() as link:
        info = link.info
        if packing(info) == "bits":
            raise NotApplicable("a bits device takes element states: there is nothing to clamp")
        low, high = code_limits(info)
        if low == p.INT16_MIN and high == p.INT16_MAX:
            raise NotApplicable("this device's limits span the whole int16 range: no code can be clamped")
        width = info["n_actuators"]
        specials = [p.INT16_MIN, p.INT16_MAX, low, high, low - 1, high + 1, (low + high) // 2]
        values = np.array([v for v in specials if p.INT16_MIN <= v <= p.INT16_MAX], np.int64)
        rows = max(1, min(info["max_batch"], -(-len(values) // width) + 1))
        codes = np.resize(values, rows * width).reshape(rows, width)
        clipped = np.clip(codes, low, high)
        expected = int(np.count_nonzero(codes != clipped))
        link.reset()
        seq = link.new_seq()
        measure = link.call(MsgType.EXCITE, excite_payload(info, codes), seq)
        status = link.status()
        assert status["clamps"] == expected, \
            f"{expected} of the codes {codes.tolist()} lie outside [{low}, {high}]; STATUS clamps is {status['clamps']}"
        if dut.model is not None:
            got = p.unpack_measure(measure)
            want = dut.model(clipped.astype(np.int16))
            assert np.array_equal(got, want), f"MEASURE {got.tolist()} is not that of the clamped codes {want.tolist()}"
        link.call(MsgType.EXCITE, excite_payload(info, codes), seq)
        assert link.status()["clamps"] == expected, "a re-send answered from the cache must not count clamps again"


def check_measure_layout(dut: DeviceUnderTest) -> None:
    """MEASURE is u16 batch, u16 n_sensors, batch x n_sensors int16 codes, for one vector up to
    max_batch; the codes are the medium's where the medium is known."""
    with dut.connect() as link:
        info = link.info
        for batch in sorted({1, min(3, info["max_batch"]), info["max_batch"]}):
            codes = in_range_codes(info, batch, seed=batch)
            payload = link.call(MsgType.EXCITE, excite_payload(info, codes))
            assert len(payload) >= 4, f"MEASURE of {len(payload)} bytes has no batch header"
            got_batch, n_sensors = p.BATCH_HEADER.unpack_from(payload)
            assert (got_batch, n_sensors) == (batch, info["n_sensors"]), \
                f"MEASURE header says batch {got_batch}, n_sensors {n_sensors}; expected {batch}, {info['n_sensors']}"
            expected = 4 + 2 * batch * n_sensors
            assert len(payload) == expected, f"MEASURE of batch {batch} has {len(payload)} bytes, expected {expected}"
            if dut.model is not None and packing(info) == "int16":
                got, want = p.unpack_measure(payload), dut.model(codes)
                assert np.array_equal(got, want), f"MEASURE codes {got[:2].tolist()}... differ from the medium's " \
                                                  f"{want[:2].tolist()}..."


def check_set_static(dut: DeviceUnderTest) -> None:
    """SET_STATIC takes exactly n_static elements (INFO, 0 if absent) in ceil(n/8) bytes and
    answers 0x84 empty; another count is BAD_SHAPE, another length BAD_LENGTH."""
    with dut.connect() as link:
        n_static = link.info.get("n_static", 0)
        size = p.bits_per_vector(n_static)
        header = p.SET_STATIC_HEADER.pack
        try:
            pattern = np.arange(n_static) % 3 == 0
            assert link.call(MsgType.SET_STATIC, p.pack_set_static(pattern)) == b"", \
                "STATIC_SET carries no payload"
            expect_error(link, MsgType.SET_STATIC, header(n_static + 1) + bytes(p.bits_per_vector(n_static + 1)),
                         ErrorCode.BAD_SHAPE, f"SET_STATIC of n_static + 1 = {n_static + 1} elements")
            if n_static:
                expect_error(link, MsgType.SET_STATIC, header(n_static - 1) + bytes(p.bits_per_vector(n_static - 1)),
                             ErrorCode.BAD_SHAPE, f"SET_STATIC of n_static - 1 = {n_static - 1} elements")
                expect_error(link, MsgType.SET_STATIC, header(n_static) + bytes(size - 1), ErrorCode.BAD_LENGTH,
                             "SET_STATIC one byte short")
            expect_error(link, MsgType.SET_STATIC, header(n_static) + bytes(size + 1), ErrorCode.BAD_LENGTH,
                         "SET_STATIC one byte over")
            for payload in (b"", b"\x00"):
                expect_error(link, MsgType.SET_STATIC, payload, ErrorCode.BAD_LENGTH,
                             f"SET_STATIC of {len(payload)} bytes")
        finally:
            link.reset()  # statics back to 0


def check_ping(dut: DeviceUnderTest) -> None:
    """PING echoes 0 to 64 bytes, whatever they are; more is BAD_LENGTH."""
    with dut.connect() as link:
        for data in (b"", b"\x03", b"\xa5\x5a\x01\x05", bytes(range(63)), bytes(range(0xC1, 0x100)) + b"\x03"):
            link.ping(data)
        for size in (p.MAX_PING + 1, 200):
            expect_error(link, MsgType.PING, bytes(size), ErrorCode.BAD_LENGTH, f"PING of {size} bytes")


def check_status_keys(dut: DeviceUnderTest) -> None:
    """STATUS has every required counter as an int >= 0 (skipped_bytes and replies_dropped
    included); uptime_ms runs; a STATUS with a payload is BAD_LENGTH."""
    with dut.connect() as link:
        first = link.status()
        missing = [key for key in STATUS_KEYS if key not in first]
        assert not missing, f"STATUS lacks {missing}: {first}"
        for key in STATUS_KEYS:
            assert is_int(first[key]) and first[key] >= 0, f"STATUS {key} is {first[key]!r}, expected an int >= 0"
        silence(0.3)
        second = link.status()
        assert 200 <= second["uptime_ms"] - first["uptime_ms"] <= 2000, \
            f"uptime_ms went {first['uptime_ms']} -> {second['uptime_ms']} over 0.3 s"
        assert second["frames_ok"] == first["frames_ok"] + 1, \
            f"frames_ok counts every frame, this STATUS included: {first['frames_ok']} -> {second['frames_ok']}"
        expect_error(link, MsgType.STATUS, b"\x00", ErrorCode.BAD_LENGTH, "STATUS with a payload")


def check_reset(dut: DeviceUnderTest) -> None:
    """RESET zeroes every counter but uptime_ms after counting itself (a STATUS right after
    reports frames_ok 1), empties the reply cache, keeps the configuration, and its own reply
    is cached: a re-sent RESET is answered from the cache and resets nothing."""
    with dut.connect() as link:
        info = link.info
        settle = link.configure()["settle_us"]
        changed = settle + 3 if settle + 3 <= CONFIG_RANGES["settle_us"][1] else settle - 3
        try:
            link.configure(settle_us=changed)
            ping_seq = link.new_seq()
            link.call(MsgType.PING, b"before", ping_seq)
            link.call(MsgType.EXCITE, excite_payload(info, in_range_codes(info, 1)))
            link.send(MsgType.PING, b"broken" + bytes(60))  # one BAD_LENGTH on the way
            link.frames(1)
            uptime = link.status()["uptime_ms"]
            reset_seq = link.new_seq()
            assert link.call(MsgType.RESET, b"", reset_seq) == b"", "RESET_DONE carries no payload"
            status = link.status()
            assert status["frames_ok"] == 1, \
                f"a STATUS right after RESET must report frames_ok 1 (itself), got {status['frames_ok']}"
            nonzero = {k: status[k] for k in STATUS_KEYS if k not in ("frames_ok", "uptime_ms") and status[k]}
            assert not nonzero, f"RESET must zero every counter; after it STATUS has {nonzero}"
            assert status["uptime_ms"] >= uptime, f"RESET must not zero uptime_ms ({uptime} -> {status['uptime_ms']})"
            echoed = link.call(MsgType.PING, b"after", ping_seq)
            assert echoed == b"after", f"RESET must empty the reply cache; a PING's seq got the old reply {echoed!r}"
            assert link.call(MsgType.RESET, b"", reset_seq) == b"", "RESET_DONE carries no payload"
            status = link.status()
            assert (status["frames_ok"], status["duplicates"]) == (4, 1), \
                f"a re-sent RESET is answered from the cache and resets nothing: expected frames_ok 4 and " \
                f"duplicates 1, STATUS says {status['frames_ok']} and {status['duplicates']}"
            assert link.configure()["settle_us"] == changed, "RESET must keep the configuration"
            expect_error(link, MsgType.RESET, b"\x00", ErrorCode.BAD_LENGTH, "RESET with a payload")
        finally:
            link.configure(settle_us=settle)


def check_repl(dut: DeviceUnderTest) -> None:
    """REPL: 0x88 (which the host may read when it likes), then no more frames are served and
    the link stays open; a MicroPython firmware is at its REPL. The C++ firmware, which has no
    REPL, answers UNKNOWN_TYPE and keeps serving."""
    with dut.spendable() as device, device.connect() as link:
        if link.info["runtime"] == "cpp":
            for payload in (b"", b"\x00"):
                expect_error(link, MsgType.REPL, payload, ErrorCode.UNKNOWN_TYPE, "REPL to the C++ firmware")
            link.ping(b"still serving")
            return
        expect_error(link, MsgType.REPL, b"\x00", ErrorCode.BAD_LENGTH, "REPL with a payload")
        seq = link.send(MsgType.REPL)
        silence(0.3)
        (reply,) = link.frames(1)
        expect_reply_to(reply, MsgType.REPL, seq)
        assert reply.type == MsgType.REPL_ENTERED and reply.payload == b"", \
            f"REPL answered {describe_frames([reply])}, expected an empty 0x88"
        link.send(MsgType.PING, b"anyone?")
        after = link.listen(1.0)
        assert not after, f"after 0x88 the firmware leaves its frame loop, yet it sent {describe_frames(after)}"
        assert not link.closed, "after 0x88 the link must stay open (the firmware waits at its REPL); it hung up"
        if link.info["runtime"] == "micropython":
            start = len(link.received)
            link.write(b"\x03\r\nprint(6 * 7)\r\n")
            link.listen(2.0)
            out = bytes(link.received[start:])
            assert b"42" in out, f"after 0x88 MicroPython should be at its REPL; `print(6 * 7)` gave {out[-120:]!r}"


def check_unknown_type(dut: DeviceUnderTest) -> None:
    """A request type the device does not know, or a reply type, is ERROR UNKNOWN_TYPE naming it."""
    with dut.connect() as link:
        for message_type in UNKNOWN_TYPES:
            for payload in (b"", p.pack_hello()):
                expect_error(link, message_type, payload, ErrorCode.UNKNOWN_TYPE,
                             f"type {message_type:#04x} with {len(payload)} payload bytes")
        link.ping(b"still serving")


# -------------------------------------------------------------------------------------------------
# 2. sessions: reply cache, counting, order


def check_resend_answered_from_cache(dut: DeviceUnderTest) -> None:
    """A re-sent request (same seq and type) is answered with the stored reply without touching
    the medium, and counted in duplicates only."""
    with dut.connect() as link:
        info = link.info
        link.reset()
        seq = link.new_seq()
        codes = in_range_codes(info, 2, seed=5)
        first = link.call(MsgType.EXCITE, excite_payload(info, codes), seq)
        again = link.call(MsgType.EXCITE, excite_payload(info, codes), seq)
        assert again == first, "a re-sent EXCITE must get the stored MEASURE, byte for byte"
        # The cache is keyed by (seq, type): other vectors under that key still get the stored reply.
        other = link.call(MsgType.EXCITE, excite_payload(info, in_range_codes(info, 1, seed=6)), seq)
        assert other == first, "a request whose (seq, type) is cached must be answered from the cache"
        status = link.status()
        assert (status["excites"], status["vectors"], status["duplicates"]) == (1, 2, 2), \
            f"one EXCITE of 2 vectors ran, twice answered from the cache: expected excites 1, vectors 2, " \
            f"duplicates 2; STATUS says {status['excites']}, {status['vectors']}, {status['duplicates']}"


def check_cache_is_fifo(dut: DeviceUnderTest) -> None:
    """The cache holds the last in_flight replies, first in first out: a hit does not refresh
    its entry, and each new reply replaces the oldest one."""
    with dut.connect() as link:
        size = link.info["in_flight"]
        link.reset()
        seqs = [link.new_seq() for _ in range(size)]

        def ping(seq: int, data: bytes) -> bytes:
            return link.call(MsgType.PING, data, seq)

        for i, seq in enumerate(seqs):
            ping(seq, b"first %d" % i)
        for i, seq in enumerate(seqs):  # all in_flight are held
            assert ping(seq, b"x") == b"first %d" % i, f"the cache must hold the last in_flight = {size} replies"
        assert ping(seqs[0], b"x") == b"first 0", "the oldest reply must still be cached"
        ping(link.new_seq(), b"newest")  # replaces the oldest entry, whatever was hit since
        hits = size + 1
        if size >= 2:
            assert ping(seqs[1], b"x") == b"first 1", \
                "a hit must not refresh its entry: the new reply replaced the oldest (first) one, not the second"
            hits += 1
        assert ping(seqs[0], b"x") == b"x", \
            "the first reply is the oldest entry even after a hit; the next new reply must replace it"
        status = link.status()
        assert status["duplicates"] == hits, f"{hits} requests were answered from the cache, duplicates is " \
                                             f"{status['duplicates']}"


def check_errors_cached_except_bad_crc(dut: DeviceUnderTest) -> None:
    """An ERROR reply is cached like any other (the re-send gets it, the medium is not touched);
    a BAD_CRC reply is not (that request never ran)."""
    with dut.connect() as link:
        info = link.info
        link.reset()
        good = excite_payload(info, in_range_codes(info, 1))
        bad = p.BATCH_HEADER.pack(1, info["n_actuators"] + 1) + bytes(vector_bytes(info) + 2)
        seq = link.new_seq()
        expect_error(link, MsgType.EXCITE, bad, ErrorCode.BAD_SHAPE, "EXCITE of the wrong width", seq)
        got = link.request(MsgType.EXCITE, good, seq)
        assert got.type == MsgType.ERROR and p.unpack_error(got.payload)[0] == ErrorCode.BAD_SHAPE, \
            f"an ERROR reply is cached: the same (seq, EXCITE) must get it again, got {describe_frames([got])}"
        seq = link.new_seq()
        expect_error(link, 0x2A, b"", ErrorCode.UNKNOWN_TYPE, "type 0x2a", seq)
        expect_error(link, 0x2A, b"again", ErrorCode.UNKNOWN_TYPE, "type 0x2a re-sent", seq)
        seq = link.new_seq()
        excite = p.encode_frame(MsgType.EXCITE, seq, good)
        (error,) = replies_until_probe(link, corrupted(excite), "an EXCITE failing its CRC")
        assert error.type == MsgType.ERROR and p.unpack_error(error.payload)[0] == ErrorCode.BAD_CRC, \
            f"a damaged EXCITE must get BAD_CRC, got {describe_frames([error])}"
        link.write(excite)
        (reply,) = link.frames(1)
        assert reply.type == MsgType.MEASURE, f"a BAD_CRC reply is never cached; the re-send got {describe_frames([reply])}"
        status = link.status()
        assert (status["duplicates"], status["excites"]) == (2, 1), \
            f"expected duplicates 2 (the cached ERRORs) and excites 1; STATUS says {status['duplicates']}, " \
            f"{status['excites']}"


def check_hello_empties_cache(dut: DeviceUnderTest) -> None:
    """HELLO empties the reply cache and is never answered from it."""
    with dut.connect() as link:
        link.reset()
        seq = link.new_seq()
        assert link.call(MsgType.PING, b"old session", seq) == b"old session"
        link.hello()
        echoed = link.call(MsgType.PING, b"new session", seq)
        assert echoed == b"new session", f"HELLO must empty the reply cache; the PING got {echoed!r}"
        hello = link.new_seq()
        link.call(MsgType.HELLO, p.pack_hello(), hello)
        expect_error(link, MsgType.HELLO, p.pack_hello(2, 3), ErrorCode.BAD_VERSION,
                     "HELLO 2..3 re-using a HELLO's seq (HELLO is never answered from the cache)", hello)
        link.call(MsgType.HELLO, p.pack_hello(), hello)
        duplicates = link.status()["duplicates"]
        assert duplicates == 0, f"nothing was answered from the cache, duplicates is {duplicates}"


def check_rejected_excites_not_counted(dut: DeviceUnderTest) -> None:
    """excites and vectors count EXCITEs answered with a MEASURE and their vectors: a rejected
    EXCITE counts in neither, a cached re-send in duplicates only."""
    with dut.connect() as link:
        info = link.info
        width, max_batch = info["n_actuators"], info["max_batch"]
        link.reset()
        rejected = [b"\x01", p.BATCH_HEADER.pack(1, width + 1), p.BATCH_HEADER.pack(0, width),
                    p.BATCH_HEADER.pack(2, width) + bytes(vector_bytes(info))]
        if max_batch < p.SEQ_MODULO - 1:
            rejected.append(p.BATCH_HEADER.pack(max_batch + 1, width))
        for payload in rejected:
            assert link.request(MsgType.EXCITE, payload).type == MsgType.ERROR, \
                f"EXCITE {payload.hex()} must be refused"
        damaged = corrupted(p.encode_frame(MsgType.EXCITE, link.new_seq(), excite_payload(info, in_range_codes(info, 1))))
        replies_until_probe(link, damaged, "an EXCITE failing its CRC")
        status = link.status()
        assert (status["excites"], status["vectors"]) == (0, 0), \
            f"refused EXCITEs count in neither excites nor vectors; STATUS says {status['excites']}, {status['vectors']}"
        batch = min(3, max_batch)
        seq = link.new_seq()
        link.call(MsgType.EXCITE, excite_payload(info, in_range_codes(info, batch)), seq)
        link.call(MsgType.EXCITE, excite_payload(info, in_range_codes(info, batch)), seq)
        status = link.status()
        assert (status["excites"], status["vectors"], status["duplicates"]) == (1, batch, 1), \
            f"one EXCITE of {batch} ran and was re-sent once: expected excites 1, vectors {batch}, duplicates 1; " \
            f"STATUS says {status['excites']}, {status['vectors']}, {status['duplicates']}"


def check_pipelined_replies_in_order(dut: DeviceUnderTest) -> None:
    """Up to in_flight requests written back to back are answered in arrival order, each reply
    with its request's seq (the device assumes nothing about seq order), ERRORs included."""
    with dut.connect() as link:
        info = link.info
        size = info["in_flight"]
        batch = min(4, info["max_batch"])
        requests = [
            (MsgType.EXCITE, excite_payload(info, in_range_codes(info, batch)), MsgType.MEASURE),
            (MsgType.PING, b"two", MsgType.PONG),
            (MsgType.EXCITE, p.BATCH_HEADER.pack(1, info["n_actuators"] + 1), MsgType.ERROR),
            (MsgType.STATUS, b"", MsgType.STATUS_REPLY),
            (0x31, b"", MsgType.ERROR),
            (MsgType.CONFIGURE, b"{}", MsgType.CONFIG),
            (MsgType.PING, bytes(70), MsgType.ERROR),
        ]
        seqs = [p.SEQ_MODULO - 1, 0, 7, 3, 40000, 2, 1]
        for round_ in range(3):
            plan = [requests[(i + round_) % len(requests)] for i in range(size)]
            plan_seqs = [(s + 11 * round_) % p.SEQ_MODULO for s in seqs[:size]] + \
                        [link.new_seq() for _ in range(size - len(seqs))]
            stream = b"".join(p.encode_frame(t, s, payload) for (t, payload, _), s in zip(plan, plan_seqs))
            link.write(stream)
            replies = link.frames(size)
            got = [(r.type, r.seq) for r in replies]
            want = [(reply, s) for (_, _, reply), s in zip(plan, plan_seqs)]
            assert got == want, f"{size} pipelined requests: expected replies {want}, got {got}"
            for (message_type, _, _), reply, s in zip(plan, replies, plan_seqs):
                expect_reply_to(reply, message_type, s)


# -------------------------------------------------------------------------------------------------
# watchdog, and a host that does not read


def check_watchdog_trips_once_per_silence(dut: DeviceUnderTest) -> None:
    """With watchdog_ms set, a silence longer than it trips the watchdog once and counts it;
    only valid frames feed it (frames failing their CRC do not)."""
    with dut.connect() as link:
        original = link.configure()["watchdog_ms"]
        reply = link.request(MsgType.CONFIGURE, p.pack_json({"watchdog_ms": WATCHDOG_MS}))
        if reply.type == MsgType.ERROR:
            if link.info["watchdog_ms"] == 0:
                raise NotApplicable(f"the watchdog is off (INFO watchdog_ms 0) and this device refuses to set it: "
                                    f"{describe_error(reply)}")
            raise AssertionError(f"CONFIGURE watchdog_ms={WATCHDOG_MS} refused: {describe_error(reply)}")
        period = WATCHDOG_MS / 1e3
        quiet = 2.5 * period + 0.1  # a device tripping once per period would count 2 here
        try:
            link.reset()  # a valid frame: the silence starts here
            silence(quiet)
            assert (trips := link.status()["watchdog_trips"]) == 1, \
                f"{quiet:.2f} s of silence with watchdog_ms {WATCHDOG_MS}: expected 1 trip, STATUS says {trips}"
            silence(quiet)
            assert (trips := link.status()["watchdog_trips"]) == 2, \
                f"a second silence after a valid frame must trip once more: expected 2, STATUS says {trips}"
            until = time.monotonic() + quiet
            while time.monotonic() < until:
                link.ping(b"alive")
                silence(period / 5)
            assert (trips := link.status()["watchdog_trips"]) == 2, \
                f"PINGs every {period / 5:.3f} s must keep the watchdog fed; it tripped ({trips} trips)"
            until = time.monotonic() + quiet
            while time.monotonic() < until:
                link.write(corrupted(p.encode_frame(MsgType.PING, link.new_seq(), b"damaged")))
                silence(period / 5)
            link.drain(0.05)  # their BAD_CRC replies
            assert (trips := link.status()["watchdog_trips"]) == 3, \
                f"frames failing their CRC are not valid frames and must not feed the watchdog: expected 3 trips, " \
                f"STATUS says {trips}"
        finally:
            link.drain(0.05)
            link.configure(watchdog_ms=original)


def check_watchdog_armed_by_first_frame(dut: DeviceUnderTest) -> None:
    """The watchdog is armed by the first valid frame after boot: a device nobody spoke to
    does not trip, one that heard a frame does."""
    if dut.restart is None:
        raise NotApplicable(f"{dut.name} cannot be restarted by the suite, and arming is about the time after boot")
    with dut.restart() as fresh, fresh.explained():
        boot_ms = fresh.boot_watchdog_ms
        if not boot_ms:
            raise NotApplicable(f"{fresh.name} boots with the watchdog off (watchdog_ms 0)")
        wait = boot_ms / 1e3 + 0.3
        with fresh.open() as link:
            silence(wait)
            status = p.unpack_json(link.call(MsgType.STATUS), "STATUS")
            assert status["watchdog_trips"] == 0, \
                f"{wait:.1f} s after boot with no frame yet, the watchdog (watchdog_ms {boot_ms}) tripped " \
                f"{status['watchdog_trips']} time(s): it must be armed by the first valid frame only"
            # Twice the period: a silence trips once however long it lasts, and a device's clock may
            # lag the host's (an emulated Cortex-M on a busy machine loses SysTick interrupts).
            long_wait = 2 * boot_ms / 1e3 + 0.3
            silence(long_wait)
            status = p.unpack_json(link.call(MsgType.STATUS), "STATUS")
            assert status["watchdog_trips"] == 1, \
                f"{long_wait:.1f} s of silence after a valid frame must trip the watchdog once; STATUS says " \
                f"{status['watchdog_trips']}"


def check_unread_reply_dropped(dut: DeviceUnderTest) -> None:
    """A reply the link takes no byte of for 1 s is dropped and counted in replies_dropped; the
    device keeps serving and the reply stays cached, so its re-send gets it without a new run."""
    with dut.connect() as link:
        info = link.info
        batch, size = info["max_batch"], info["in_flight"]
        reply_bytes = p.HEADER_SIZE + 4 + 2 * batch * info["n_sensors"] + p.CRC_SIZE
        if dut.link_buffer is not None and size * reply_bytes <= dut.link_buffer + reply_bytes:
            raise NotApplicable(f"in_flight {size} replies of {reply_bytes} bytes fit this link's "
                                f"{dut.link_buffer}-byte buffer: the device cannot be made to wait")
        link.reset()
        sent = {}
        for i in range(size):
            seq = link.new_seq()
            sent[seq] = p.encode_frame(MsgType.EXCITE, seq, excite_payload(info, in_range_codes(info, batch, i)))
        requests = b"".join(sent.values())
        # A UART takes time to carry it all (10 bits a byte); a pty or USB is far quicker.
        wire_s = (len(requests) + size * reply_bytes) * 10 / dut.baudrate
        wrote = link.write_only(requests, timeout=3 * WRITE_STALL_S + 2 + wire_s)
        assert wrote, f"the device stopped reading requests for {3 * WRITE_STALL_S + 2 + wire_s:.1f} s while " \
                      "its replies waited"
        silence(UNREAD_PAUSE_S)  # reading nothing: the device must give up on a reply after 1 s
        frames = link.listen(5.0 + wire_s, quiet=0.5)
        whole = [f.seq for f in frames if f.type == MsgType.MEASURE and f.seq in sent]
        dropped = [seq for seq in sent if seq not in whole]
        if not dropped:
            if dut.link_buffer is None:
                raise NotApplicable(f"all {size} replies ({size * reply_bytes} bytes) arrived whole: this link "
                                    "buffers more than in_flight replies, so a host reading late loses none")
            raise AssertionError(f"the host read nothing for {UNREAD_PAUSE_S:.1f} s while {size} replies of "
                                 f"{reply_bytes} bytes overflowed the {dut.link_buffer}-byte link, yet every reply "
                                 "arrived whole: the device waited for the host instead of dropping the reply after 1 s")
        assert whole == [seq for seq in sent if seq in whole], f"replies out of order: {whole}"
        if dropped[0] != next(iter(sent)):
            # The host's window allows one new request before its re-sends (the oldest unanswered
            # is not the first sent): a STATUS, whose reply evicts only the first, answered one.
            status = link.status()
            assert status.get("replies_dropped") == len(dropped), \
                f"{len(dropped)} of {size} replies did not arrive whole, STATUS replies_dropped is " \
                f"{status.get('replies_dropped')}"
        for seq in dropped:
            link.write(sent[seq])
            (reply,) = link.frames(1)
            expect_reply_to(reply, MsgType.EXCITE, seq)
            assert reply.type == MsgType.MEASURE, f"the re-send of a dropped reply got {describe_frames([reply])}"
        status = link.status()
        assert status.get("replies_dropped") == len(dropped), \
            f"{len(dropped)} of {size} replies did not arrive whole, STATUS replies_dropped is " \
            f"{status.get('replies_dropped')}"
        assert (status["excites"], status["duplicates"]) == (size, len(dropped)), \
            f"{size} EXCITEs ran and the re-sends of the {len(dropped)} dropped replies must come from the cache: " \
            f"expected excites {size}, duplicates {len(dropped)}; STATUS says {status['excites']}, " \
            f"{status['duplicates']}"
        link.ping(b"still serving")


# The points that send a device to its REPL: a board cannot come back, so they run last.
LEAVES_FRAME_LOOP = frozenset({check_repl})
# In the order of docs/protocol.md.
POINTS = (
    check_frame_layout, check_header_rejected, check_garbage_skipped, check_bad_crc, check_inter_byte_timeout,
    check_resend_answered_from_cache, check_cache_is_fifo, check_errors_cached_except_bad_crc,
    check_hello_empties_cache, check_pipelined_replies_in_order, check_unread_reply_dropped,
    check_version_negotiation, check_watchdog_trips_once_per_silence, check_watchdog_armed_by_first_frame,
    check_hello_info, check_configure_all_or_nothing, check_configure_types_and_ranges,
    check_excite_check_order, check_clamping, check_measure_layout, check_rejected_excites_not_counted,
    check_set_static, check_ping, check_status_keys, check_reset, check_repl, check_unknown_type,
)


# -------------------------------------------------------------------------------------------------
# 5. the shared test vectors' "device" and "reply" expectations


def vector_request_type(case: dict) -> int | None:
    """The type of the request a case sends (None for a stream too damaged to name one)."""
    return case["decoded"]["type"] if "decoded" in case else case.get("type")


def vector_seq(case: dict) -> int | None:
    return case["decoded"]["seq"] if "decoded" in case else case.get("seq")


def device_differs(info: dict, spec: dict) -> list[str]:
    """The fields of a vector's "device" this device's INFO does not match."""
    mine = {**info, "n_static": info.get("n_static", 0)}
    return [f"{key} {mine.get(key)!r} (vector: {value!r})" for key, value in spec.items() if mine.get(key) != value]


def vector_leaves_frame_loop(case: dict) -> bool:
    return vector_request_type(case) == MsgType.REPL


def check_vector(dut: DeviceUnderTest, case: dict) -> None:
    """The stream `hex` of a protocol-vectors.json case gets the reply its "reply" names (type,
    ERROR code and request type, the request's seq; for EXCITE the clamps, and the MEASURE of
    the applied codes where the medium is known) -- or, for a corrupt stream without one, no
    reply, and the next frame is served."""
    if not vector_leaves_frame_loop(case):
        _check_vector(dut, case)
        return
    with dut.spendable() as device:
        _check_vector(device, case)


def _check_vector(dut: DeviceUnderTest, case: dict) -> None:
    request_type = vector_request_type(case)
    wire = bytes.fromhex(case["hex"])
    with dut.connect() as link:
        if request_type == MsgType.REPL and link.info["runtime"] == "cpp":
            raise NotApplicable("the C++ firmware has no REPL: docs/protocol.md has it answer UNKNOWN_TYPE "
                                "instead (check_repl checks that)")
        # A request that runs depends on the device's shape; one failing its CRC never runs.
        if request_type in (MsgType.EXCITE, MsgType.SET_STATIC) and "decoded" in case and case.get("device"):
            differs = device_differs(link.info, case["device"])
            if differs:
                raise NotApplicable(f"the vector is for another device: this one has {', '.join(differs)}")
        if "reply" not in case:
            if case["error"] == "truncated":
                link.write(wire)
                silence(3 * DEVICE_INTER_BYTE_S)
                wire = b""
            expect_silence_before_probe(link, wire, f"the {case['error']} stream of vector {case['name']}")
            return
        expected = case["reply"]
        seq = vector_seq(case)
        assert seq is not None, f"vector {case['name']} names a reply but no seq"
        configuration = link.configure() if request_type == MsgType.CONFIGURE else None
        try:
            # Counters from 0 for "clamps"; the RESET's seq differs from the vector's, so its
            # cached reply cannot answer the vector.
            link.call(MsgType.RESET, b"", (seq + 1) % p.SEQ_MODULO)
            link.write(wire)
            (reply,) = link.frames(1)
            assert reply.seq == seq, f"vector {case['name']}: reply seq {reply.seq}, expected {seq}"
            assert reply.type == expected["type"], \
                f"vector {case['name']}: reply {describe_frames([reply])}, expected type {expected['type']:#04x}"
            if reply.type == MsgType.ERROR:
                code, named, _ = p.unpack_error(reply.payload)
                assert (code, named) == (expected["code"], request_type), \
                    f"vector {case['name']}: {describe_error(reply)}, expected code {expected['code']} " \
                    f"naming type {request_type:#04x}"
            if "applied_codes" in expected:
                applied = np.array(expected["applied_codes"], np.int16)
                if dut.model is not None:
                    assert np.array_equal(p.unpack_measure(reply.payload), dut.model(applied)), \
                        f"vector {case['name']}: the MEASURE is not that of the applied codes {applied.tolist()}"
                status = p.unpack_json(link.call(MsgType.STATUS, b"", (seq + 2) % p.SEQ_MODULO))
                assert status["clamps"] == expected["clamps"], \
                    f"vector {case['name']}: clamps {status['clamps']}, expected {expected['clamps']}"
        finally:
            if configuration is not None:
                link.drain(0.05)
                link.configure(**{k: configuration[k] for k in CONFIG_RANGES})
            if request_type == MsgType.SET_STATIC:
                link.reset()
