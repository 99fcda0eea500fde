"""Generator of docs/protocol-vectors.json from the host codec.

`python tests/protocol_vectors.py` rewrites the file; tests/test_protocol.py asserts the stored
file equals what this module generates, and decodes every case with an independent struct/zlib
reader, so a codec change cannot silently change the vectors the firmware tests read.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from phyll import protocol as p
from phyll.protocol import ErrorCode, MsgType

VECTORS_PATH = Path(__file__).resolve().parents[1] / "docs" / "protocol-vectors.json"

# Two example devices. Scales are powers of two so every value is exact in JSON and float32.
ANALOG_DEVICE = {
    "n_actuators": 3, "n_sensors": 2,
    "encoding": {"encoder": "minmax", "low": 0.0, "high": 0.5, "bits": 1},
    "actuator_scale": 2.0 ** -15, "sensor_scale": 2.0 ** -12, "max_batch": 4, "n_static": 0,
}
BITS_DEVICE = {
    "n_actuators": 10, "n_sensors": 3,
    "encoding": {"encoder": "bits", "low": 0.0, "high": 1.0, "bits": 2},
    "actuator_scale": 1.0, "sensor_scale": 2.0 ** -10, "max_batch": 4, "n_static": 12,
}
JSON_TYPES = {MsgType.INFO, MsgType.CONFIGURE, MsgType.CONFIG, MsgType.STATUS_REPLY}
EMPTY_TYPES = {MsgType.STATUS, MsgType.RESET, MsgType.REPL, MsgType.STATIC_SET,
               MsgType.RESET_DONE, MsgType.REPL_ENTERED}


def info_for(device: dict, board: str) -> dict:
    return {
        "protocol": 1, "firmware": "phyll-mpy 0.1.0", "board": board, "medium": "example",
        "runtime": "micropython", "n_actuators": device["n_actuators"],
        "n_sensors": device["n_sensors"], "encoding": device["encoding"],
        "actuator_scale": device["actuator_scale"], "sensor_scale": device["sensor_scale"],
        "max_batch": device["max_batch"], "max_payload": p.MAX_PAYLOAD, "in_flight": 4,
        "settle_us": 100, "watchdog_ms": 2000, "n_static": device["n_static"],
    }


# ---------------------------------------------------------------------------------------------
# fields <-> payload, per message type (docs/protocol.md section 5)


def payload_fields(message_type: int, payload: bytes, packing: str | None = None) -> dict:
    if message_type == MsgType.HELLO:
        low, high = p.unpack_hello(payload)
        return {"min_version": low, "max_version": high}
    if message_type in JSON_TYPES:
        return {"json": p.unpack_json(payload)}
    if message_type == MsgType.EXCITE:
        if packing is None:
            raise ValueError("EXCITE fields need the device's packing")
        batch, width = p.BATCH_HEADER.unpack_from(payload)
        try:
            matrix = p.unpack_excite(payload, packing)
        except p.ProtocolError:
            return {"packing": packing, "batch": batch, "width": width, "malformed": True}
        key = "codes" if packing == "int16" else "states"
        return {"packing": packing, "batch": batch, "width": width, key: matrix.tolist()}
    if message_type == MsgType.MEASURE:
        codes = p.unpack_measure(payload)
        return {"batch": codes.shape[0], "n_sensors": codes.shape[1], "codes": codes.tolist()}
    if message_type == MsgType.SET_STATIC:
        states = p.unpack_set_static(payload)
        return {"n_elements": int(states.size), "states": states.tolist()}
    if message_type in (MsgType.PING, MsgType.PONG):
        return {"data_hex": payload.hex()}
    if message_type == MsgType.ERROR:
        code, request_type, message = p.unpack_error(payload)
        return {"code": code, "code_name": ErrorCode(code).name, "request_type": request_type,
                "message": message}
    if message_type in EMPTY_TYPES:
        if payload:
            raise p.ProtocolError(f"{MsgType(message_type).name} payload must be empty")
        return {}
    return {"malformed": True}  # a type the protocol does not define: only payload_hex says it


def payload_from_fields(message_type: int, fields: dict) -> bytes:
    if message_type == MsgType.HELLO:
        return p.pack_hello(fields["min_version"], fields["max_version"])
    if message_type in JSON_TYPES:
        return p.pack_json(fields["json"])
    if message_type == MsgType.EXCITE:
        if fields["packing"] == "int16":
            return p.pack_excite_codes(np.array(fields["codes"], dtype=np.int16))
        return p.pack_excite_bits(np.array(fields["states"], dtype=np.uint8))
    if message_type == MsgType.MEASURE:
        return p.pack_measure(np.array(fields["codes"], dtype=np.int16))
    if message_type == MsgType.SET_STATIC:
        return p.pack_set_static(np.array(fields["states"], dtype=np.uint8))
    if message_type in (MsgType.PING, MsgType.PONG):
        return bytes.fromhex(fields["data_hex"])
    if message_type == MsgType.ERROR:
        return p.pack_error(fields["code"], fields["request_type"], fields["message"])
    return b""


def decoded(frame: p.Frame, packing: str | None = None) -> dict:
    return {"version": frame.version, "type": frame.type, "type_name": frame.type_name,
            "seq": frame.seq, "flags": frame.flags, "payload_hex": frame.payload.hex(),
            "fields": payload_fields(frame.type, frame.payload, packing)}


# ---------------------------------------------------------------------------------------------
# cases


def frame_case(name: str, message_type: int, seq: int, payload: bytes, note: str,
               device: dict | None = None, reply: dict | None = None) -> dict:
    wire = p.encode_frame(message_type, seq, payload)
    packing = p.packing_for(device["encoding"]["encoder"]) if device else None
    case = {"name": name, "hex": wire.hex(), "decoded": decoded(p.Frame(message_type, seq, payload), packing),
            "note": note}
    if device is not None:
        case["device"] = device
    if reply is not None:
        case["reply"] = reply
    return case


def error_reply(code: ErrorCode) -> dict:
    return {"type": MsgType.ERROR, "code": int(code)}


def message_cases() -> list[dict]:
    excite_codes = np.array([[0, 8192, 16384], [100, 200, 300]], dtype=np.int16)
    clamped = np.array([[-5, 20000, 100]], dtype=np.int16)
    bit_states = np.array([[1, 0, 1, 1, 0, 0, 0, 0, 1, 1], [0, 1, 0, 0, 0, 0, 0, 1, 0, 1]], dtype=np.uint8)
    static = np.array([1, 1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1], dtype=np.uint8)
    status = {"frames_ok": 12, "crc_errors": 1, "header_errors": 2, "excites": 3, "vectors": 7,
              "duplicates": 1, "clamps": 2, "watchdog_trips": 0, "uptime_ms": 123456}
    measure_ok = {"type": MsgType.MEASURE}
    return [
        frame_case("hello", MsgType.HELLO, 0, p.pack_hello(1, 1),
                   "host opens a session speaking versions 1..1", ANALOG_DEVICE, {"type": MsgType.INFO}),
        frame_case("info_analog", MsgType.INFO, 0, p.pack_json(info_for(ANALOG_DEVICE, "unix")),
                   "INFO of the analog example device (JSON: compare by value)"),
        frame_case("info_bits", MsgType.INFO, 0, p.pack_json(info_for(BITS_DEVICE, "rp2-pico")),
                   "INFO of the bits example device (JSON: compare by value)"),
        frame_case("hello_no_common_version", MsgType.HELLO, 1, p.pack_hello(2, 3),
                   "host speaks only 2..3; a version-1 device answers BAD_VERSION",
                   ANALOG_DEVICE, error_reply(ErrorCode.BAD_VERSION)),
        frame_case("error_bad_version", MsgType.ERROR, 1,
                   p.pack_error(ErrorCode.BAD_VERSION, MsgType.HELLO, "supported protocol versions 1..1"),
                   "the reply to hello_no_common_version"),
        frame_case("configure", MsgType.CONFIGURE, 2, p.pack_json({"settle_us": 200, "watchdog_ms": 1000}),
                   "set settle time and watchdog", ANALOG_DEVICE, {"type": MsgType.CONFIG}),
        frame_case("config_reply", MsgType.CONFIG, 2, p.pack_json({"settle_us": 200, "watchdog_ms": 1000}),
                   "the whole applied configuration"),
        frame_case("configure_unknown_key", MsgType.CONFIGURE, 3, p.pack_json({"colour": "red"}),
                   "unknown key: nothing applied", ANALOG_DEVICE, error_reply(ErrorCode.BAD_CONFIG)),
        frame_case("error_bad_config", MsgType.ERROR, 3,
                   p.pack_error(ErrorCode.BAD_CONFIG, MsgType.CONFIGURE, "unknown key 'colour'"),
                   "the reply to configure_unknown_key"),
        frame_case("excite_int16", MsgType.EXCITE, 7, p.pack_excite_codes(excite_codes),
                   "2 vectors x 3 actuators, int16 codes; physical value = code x 2^-15",
                   ANALOG_DEVICE, {**measure_ok, "applied_codes": excite_codes.tolist(), "clamps": 0}),
        frame_case("excite_int16_clamped", MsgType.EXCITE, 8, p.pack_excite_codes(clamped),
                   "limits [0, 0.5] with scale 2^-15 give codes [0, 16384]: -5 and 20000 are clamped",
                   ANALOG_DEVICE, {**measure_ok, "applied_codes": [[0, 16384, 100]], "clamps": 2}),
        frame_case("measure", MsgType.MEASURE, 7, p.pack_measure(np.array([[-32768, 32767], [1, -1]])),
                   "2 vectors x 2 sensors; physical value = code x sensor_scale"),
        frame_case("excite_bits", MsgType.EXCITE, 9, p.pack_excite_bits(bit_states),
                   "10 elements -> 2 bytes per vector, element i = bit i%8 of byte i//8, LSB first",
                   BITS_DEVICE, measure_ok),
        frame_case("measure_bits_device", MsgType.MEASURE, 9, p.pack_measure(np.array([[10, -20, 30], [0, 5, -5]])),
                   "the bits device measures 3 sensors"),
        frame_case("excite_bad_shape", MsgType.EXCITE, 10, p.pack_excite_codes(np.zeros((1, 4), np.int16)),
                   "width 4 but the device has 3 actuators", ANALOG_DEVICE, error_reply(ErrorCode.BAD_SHAPE)),
        frame_case("excite_batch_too_large", MsgType.EXCITE, 11, p.pack_excite_codes(np.zeros((5, 3), np.int16)),
                   "batch 5 > max_batch 4", ANALOG_DEVICE, error_reply(ErrorCode.BATCH_TOO_LARGE)),
        frame_case("excite_bad_length", MsgType.EXCITE, 12, p.pack_excite_codes(excite_codes)[:-6],
                   "header says 2 vectors, payload holds 1", ANALOG_DEVICE, error_reply(ErrorCode.BAD_LENGTH)),
        frame_case("set_static", MsgType.SET_STATIC, 13, p.pack_set_static(static),
                   "12 static elements, 2 bytes", BITS_DEVICE, {"type": MsgType.STATIC_SET}),
        frame_case("static_set_reply", MsgType.STATIC_SET, 13, b"", "empty reply to set_static"),
        frame_case("set_static_bad_shape", MsgType.SET_STATIC, 14, p.pack_set_static(static[:8]),
                   "8 elements but the device has n_static 12", BITS_DEVICE, error_reply(ErrorCode.BAD_SHAPE)),
        frame_case("ping", MsgType.PING, 15, b"phyll\xa5\x5a\x00\x03",
                   "payload holds a magic and a Ctrl-C byte; parsers must not care", ANALOG_DEVICE,
                   {"type": MsgType.PONG}),
        frame_case("pong", MsgType.PONG, 15, b"phyll\xa5\x5a\x00\x03", "the same bytes back"),
        frame_case("ping_too_long", MsgType.PING, 16, bytes(range(65)), "65 bytes > 64",
                   ANALOG_DEVICE, error_reply(ErrorCode.BAD_LENGTH)),
        frame_case("status", MsgType.STATUS, 17, b"", "read counters", ANALOG_DEVICE,
                   {"type": MsgType.STATUS_REPLY}),
        frame_case("status_reply", MsgType.STATUS_REPLY, 17, p.pack_json(status), "the required counters"),
        frame_case("reset", MsgType.RESET, 18, b"", "actuators safe, counters 0, cache emptied",
                   ANALOG_DEVICE, {"type": MsgType.RESET_DONE}),
        frame_case("reset_done", MsgType.RESET_DONE, 18, b"", "empty reply to reset"),
        frame_case("repl", MsgType.REPL, 19, b"", "leave the frame loop for the REPL",
                   ANALOG_DEVICE, {"type": MsgType.REPL_ENTERED}),
        frame_case("repl_entered", MsgType.REPL_ENTERED, 19, b"", "sent and flushed before leaving"),
        frame_case("unknown_type", 0x3E, 20, b"\x01\x02", "a well-formed frame of a type the device does not know",
                   ANALOG_DEVICE, error_reply(ErrorCode.UNKNOWN_TYPE)),
        frame_case("reply_type_sent_to_device", MsgType.PONG, 21, b"",
                   "reply types are not requests", ANALOG_DEVICE, error_reply(ErrorCode.UNKNOWN_TYPE)),
        frame_case("error_unknown_type", MsgType.ERROR, 20,
                   p.pack_error(ErrorCode.UNKNOWN_TYPE, 0x3E, "unknown request type 0x3E"),
                   "the reply to unknown_type"),
        frame_case("error_bad_crc", MsgType.ERROR, 7,
                   p.pack_error(ErrorCode.BAD_CRC, MsgType.EXCITE, "frame CRC-32 mismatch"),
                   "the reply to corrupt_bad_crc: seq and request type from the damaged frame's header"),
        frame_case("error_hal_fault", MsgType.ERROR, 22,
                   p.pack_error(ErrorCode.HAL_FAULT, MsgType.EXCITE, "ADC read timed out"),
                   "medium failure during an EXCITE"),
        frame_case("seq_wraps", MsgType.PING, 65535, b"", "largest seq; the next request uses seq 0",
                   ANALOG_DEVICE, {"type": MsgType.PONG}),
    ]


def corrupt_cases() -> list[dict]:
    good = p.encode_frame(MsgType.EXCITE, 7, p.pack_excite_codes(np.array([[0, 8192, 16384]], np.int16)))
    ping = p.encode_frame(MsgType.PING, 30, b"ok")
    status = p.encode_frame(MsgType.STATUS, 31, b"")

    bad_check = bytearray(good)
    bad_check[9] ^= 0xFF
    bad_crc = bytearray(good)
    bad_crc[12] ^= 0x01
    garbage = b"\x00\xa5\x13noise\xa5\xa5"

    def header_only(version: int, length: int) -> bytes:
        head = bytearray(p.HEADER.pack(p.MAGIC, version, MsgType.PING, 40, length, 0, 0))
        head[9] = p.header_check(head[:9])
        return bytes(head)

    too_long = header_only(1, p.MAX_PAYLOAD + 1)
    new_version = p.encode_frame(MsgType.PING, 41, b"", version=2)
    return [
        {"name": "corrupt_bad_header_check", "hex": bytes(bad_check).hex(), "error": "bad_header_check",
         "note": "check byte inverted: rejected at once, no reply, drop one byte and rescan"},
        {"name": "corrupt_bad_crc", "hex": bytes(bad_crc).hex(), "error": "bad_crc", "seq": 7,
         "type": int(MsgType.EXCITE), "device": ANALOG_DEVICE, "reply": error_reply(ErrorCode.BAD_CRC),
         "note": "one payload bit flipped: header valid, so the device replies ERROR BAD_CRC with seq 7"},
        {"name": "corrupt_truncated", "hex": good[:12].hex(), "error": "truncated",
         "note": "frame cut short: nothing until the inter-byte timeout, then dropped"},
        {"name": "corrupt_length_too_large", "hex": too_long.hex(), "error": "length_too_large",
         "note": "valid check byte but length 16385 > 16384: rejected at once, without waiting for a payload"},
        {"name": "corrupt_unknown_frame_version", "hex": new_version.hex(), "error": "unknown_frame_version",
         "note": "version byte 2 with valid check and CRC: a version-1 receiver rejects the header"},
        {"name": "garbage_before_magic", "hex": (garbage + ping).hex(),
         "decoded": decoded(p.Frame(MsgType.PING, 30, b"ok")),
         "note": f"{len(garbage)} bytes of noise, including lone A5 bytes, skipped before the frame"},
        {"name": "two_frames_back_to_back", "hex": (ping + status).hex(),
         "decoded": [decoded(p.Frame(MsgType.PING, 30, b"ok")), decoded(p.Frame(MsgType.STATUS, 31, b""))],
         "note": "one read may hold several frames: both are delivered, in order"},
    ]


def build_cases() -> list[dict]:
    return message_cases() + corrupt_cases()


def render(cases: list[dict]) -> str:
    return json.dumps(cases, indent=1) + "\n"


def main() -> None:
    VECTORS_PATH.write_text(render(build_cases()))
    print(f"wrote {VECTORS_PATH}", file=sys.stderr)


if __name__ == "__main__":
    main()
