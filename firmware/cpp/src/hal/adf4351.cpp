#include "adf4351.h"

namespace phyll {

bool adf4351_registers(uint32_t freq_mhz, uint32_t ref_mhz, uint32_t mod, Adf4351Registers& out) {
  if (freq_mhz < 2200 || freq_mhz > 4400 || ref_mhz == 0 || mod < 2 || mod > 4095) return false;
  const uint32_t steps = freq_mhz * mod / ref_mhz;
  const uint32_t integer = steps / mod;
  const uint32_t frac = steps % mod;
  // The low 3 bits of each word are its register's address.
  out.words[0] = 1u << 22 | 3u << 19 | 5;                        // R5: digital lock detect
  out.words[1] = 1u << 23 | 200u << 12 | 1u << 5 | 3u << 3 | 4;  // R4: fundamental, band clock /200, RF on +5 dBm
  out.words[2] = 150u << 3 | 3;                                  // R3: clock divider 150
  out.words[3] = 6u << 26 | 1u << 14 | 7u << 9 | 1u << 6 | 2;    // R2: MUXOUT lock detect, R = 1, 2.5 mA, PD +
  out.words[4] = 1u << 27 | 1u << 15 | mod << 3 | 1;             // R1: prescaler 8/9, phase 1
  out.words[5] = integer << 15 | frac << 3 | 0;                  // R0: INT, FRAC
  return true;
}

}  // namespace phyll
