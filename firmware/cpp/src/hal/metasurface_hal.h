// 1-bit PIN-diode metasurface: a 74HC595 shift-register chain holds the element states, an RF
// power detector on an ADC is read at each of K synthesiser frequencies (the same rig as the
// MicroPython firmware's phyllfw/hal/metasurface_spi.py).
//
// Chain wiring: MCU MOSI -> register 0 -> register 1 -> ... (Q7' to SER). Element i of an EXCITE
// vector drives output Q(i % 8) of register i / 8; the n_static static elements follow on the
// next whole register (static element j -> register ceil(n_elements / 8) + j / 8, output j % 8).
// Bytes are shifted MSB first, so the first byte shifted ends in the last register.
//
// Per vector: shift the image out and latch it, wait settle_us, then per frequency k: tune(k),
// wait tune_settle_us, average adc_samples detector reads. Sensor code = the mean scaled to 15
// bits (0..32767); sensor_scale = full-scale volts / 32768.
//
// Portable C++: the board supplies the hardware as a MetasurfacePort (SPI, pins, ADC, delays),
// so the element mapping is tested on the host against a simulated 74HC595 chain.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "../core/hal.h"

namespace phyll {

class MetasurfacePort {
 public:
  virtual ~MetasurfacePort() = default;
  // Shift n bytes into the chain, image[0] first, each byte MSB first; then pulse the latch
  // (RCLK rising edge copies the shift registers to the outputs).
  virtual void shift_out_and_latch(const uint8_t* image, size_t n) = 0;
  virtual void tune(uint16_t frequency_index) = 0;
  // One detector reading in 0 .. 2^adc_bits - 1.
  virtual uint16_t read_detector() = 0;
  virtual void wait_us(uint32_t us) = 0;
};

struct MetasurfaceLayout {
  uint16_t n_elements;     // driven by EXCITE
  uint16_t n_frequencies;  // sensors
  uint16_t n_static;       // set by SET_STATIC
  uint8_t adc_bits;        // detector resolution, 1..15
  double adc_full_scale_v;
};

class MetasurfaceHal : public Hal {
 public:
  static constexpr size_t kMaxRegisters = 64;  // 512 elements, driven and static together
  static constexpr uint32_t kMaxAdcSamples = 256;

  MetasurfaceHal(MetasurfacePort& port, const MetasurfaceLayout& layout);

  const HalDescription& describe() const override { return description_; }
  HalStatus excite(uint16_t batch, const uint8_t* vectors, uint8_t* out) override;
  HalStatus set_static(const uint8_t* packed, uint16_t n) override;
  HalStatus safe() override;
  IntSettings settings() override { return IntSettings{settings_, 3}; }
  const char* setup_problem() const override;

 private:
  void load_vector(const uint8_t* packed);
  int16_t detect(uint16_t frequency_index);

  MetasurfacePort& port_;
  MetasurfaceLayout layout_;
  HalDescription description_;
  size_t dynamic_bytes_;
  size_t static_bytes_;
  uint8_t image_[kMaxRegisters] = {};  // static registers (last first), then driven ones
  uint32_t settle_us_ = 50;
  uint32_t tune_settle_us_ = 200;
  uint32_t adc_samples_ = 4;
  IntSetting settings_[3];
};

}  // namespace phyll
