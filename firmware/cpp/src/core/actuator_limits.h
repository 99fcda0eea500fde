// The device is the one authority on actuator limits (docs/protocol.md EXCITE): analog codes
// are clamped into [code_low, code_high] before any HAL sees them, whatever the host sent.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace phyll {

struct CodeLimits {
  int16_t low;
  int16_t high;
  // False when the limits span all of int16: nothing can be out of range.
  bool restrictive() const { return low > INT16_MIN || high < INT16_MAX; }
};

// round(limit / scale) (half to even, as Python's round), saturated to int16.
CodeLimits code_limits(double low, double high, double actuator_scale);

// Clamps count little-endian int16 codes in place; returns how many it changed.
uint32_t clamp_codes(uint8_t* codes, size_t count, CodeLimits limits);

}  // namespace phyll
