"""Board files build their server from the shim's buses, and their glue computes what it says."""
import json
import struct

import machine
from boards import emu, esp32_metasurface, pico_acoustic
from phyllfw.hal.emu import EmuHal
from phyllfw.hal.loopback import LoopbackHal
from support import ScriptedLink


def test_pico_acoustic_builds():
    server = pico_acoustic.make_server(ScriptedLink())
    info = server.info()
    assert (info["board"], info["medium"], info["n_actuators"], info["n_sensors"]) == ("rp2-pico", "acoustic", 20, 20)
    assert info["max_batch"] == pico_acoustic.MAX_BATCH
    assert info["encoding"]["encoder"] == "l2"


def test_esp32_metasurface_builds_in_a_safe_state():
    machine.log.clear()
    server = esp32_metasurface.make_server(ScriptedLink())
    info = server.info()
    assert (info["n_actuators"], info["n_static"], info["n_sensors"]) == (32, 16, 10)
    assert info["encoding"] == {"encoder": "bits", "low": 0.0, "high": 1.0, "bits": 1}
    chain_writes = [e[2] for e in machine.log if e[0] == "spi" and e[1] == 2]
    assert chain_writes == [bytes(6)]


def test_adf4351_words_encode_the_frequency():
    r5, r4, r3, r2, r1, r0 = esp32_metasurface.adf4351_words(2410)
    assert [w & 7 for w in (r0, r1, r2, r3, r4, r5)] == [0, 1, 2, 3, 4, 5]
    integer, frac, mod = r0 >> 15, (r0 >> 3) & 0xFFF, (r1 >> 3) & 0xFFF
    assert 25 * (integer + frac / mod) == 2410
    try:
        esp32_metasurface.adf4351_words(5000)
    except ValueError:
        pass
    else:
        raise AssertionError("5 GHz accepted")


def test_adf4351_tuner_latches_every_register():
    machine.log.clear()
    tuner = esp32_metasurface.Adf4351Tuner(machine.SPI(1), machine.Pin(15), (2400, 2450))
    machine.log.clear()
    tuner(1)
    spi = [e[2] for e in machine.log if e[0] == "spi"]
    assert spi == [w.to_bytes(4, "big") for w in esp32_metasurface.adf4351_words(2450)]
    assert [e for e in machine.log if e[0] == "pin"] == [("pin", 15, 1), ("pin", 15, 0)] * 6


class _DescriptionChannel:
    """The host's end of the medium channel, as far as the board reads it: the description."""

    def __init__(self, description):
        text = json.dumps(description).encode()
        self.incoming = struct.pack("<I", len(text)) + text
        self.closed = False

    def readinto(self, view):
        n = min(len(view), len(self.incoming))
        view[0:n] = self.incoming[0:n]
        self.incoming = self.incoming[n:]
        return n

    def close(self):
        self.closed = True


_LOOPBACK = {"medium": "loopback", "hal": "loopback", "n_actuators": 4, "n_sensors": 4,
             "encoding": {"encoder": "l2", "low": -1.0, "high": 1.0, "bits": 1},
             "actuator_scale": 1 / 32767, "sensor_scale": 1 / 32767, "max_batch": 9}


def test_emu_board_serves_a_loopback_in_the_firmware():
    channel = _DescriptionChannel(_LOOPBACK)
    hal = emu.make_hal(channel)
    assert isinstance(hal, LoopbackHal) and channel.closed  # the medium server is not needed
    assert (hal.n_actuators, hal.max_batch, hal.encoding["encoder"]) == (4, 9, "l2")


def test_emu_board_serves_other_media_over_the_channel():
    description = dict(_LOOPBACK)
    del description["hal"]
    channel = _DescriptionChannel(description)
    assert isinstance(emu.make_hal(channel), EmuHal) and not channel.closed


def test_emu_board_refuses_a_loopback_it_could_not_read_back():
    description = dict(_LOOPBACK, sensor_scale=1 / 4096)
    try:
        emu.make_hal(_DescriptionChannel(description))
    except ValueError as exc:
        assert "one scale" in str(exc), str(exc)
    else:
        raise AssertionError("loopback with two scales accepted")
