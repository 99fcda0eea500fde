"""The loops that cannot be avoided, as viper on MicroPython and plain Python elsewhere."""
import sys

if sys.implementation.name == "micropython":
    from .kernels_viper import clamp_i16, crc32, goertzel, mic32_to_i16, pack_wire, synth
else:
    from .kernels_plain import clamp_i16, crc32, goertzel, mic32_to_i16, pack_wire, synth

__all__ = ["clamp_i16", "crc32", "goertzel", "mic32_to_i16", "pack_wire", "synth"]
