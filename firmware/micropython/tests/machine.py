"""A recording stand-in for MicroPython's `machine`, for the firmware unit tests.

It overrides the unix port's built-in `machine` because tests/ is first on the path. Every bus
and pin appends to the shared `log` as tuples, in call order:
  ("pin", id, value)   ("spi", id, bytes)   ("i2s", id, bytes)   ("adc", id, value)
I2S RX and ADC reads come from callables the test installs (`source`).
"""
log = []


class Pin:
    IN = 0
    OUT = 1

    def __init__(self, pin_id, mode=-1, value=None):
        self.id = pin_id
        self.mode = mode
        self._value = 0
        if value is not None:
            self.value(value)

    def value(self, v=None):
        if v is None:
            return self._value
        self._value = 1 if v else 0
        log.append(("pin", self.id, self._value))


class SPI:
    MSB = 0
    LSB = 1

    def __init__(self, spi_id, baudrate=1000000, polarity=0, phase=0, bits=8, firstbit=MSB,
                 sck=None, mosi=None, miso=None):
        if firstbit != SPI.MSB:
            raise ValueError("the shim models MSB-first SPI only")
        self.id = spi_id

    def write(self, buf):
        log.append(("spi", self.id, bytes(buf)))


class I2S:
    RX = 0
    TX = 1
    MONO = 0
    STEREO = 1

    def __init__(self, i2s_id, sck=None, ws=None, sd=None, mck=None, mode=TX, bits=16,
                 format=MONO, rate=16000, ibuf=1024):
        self.id = i2s_id
        self.mode = mode
        self.bits = bits
        self.source = None

    def write(self, buf):
        if self.mode != I2S.TX:
            raise OSError("I2S %d is not a transmitter" % self.id)
        log.append(("i2s", self.id, bytes(buf)))
        return len(buf)

    def readinto(self, buf):
        if self.mode != I2S.RX:
            raise OSError("I2S %d is not a receiver" % self.id)
        if self.source is None:
            raise OSError("I2S %d has no test source installed" % self.id)
        self.source(buf)
        return len(buf)


class ADC:
    ATTN_11DB = 3

    def __init__(self, pin, atten=None):
        self.id = pin.id if isinstance(pin, Pin) else pin
        self.source = None

    def read_u16(self):
        if self.source is None:
            raise OSError("ADC %r has no test source installed" % self.id)
        value = self.source()
        log.append(("adc", self.id, value))
        return value
