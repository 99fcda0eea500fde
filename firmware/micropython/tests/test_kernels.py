"""The unavoidable loops: viper and plain versions agree, and compute what they claim."""
import math
import random
import struct
from array import array

from phyllfw import kernels_plain as plain
from support import int16s, need_micropython, pack_int16s


def _viper():
    need_micropython("viper kernels")
    from phyllfw import kernels_viper
    return kernels_viper


def _random_int16s(n):
    return [random.getrandbits(16) - 32768 for _ in range(n)]


def test_plain_clamp_counts_and_clamps():
    buf = bytearray(pack_int16s([-5, 20000, 100, -32768, 32767]))
    assert plain.clamp_i16(buf, 5, 0, 16384) == 4
    assert int16s(buf) == [0, 16384, 100, 0, 16384]


def test_viper_clamp_matches_plain():
    viper = _viper()
    random.seed(4)
    for lo, hi in ((0, 16384), (-32767, 32767), (-100, 100)):
        data = pack_int16s(_random_int16s(300))
        a, b = bytearray(data), bytearray(data)
        assert viper.clamp_i16(memoryview(a)[0:600], 300, lo, hi) == plain.clamp_i16(b, 300, lo, hi)
        assert a == b


def test_pack_wire_reverses_and_masks():
    wire = bytearray(5)
    packed = bytes([0xFF, 0x11, 0x22, 0xFF])  # vector 1 of 2-byte vectors = 0x22, 0xFF
    plain.pack_wire(wire, packed, array("H", [2, 2, 3, 0x03]))
    assert wire == bytes([0, 0, 0, 0x03, 0x22])


def test_viper_pack_wire_matches_plain():
    viper = _viper()
    random.seed(5)
    packed = bytes(random.getrandbits(8) for _ in range(40))
    for geom in ([4, 0, 1, 0xFF], [4, 36, 0, 0x0F], [1, 7, 2, 0x01]):
        a, b = bytearray(6), bytearray(6)
        viper.pack_wire(a, packed, array("H", geom))
        plain.pack_wire(b, packed, array("H", geom))
        assert a == b, geom


def _tone_tables(bins, n):
    values = [round(32767 * math.sin(2 * math.pi * b * t / n)) for b in bins for t in range(n)]
    return bytearray(pack_int16s(values))


def test_synth_sums_the_scaled_tones():
    n, bins = 64, (3, 5)
    tables = _tone_tables(bins, n)
    codes = pack_int16s([0, 0, 16384, -8192])  # vector 1: tone 3 at +0.5, tone 5 at -0.25
    out = bytearray(2 * n)
    plain.synth(tables, codes, out, array("H", [n, 2, 0, 2]))
    for t, got in enumerate(int16s(out)):
        want = 0.5 * 32767 * math.sin(2 * math.pi * 3 * t / n) - 0.25 * 32767 * math.sin(2 * math.pi * 5 * t / n)
        assert abs(got - want) <= 2, (t, got, want)


def test_viper_synth_matches_plain_and_saturates():
    viper = _viper()
    random.seed(6)
    n, bins = 128, (4, 9, 13)
    tables = _tone_tables(bins, n)
    codes = pack_int16s(_random_int16s(6))
    for shift in (0, 2):
        a, b = bytearray(2 * n), bytearray(2 * n)
        viper.synth(tables, codes, a, array("H", [n, 3, shift, 3]))
        plain.synth(tables, codes, b, array("H", [n, 3, shift, 3]))
        assert a == b, shift


def test_mic32_to_i16_keeps_the_top_half():
    src = struct.pack("<3i", 0x12345600, -0x10000, 0x7FFFFF00)
    dst = bytearray(6)
    plain.mic32_to_i16(src, dst, 3)
    assert int16s(dst) == [0x1234, -1, 0x7FFF]


def test_viper_mic32_to_i16_matches_plain():
    viper = _viper()
    random.seed(8)
    src = bytes(random.getrandbits(8) for _ in range(64))
    a, b = bytearray(32), bytearray(32)
    viper.mic32_to_i16(src, a, 16)
    plain.mic32_to_i16(src, b, 16)
    assert a == b


def _goertzel_amplitude(kernel, samples, n, b):
    coeff = round(2 * math.cos(2 * math.pi * b / n) * 16384)
    state = array("i", [0, 0])
    kernel(samples, n, coeff, state)
    s1, s2 = state[0], state[1]
    power = (s1 * s1 + s2 * s2) * 16384 - coeff * s1 * s2
    return 2 * math.sqrt(power / 16384) / n


def test_goertzel_measures_each_tone_amplitude():
    n = 256
    random.seed(7)
    tones = {8: 20000.0, 20: 3000.0, 45: 150.0}
    phases = {b: random.random() * 6.28 for b in tones}
    values = [round(sum(a * math.sin(2 * math.pi * b * t / n + phases[b]) for b, a in tones.items()))
              for t in range(n)]
    samples = bytearray(pack_int16s(values))
    for b, amplitude in tones.items():
        got = _goertzel_amplitude(plain.goertzel, samples, n, b)
        assert abs(got - amplitude) <= 0.005 * amplitude + 2, (b, got, amplitude)
    assert _goertzel_amplitude(plain.goertzel, samples, n, 30) < 5  # an empty bin stays empty


def test_viper_goertzel_matches_plain_at_full_scale():
    viper = _viper()
    n = 256
    for b in (1, 8, 127):
        samples = bytearray(pack_int16s([32767 if (t * b // (n // 2)) % 2 == 0 else -32768 for t in range(n)]))
        coeff = round(2 * math.cos(2 * math.pi * b / n) * 16384)
        a, c = array("i", [0, 0]), array("i", [0, 0])
        viper.goertzel(samples, n, coeff, a)
        plain.goertzel(samples, n, coeff, c)
        assert list(a) == list(c), b


def test_viper_crc32_matches_binascii():
    viper = _viper()
    import binascii
    random.seed(9)
    data = bytearray(random.getrandbits(8) for _ in range(1031))
    for n in (0, 1, 3, 4, 9, 10, 1024, 1031):
        assert viper.crc32(memoryview(data)[0:n]) == binascii.crc32(data[:n]), n
