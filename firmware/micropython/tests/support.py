"""Test helpers: an independent frame codec, a scripted link with a fake clock, a recording HAL."""
import binascii
import json
import struct
import sys

from phyllfw.hal import Hal, HalFault
from phyllfw.link import LinkClosed
from phyllfw.server import FrameServer

MICROPYTHON = sys.implementation.name == "micropython"
VECTORS_PATH = (__file__.rsplit("/", 1)[0] if "/" in __file__ else ".") + "/../../../docs/protocol-vectors.json"

ANALOG_DEVICE = {"n_actuators": 3, "n_sensors": 2,
                 "encoding": {"encoder": "minmax", "low": 0.0, "high": 0.5, "bits": 1},
                 "actuator_scale": 2 ** -15, "sensor_scale": 2 ** -12, "max_batch": 4, "n_static": 0}
BITS_DEVICE = {"n_actuators": 10, "n_sensors": 3,
               "encoding": {"encoder": "bits", "low": 0.0, "high": 1.0, "bits": 2},
               "actuator_scale": 1.0, "sensor_scale": 2 ** -10, "max_batch": 4, "n_static": 12}


class Skip(Exception):
    """Raised by a test that cannot run on this interpreter."""


def need_micropython(what):
    if not MICROPYTHON:
        raise Skip(what + " needs MicroPython")


def load_vectors():
    try:
        with open(VECTORS_PATH) as f:
            return json.load(f)
    except OSError:
        raise Skip("no protocol vectors at " + VECTORS_PATH)


def encode(msg_type, seq, payload=b"", version=1):
    head = bytearray(struct.pack("<BBBBHHB", 0xA5, 0x5A, version, msg_type, seq, len(payload), 0))
    head.append(binascii.crc32(head) & 0xFF)
    body = bytes(head) + bytes(payload)
    return body + struct.pack("<I", binascii.crc32(body))


def decode_all(data):
    """Every frame in data, which must be back-to-back valid frames: [(type, seq, payload)]."""
    frames = []
    at = 0
    while at < len(data):
        assert data[at:at + 2] == b"\xa5\x5a", "no magic at %d of %r" % (at, data)
        _, _, version, msg_type, seq, length, _, check = struct.unpack_from("<BBBBHHBB", data, at)
        assert version == 1 and check == binascii.crc32(data[at:at + 9]) & 0xFF, "bad header"
        end = at + 10 + length
        assert struct.unpack_from("<I", data, end)[0] == binascii.crc32(data[at:end]), "bad CRC"
        frames.append((msg_type, seq, bytes(data[at + 10:end])))
        at = end + 4
    return frames


def int16s(data):
    return [v - 65536 if v > 32767 else v for v in struct.unpack("<%dH" % (len(data) // 2), data)]


def pack_int16s(values):
    return struct.pack("<%dh" % len(values), *values)


def excite_payload(vectors):
    flat = [c for v in vectors for c in v]
    return struct.pack("<HH", len(vectors), len(vectors[0])) + pack_int16s(flat)


class ScriptedLink:
    """Delivers a script of arrivals: bytes (available at once) or an int (a silence, in ms).

    wait() spends the fake clock through silences; once the script is done it raises
    LinkClosed, which ends FrameServer.serve(). readinto never spans two arrivals, so a frame
    split over arrivals is read in parts, as from a non-blocking stream.
    """

    def __init__(self, script=()):
        self.script = list(script)
        self.written = bytearray()
        self.now_ms = 1000
        self.flushes = 0

    def now(self):
        return self.now_ms

    def wait(self, timeout_ms):
        while self.script:
            item = self.script[0]
            if not isinstance(item, int):
                return True
            if 0 <= timeout_ms <= item:
                self.now_ms += timeout_ms
                self.script[0] = item - timeout_ms
                if item == timeout_ms:
                    self.script.pop(0)
                return False
            self.now_ms += item
            self.script.pop(0)
            if timeout_ms >= 0:
                timeout_ms -= item
        raise LinkClosed("script finished")

    def readinto(self, view):
        if not self.script or isinstance(self.script[0], int):
            return None
        chunk = self.script[0]
        n = min(len(view), len(chunk))
        view[0:n] = chunk[0:n]
        if n == len(chunk):
            self.script.pop(0)
        else:
            self.script[0] = chunk[n:]
        return n

    def write(self, view):
        self.written += bytes(view)
        return len(view)

    def flush(self):
        self.flushes += 1


class SlowReader(ScriptedLink):
    """A host that reads replies late: the link holds `room` unread bytes; more room appears at
    the fake times of `drains` [(at_ms, n_bytes)], as the host reads. Nothing else is taken."""

    def __init__(self, script=(), room=0, drains=()):
        super().__init__(script)
        self.room = room
        self.drains = list(drains)
        self.stalls = 0  # waits that ended with no room

    def write(self, view):
        n = min(self.room, len(view))
        self.written += bytes(view[:n])
        self.room -= n
        return n

    def wait_writable(self, timeout_ms):
        if self.room:
            return True
        if self.drains and self.drains[0][0] <= self.now_ms + timeout_ms:
            at, n = self.drains.pop(0)
            self.now_ms = max(self.now_ms, at)
            self.room += n
            return True
        self.now_ms += timeout_ms
        self.stalls += 1
        return False


class SplitHal:
    """A HAL measuring elsewhere (like the emulator's): measures in the order begun, and records
    the calls and what the loop had buffered at each excite_end."""

    reply_stream = "the medium channel"

    def __init__(self, hal, server_box):
        self._hal = hal
        self._server_box = server_box
        self.pending = []
        self.calls = []
        self.buffered_at_end = []
        self.safes = 0
        for key in ("medium", "n_actuators", "n_sensors", "n_static", "encoding", "actuator_scale",
                    "sensor_scale", "settle_us", "max_batch", "config_ranges"):
            setattr(self, key, getattr(hal, key))

    def excite_begin(self, vectors, batch):
        assert len(self.pending) < 2, "more than two EXCITEs begun"
        self.pending.append(bytes(vectors))
        self.calls.append("begin")

    def excite_end(self, batch, out):
        self.calls.append("end")
        self.buffered_at_end.append(self._server_box[0]._have)
        self._hal.excite(self.pending.pop(0), batch, out)

    def safe(self):
        assert not self.pending, "safe() while an EXCITE is begun"
        self.safes += 1
        self._hal.safe()


class ScriptedPairWait:
    """The link's next arrival comes before the medium's reply, as long as there is one."""

    def __init__(self, link):
        self.link = link
        self.waits = 0

    def wait(self):
        self.waits += 1
        script = self.link.script
        return 1 if script and not isinstance(script[0], int) else 2


class RecordingHal(Hal):
    """The "example" medium of the protocol vectors: records what it is driven with.

    Sensor j of vector b reads 100 * b + j + offset; `fail` makes excite raise HalFault.
    """

    medium = "example"

    def __init__(self, device=ANALOG_DEVICE, settle_us=100):
        self.n_actuators = device["n_actuators"]
        self.n_sensors = device["n_sensors"]
        self.n_static = device.get("n_static", 0)
        self.encoding = device["encoding"]
        self.actuator_scale = device["actuator_scale"]
        self.sensor_scale = device["sensor_scale"]
        self.max_batch = device.get("max_batch", 0)
        self.settle_us = settle_us
        self.applied = []
        self.statics = []
        self.safes = 0
        self.safe_at = []  # the fake clock at each safe(), when a clock is given
        self.clock = None
        self.offset = 0
        self.fail = None

    def excite(self, vectors, batch, out):
        if self.fail:
            raise HalFault(self.fail)
        self.applied.append(bytes(vectors))
        values = [100 * b + j + self.offset for b in range(batch) for j in range(self.n_sensors)]
        out[0:len(out)] = pack_int16s(values)

    def set_static(self, packed, n):
        self.statics.append((n, bytes(packed)))

    def safe(self):
        self.safes += 1
        if self.clock is not None:
            self.safe_at.append(self.clock())


def make_server(script=(), device=ANALOG_DEVICE, in_flight=4, watchdog_ms=2000, board="unix", link=None):
    link = link or ScriptedLink(script)
    hal = RecordingHal(device)
    hal.clock = link.now
    server = FrameServer(link, hal, board, in_flight=in_flight, watchdog_ms=watchdog_ms, now=link.now)
    return server, link, hal


def serve(script, **options):
    """Run a fresh server over the script; return (server, hal, [(type, seq, payload)])."""
    server, link, hal = make_server(script, **options)
    server.serve()
    return server, hal, decode_all(link.written)
