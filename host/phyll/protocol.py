"""The phyll serial protocol, host side: frames, a resynchronising stream parser, payload codecs.

The specification is docs/protocol.md; docs/protocol-vectors.json holds test vectors that this
module and the firmware both check against. Nothing here touches a port: `devices.serial_device`
drives a link with it, and the test peer in tests/ serves one.
"""
from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from .physical import PhysicalError

MAGIC = b"\xa5\x5a"
VERSION = 1
SUPPORTED_VERSIONS = (1, 1)
HEADER = struct.Struct("<2sBBHHBB")  # magic, version, type, seq, length, flags, header check
HEADER_SIZE = HEADER.size
_HEAD_NINE = struct.Struct("<2sBBHHB")  # the header up to its check byte
CRC = struct.Struct("<I")
CRC_SIZE = CRC.size
MAX_PAYLOAD = 16384
MAX_FRAME = HEADER_SIZE + MAX_PAYLOAD + CRC_SIZE
MAX_PING = 64
MAX_ERROR_MESSAGE = 200
SEQ_MODULO = 1 << 16
REPLY_BIT = 0x80
INT16_MIN, INT16_MAX = -32768, 32767
_INT16_LE = np.dtype("<i2")
# EXCITE and MEASURE both start with two u16: (batch, width) and (batch, n_sensors).
BATCH_HEADER = struct.Struct("<HH")
SET_STATIC_HEADER = struct.Struct("<H")
ERROR_HEADER = struct.Struct("<BB")
HELLO_PAYLOAD = struct.Struct("<BB")
DEVICE_INTER_BYTE_TIMEOUT_S = 0.100
HOST_INTER_BYTE_TIMEOUT_S = 0.250


class MsgType(IntEnum):
    HELLO = 0x01
    CONFIGURE = 0x02
    EXCITE = 0x03
    SET_STATIC = 0x04
    PING = 0x05
    STATUS = 0x06
    RESET = 0x07
    REPL = 0x08
    INFO = 0x81
    CONFIG = 0x82
    MEASURE = 0x83
    STATIC_SET = 0x84
    PONG = 0x85
    STATUS_REPLY = 0x86
    RESET_DONE = 0x87
    REPL_ENTERED = 0x88
    ERROR = 0xFF


REQUEST_TYPES = frozenset(t for t in MsgType if t < REPLY_BIT)


def reply_type(request: int) -> int:
    return request | REPLY_BIT


class ErrorCode(IntEnum):
    BAD_CRC = 1
    BAD_VERSION = 2
    UNKNOWN_TYPE = 3
    BAD_LENGTH = 4
    BAD_SHAPE = 5
    BATCH_TOO_LARGE = 6
    BAD_CONFIG = 7
    HAL_FAULT = 8


# ---------------------------------------------------------------------------------------------
# Exceptions: malformed bytes, a device's ERROR reply, a failed link.


class ProtocolError(PhysicalError):
    """Bytes from the peer do not follow docs/protocol.md (bad payload layout, bad JSON...)."""


class LinkError(PhysicalError):
    """The link failed: port vanished, or the device stopped answering after every retry."""


class DeviceError(PhysicalError):
    """The device answered with an ERROR frame. Subclasses name the code (see `for_code`)."""

    code: ErrorCode | int = 0

    def __init__(self, code: int, request_type: int, message: str, url: str = "") -> None:
        self.code = ErrorCode(code) if code in ErrorCode._value2member_map_ else code
        self.request_type = request_type
        self.message = message
        self.url = url
        name = self.code.name if isinstance(self.code, ErrorCode) else f"code {code}"
        request = _type_name(request_type)
        where = f" ({url})" if url else ""
        super().__init__(f"device{where} rejected {request}: {name}: {message}")

    @staticmethod
    def for_code(code: int, request_type: int, message: str, url: str = "") -> "DeviceError":
        """The typed exception for an ERROR frame, like mpremote turning errno into OSError."""
        cls = _ERROR_CLASSES.get(code, DeviceError)
        return cls(code, request_type, message, url)


class BadCrcError(DeviceError):
    pass


class BadVersionError(DeviceError):
    pass


class UnknownTypeError(DeviceError):
    pass


class BadLengthError(DeviceError):
    pass


class BadShapeError(DeviceError):
    pass


class BatchTooLargeError(DeviceError):
    pass


class BadConfigError(DeviceError):
    pass


class HalFaultError(DeviceError):
    pass


_ERROR_CLASSES: dict[int, type[DeviceError]] = {
    ErrorCode.BAD_CRC: BadCrcError,
    ErrorCode.BAD_VERSION: BadVersionError,
    ErrorCode.UNKNOWN_TYPE: UnknownTypeError,
    ErrorCode.BAD_LENGTH: BadLengthError,
    ErrorCode.BAD_SHAPE: BadShapeError,
    ErrorCode.BATCH_TOO_LARGE: BatchTooLargeError,
    ErrorCode.BAD_CONFIG: BadConfigError,
    ErrorCode.HAL_FAULT: HalFaultError,
}


def _type_name(message_type: int) -> str:
    try:
        return MsgType(message_type).name
    except ValueError:
        return f"type 0x{message_type:02X}"


# ---------------------------------------------------------------------------------------------
# Frames


@dataclass(slots=True)  # not frozen: a frozen init costs ~1 us a frame on a batch-1 round trip
class Frame:
    type: int
    seq: int
    payload: bytes = b""
    version: int = VERSION
    flags: int = 0

    @property
    def type_name(self) -> str:
        return _type_name(self.type)

    @property
    def size(self) -> int:
        """Its bytes on the wire: header, payload, CRC (as FrameFault.size gives a damaged one's)."""
        return HEADER_SIZE + len(self.payload) + CRC_SIZE


def header_check(first_nine: bytes | bytearray | memoryview) -> int:
    return zlib.crc32(first_nine) & 0xFF


def encode_frame(message_type: int, seq: int, payload: bytes = b"", *,
                 version: int = VERSION, flags: int = 0) -> bytes:
    if not 0 <= message_type <= 0xFF:
        raise ValueError(f"message type must fit a byte, got {message_type}")
    if not 0 <= seq < SEQ_MODULO:
        raise ValueError(f"seq must be a u16, got {seq}")
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds the {MAX_PAYLOAD}-byte maximum")
    head = _HEAD_NINE.pack(MAGIC, version, message_type, seq, len(payload), flags)
    body = head + bytes((header_check(head),)) + payload
    return body + CRC.pack(zlib.crc32(body))


@dataclass(frozen=True)
class FrameFault:
    """Something the parser rejected. seq/type, and size (the whole frame's bytes, as its header
    gives them), are known where the header passed its checks: always for "bad_crc", and for
    "truncated" when the frame was cut after its header.

    kind: "bad_header_check" | "unknown_frame_version" | "length_too_large" | "bad_crc" | "truncated"
    """

    kind: str
    seq: int | None = None
    type: int | None = None
    size: int | None = None


class FrameParser:
    """Streaming frame parser: feed() any chunks, get frames and faults back, in stream order.

    Rejects follow docs/protocol.md section 1: a bad header or CRC drops one byte and rescans,
    so a damaged frame never swallows the good one behind it. Call expire() after the
    inter-byte timeout to abandon an incomplete frame.
    """

    def __init__(self, versions: tuple[int, int] = SUPPORTED_VERSIONS,
                 max_payload: int = MAX_PAYLOAD) -> None:
        self._buffer = bytearray()
        self._start = 0  # consumed prefix of _buffer, compacted lazily to keep feed() linear
        self._need = 0  # bytes the frame at _start needs in all, once its header passed its checks
        self._waiting_for: tuple[int, int] = (0, 0)  # (seq, type) of that frame
        self._min_version, self._max_version = versions
        self._max_payload = max_payload
        self.skipped_bytes = 0
        self.header_errors = 0
        self.crc_errors = 0
        self.frames = 0

    @property
    def pending(self) -> int:
        """Bytes buffered that are not yet a frame (an incomplete frame if > 0 after feed)."""
        return len(self._buffer) - self._start

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame | FrameFault]:
        if not self._buffer:
            whole = self._whole_frame(data)
            if whole is not None:
                return [whole]
        self._buffer += data
        if self.pending < self._need:
            return []  # a large frame arriving in chunks: its header was checked already
        events: list[Frame | FrameFault] = []
        while self._next(events):
            pass
        self._compact()
        return events

    def _whole_frame(self, data) -> Frame | None:
        """The common case on a quiet link, checked without buffering: `data` is exactly one
        intact frame. Anything else (None) takes the general path, which judges it the same."""
        size = len(data)
        if size < HEADER_SIZE + CRC_SIZE or data[:2] != MAGIC:
            return None
        magic, version, message_type, seq, length, flags, check = HEADER.unpack_from(data)
        end = HEADER_SIZE + length
        if end + CRC_SIZE != size or self._header_fault(data, 0, version, length, check) \
                or zlib.crc32(data[:end]) != CRC.unpack_from(data, end)[0]:
            return None
        self.frames += 1
        return Frame(message_type, seq, bytes(data[HEADER_SIZE:end]), version, flags)

    def expire(self) -> list[Frame | FrameFault]:
        """Abandon an incomplete frame (inter-byte timeout) and rescan what follows it."""
        if self.pending == 0:
            return []
        cut = FrameFault("truncated", *self._waiting_for, self._need) if self._need else FrameFault("truncated")
        events: list[Frame | FrameFault] = [cut]
        self._start += 1
        self._need = 0
        while self._next(events):
            pass
        self._compact()
        return events

    def reset(self) -> None:
        self._buffer.clear()
        self._start = 0
        self._need = 0

    def _next(self, events: list[Frame | FrameFault]) -> bool:
        """Consume at most one frame or fault; False when more bytes are needed."""
        buf = self._buffer
        found = buf.find(MAGIC, self._start)
        if found < 0:
            # Keep a trailing A5: it may be the first half of a magic split across chunks.
            keep = 1 if len(buf) > self._start and buf[-1] == MAGIC[0] else 0
            self.skipped_bytes += len(buf) - self._start - keep
            self._start = len(buf) - keep
            return False
        self.skipped_bytes += found - self._start
        self._start = found
        if len(buf) - found < HEADER_SIZE:
            return False
        _, version, message_type, seq, length, flags, check = HEADER.unpack_from(buf, found)
        fault = self._header_fault(buf, found, version, length, check)
        if fault:
            self.header_errors += 1
            self._start = found + 1
            events.append(FrameFault(fault))
            return True
        end = found + HEADER_SIZE + length
        if len(buf) < end + CRC_SIZE:
            self._need = end + CRC_SIZE - found
            self._waiting_for = (seq, message_type)
            return False
        self._need = 0
        with memoryview(buf) as view:
            crc_ok = zlib.crc32(view[found:end]) == CRC.unpack_from(buf, end)[0]
            payload = bytes(view[found + HEADER_SIZE:end]) if crc_ok else b""
        if not crc_ok:
            self.crc_errors += 1
            self._start = found + 1
            events.append(FrameFault("bad_crc", seq, message_type, end + CRC_SIZE - found))
            return True
        events.append(Frame(message_type, seq, payload, version, flags))
        self.frames += 1
        self._start = end + CRC_SIZE
        return True

    def _header_fault(self, data, at: int, version: int, length: int, check: int) -> str:
        """Why the header at data[at:] is rejected, or "" if it passes."""
        with memoryview(data) as view:
            if header_check(view[at:at + 9]) != check:
                return "bad_header_check"
        if not self._min_version <= version <= self._max_version:
            return "unknown_frame_version"
        if length > self._max_payload:
            return "length_too_large"
        return ""

    def _compact(self) -> None:
        if self._start:
            del self._buffer[:self._start]
            self._start = 0


# ---------------------------------------------------------------------------------------------
# Payloads. Decoders raise ProtocolError on a malformed payload from the peer; encoders raise
# ValueError on bad arguments from the caller.


def pack_hello(min_version: int = SUPPORTED_VERSIONS[0], max_version: int = SUPPORTED_VERSIONS[1]) -> bytes:
    return HELLO_PAYLOAD.pack(min_version, max_version)


def unpack_hello(payload: bytes) -> tuple[int, int]:
    _expect_length(payload, HELLO_PAYLOAD.size, "HELLO")
    return HELLO_PAYLOAD.unpack(payload)


def negotiate_version(host: tuple[int, int], device: tuple[int, int]) -> int | None:
    """Highest version both ranges contain, or None."""
    best = min(host[1], device[1])
    return best if best >= max(host[0], device[0]) else None


def pack_json(obj: dict) -> bytes:
    if not isinstance(obj, dict):
        raise ValueError(f"JSON payloads are objects, got {type(obj).__name__}")
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


def unpack_json(payload: bytes, what: str = "JSON payload") -> dict:
    try:
        obj = json.loads(bytes(payload).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(f"{what} is not UTF-8 JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise ProtocolError(f"{what} must be a JSON object, got {type(obj).__name__}")
    return obj


def quantize(values: np.ndarray, scale: float) -> np.ndarray:
    """Physical values -> int16 codes: rint(value / scale), saturated to the int16 range."""
    codes = np.divide(values, scale, dtype=np.float64)
    np.rint(codes, out=codes)
    # Commands are normally in range: one min and one max (NaN propagates into both) replace
    # a finiteness pass and a clip, which dominate the cost of a frame's worth of codes.
    if codes.size and not (codes.min() >= INT16_MIN and codes.max() <= INT16_MAX):
        if not np.isfinite(np.asarray(values)).all():
            raise ValueError("cannot quantise NaN or inf actuator commands")
        np.clip(codes, INT16_MIN, INT16_MAX, out=codes)
    return codes.astype(_INT16_LE)


def code_limits(low: float, high: float, scale: float) -> tuple[int, int]:
    """[code_low, code_high] a device clamps actuator codes into (docs/protocol.md EXCITE)."""
    def clip(v: float) -> int:
        return int(min(max(round(v / scale), INT16_MIN), INT16_MAX))
    return clip(low), clip(high)


def pack_bits(states: np.ndarray) -> np.ndarray:
    """(B, W) states -> (B, ceil(W/8)) uint8; element i is bit i%8 (LSB first) of byte i//8."""
    return np.packbits(np.asarray(states, dtype=bool), axis=-1, bitorder="little")


def unpack_bits(packed: np.ndarray, width: int) -> np.ndarray:
    return np.unpackbits(packed, axis=-1, count=width, bitorder="little")


def bits_per_vector(width: int) -> int:
    return (width + 7) // 8


def pack_excite_codes(codes: np.ndarray) -> bytes:
    codes = np.asarray(codes)
    _check_batch_shape(codes, "EXCITE codes")
    return BATCH_HEADER.pack(*codes.shape) + np.ascontiguousarray(codes, dtype="<i2").tobytes()


def pack_excite_bits(states: np.ndarray) -> bytes:
    states = np.asarray(states)
    _check_batch_shape(states, "EXCITE states")
    return BATCH_HEADER.pack(*states.shape) + pack_bits(states).tobytes()


def unpack_excite(payload: bytes, packing: str) -> np.ndarray:
    """EXCITE payload -> int16 codes (packing "int16") or uint8 0/1 states ("bits"), (B, W)."""
    batch, width = _batch_header(payload, "EXCITE")
    if packing == "int16":
        return _int16_matrix(payload, batch, width, "EXCITE")
    if packing == "bits":
        per_vector = bits_per_vector(width)
        _expect_length(payload, BATCH_HEADER.size + batch * per_vector, "EXCITE")
        packed = np.frombuffer(payload, np.uint8, offset=BATCH_HEADER.size).reshape(batch, per_vector)
        return unpack_bits(packed, width)
    raise ValueError(f"packing must be 'int16' or 'bits', got {packing!r}")


def pack_measure(codes: np.ndarray) -> bytes:
    codes = np.asarray(codes)
    _check_batch_shape(codes, "MEASURE codes")
    return BATCH_HEADER.pack(*codes.shape) + np.ascontiguousarray(codes, dtype="<i2").tobytes()


def unpack_measure(payload: bytes) -> np.ndarray:
    batch, n_sensors = _batch_header(payload, "MEASURE")
    return _int16_matrix(payload, batch, n_sensors, "MEASURE")


def pack_set_static(states: np.ndarray) -> bytes:
    states = np.asarray(states).reshape(-1)
    if states.size >= SEQ_MODULO:
        raise ValueError(f"at most {SEQ_MODULO - 1} static elements, got {states.size}")
    return SET_STATIC_HEADER.pack(states.size) + pack_bits(states).tobytes()


def unpack_set_static(payload: bytes) -> np.ndarray:
    if len(payload) < SET_STATIC_HEADER.size:
        raise ProtocolError(f"SET_STATIC payload of {len(payload)} bytes is shorter than its 2-byte header")
    (n_elements,) = SET_STATIC_HEADER.unpack_from(payload)
    _expect_length(payload, SET_STATIC_HEADER.size + bits_per_vector(n_elements), "SET_STATIC")
    packed = np.frombuffer(payload, np.uint8, offset=SET_STATIC_HEADER.size)
    return unpack_bits(packed, n_elements)


def pack_error(code: int, request_type: int, message: str) -> bytes:
    text = message.encode("utf-8")[:MAX_ERROR_MESSAGE]
    return ERROR_HEADER.pack(code, request_type) + text


def unpack_error(payload: bytes) -> tuple[int, int, str]:
    if len(payload) < ERROR_HEADER.size:
        raise ProtocolError(f"ERROR payload of {len(payload)} bytes is shorter than its 2-byte header")
    code, request_type = ERROR_HEADER.unpack_from(payload)
    return code, request_type, bytes(payload[ERROR_HEADER.size:]).decode("utf-8", "replace")


def max_batch_bound(n_actuators: int, n_sensors: int, packing: str,
                    max_payload: int = MAX_PAYLOAD) -> int:
    """Vectors per EXCITE that fit max_payload both ways (docs/protocol.md section 4)."""
    per_excite = bits_per_vector(n_actuators) if packing == "bits" else 2 * n_actuators
    per_measure = 2 * n_sensors
    room = max_payload - BATCH_HEADER.size
    return min(room // max(per_excite, 1), room // max(per_measure, 1), SEQ_MODULO - 1)


def packing_for(encoder: str) -> str:
    """How EXCITE carries an encoder's commands: bit-packed element states or int16 codes."""
    return "bits" if encoder == "bits" else "int16"


def _check_batch_shape(array: np.ndarray, what: str) -> None:
    if array.ndim != 2:
        raise ValueError(f"{what} must be 2-D (batch, width), got shape {array.shape}")
    if not (0 < array.shape[0] < SEQ_MODULO and array.shape[1] < SEQ_MODULO):
        raise ValueError(f"{what} shape {array.shape} does not fit the u16 batch/width fields")


def _batch_header(payload: bytes, what: str) -> tuple[int, int]:
    if len(payload) < BATCH_HEADER.size:
        raise ProtocolError(f"{what} payload of {len(payload)} bytes is shorter than its 4-byte header")
    return BATCH_HEADER.unpack_from(payload)


def _int16_matrix(payload: bytes, rows: int, cols: int, what: str) -> np.ndarray:
    _expect_length(payload, BATCH_HEADER.size + 2 * rows * cols, what)
    return np.frombuffer(payload, "<i2", offset=BATCH_HEADER.size).reshape(rows, cols)


def _expect_length(payload: bytes, expected: int, what: str) -> None:
    if len(payload) != expected:
        raise ProtocolError(f"{what} payload has {len(payload)} bytes, expected {expected}")
