// Tunes an ADF4351 over SPI to one of a fixed list of frequencies, with every frequency's
// registers computed once at start-up. Bus: the core's SPI class (a template, since the
// esp32 and rp2040 cores share no SPI base class).
#pragma once

#include <Arduino.h>
#include <SPI.h>

#include "../hal/adf4351.h"

namespace phyll {

template <typename SpiBus>
class Adf4351Tuner {
 public:
  static constexpr uint16_t kMaxFrequencies = 64;

  Adf4351Tuner(SpiBus& bus, uint8_t le_pin) : bus_(bus), le_pin_(le_pin) {}

  // Null on success, else what is wrong with the frequency list.
  const char* begin(const uint16_t* frequencies_mhz, uint16_t count, uint32_t ref_mhz) {
    if (count > kMaxFrequencies) return "more synthesiser frequencies than Adf4351Tuner::kMaxFrequencies";
    for (uint16_t k = 0; k < count; ++k) {
      if (!adf4351_registers(frequencies_mhz[k], ref_mhz, kModulus, registers_[k]))
        return "ADF4351 tunes 2200..4400 MHz with RF divider 1";
    }
    count_ = count;
    pinMode(le_pin_, OUTPUT);
    digitalWrite(le_pin_, LOW);
    return nullptr;
  }

  void tune(uint16_t k) {
    if (k >= count_) return;
    for (const uint32_t word : registers_[k].words) {
      bus_.beginTransaction(SPISettings(1000000, MSBFIRST, SPI_MODE0));
      for (int shift = 24; shift >= 0; shift -= 8) bus_.transfer(static_cast<uint8_t>(word >> shift));
      bus_.endTransaction();
      digitalWrite(le_pin_, HIGH);  // LE rising edge loads the word into its register
      digitalWrite(le_pin_, LOW);
    }
  }

 private:
  static constexpr uint32_t kModulus = 25;  // with a 25 MHz reference: a 1 MHz grid

  SpiBus& bus_;
  uint8_t le_pin_;
  Adf4351Registers registers_[kMaxFrequencies] = {};
  uint16_t count_ = 0;
};

}  // namespace phyll
