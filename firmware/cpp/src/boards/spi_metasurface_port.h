// The metasurface rig's hardware on Arduino: the 74HC595 chain on an SPI bus plus a latch pin,
// the ADF4351 tuner, the RF detector on an ADC pin.
#pragma once

#include <Arduino.h>
#include <SPI.h>

#include "../hal/metasurface_hal.h"
#include "adf4351_tuner.h"
#include "wait.h"

namespace phyll {

template <typename SpiBus>
class SpiMetasurfacePort : public MetasurfacePort {
 public:
  SpiMetasurfacePort(SpiBus& chain, uint8_t latch_pin, uint8_t detector_pin, Adf4351Tuner<SpiBus>& tuner)
      : chain_(chain), latch_pin_(latch_pin), detector_pin_(detector_pin), tuner_(tuner) {}

  void begin() {
    pinMode(latch_pin_, OUTPUT);
    digitalWrite(latch_pin_, LOW);
  }

  // Byte by byte: the cores' buffer transfer() overwrites its buffer with what MISO read.
  void shift_out_and_latch(const uint8_t* image, size_t n) override {
    chain_.beginTransaction(SPISettings(10000000, MSBFIRST, SPI_MODE0));
    for (size_t i = 0; i < n; ++i) chain_.transfer(image[i]);
    chain_.endTransaction();
    digitalWrite(latch_pin_, HIGH);  // RCLK rising edge: shift registers -> outputs
    digitalWrite(latch_pin_, LOW);
  }

  void tune(uint16_t frequency_index) override { tuner_.tune(frequency_index); }

  uint16_t read_detector() override { return static_cast<uint16_t>(analogRead(detector_pin_)); }

  void wait_us(uint32_t us) override { wait_microseconds(us); }

 private:
  SpiBus& chain_;
  uint8_t latch_pin_;
  uint8_t detector_pin_;
  Adf4351Tuner<SpiBus>& tuner_;
};

}  // namespace phyll
