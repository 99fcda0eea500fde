"""Plain-Python kernels: the reference for kernels_viper and the path CPython takes.

Every function matches its viper twin bit for bit (tests/test_kernels.py runs both on the same
input). int16 values are little-endian in bytes-like buffers, as on the wire.
"""
import sys
from binascii import crc32  # noqa: F401  (the C one is the reference and CPython's fast path)

# CPython (the emulator's fallback) can range-check a whole batch in C first; MicroPython's
# memoryview has no cast() and takes the viper kernel anyway.
_CAST_INT16 = hasattr(memoryview, "cast") and sys.byteorder == "little"


def clamp_i16(buf, count, lo, hi):
    """Clamp `count` int16 codes in place into [lo, hi]; return how many were changed."""
    if _CAST_INT16 and count:
        codes = memoryview(buf).cast("B")[0:2 * count].cast("h")  # pyright: ignore[reportAttributeAccessIssue]
        if lo <= min(codes) and max(codes) <= hi:
            return 0
    clamped = 0
    for i in range(0, 2 * count, 2):
        v = buf[i] | buf[i + 1] << 8
        if v > 32767:
            v -= 65536
        if v < lo or v > hi:
            v = lo if v < lo else hi
            buf[i] = v & 0xFF
            buf[i + 1] = (v >> 8) & 0xFF
            clamped += 1
    return clamped


def pack_wire(wire, packed, geom):
    """Copy one vector's packed element bytes into a shift-register image, last register first.

    geom (array 'H'): [n_bytes, offset in packed, offset in wire, mask for the last byte].
    packed[src + j] lands at wire[dst + n_bytes - 1 - j]; the mask clears padding bits.
    """
    n = geom[0]
    src = geom[1]
    end = geom[2] + n - 1
    for j in range(n):
        wire[end - j] = packed[src + j]
    wire[geom[2]] = packed[src + n - 1] & geom[3]


def synth(tables, codes, out, geom):
    """One excitation block: out[t] = sat((sum_k codes[k] * tables[k][t] >> 15) >> shift).

    tables: n_tones x n_samples int16 (tone after tone); codes: int16 amplitudes starting at
    int16 index geom[3]; geom (array 'H'): [n_samples, n_tones, shift, code offset].
    """
    n = geom[0]
    tones = geom[1]
    shift = geom[2]
    first = 2 * geom[3]
    for t in range(n):
        acc = 0
        for k in range(tones):
            c = codes[first + 2 * k] | codes[first + 2 * k + 1] << 8
            if c > 32767:
                c -= 65536
            i = 2 * (k * n + t)
            s = tables[i] | tables[i + 1] << 8
            if s > 32767:
                s -= 65536
            acc += (c * s) >> 15
        acc >>= shift
        if acc > 32767:
            acc = 32767
        elif acc < -32768:
            acc = -32768
        out[2 * t] = acc & 0xFF
        out[2 * t + 1] = (acc >> 8) & 0xFF


def mic32_to_i16(src, dst, n):
    """32-bit I2S microphone slots -> their top 16 bits (the mic's 24-bit sample, truncated)."""
    for t in range(n):
        dst[2 * t] = src[4 * t + 2]
        dst[2 * t + 1] = src[4 * t + 3]


def goertzel(samples, n, coeff, state):
    """Goertzel recursion over n int16 samples with coeff = round(2 cos(w) * 2**14).

    Leaves s[n-1], s[n-2] in state[0], state[1]. The product coeff * s1 is split so that every
    intermediate stays within 31 bits: identical results on 32-bit viper ints.
    """
    s1 = 0
    s2 = 0
    for t in range(n):
        x = samples[2 * t] | samples[2 * t + 1] << 8
        if x > 32767:
            x -= 65536
        s0 = x + coeff * (s1 >> 14) + ((coeff * (s1 & 0x3FFF)) >> 14) - s2
        s2 = s1
        s1 = s0
    state[0] = s1
    state[1] = s2
