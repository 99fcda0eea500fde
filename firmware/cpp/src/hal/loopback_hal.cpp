#include "loopback_hal.h"

#include <string.h>

namespace phyll {

LoopbackHal::LoopbackHal(const MediumDescription& description, WaitMicroseconds wait_us)
    : medium_(description),
      description_{"loopback",
                   medium_.n_actuators,
                   medium_.n_actuators,
                   0,
                   ActuatorEncoding{medium_.encoder, medium_.low, medium_.high, static_cast<int>(medium_.bits)},
                   medium_.actuator_scale,
                   medium_.actuator_scale,
                   medium_.max_batch},
      wait_us_(wait_us),
      settle_us_(medium_.settle_us),
      settings_{{"settle_us", 0, 10000000, &settle_us_}} {}

const char* LoopbackHal::setup_problem() const {
  if (strcmp(medium_.encoder, "bits") == 0) return "loopback reads back int16 codes; the bits encoder sends none";
  if (medium_.n_sensors != medium_.n_actuators || medium_.sensor_scale != medium_.actuator_scale)
    return "a loopback medium needs as many sensors as actuators, on one scale";
  if (medium_.n_static) return "a loopback medium has no static elements";
  return nullptr;
}

// Vectors and reply are both batch x width little-endian int16 codes: one copy.
HalStatus LoopbackHal::excite(uint16_t batch, const uint8_t* vectors, uint8_t* out) {
  memcpy(out, vectors, 2u * batch * medium_.n_actuators);
  for (uint16_t b = 0; settle_us_ && b < batch; ++b) wait_us_(settle_us_);
  return HalStatus::success();
}

}  // namespace phyll
