"""End-to-end check of the emulated device, run by check.sh under CPython.

Starts boards/emu.py under MicroPython's unix port and under CPython, each with its stdin/stdout
on the master side of a raw pty, a socketpair to a toy medium served here (the medium wire
format of phyllfw/hal/emu.py) and a control socket for the REPL hand-over, then talks the
protocol over the slave side as a host would.

    python tests/emu_check.py            # protocol checks, both interpreters
    python tests/emu_check.py --bench    # plus throughput / round-trip numbers
"""
import fcntl
import json
import multiprocessing
import os
import select
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time
import tty
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
EMU = os.path.join(os.path.dirname(HERE), "boards", "emu.py")
HELLO, CONFIGURE, EXCITE, PING, STATUS, REPL = 1, 2, 3, 5, 6, 8
N = 20
MEDIUM = {"medium": "loopback", "n_actuators": N, "n_sensors": N,
          "encoding": {"encoder": "l2", "low": -1.0, "high": 1.0, "bits": 1},
          "actuator_scale": 1 / 32767, "sensor_scale": 1 / 32767}


def encode(msg_type, seq, payload=b""):
    head = bytearray(struct.pack("<BBBBHHB", 0xA5, 0x5A, 1, msg_type, seq, len(payload), 0))
    head.append(zlib.crc32(head) & 0xFF)
    body = bytes(head) + payload
    return body + struct.pack("<I", zlib.crc32(body))


def serve_medium(sock, description):
    """The toy medium: sensor j reads actuator code j (a zero-latency loopback)."""
    text = json.dumps(description).encode()
    sock.sendall(struct.pack("<I", len(text)) + text)
    f = sock.makefile("rwb", buffering=0)
    while True:
        head = f.read(8)
        if len(head) < 8:
            return
        op, _, count, size = struct.unpack("<BBHI", head)
        payload = f.read(size) if size else b""
        if op == 0x45:
            codes = np.frombuffer(payload, "<i2").reshape(count, N)
            out = codes.tobytes()
            f.write(struct.pack("<BBHI", 0, 0, count, len(out)) + out)
        else:
            f.write(struct.pack("<BBHI", 0, 0, 0, 0))


def medium_process(sock, inherited_fds):
    """Drop the pty fds a fork inherits, or closing them in the host would not hang up."""
    for fd in inherited_fds:
        os.close(fd)
    serve_medium(sock, MEDIUM)


class Device:
    def __init__(self, interpreter):
        master, self.slave = os.openpty()
        tty.setraw(self.slave)
        flags = fcntl.fcntl(master, fcntl.F_GETFL)
        fcntl.fcntl(master, fcntl.F_SETFL, flags | os.O_NONBLOCK)
        host_end, device_end = socket.socketpair()
        self.control, device_control = socket.socketpair()
        fds = [device_end.fileno(), device_control.fileno()]
        self.process = subprocess.Popen([interpreter, EMU, *map(str, fds)], stdin=master,
                                        stdout=master, stderr=subprocess.PIPE, pass_fds=fds)
        device_end.close()
        device_control.close()
        # kept to make the link blocking for the REPL (the board asks on the control socket)
        self.master = os.dup(master)
        os.close(master)
        # the medium in its own process, as the emulator runs it: no GIL shared with this host loop
        self.medium = multiprocessing.get_context("fork").Process(
            target=medium_process, args=(host_end, [self.slave, self.master, self.control.fileno()]), daemon=True)
        self.medium.start()
        host_end.close()
        self.buffer = bytearray()

    def hand_over_to_repl(self):
        """The board's request after it answered REPL: "R", make the link blocking; "K" when done."""
        assert self.control.recv(1) == b"R", "the board did not ask for its REPL hand-over"
        os.set_blocking(self.master, True)
        self.control.sendall(b"K")

    def send(self, data):
        os.write(self.slave, data)

    def reply(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            frame = self._take_frame()
            if frame:
                return frame
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.slave], [], [], left)[0]:
                raise TimeoutError("no reply from %s; stderr: %s" % (self.process.args[0], self._stderr()))
            self.buffer += os.read(self.slave, 65536)

    def _take_frame(self):
        if len(self.buffer) < 10:
            return None
        assert self.buffer[:2] == b"\xa5\x5a", bytes(self.buffer[:16])
        length = struct.unpack_from("<H", self.buffer, 6)[0]
        end = 10 + length
        if len(self.buffer) < end + 4:
            return None
        assert struct.unpack_from("<I", self.buffer, end)[0] == zlib.crc32(self.buffer[:end])
        frame = (self.buffer[3], struct.unpack_from("<H", self.buffer, 4)[0], bytes(self.buffer[10:end]))
        del self.buffer[:end + 4]
        return frame

    def read_until(self, expected, timeout=5.0):
        """True once `expected` has arrived (the buffer is searched from its start)."""
        deadline = time.monotonic() + timeout
        while expected not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.slave], [], [], left)[0]:
                return False
            self.buffer += os.read(self.slave, 65536)
        return True

    def call(self, msg_type, seq, payload=b""):
        self.send(encode(msg_type, seq, payload))
        return self.reply()

    def _stderr(self):
        if self.process.poll() is None:
            return "(still running)"
        return self.process.stderr.read().decode(errors="replace")

    def close(self):
        """Hang up (the firmware ends; the unix port at its REPL may not), then make sure of it."""
        os.close(self.master)
        os.close(self.slave)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.control.close()
        self.medium.join(timeout=5)
        if self.medium.is_alive():
            self.medium.terminate()


def excite_payload(codes):
    return struct.pack("<HH", *codes.shape) + codes.astype("<i2").tobytes()


def check_protocol(interpreter, runtime):
    dev = Device(interpreter)
    try:
        t, seq, info = dev.call(HELLO, 0, b"\x01\x01")
        info = json.loads(info)
        assert (t, info["runtime"], info["medium"], info["n_actuators"]) == (0x81, runtime, "loopback", N), info
        assert dev.call(PING, 1, b"\x03\xa5\x5a") == (0x85, 1, b"\x03\xa5\x5a")
        codes = np.random.default_rng(0).integers(-32768, 32768, (256, N))
        codes[0, 0] = -32768  # below code_low = round(-1 / actuator_scale) = -32767
        request = encode(EXCITE, 2, excite_payload(codes))
        t, seq, payload = dev.call(EXCITE, 2, excite_payload(codes))
        measured = np.frombuffer(payload[4:], "<i2").reshape(256, N)
        assert t == 0x83 and np.array_equal(measured, np.maximum(codes, -32767)), "loopback mismatch"
        dev.send(request)
        assert dev.reply()[2] == payload  # re-send answered from the cache
        corrupt = bytearray(encode(PING, 3, b"abc"))
        corrupt[11] ^= 0x40
        dev.send(bytes(corrupt))
        t, seq, payload = dev.reply()
        assert (t, seq, payload[0]) == (0xFF, 3, 1), (t, seq, payload)
        dev.send(encode(PING, 4, b"cut")[:12])
        time.sleep(0.25)  # longer than the device's 100 ms inter-byte timeout
        assert dev.call(PING, 5, b"next") == (0x85, 5, b"next")
        status = json.loads(dev.call(STATUS, 6)[2])
        assert status["duplicates"] == 1 and status["crc_errors"] == 1 and status["clamps"] == 1, status
        assert status["inter_byte_timeouts"] == 1, status
        assert json.loads(dev.call(CONFIGURE, 7, b'{"watchdog_ms": 500}')[2])["watchdog_ms"] == 500
        assert dev.call(REPL, 8) == (0x88, 8, b"")
        dev.hand_over_to_repl()
    finally:
        dev.close()
    print("%s: protocol over pty + medium socket ok" % runtime)


def check_repl(interpreter, runtime):
    """After 0x88 the link stays open: MicroPython's REPL takes it (its raw REPL runs code, as
    mpremote uses it); under CPython it is held open, unanswered, and ends when it hangs up.
    The unix port's REPL does not end reliably on a hang-up: it takes the EIO of each read for a
    character and reads again, so it may leave, crash ("uncaught NLR") or spin. Its end is the
    host's to make: phyll's emulator terminates it on close() and has the kernel kill it with a
    host killed outright (tests/test_emulator.py)."""
    dev = Device(interpreter)
    try:
        dev.send(encode(REPL, 1))
        time.sleep(0.2)  # a host may read the reply when it likes
        assert dev.reply() == (0x88, 1, b"")
        dev.hand_over_to_repl()
        if runtime == "micropython":
            dev.send(b"\r\x01")
            assert dev.read_until(b"raw REPL; CTRL-B to exit\r\n>")
            dev.send(b"print(6 * 7)\x04")
            assert dev.read_until(b"OK42")
        else:
            dev.send(encode(PING, 2, b"x"))
            assert not select.select([dev.slave], [], [], 0.3)[0], "CPython answered after leaving the frame loop"
        assert dev.process.poll() is None, dev._stderr()
        if runtime != "micropython":
            os.close(dev.slave)
            dev.slave = os.open(os.devnull, os.O_RDONLY)  # keep close() simple
            assert dev.process.wait(timeout=5) in (0, -signal.SIGHUP), dev._stderr()
    finally:
        dev.close()
    print("%s: REPL after 0x88%s" % (runtime, "" if runtime == "micropython" else ", ended by the hang-up"))


def check_hangup(interpreter, runtime):
    """Closing the host side must end the firmware (the unix REPL would spin on a dead pty)."""
    dev = Device(interpreter)
    try:
        assert dev.call(PING, 1, b"x") == (0x85, 1, b"x")
        os.close(dev.slave)
        dev.slave = os.open(os.devnull, os.O_RDONLY)  # keep close() simple
        assert dev.process.wait(timeout=5) == 0, dev._stderr()
    finally:
        dev.close()
    print("%s: exits when the host hangs up" % runtime)


def bench(interpreter, runtime, batch=256, vectors=100_000, in_flight=4):
    dev = Device(interpreter)
    try:
        dev.call(HELLO, 0, b"\x01\x01")
        codes = np.random.default_rng(1).integers(-1000, 1000, (batch, N))
        frames = [encode(EXCITE, 1 + i % 60000, excite_payload(codes)) for i in range(vectors // batch)]
        # A pty buffers ~20 KB per direction: with several 10 KB frames in flight the host must
        # keep reading while it writes, or both sides block writing.
        os.set_blocking(dev.slave, False)
        start = time.perf_counter()
        sent = received = 0
        pending = memoryview(b"")
        while received < len(frames):
            if not pending and sent < len(frames) and sent - received < in_flight:
                pending = memoryview(frames[sent])
                sent += 1
            readable, writable, _ = select.select([dev.slave], [dev.slave] if pending else [], [], 5)
            if not readable and not writable:
                raise TimeoutError("bench stalled after %d of %d replies" % (received, len(frames)))
            if writable:
                pending = pending[os.write(dev.slave, pending):]
            if readable:
                dev.buffer += os.read(dev.slave, 65536)
                while dev._take_frame():
                    received += 1
        elapsed = time.perf_counter() - start
        os.set_blocking(dev.slave, True)
        trips = []
        one = excite_payload(codes[:1])
        for i in range(2000):
            t0 = time.perf_counter()
            dev.call(EXCITE, 61000 + i % 4000, one)
            trips.append(time.perf_counter() - t0)
    finally:
        dev.close()
    rate = len(frames) * batch / elapsed
    print("%s: %d->%d batch %d: %.0f vectors/s; batch 1 round trip median %.0f us, p90 %.0f us"
          % (runtime, N, N, batch, rate, 1e6 * statistics.median(trips),
             1e6 * statistics.quantiles(trips, n=10)[-1]))


def main():
    interpreters = [(shutil.which("micropython") or os.path.join(os.path.dirname(sys.executable), "micropython"),
                     "micropython"), (sys.executable, "cpython")]
    for interpreter, runtime in interpreters:
        check_protocol(interpreter, runtime)
        check_repl(interpreter, runtime)
        check_hangup(interpreter, runtime)
    if "--bench" in sys.argv:
        for interpreter, runtime in interpreters:
            bench(interpreter, runtime)


if __name__ == "__main__":
    main()
