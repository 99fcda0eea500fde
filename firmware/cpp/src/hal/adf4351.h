// ADF4351 wideband synthesiser: the register words that tune it (the metasurface rig's source).
#pragma once

#include <stdint.h>

namespace phyll {

struct Adf4351Registers {
  uint32_t words[6];  // R5, R4, R3, R2, R1, R0: the order they are written in
};

// Registers for freq_mhz in 2200..4400 (fundamental feedback, RF divider 1). Fractional-N with
// f_PFD = ref_mhz (R = 1): INT + FRAC / MOD = freq / f_PFD, a ref_mhz / mod MHz grid.
// Field positions follow the ADF4351 datasheet's register map, as the MicroPython board's
// adf4351_words(); not yet checked on a real synthesiser. False if freq_mhz is out of range.
bool adf4351_registers(uint32_t freq_mhz, uint32_t ref_mhz, uint32_t mod, Adf4351Registers& out);

}  // namespace phyll
