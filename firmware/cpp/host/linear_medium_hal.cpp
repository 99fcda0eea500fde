#include "linear_medium_hal.h"

#include <math.h>
#include <time.h>

#include "../src/core/byte_order.h"

namespace phyll {
namespace {

constexpr double kActuatorScale = 1.0 / 32768;
constexpr double kSensorScale = 1.0 / 256;

int16_t sensor_code(double value) {
  const double code = nearbyint(value / kSensorScale);
  return code < INT16_MIN ? INT16_MIN : code > INT16_MAX ? INT16_MAX : static_cast<int16_t>(code);
}

void sleep_us(uint32_t us) {
  const timespec wait{static_cast<time_t>(us / 1000000), static_cast<long>(us % 1000000) * 1000};
  nanosleep(&wait, nullptr);
}

}  // namespace

LinearMediumHal::LinearMediumHal(const LinearMediumShape& shape)
    : shape_(shape),
      description_{"linear",
                   shape.n_actuators,
                   shape.n_sensors,
                   shape.n_static,
                   shape.bits ? ActuatorEncoding{"bits", 0.0, 1.0, 1} : ActuatorEncoding{"minmax", -0.5, 0.5, 1},
                   shape.bits ? 1.0 : kActuatorScale,
                   kSensorScale,
                   shape.max_batch},
      settings_{{"settle_us", 0, 10000000, &settle_us_}} {}

const char* LinearMediumHal::setup_problem() const {
  return shape_.n_static > kMaxStatic ? "linear medium holds at most 1024 static elements" : nullptr;
}

double LinearMediumHal::weight(size_t sensor, size_t actuator) {
  return static_cast<double>(static_cast<int>((3 * actuator + 5 * sensor) % 7) - 3) / 4.0;
}

double LinearMediumHal::actuator_value(const uint8_t* vector, size_t i) const {
  if (shape_.bits) return (vector[i / 8] >> (i % 8)) & 1;
  return get_i16le(vector + 2 * i) * kActuatorScale;
}

HalStatus LinearMediumHal::excite(uint16_t batch, const uint8_t* vectors, uint8_t* out) {
  const size_t vector_bytes = shape_.bits ? (shape_.n_actuators + 7u) / 8u : 2u * shape_.n_actuators;
  for (size_t b = 0; b < batch; ++b) {
    const uint8_t* vector = vectors + b * vector_bytes;
    for (size_t j = 0; j < shape_.n_sensors; ++j) {
      double value = static_on_ / 8.0;
      for (size_t i = 0; i < shape_.n_actuators; ++i) value += weight(j, i) * actuator_value(vector, i);
      put_i16le(out + 2 * (b * shape_.n_sensors + j), sensor_code(value));
    }
    if (settle_us_) sleep_us(settle_us_);
  }
  return HalStatus::success();
}

HalStatus LinearMediumHal::set_static(const uint8_t* packed, uint16_t n) {
  static_on_ = 0;
  for (size_t i = 0; i < n; ++i) static_on_ += static_cast<uint32_t>(packed[i / 8] >> (i % 8)) & 1u;
  return HalStatus::success();
}

}  // namespace phyll
