// A fixed linear medium for the host build: sensor j = sum_i w(j, i) x_i + (static elements
// on) / 8, with w(j, i) = ((3 i + 5 j) mod 7 - 3) / 4 and x_i the physical actuator value
// (code x 2^-15, or the 0/1 state for "bits"). Every weight and scale is a power-of-two
// fraction, so a test can compute the exact codes the firmware must answer.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "../src/core/hal.h"

namespace phyll {

struct LinearMediumShape {
  uint16_t n_actuators = 4;
  uint16_t n_sensors = 3;
  uint16_t n_static = 0;
  bool bits = false;  // "bits" encoder; else "minmax" limited to [-0.5, 0.5] (codes +-16384)
  uint16_t max_batch = 0;
};

class LinearMediumHal : public Hal {
 public:
  static constexpr size_t kMaxStatic = 1024;

  explicit LinearMediumHal(const LinearMediumShape& shape);

  const HalDescription& describe() const override { return description_; }
  HalStatus excite(uint16_t batch, const uint8_t* vectors, uint8_t* out) override;
  HalStatus set_static(const uint8_t* packed, uint16_t n) override;
  HalStatus safe() override { return HalStatus::success(); }  // nothing is driven between EXCITEs
  IntSettings settings() override { return IntSettings{settings_, 1}; }
  const char* setup_problem() const override;

  static double weight(size_t sensor, size_t actuator);

 private:
  double actuator_value(const uint8_t* vector, size_t i) const;

  LinearMediumShape shape_;
  HalDescription description_;
  uint32_t static_on_ = 0;
  uint32_t settle_us_ = 0;
  IntSetting settings_[1];
};

}  // namespace phyll
