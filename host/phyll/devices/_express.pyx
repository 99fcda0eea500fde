# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""The serial Device's express lane: a forward's EXCITEs and their MEASURE replies, in C.

Through the Python link engine a forward runs ~150 lines of interpreter code and a dozen numpy
calls per EXCITE, cold after every wait on the link, and holds the GIL while it decodes one reply
as the device measures the next: on a pty to the emulated firmware, whose medium is a thread of
this process, that is more time than the pty and the firmware together. Here quantising, framing,
the pipelined writes (a window of in_flight frames), the waits, the reads, every check and the
decoding are one call that never takes the GIL.

It takes only the clean case: every reply exactly the awaited MEASURE frame, in order, intact.
Anything else -- a partial frame that stalls, a timeout, a damaged frame, an ERROR reply, a stale
reply, extra bytes, an interrupted wait, a hang-up -- stops the lane where it stands (frames
answered, frames begun, bytes written, bytes read and not yet used) and the Python engine
continues those same requests, same seqs, with its retries and errors. Its reference is that
engine: tests run both paths on the same commands and link faults.
Frame layout: docs/protocol.md; the codes are those of protocol.quantize, bit for bit.
"""
from libc.errno cimport EAGAIN, errno
from libc.math cimport isfinite, nearbyint
from libc.stdint cimport int16_t, uint8_t, uint32_t
from libc.string cimport memmove
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec
from posix.unistd cimport read, write

cdef extern from "<poll.h>" nogil:
    struct pollfd:
        int fd
        short events
        short revents
    int poll(pollfd *fds, unsigned long nfds, int timeout)
    short POLLIN, POLLOUT

cdef enum:  # docs/protocol.md, section 1 (protocol.py holds the same numbers)
    HEADER_SIZE = 10
    CRC_SIZE = 4
    BATCH_HEADER = 4
    FRAME_OVERHEAD = HEADER_SIZE + BATCH_HEADER + CRC_SIZE
    EXCITE = 0x03
    REPLY_BIT = 0x80
    SEQ_MASK = 0xFFFF

cdef enum:
    _OK = 0  # every reply was read, checked and decoded into out
    _NOT_FINITE = 1  # a command is NaN or inf: nothing was sent
    _HANDOVER = 2  # requests are (partly) on the wire; the Python engine takes it from here

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


cdef inline double _now() noexcept nogil:
    """time.monotonic(): the same clock, in seconds."""
    cdef timespec t
    clock_gettime(CLOCK_MONOTONIC, &t)
    return t.tv_sec + t.tv_nsec * 1e-9


cdef inline void _put_u16(uint8_t *at, unsigned int v) noexcept nogil:
    at[0] = v & 0xFF
    at[1] = (v >> 8) & 0xFF


cdef inline unsigned int _u16(const uint8_t *at) noexcept nogil:
    return at[0] | (<unsigned int>at[1] << 8)


def wire_size(Py_ssize_t batch, Py_ssize_t width):
    """Bytes of an EXCITE frame of batch x width int16 codes (also: its MEASURE reply)."""
    return FRAME_OVERHEAD + 2 * batch * width


cdef inline Py_ssize_t _split(Py_ssize_t batch, Py_ssize_t n_frames, Py_ssize_t frame) noexcept nogil:
    """The first row of frame `frame`: the serial Device's even split (_even_split there)."""
    return batch * frame // n_frames


cdef inline Py_ssize_t _frame_offset(Py_ssize_t batch, Py_ssize_t n_frames, Py_ssize_t frame,
                                     Py_ssize_t width) noexcept nogil:
    return frame * FRAME_OVERHEAD + 2 * width * _split(batch, n_frames, frame)


def frame_offset(Py_ssize_t batch, Py_ssize_t n_frames, Py_ssize_t frame, Py_ssize_t width):
    """Where frame `frame` of a forward of batch x width codes split in n_frames starts in the
    lane's wire buffer (also: the bytes of the frames before it; frame n_frames: all of them)."""
    return _frame_offset(batch, n_frames, frame, width)


def crc32(const uint8_t[::1] data):
    """The lane's CRC-32, exposed for its tests (zlib.crc32 is the reference)."""
    return _crc32(&data[0], data.shape[0]) if data.shape[0] else 0


def excite(int fd, const float[:, ::1] actuation, double actuator_scale, Py_ssize_t n_frames,
           unsigned int seq, int in_flight, uint8_t[::1] wire, uint8_t[::1] rx, float[:, ::1] out,
           double sensor_scale, int version, double timeout, double inter_byte, double[::1] times):
    """The EXCITEs of `actuation` (batch x width) on the non-blocking descriptor fd.

    n_frames: frame f carries rows batch*f//n_frames up to batch*(f+1)//n_frames (the serial
    Device's even split) under seq + f (mod 2**16), at most in_flight unanswered at a time;
    wire: room for all frames back to back (frame_offset); rx: room for any frame the device may
    send; out: batch x n_sensors, the readings (code x sensor_scale) of every answered frame;
    timeout: seconds each reply may take after its request or the previous reply, inter_byte:
    seconds a frame under way may pause; times: 2 x n_frames, filled with time.monotonic() at
    each frame's first byte sent, then at each reply.
    Returns (status, frames begun, bytes written, frames answered, rx start, rx end, peak in
    flight, [latency of each answered frame]): rx[start:end] holds what was read but not used
    by an answered frame.
    """
    cdef Py_ssize_t batch = actuation.shape[0], width = actuation.shape[1], n_sensors = out.shape[1]
    cdef Py_ssize_t biggest, f
    cdef _Lane lane
    cdef int status
    if n_frames < 1 or n_frames > batch or out.shape[0] != batch or times.shape[0] < 2 * n_frames \
            or in_flight < 1 or width > 0xFFFF or n_sensors > 0xFFFF:
        raise ValueError(f"express forward of {batch} x {width} -> {out.shape[0]} x {n_sensors} in "
                         f"{n_frames} frames, {in_flight} in flight, does not fit its arguments")
    biggest = -(-batch // n_frames)
    if wire.shape[0] < _frame_offset(batch, n_frames, n_frames, width) \
            or rx.shape[0] < FRAME_OVERHEAD + 2 * biggest * n_sensors \
            or biggest > 0xFFFF or 2 * biggest * max(width, n_sensors) + BATCH_HEADER > 0xFFFF:
        raise ValueError(f"express forward of {batch} x {width} -> {n_sensors} in {n_frames} frames "
                         f"does not fit its buffers (wire {wire.shape[0]}, rx {rx.shape[0]}) or a u16 field")
    lane.fd = fd
    lane.batch = batch
    lane.n_frames = n_frames
    lane.width = width
    lane.n_sensors = n_sensors
    lane.seq = seq
    lane.in_flight = in_flight
    lane.w = &wire[0]
    lane.r = &rx[0]
    lane.rx_size = rx.shape[0]
    lane.sensor_scale = sensor_scale
    lane.version = version
    lane.timeout = timeout
    lane.inter_byte = inter_byte
    lane.times = &times[0]
    lane.begun = lane.written = lane.answered = lane.start = lane.end = lane.peak = 0
    with nogil:
        status = _quantise(&lane, actuation, actuator_scale)
        if status == _OK:
            status = _run(&lane, out)
    latencies = [times[n_frames + f] - times[f] for f in range(lane.answered)]
    return status, lane.begun, lane.written, lane.answered, lane.start, lane.end, lane.peak, latencies


cdef struct _Lane:
    int fd
    Py_ssize_t batch, n_frames, width, n_sensors
    unsigned int seq
    int in_flight, version
    uint8_t *w
    uint8_t *r
    Py_ssize_t rx_size
    double sensor_scale, timeout, inter_byte
    double *times
    Py_ssize_t begun, written, answered, start, end, peak


cdef inline Py_ssize_t _first_row(_Lane *lane, Py_ssize_t frame) noexcept nogil:
    return _split(lane.batch, lane.n_frames, frame)


cdef inline Py_ssize_t _offset(_Lane *lane, Py_ssize_t frame) noexcept nogil:
    return _frame_offset(lane.batch, lane.n_frames, frame, lane.width)


cdef inline Py_ssize_t _reply_size(_Lane *lane, Py_ssize_t frame) noexcept nogil:
    return _frame_offset(lane.batch, lane.n_frames, frame + 1, lane.n_sensors) \
        - _frame_offset(lane.batch, lane.n_frames, frame, lane.n_sensors)


cdef int _quantise(_Lane *lane, const float[:, ::1] actuation, double actuator_scale) noexcept nogil:
    """Every frame, before anything is sent: a NaN or inf sends nothing (protocol.quantize's rule)."""
    cdef Py_ssize_t f, i, j, k, size, rows
    cdef uint8_t *w
    cdef double v
    cdef int code
    cdef uint32_t crc
    for f in range(lane.n_frames):
        w = lane.w + _offset(lane, f)
        rows = _first_row(lane, f + 1) - _first_row(lane, f)
        size = _offset(lane, f + 1) - _offset(lane, f)
        k = HEADER_SIZE + BATCH_HEADER
        for i in range(_first_row(lane, f), _first_row(lane, f + 1)):
            for j in range(lane.width):
                v = actuation[i, j]
                if not isfinite(v):
                    return _NOT_FINITE
                v = nearbyint(v / actuator_scale)  # round half to even, as numpy's rint
                code = -32768 if v < -32768.0 else 32767 if v > 32767.0 else <int>v
                _put_u16(w + k, <unsigned int>code & 0xFFFF)
                k += 2
        w[0] = 0xA5
        w[1] = 0x5A
        w[2] = lane.version
        w[3] = EXCITE
        _put_u16(w + 4, (lane.seq + f) & SEQ_MASK)
        _put_u16(w + 6, <unsigned int>(size - HEADER_SIZE - CRC_SIZE))
        w[8] = 0
        w[9] = _crc32(w, 9) & 0xFF
        _put_u16(w + HEADER_SIZE, <unsigned int>rows)
        _put_u16(w + HEADER_SIZE + 2, <unsigned int>lane.width)
        crc = _crc32(w, size - CRC_SIZE)
        for k in range(CRC_SIZE):
            w[size - CRC_SIZE + k] = (crc >> (8 * k)) & 0xFF
    return _OK


cdef int _run(_Lane *lane, float[:, ::1] out) noexcept nogil:
    cdef Py_ssize_t limit, got, size
    cdef double now, last_reply = _now(), deadline, wait
    cdef pollfd waiter
    waiter.fd = lane.fd
    while lane.answered < lane.n_frames:
        # Write what the window allows: frames answered .. answered + in_flight - 1.
        limit = _offset(lane, min(lane.answered + lane.in_flight, lane.n_frames))
        if lane.written < limit:
            got = write(lane.fd, lane.w + lane.written, limit - lane.written)
            if got < 0 and errno != EAGAIN:
                return _HANDOVER  # the engine's own write names the failure
            if got > 0:
                now = _now()
                lane.written += got
                while lane.begun < lane.n_frames and _offset(lane, lane.begun) < lane.written:
                    lane.times[lane.begun] = now
                    lane.begun += 1
                if lane.begun - lane.answered > lane.peak:
                    lane.peak = lane.begun - lane.answered
        # Wait for the awaited reply (or room to write), as long as the engine would: its timeout
        # runs from the later of its request's first byte and the previous reply.
        now = _now()
        deadline = last_reply
        if lane.begun > lane.answered and lane.times[lane.answered] > deadline:
            deadline = lane.times[lane.answered]
        deadline += lane.timeout
        if lane.end > lane.start and now + lane.inter_byte < deadline:
            deadline = now + lane.inter_byte  # a frame under way must keep coming
        wait = deadline - now
        waiter.events = POLLIN | POLLOUT if lane.written < limit else POLLIN
        if poll(&waiter, 1, <int>(1e3 * wait) + 1 if wait > 0 else 0) <= 0:
            return _HANDOVER  # timeout, stall or a signal to handle
        if not waiter.revents & ~POLLOUT:
            continue  # only room to write
        if lane.start:
            memmove(lane.r, lane.r + lane.start, lane.end - lane.start)
            lane.end -= lane.start
            lane.start = 0
        got = read(lane.fd, lane.r + lane.end, lane.rx_size - lane.end)
        if got <= 0:
            if got < 0 and errno == EAGAIN:
                continue
            return _HANDOVER  # hang-up or error: the engine's own read names it
        lane.end += got
        while lane.answered < lane.n_frames and lane.end - lane.start >= HEADER_SIZE:
            size = _reply_size(lane, lane.answered)
            if not _is_awaited_header(lane, lane.r + lane.start, size):
                return _HANDOVER
            if lane.end - lane.start < size:
                break
            if not _decode(lane, lane.r + lane.start, size, out):
                return _HANDOVER
            last_reply = _now()
            lane.times[lane.n_frames + lane.answered] = last_reply
            lane.start += size
            lane.answered += 1
        if lane.start == lane.end:
            lane.start = lane.end = 0
    if lane.start != lane.end:
        # More came behind the last reply: the engine sorts it out, that reply included.
        lane.answered -= 1
        lane.start -= _reply_size(lane, lane.answered)
        return _HANDOVER
    return _OK


cdef inline bint _is_awaited_header(_Lane *lane, const uint8_t *r, Py_ssize_t size) noexcept nogil:
    return r[0] == 0xA5 and r[1] == 0x5A and r[2] == lane.version and r[3] == (EXCITE | REPLY_BIT) \
        and _u16(r + 4) == ((lane.seq + lane.answered) & SEQ_MASK) and r[8] == 0 \
        and r[9] == (_crc32(r, 9) & 0xFF) and HEADER_SIZE + _u16(r + 6) + CRC_SIZE == size


cdef bint _decode(_Lane *lane, const uint8_t *r, Py_ssize_t size, float[:, ::1] out) noexcept nogil:
    cdef Py_ssize_t first = _first_row(lane, lane.answered)
    cdef Py_ssize_t rows = _first_row(lane, lane.answered + 1) - first
    cdef Py_ssize_t i, j, k = HEADER_SIZE + BATCH_HEADER
    cdef uint32_t crc = r[size - 4] | (<uint32_t>r[size - 3] << 8) | (<uint32_t>r[size - 2] << 16) \
        | (<uint32_t>r[size - 1] << 24)
    if crc != _crc32(r, size - CRC_SIZE) or _u16(r + HEADER_SIZE) != rows \
            or _u16(r + HEADER_SIZE + 2) != lane.n_sensors:
        return False
    for i in range(first, first + rows):
        for j in range(lane.n_sensors):
            out[i, j] = <float>(<int16_t>_u16(r + k) * lane.sensor_scale)
            k += 2
    return True
