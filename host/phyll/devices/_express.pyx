# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""The serial Device's express lane: one small EXCITE and its MEASURE reply, in C.

A batch-1 forward through the Python link engine runs ~150 lines of interpreter code and a dozen
numpy calls, cold after every wait on the link: on a pty to the emulated firmware that is more
time than the pty and the firmware together. Here quantising, framing, the write, the wait
(GIL released), the read, every check and the decoding are one call.

It takes only the clean case: a reply that is exactly the awaited MEASURE frame, intact. Anything
else -- a partial write, a timeout, a stalled or damaged frame, an ERROR reply, a stale reply,
extra bytes, an interrupted wait, a hang-up -- is handed back as it stands (bytes written, bytes
read) and the Python engine continues that same request, same seq, with its retries and errors.
Its reference is that engine: tests run both paths on the same commands and link faults.
Frame layout: docs/protocol.md; the codes are those of protocol.quantize, bit for bit.
"""
from libc.errno cimport EAGAIN, errno
from libc.math cimport isfinite, nearbyint
from libc.stdint cimport int16_t, uint8_t, uint32_t
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec
from posix.unistd cimport read, write

cdef extern from "<poll.h>" nogil:
    struct pollfd:
        int fd
        short events
        short revents
    int poll(pollfd *fds, unsigned long nfds, int timeout)
    short POLLIN

cdef enum:  # docs/protocol.md, section 1 (protocol.py holds the same numbers)
    HEADER_SIZE = 10
    CRC_SIZE = 4
    BATCH_HEADER = 4
    EXCITE = 0x03
    REPLY_BIT = 0x80

cdef enum:
    _OK = 0  # the reply was read, checked and decoded into out
    _NOT_FINITE = 1  # a command is NaN or inf: nothing was sent
    _HANDOVER = 2  # the request is (partly) on the wire; the Python engine takes it from here

OK, NOT_FINITE, HANDOVER = _OK, _NOT_FINITE, _HANDOVER

cdef uint32_t _crc_table[256]


cdef void _make_crc_table() noexcept:
    cdef uint32_t c, n, k
    for n in range(256):
        c = n
        for k in range(8):
            c = (c >> 1) ^ 0xEDB88320u if c & 1 else c >> 1
        _crc_table[n] = c


_make_crc_table()


cdef inline uint32_t _crc32(const uint8_t *data, Py_ssize_t n) noexcept nogil:
    """zlib's CRC-32 (the protocol's): byte-wise table, plenty for frames of a few KB."""
    cdef uint32_t c = 0xFFFFFFFFu
    cdef Py_ssize_t i
    for i in range(n):
        c = _crc_table[(c ^ data[i]) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFFu


cdef inline double _now_ms() noexcept nogil:
    cdef timespec t
    clock_gettime(CLOCK_MONOTONIC, &t)
    return t.tv_sec * 1e3 + t.tv_nsec * 1e-6


cdef inline void _put_u16(uint8_t *at, unsigned int v) noexcept nogil:
    at[0] = v & 0xFF
    at[1] = (v >> 8) & 0xFF


cdef inline unsigned int _u16(const uint8_t *at) noexcept nogil:
    return at[0] | (<unsigned int>at[1] << 8)


def wire_size(Py_ssize_t batch, Py_ssize_t width):
    """Bytes of an EXCITE frame of batch x width int16 codes (also: its MEASURE reply)."""
    return HEADER_SIZE + BATCH_HEADER + 2 * batch * width + CRC_SIZE


def crc32(const uint8_t[::1] data):
    """The lane's CRC-32, exposed for its tests (zlib.crc32 is the reference)."""
    return _crc32(&data[0], data.shape[0]) if data.shape[0] else 0


def excite(int fd, const float[:, ::1] actuation, double actuator_scale, unsigned int seq,
           uint8_t[::1] wire, uint8_t[::1] rx, float[:, ::1] out, double sensor_scale,
           int version, int timeout_ms, int inter_byte_ms):
    """One EXCITE of `actuation` (batch x width) on the non-blocking descriptor fd.

    wire: room for the request frame (wire_size); rx: room for any frame the device may send;
    out: batch x n_sensors, the readings (code x sensor_scale) when the status is OK.
    Returns (status, request size, bytes written, bytes read into rx).
    """
    cdef Py_ssize_t batch = actuation.shape[0], width = actuation.shape[1], n_sensors = out.shape[1]
    cdef Py_ssize_t size = HEADER_SIZE + BATCH_HEADER + 2 * batch * width + CRC_SIZE
    cdef Py_ssize_t expected = HEADER_SIZE + BATCH_HEADER + 2 * batch * n_sensors + CRC_SIZE
    cdef Py_ssize_t written = 0, received = 0
    cdef int status
    if out.shape[0] != batch or wire.shape[0] < size or rx.shape[0] < expected or batch < 1 \
            or batch > 0xFFFF or width > 0xFFFF or n_sensors > 0xFFFF or size - HEADER_SIZE - CRC_SIZE > 0xFFFF:
        raise ValueError(f"express EXCITE of {batch} x {width} -> {out.shape[0]} x {n_sensors} does not fit "
                         f"its buffers (wire {wire.shape[0]}, rx {rx.shape[0]}) or the u16 fields")
    with nogil:
        status = _excite(fd, actuation, actuator_scale, seq, &wire[0], size, &rx[0], rx.shape[0], expected,
                         out, sensor_scale, version, timeout_ms, inter_byte_ms, &written, &received)
    return status, size, written, received


cdef int _excite(int fd, const float[:, ::1] actuation, double actuator_scale, unsigned int seq,
                 uint8_t *w, Py_ssize_t size, uint8_t *r, Py_ssize_t rx_size, Py_ssize_t expected,
                 float[:, ::1] out, double sensor_scale, int version, int timeout_ms, int inter_byte_ms,
                 Py_ssize_t *written, Py_ssize_t *received) noexcept nogil:
    cdef Py_ssize_t batch = actuation.shape[0], width = actuation.shape[1], n_sensors = out.shape[1]
    cdef Py_ssize_t i, j, k, got, need = HEADER_SIZE
    cdef double v, deadline
    cdef int code, wait_ms
    cdef uint32_t crc
    cdef pollfd waiter
    # Quantise first: a NaN or inf sends nothing (protocol.quantize's rule and codes).
    k = HEADER_SIZE + BATCH_HEADER
    for i in range(batch):
        for j in range(width):
            v = actuation[i, j]
            if not isfinite(v):
                return _NOT_FINITE
            v = nearbyint(v / actuator_scale)  # round half to even, as numpy's rint
            code = -32768 if v < -32768.0 else 32767 if v > 32767.0 else <int>v
            _put_u16(w + k, <unsigned int>code & 0xFFFF)
            k += 2
    w[0] = 0xA5
    w[1] = 0x5A
    w[2] = version
    w[3] = EXCITE
    _put_u16(w + 4, seq)
    _put_u16(w + 6, <unsigned int>(size - HEADER_SIZE - CRC_SIZE))
    w[8] = 0
    w[9] = _crc32(w, 9) & 0xFF
    _put_u16(w + HEADER_SIZE, <unsigned int>batch)
    _put_u16(w + HEADER_SIZE + 2, <unsigned int>width)
    crc = _crc32(w, size - CRC_SIZE)
    for k in range(CRC_SIZE):
        w[size - CRC_SIZE + k] = (crc >> (8 * k)) & 0xFF

    got = write(fd, w, size)
    if got > 0:
        written[0] = got
    if got != size:
        return _HANDOVER

    # Read until the awaited frame is complete; anything unexpected goes to the engine.
    waiter.fd = fd
    waiter.events = POLLIN
    deadline = _now_ms() + timeout_ms
    while received[0] < need:
        if received[0]:
            wait_ms = inter_byte_ms  # a frame under way must keep coming
        else:
            wait_ms = <int>(deadline - _now_ms())
            if wait_ms < 0:
                wait_ms = 0
        if poll(&waiter, 1, wait_ms) <= 0:
            return _HANDOVER  # timeout, stall or a signal to handle
        got = read(fd, r + received[0], rx_size - received[0])
        if got <= 0:
            if got < 0 and errno == EAGAIN:
                continue
            return _HANDOVER  # hang-up or error: the engine's own read names it
        received[0] += got
        if need == HEADER_SIZE and received[0] >= HEADER_SIZE:
            if r[0] != 0xA5 or r[1] != 0x5A or r[2] != version or r[3] != (EXCITE | REPLY_BIT) \
                    or _u16(r + 4) != seq or r[8] != 0 or r[9] != (_crc32(r, 9) & 0xFF) \
                    or HEADER_SIZE + _u16(r + 6) + CRC_SIZE != expected:
                return _HANDOVER
            need = expected
    if received[0] != expected:
        return _HANDOVER  # more came behind it: the engine sorts it out
    crc = r[expected - 4] | (<uint32_t>r[expected - 3] << 8) | (<uint32_t>r[expected - 2] << 16) \
        | (<uint32_t>r[expected - 1] << 24)
    if crc != _crc32(r, expected - CRC_SIZE) or _u16(r + HEADER_SIZE) != batch \
            or _u16(r + HEADER_SIZE + 2) != n_sensors:
        return _HANDOVER
    k = HEADER_SIZE + BATCH_HEADER
    for i in range(batch):
        for j in range(n_sensors):
            out[i, j] = <float>(<int16_t>_u16(r + k) * sensor_scale)
            k += 2
    return _OK
