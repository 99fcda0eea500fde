"""1-bit PIN-diode metasurface: a 74HC595-style shift-register chain on SPI, an RF power detector
on an ADC read at each of K synthesiser frequencies.

Chain wiring: MCU MOSI -> register 0 -> register 1 -> ... (Q7' to SER). Element i of an EXCITE
vector drives output Q(i % 8) of register i // 8; the n_static static elements follow on the
next whole register (static element j -> register ceil(n_actuators / 8) + j // 8, output j % 8).
The SPI bus must shift MSB first (the default): the first byte written ends in the last register.

Per vector: shift the image out, pulse the latch (RCLK rising edge copies it to the outputs),
wait settle_us, then per frequency k: tune(k), wait tune_settle_us, average adc_samples reads.
Sensor code = mean read_u16 >> 1 (0..32767); sensor_scale = full-scale volts / 32768.
"""
from array import array

from machine import ADC, SPI, Pin
from micropython import const

from .. import clock
from ..kernels import pack_wire
from . import Hal

_MAX_ADC_SAMPLES = const(256)


class MetasurfaceHal(Hal):
    medium = "metasurface"

    def __init__(self, spi: SPI, latch: Pin, adc: ADC, tune, n_elements, n_frequencies,
                 n_static=0, adc_full_scale_v=3.3, settle_us=50, tune_settle_us=200, adc_samples=4):
        """tune(k) retunes the synthesiser to frequency k (0 <= k < n_frequencies); see the board."""
        if n_elements < 1 or n_frequencies < 1:
            raise ValueError("metasurface needs n_elements >= 1 and n_frequencies >= 1")
        self._spi = spi
        self._latch = latch
        self._adc = adc
        self._tune = tune
        self.n_actuators = n_elements
        self.n_sensors = n_frequencies
        self.n_static = n_static
        self.encoding = {"encoder": "bits", "low": 0.0, "high": 1.0, "bits": 1}
        self.actuator_scale = 1.0
        self.sensor_scale = adc_full_scale_v / 32768
        self.settle_us = settle_us
        self.tune_settle_us = tune_settle_us
        self.adc_samples = adc_samples
        self.config_ranges = {"settle_us": (0, 10_000_000), "tune_settle_us": (0, 10_000_000),
                              "adc_samples": (1, _MAX_ADC_SAMPLES)}
        self._dynamic_bytes = (n_elements + 7) // 8
        self._static_bytes = (n_static + 7) // 8
        self._wire = bytearray(self._static_bytes + self._dynamic_bytes)
        tail = n_elements % 8
        # pack_wire geometry: bytes per vector, source offset (set per vector), wire offset, pad mask
        self._geom = array("H", [self._dynamic_bytes, 0, self._static_bytes, (1 << tail) - 1 if tail else 0xFF])
        latch.value(0)
        self._shift_out()

    def excite(self, vectors, batch, out):
        n_freq = self.n_sensors
        geom = self._geom
        for v in range(batch):
            geom[1] = v * self._dynamic_bytes
            pack_wire(self._wire, vectors, geom)
            self._shift_out()
            clock.sleep_us(self.settle_us)
            base = 2 * v * n_freq
            for k in range(n_freq):
                code = self._detect(k)
                out[base + 2 * k] = code & 0xFF
                out[base + 2 * k + 1] = code >> 8

    def set_static(self, packed, n):
        wire = self._wire
        last = self._static_bytes - 1
        for j in range(self._static_bytes):
            wire[last - j] = packed[j]
        if n % 8 and self._static_bytes:
            wire[0] &= (1 << (n % 8)) - 1
        self._shift_out()

    def safe(self):
        """Every driven element off; the static registers keep their pattern."""
        wire = self._wire
        for j in range(self._static_bytes, len(wire)):
            wire[j] = 0
        self._shift_out()

    def _shift_out(self):
        self._spi.write(self._wire)
        self._latch.value(1)
        self._latch.value(0)

    def _detect(self, k):
        self._tune(k)
        clock.sleep_us(self.tune_settle_us)
        total = 0
        for _ in range(self.adc_samples):
            total += self._adc.read_u16()
        return (total // self.adc_samples) >> 1
