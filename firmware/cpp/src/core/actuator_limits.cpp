#include "actuator_limits.h"

#include <math.h>

#include "byte_order.h"

namespace phyll {
namespace {

int16_t saturated_code(double value) {
  const double code = nearbyint(value);  // default rounding mode: half to even
  if (code < INT16_MIN) return INT16_MIN;
  if (code > INT16_MAX) return INT16_MAX;
  return static_cast<int16_t>(code);
}

}  // namespace

CodeLimits code_limits(double low, double high, double actuator_scale) {
  return CodeLimits{saturated_code(low / actuator_scale), saturated_code(high / actuator_scale)};
}

uint32_t clamp_codes(uint8_t* codes, size_t count, CodeLimits limits) {
  uint32_t clamped = 0;
  for (size_t i = 0; i < count; ++i) {
    uint8_t* at = codes + 2 * i;
    const int16_t code = get_i16le(at);
    if (code < limits.low || code > limits.high) {
      put_i16le(at, code < limits.low ? limits.low : limits.high);
      ++clamped;
    }
  }
  return clamped;
}

}  // namespace phyll
