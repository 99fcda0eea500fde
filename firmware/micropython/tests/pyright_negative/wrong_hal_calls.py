"""Negative control for check.sh: each line below is a wrong machine call pyright must report.

If pyright stops flagging these, the port stubs are not being used and the type check is void.
"""
from machine import ADC, I2S, SPI, Pin


def wrong_calls(spi: SPI, latch: Pin, adc: ADC, mic: I2S):
    spi.write(b"\x00", 1)            # SPI.write takes one buffer
    latch.value(1, 0)               # Pin.value takes at most one value
    adc.read_u16(4)                 # read_u16 takes no argument
    mic.readinto()                  # I2S.readinto needs a buffer
    I2S(0, sck=latch, ws=latch, sd=latch, mode=I2S.TX, bits=16, rate=16000, ibuf=512)  # no format
