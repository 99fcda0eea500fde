"""Frame layout of the phyll serial protocol (docs/protocol.md section 1) and its message codes."""
import struct

from micropython import const

from .kernels import crc32

MAGIC = b"\xa5\x5a"
VERSION = const(1)
HEADER_SIZE = const(10)
CRC_SIZE = const(4)
MAX_PAYLOAD = const(16384)
MAX_PING = const(64)
MAX_ERROR_MESSAGE = const(200)
# crc32 over a frame *including* its little-endian CRC trailer is this constant when the frame is
# intact; comparing with it avoids materialising the trailer as an int (a heap int on 32-bit ports).
CRC_RESIDUE = const(0x2144DF1C)
INTER_BYTE_TIMEOUT_MS = const(100)

HELLO = const(0x01)
CONFIGURE = const(0x02)
EXCITE = const(0x03)
SET_STATIC = const(0x04)
PING = const(0x05)
STATUS = const(0x06)
RESET = const(0x07)
REPL = const(0x08)
REPLY_BIT = const(0x80)
ERROR = const(0xFF)

BAD_CRC = const(1)
BAD_VERSION = const(2)
UNKNOWN_TYPE = const(3)
BAD_LENGTH = const(4)
BAD_SHAPE = const(5)
BATCH_TOO_LARGE = const(6)
BAD_CONFIG = const(7)
HAL_FAULT = const(8)


def frame_size(payload_length):
    return HEADER_SIZE + payload_length + CRC_SIZE


def seal(buf, msg_type, seq, payload_length, header_view, body_views):
    """Write header and CRC around the payload already at buf[10:]; return the frame's size.

    header_view is buf[0:9] and body_views a Views(buf, 0): passed in so sealing allocates nothing.
    """
    struct.pack_into("<BBBBHHB", buf, 0, 0xA5, 0x5A, VERSION, msg_type, seq, payload_length, 0)
    buf[9] = crc32(header_view) & 0xFF
    end = HEADER_SIZE + payload_length
    struct.pack_into("<I", buf, end, crc32(body_views.get(end)))
    return end + CRC_SIZE
