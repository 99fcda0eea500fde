// The metasurface rig's hardware on the RP2040's own peripherals (the wiring of
// src/boards/rp2_pico.h): the 74HC595 chain on SPI0 with its latch on a GPIO, the ADF4351 on SPI1
// with its LE on a GPIO, the RF detector on ADC input 0 (GP26).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "../../src/hal/adf4351.h"
#include "../../src/hal/metasurface_hal.h"

namespace rp2040 {

struct MetasurfacePins {
  uint8_t chain_sck, chain_tx, latch;
  uint8_t synth_sck, synth_tx, synth_le;
  uint8_t detector;  // 26..29
};

class Rp2040MetasurfacePort : public phyll::MetasurfacePort {
 public:
  static constexpr uint16_t kMaxFrequencies = 64;

  explicit Rp2040MetasurfacePort(const MetasurfacePins& pins) : pins_(pins) {}

  // Pins, both SPIs (mode 0, 8 bits) from clk_peri, the ADC; every frequency's registers.
  // nullptr, or what is wrong with the frequency list.
  const char* begin(uint32_t peri_hz, const uint16_t* frequencies_mhz, uint16_t count, uint32_t ref_mhz);

  void shift_out_and_latch(const uint8_t* image, size_t n) override;
  void tune(uint16_t frequency_index) override;
  uint16_t read_detector() override;
  void wait_us(uint32_t us) override;

 private:
  MetasurfacePins pins_;
  phyll::Adf4351Registers registers_[kMaxFrequencies] = {};
  uint16_t count_ = 0;
};

}  // namespace rp2040
