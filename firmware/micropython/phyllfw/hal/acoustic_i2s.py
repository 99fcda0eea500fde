"""Acoustic medium: tone amplitudes out through an I2S DAC/amplifier, tone amplitudes back from
an I2S MEMS microphone, measured by Goertzel.

Actuator k is the signed amplitude of output tone k (code / 32767 of full scale); sensor k is the
amplitude of input tone k (code / 32768 of full scale). Tones sit on bins of the block length
(f = bin * rate / block), so a block repeats seamlessly and Goertzel over one block sees each
tone without leakage, whatever its phase.

Per vector: synthesise one block, queue it repeats = discard_blocks + 2 times on the DAC, then
read discard_blocks + 1 blocks from the microphone and analyse the last: the discarded blocks
cover the microphone's buffered samples, the sound's flight time and the room's settling.
Both I2S buses must run at the same rate. discard_blocks is calibrated per rig (a board setting).
"""
import math
from array import array

from machine import I2S
from micropython import const

from .. import clock
from ..kernels import goertzel, mic32_to_i16, synth
from . import Hal

_Q14 = const(16384)
# Goertzel state must stay below 2**29 so the split product in kernels never exceeds 31 bits.
_STATE_LIMIT = const(1 << 29)


def tone_frequency(bin_index, rate, block):
    return bin_index * rate / block


class AcousticHal(Hal):
    medium = "acoustic"

    def __init__(self, speaker: I2S, microphone: I2S, rate, block, out_bins, in_bins,
                 gain_shift=2, discard_blocks=2, settle_us=0):
        """speaker: I2S TX, 16-bit mono; microphone: I2S RX, 32-bit mono slots (24-bit mics)."""
        self._check_bins("out_bins", out_bins, block)
        self._check_bins("in_bins", in_bins, block)
        self._speaker = speaker
        self._microphone = microphone
        self.rate = rate
        self.block = block
        self.n_actuators = len(out_bins)
        self.n_sensors = len(in_bins)
        self.encoding = {"encoder": "l2", "low": -1.0, "high": 1.0, "bits": 1}
        self.actuator_scale = 1 / 32767
        self.sensor_scale = 1 / 32768
        self.settle_us = settle_us
        self.gain_shift = gain_shift
        self.discard_blocks = discard_blocks
        self.config_ranges = {"settle_us": (0, 10_000_000), "gain_shift": (0, 15),
                              "discard_blocks": (0, 64)}
        self._tables = self._tone_tables(out_bins, block)
        self._coeffs = [round(2 * math.cos(2 * math.pi * b / block) * _Q14) for b in in_bins]
        self._tx = bytearray(2 * block)
        self._rx32 = bytearray(4 * block)
        self._rx16 = bytearray(2 * block)
        self._state = array("i", [0, 0])
        self._geom = array("H", [block, self.n_actuators, gain_shift, 0])

    @staticmethod
    def _check_bins(name, bins, block):
        if not bins:
            raise ValueError("%s must list at least one tone bin" % name)
        for b in bins:
            if not 1 <= b < block // 2:
                raise ValueError("%s: bin %d outside 1..%d for a %d-sample block" % (name, b, block // 2 - 1, block))
            # worst case |s| for a full-scale tone: 32768 * block * min(block, 1 / sin(w))
            gain = min(block, 1 / math.sin(2 * math.pi * b / block))
            if 32768 * block * gain >= _STATE_LIMIT:
                raise ValueError("%s: bin %d with a %d-sample block could overflow Goertzel's "
                                 "31-bit state; use a shorter block or a higher bin" % (name, b, block))

    @staticmethod
    def _tone_tables(bins, block):
        tables = bytearray(2 * len(bins) * block)
        for k, b in enumerate(bins):
            for t in range(block):
                v = round(32767 * math.sin(2 * math.pi * b * t / block))
                i = 2 * (k * block + t)
                tables[i] = v & 0xFF
                tables[i + 1] = (v >> 8) & 0xFF
        return tables

    def excite(self, vectors, batch, out):
        geom = self._geom
        geom[2] = self.gain_shift
        for v in range(batch):
            geom[3] = v * self.n_actuators
            synth(self._tables, vectors, self._tx, geom)
            for _ in range(self.discard_blocks + 2):
                self._speaker.write(self._tx)
            clock.sleep_us(self.settle_us)
            for _ in range(self.discard_blocks + 1):
                self._microphone.readinto(self._rx32)
            mic32_to_i16(self._rx32, self._rx16, self.block)
            self._measure(out, 2 * v * self.n_sensors)

    def _measure(self, out, at):
        n = self.block
        for k in range(self.n_sensors):
            coeff = self._coeffs[k]
            goertzel(self._rx16, n, coeff, self._state)
            s1 = self._state[0]
            s2 = self._state[1]
            # exact integer power (x 2**14) first: single-precision ports would lose weak tones
            power = (s1 * s1 + s2 * s2) * _Q14 - coeff * s1 * s2
            code = round(2 * math.sqrt(power / _Q14 if power > 0 else 0) / n)
            code = 32767 if code > 32767 else code
            out[at + 2 * k] = code & 0xFF
            out[at + 2 * k + 1] = code >> 8

    def safe(self):
        """Silence: one block of zeros flushes whatever is still queued on the DAC."""
        for i in range(len(self._tx)):
            self._tx[i] = 0
        self._speaker.write(self._tx)
