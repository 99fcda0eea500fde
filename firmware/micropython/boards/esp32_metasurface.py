"""ESP32 DevKitC driving a 1-bit PIN-diode metasurface: the metasurface medium.

Wiring:
  74HC595 chain (SPI 2 = VSPI)  SCK GPIO18, MOSI GPIO23, RCLK (latch) GPIO5, /OE to GND,
                                /SRCLR to 3V3; 32 driven elements (4 registers) then 16 static
                                elements (2 registers), see phyllfw/hal/metasurface_spi.py
  ADF4351 synthesiser (SPI 1)   CLK GPIO14, DATA GPIO13, LE GPIO15; 25 MHz reference
  AD8318 RF power detector      VOUT -> GPIO34 (ADC1, 11 dB attenuation)
Host link: UART0 through the DevKitC's USB bridge, i.e. stdio.

Sensor k = detector voltage with the synthesiser at FREQUENCIES_MHZ[k].
"""
import sys

from machine import ADC, SPI, Pin

from phyllfw.hal.metasurface_spi import MetasurfaceHal
from phyllfw.link import StreamLink
from phyllfw.server import FrameServer

BOARD = "esp32-devkitc"
N_ELEMENTS = 32
N_STATIC = 16
FREQUENCIES_MHZ = (2400, 2410, 2420, 2430, 2440, 2450, 2460, 2470, 2480, 2490)
REF_MHZ = 25
IN_FLIGHT = 2
WATCHDOG_MS = 2000


def adf4351_words(freq_mhz, ref_mhz=REF_MHZ, mod=25):
    """ADF4351 registers R5..R0 for freq_mhz in 2200..4400 (fundamental feedback, RF divider 1).

    Fractional-N with f_PFD = ref_mhz (R = 1): INT + FRAC / MOD = freq / f_PFD, a 1 MHz grid with
    the defaults. Field positions follow the ADF4351 datasheet's register map; not yet checked
    on a real synthesiser.
    """
    if not 2200 <= freq_mhz <= 4400:
        raise ValueError("ADF4351 with RF divider 1 tunes 2200..4400 MHz, asked %r" % freq_mhz)
    whole = freq_mhz * mod // ref_mhz
    integer, frac = divmod(whole, mod)
    r0 = integer << 15 | frac << 3 | 0
    r1 = 1 << 27 | 1 << 15 | mod << 3 | 1            # prescaler 8/9, phase 1
    r2 = 6 << 26 | 1 << 14 | 7 << 9 | 1 << 6 | 2     # MUXOUT lock detect, R = 1, 2.5 mA, PD +
    r3 = 150 << 3 | 3                                # clock divider 150
    r4 = 1 << 23 | 200 << 12 | 1 << 5 | 3 << 3 | 4   # fundamental, band clock /200, RF on +5 dBm
    r5 = 1 << 22 | 3 << 19 | 5                       # digital lock detect
    return (r5, r4, r3, r2, r1, r0)


class Adf4351Tuner:
    """tune(k) for MetasurfaceHal: writes the precomputed registers of frequency k."""

    def __init__(self, spi: SPI, le: Pin, frequencies_mhz):
        self._spi = spi
        self._le = le
        self._words = [[w.to_bytes(4, "big") for w in adf4351_words(f)] for f in frequencies_mhz]
        le.value(0)

    def __call__(self, k):
        for word in self._words[k]:
            self._spi.write(word)
            self._le.value(1)
            self._le.value(0)


def make_server(link=None):
    """link: defaults to USB-CDC/UART stdio; tests pass their own."""
    chain = SPI(2, baudrate=10_000_000, polarity=0, phase=0, sck=Pin(18), mosi=Pin(23), miso=Pin(19))
    synth_bus = SPI(1, baudrate=1_000_000, polarity=0, phase=0, sck=Pin(14), mosi=Pin(13), miso=Pin(12))
    tuner = Adf4351Tuner(synth_bus, Pin(15, Pin.OUT), FREQUENCIES_MHZ)
    detector = ADC(Pin(34), atten=ADC.ATTN_11DB)
    hal = MetasurfaceHal(chain, Pin(5, Pin.OUT), detector, tuner, N_ELEMENTS, len(FREQUENCIES_MHZ),
                         n_static=N_STATIC)
    link = link or StreamLink(sys.stdin.buffer, sys.stdout.buffer)
    return FrameServer(link, hal, BOARD, in_flight=IN_FLIGHT, watchdog_ms=WATCHDOG_MS)


def main():
    make_server().serve()
