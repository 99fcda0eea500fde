"""HALs against the recording `machine` shim: bus traffic, bit order, latch, Goertzel, emu wire."""
import json
import math
import struct

import machine
from phyllfw.hal import HalFault
from phyllfw.hal.acoustic_i2s import AcousticHal
from phyllfw.hal.emu import EmuHal
from phyllfw.hal.loopback import LoopbackHal
from phyllfw.hal.metasurface_spi import MetasurfaceHal
from support import int16s, pack_int16s


def _chain_outputs(spi_bytes, n_registers):
    """Simulate 74HC595s daisy-chained MSB-first: returns outputs[register][q]."""
    # chain[8 r + q] is output Qq of register r: QA (Q0) of register 0 is the stage after SER,
    # QH (Q7) feeds the next register's SER through Q7'
    chain = [0] * (8 * n_registers)
    for byte in spi_bytes:
        for bit in range(7, -1, -1):  # MSB first
            chain = [(byte >> bit) & 1] + chain[:-1]  # one SRCLK edge
    return [[chain[8 * r + q] for q in range(8)] for r in range(n_registers)]


def _metasurface(n_elements=10, n_static=12, n_freq=3):
    machine.log.clear()
    spi = machine.SPI(2)
    latch = machine.Pin(5, machine.Pin.OUT)
    adc = machine.ADC(machine.Pin(34))
    readings = iter(range(1000, 60000, 1000))
    adc.source = lambda: next(readings)
    tuned = []
    hal = MetasurfaceHal(spi, latch, adc, tuned.append, n_elements, n_freq, n_static=n_static,
                         settle_us=0, tune_settle_us=0, adc_samples=2)
    return hal, tuned


def _last_shift(log):
    """The bytes of the last SPI write, checking the latch was low during it and pulsed after."""
    at = max(i for i, e in enumerate(log) if e[0] == "spi")
    assert log[at + 1:at + 3] == [("pin", 5, 1), ("pin", 5, 0)], log[at:at + 3]
    before = [e for e in log[:at] if e[0] == "pin" and e[1] == 5]
    assert before[-1][2] == 0
    return log[at][2]


def test_metasurface_elements_land_on_their_outputs():
    hal, tuned = _metasurface()
    states = [1, 0, 1, 1, 0, 0, 0, 0, 1, 1]
    packed = bytes([0b00001101, 0b11111111])  # padding bits set: must not reach the outputs
    out = bytearray(6)
    hal.excite(packed, 1, out)
    spi = [e for e in machine.log if e[0] == "spi"]
    outputs = _chain_outputs(spi[-1][2], 4)
    driven = [outputs[i // 8][i % 8] for i in range(10)]
    assert driven == states
    assert outputs[1][2:] == [0] * 6  # padding masked
    assert outputs[2] == [0] * 8 and outputs[3] == [0] * 8  # static registers untouched (zero)


def test_metasurface_static_pattern_survives_excite_and_safe():
    hal, _ = _metasurface()
    static = [1, 1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1]
    hal.set_static(bytes([0x53, 0x08]), 12)
    hal.excite(bytes([0xFF, 0x03]), 1, bytearray(6))
    hal.safe()
    outputs = _chain_outputs(_last_shift(machine.log), 4)
    assert [outputs[2 + j // 8][j % 8] for j in range(12)] == static
    assert outputs[0] == [0] * 8 and outputs[1] == [0] * 8


def test_metasurface_reads_each_frequency_after_tuning():
    hal, tuned = _metasurface(n_freq=3)
    out = bytearray(12)
    hal.excite(bytes([1, 0, 2, 0]), 2, out)
    assert tuned == [0, 1, 2, 0, 1, 2]
    # pairs of reads averaged, then >> 1: (1000+2000)/2 >> 1 = 750, ...
    assert int16s(out) == [750, 1750, 2750, 3750, 4750, 5750]
    kinds = [e[0] for e in machine.log]
    first_read = kinds.index("adc")
    assert "spi" in kinds[:first_read]  # the vector was shifted out before sampling


def _acoustic(bins=(8, 12, 20), discard=1):
    machine.log.clear()
    speaker = machine.I2S(0, mode=machine.I2S.TX, bits=16)
    microphone = machine.I2S(1, mode=machine.I2S.RX, bits=32)
    hal = AcousticHal(speaker, microphone, 16000, 256, bins, bins, gain_shift=1, discard_blocks=discard)

    def loopback(buf):
        """The room: the microphone hears the last block played, at half amplitude."""
        played = [e[2] for e in machine.log if e[0] == "i2s"][-1]
        for t, v in enumerate(int16s(played)):
            struct.pack_into("<i", buf, 4 * t, (v // 2) << 16)
    microphone.source = loopback
    return hal


def test_acoustic_measures_the_tones_it_plays():
    hal = _acoustic()
    codes = [16000, -8000, 2000]
    out = bytearray(6)
    hal.excite(pack_int16s(codes), 1, out)
    played = [e for e in machine.log if e[0] == "i2s"]
    assert len(played) == 3  # discard_blocks + 2
    # gain_shift 1 halves, the room halves again: each tone comes back at |code| / 4
    for got, code in zip(int16s(out), codes):
        assert abs(got - abs(code) / 4) <= 0.01 * abs(code) / 4 + 2, (got, code)


def test_acoustic_batch_and_safe_silence():
    hal = _acoustic()
    out = bytearray(12)
    hal.excite(pack_int16s([0, 0, 0, 32767, 0, 0]), 2, out)
    values = int16s(out)
    assert values[0:3] == [0, 0, 0] and values[3] > 3000 and values[4] < 3 and values[5] < 3
    hal.safe()
    assert max(int16s(machine.log[-1][2])) == 0


def test_acoustic_rejects_bins_that_could_overflow():
    for bins in ((0,), (128,), ()):
        try:
            AcousticHal(machine.I2S(0), machine.I2S(1, mode=machine.I2S.RX), 16000, 256, bins, (8,))
        except ValueError:
            continue
        raise AssertionError("bins %r accepted" % (bins,))
    try:
        AcousticHal(machine.I2S(0), machine.I2S(1, mode=machine.I2S.RX), 16000, 1024, (8,), (1,))
    except ValueError as exc:
        assert "overflow" in str(exc)
    else:
        raise AssertionError("a 1024-sample block at bin 1 was accepted")


class _Channel:
    """The host's medium server, scripted: replies are queued bytes, requests are recorded."""

    def __init__(self, description, replies=b""):
        text = json.dumps(description).encode()
        self.incoming = bytearray(struct.pack("<I", len(text)) + text + replies)
        self.sent = bytearray()

    def readinto(self, view):
        n = min(len(view), len(self.incoming))
        view[0:n] = self.incoming[0:n]
        self.incoming = self.incoming[n:]
        return n

    def write(self, data):
        self.sent += bytes(data)
        return len(data)


_MEDIUM = {"medium": "acoustic", "n_actuators": 3, "n_sensors": 2,
           "encoding": {"encoder": "l2", "low": -1.0, "high": 1.0, "bits": 1},
           "actuator_scale": 1 / 32767, "sensor_scale": 1 / 4096, "n_static": 0}


def test_emu_hal_speaks_the_medium_wire_format():
    reply = struct.pack("<BBHI", 0, 0, 2, 8) + pack_int16s([1, -2, 3, -4])
    channel = _Channel(_MEDIUM, reply + struct.pack("<BBHI", 0, 0, 0, 0))
    hal = EmuHal(channel)
    assert (hal.medium, hal.n_actuators, hal.n_sensors, hal.settle_us) == ("acoustic", 3, 2, 0)
    out = bytearray(8)
    vectors = pack_int16s([10, 20, 30, 40, 50, 60])
    hal.excite(vectors, 2, out)
    assert int16s(out) == [1, -2, 3, -4]
    hal.safe()
    assert bytes(channel.sent) == struct.pack("<BBHI", 0x45, 0, 2, 12) + vectors + struct.pack("<BBHI", 0x5A, 0, 0, 0)


def test_emu_hal_faults_name_the_problem():
    fault = b"medium raised ValueError"
    channel = _Channel(_MEDIUM, struct.pack("<BBHI", 1, 0, 1, len(fault)) + fault
                       + struct.pack("<BBHI", 0, 0, 1, 2) + b"\x00\x00")
    hal = EmuHal(channel)
    for expected in ("medium raised ValueError", "answered 1 vectors / 2 bytes"):
        try:
            hal.excite(pack_int16s([1, 2, 3]), 1, bytearray(4))
        except HalFault as exc:
            assert expected in str(exc), str(exc)
        else:
            raise AssertionError("no HalFault for " + expected)


def test_emu_hal_rejects_an_incomplete_description():
    try:
        EmuHal(_Channel({"medium": "x"}))
    except ValueError as exc:
        assert "n_actuators" in str(exc), str(exc)
    else:
        raise AssertionError("incomplete description accepted")


def test_loopback_reads_back_the_codes():
    hal = LoopbackHal(3, 1 / 32767, max_batch=7)
    assert (hal.medium, hal.n_actuators, hal.n_sensors, hal.max_batch) == ("loopback", 3, 3, 7)
    assert hal.sensor_scale == hal.actuator_scale
    codes = [1, -2, 32767, -32768, 0, 5]
    out = bytearray(12)
    hal.excite(pack_int16s(codes), 2, out)
    assert int16s(out) == codes


def test_loopback_rejects_what_it_cannot_read_back():
    bits = {"encoder": "bits", "low": 0.0, "high": 1.0, "bits": 1}
    for args in ((0, 1.0, None), (3, 0.0, None), (3, 1.0, bits)):
        try:
            LoopbackHal(*args)
        except ValueError:
            pass
        else:
            raise AssertionError("accepted %r" % (args,))
