"""Raspberry Pi Pico (RP2040) with a speaker and a microphone: the acoustic medium.

Wiring (rp2 I2S needs ws = sck + 1):
  MAX98357A I2S amplifier   BCLK GP10, LRCLK GP11, DIN GP12   (speaker on its output)
  INMP441 I2S microphone    SCK GP14, WS GP15, SD GP13, L/R to GND (left slot)
Host link: USB-CDC stdio.

20 output and 20 input tones on bins 8..46 of a 256-sample block at 16 kHz (500..2875 Hz, every
125 Hz). One vector plays (discard_blocks + 2) blocks, 64 ms with the defaults, so max_batch is
kept small enough for the host's reply timeout (2 s + 20 ms per vector).
"""
import sys

from machine import I2S, Pin

from phyllfw.hal.acoustic_i2s import AcousticHal
from phyllfw.link import StreamLink
from phyllfw.server import FrameServer

BOARD = "rp2-pico"
RATE = 16000
BLOCK = 256
BINS = tuple(range(8, 48, 2))
MAX_BATCH = 16
IN_FLIGHT = 4
WATCHDOG_MS = 2000


def make_server(link=None):
    """link: defaults to USB-CDC/UART stdio; tests pass their own."""
    speaker = I2S(0, sck=Pin(10), ws=Pin(11), sd=Pin(12), mode=I2S.TX, bits=16,
                  format=I2S.MONO, rate=RATE, ibuf=8 * 2 * BLOCK)
    microphone = I2S(1, sck=Pin(14), ws=Pin(15), sd=Pin(13), mode=I2S.RX, bits=32,
                     format=I2S.MONO, rate=RATE, ibuf=4 * 4 * BLOCK)
    hal = AcousticHal(speaker, microphone, RATE, BLOCK, BINS, BINS)
    link = link or StreamLink(sys.stdin.buffer, sys.stdout.buffer)
    return FrameServer(link, hal, BOARD, in_flight=IN_FLIGHT, watchdog_ms=WATCHDOG_MS, max_batch=MAX_BATCH)


def main():
    make_server().serve()
