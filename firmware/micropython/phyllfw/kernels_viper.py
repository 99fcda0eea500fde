"""Viper twins of kernels_plain (same contracts; see there). MicroPython only.

Viper takes at most four arguments and loads ptr16 values zero-extended, hence the geom arrays
and the explicit sign fix-ups. Every intermediate fits 31 bits, so 32-bit ports and the 64-bit
unix port compute the same values.
"""
from array import array

import micropython


@micropython.viper
def clamp_i16(buf: ptr16, count: int, lo: int, hi: int) -> int:
    clamped = 0
    for i in range(count):
        v = int(buf[i])
        if v > 32767:
            v -= 65536
        if v < lo:
            buf[i] = lo
            clamped += 1
        elif v > hi:
            buf[i] = hi
            clamped += 1
    return clamped


@micropython.viper
def pack_wire(wire: ptr8, packed: ptr8, geom: ptr16):
    n = int(geom[0])
    src = int(geom[1])
    end = int(geom[2]) + n - 1
    for j in range(n):
        wire[end - j] = packed[src + j]
    wire[geom[2]] = packed[src + n - 1] & geom[3]


@micropython.viper
def synth(tables: ptr16, codes: ptr16, out: ptr16, geom: ptr16):
    n = int(geom[0])
    tones = int(geom[1])
    shift = int(geom[2])
    first = int(geom[3])
    for t in range(n):
        acc = 0
        for k in range(tones):
            c = int(codes[first + k])
            if c > 32767:
                c -= 65536
            s = int(tables[k * n + t])
            if s > 32767:
                s -= 65536
            acc += (c * s) >> 15
        acc >>= shift
        if acc > 32767:
            acc = 32767
        elif acc < -32768:
            acc = -32768
        out[t] = acc


@micropython.viper
def mic32_to_i16(src: ptr8, dst: ptr8, n: int):
    for t in range(n):
        dst[2 * t] = src[4 * t + 2]
        dst[2 * t + 1] = src[4 * t + 3]


@micropython.viper
def goertzel(samples: ptr16, n: int, coeff: int, state: ptr32):
    s1 = 0
    s2 = 0
    for t in range(n):
        x = int(samples[t])
        if x > 32767:
            x -= 65536
        s0 = x + coeff * (s1 >> 14) + ((coeff * (s1 & 0x3FFF)) >> 14) - s2
        s2 = s1
        s1 = s0
    state[0] = s1
    state[1] = s2


def _crc_tables():
    """CRC-32 (zlib) slice-by-4 tables: T0..T3, 256 entries each, in one array."""
    table = array("I", bytes(4 * 1024))
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
        table[i] = c
    for k in range(256, 1024):
        previous = table[k - 256]
        table[k] = (previous >> 8) ^ table[previous & 0xFF]
    return table


_CRC_TABLES = _crc_tables()


@micropython.viper
def _crc32(buf: ptr8, n: int, table: ptr32) -> uint:
    c = uint(0xFFFFFFFF)
    words = ptr32(buf)
    nw = n >> 2
    for w in range(nw):
        c ^= uint(words[w])
        c = (uint(table[768 + int(c & 0xFF)]) ^ uint(table[512 + int((c >> 8) & 0xFF)])
             ^ uint(table[256 + int((c >> 16) & 0xFF)]) ^ uint(table[int(c >> 24)]))
    for i in range(nw << 2, n):
        c = uint(table[int((c ^ uint(buf[i])) & 0xFF)]) ^ (c >> 8)
    return c ^ uint(0xFFFFFFFF)


def crc32(buf):
    """binascii.crc32(buf), about twice as fast on the unix port. buf must start word-aligned
    (armv6m faults on unaligned loads): the frame loop only passes views from offset 0."""
    return _crc32(buf, len(buf), _CRC_TABLES)  # pyright: ignore[reportArgumentType]  (viper takes any buffer as a pointer)
