// Arduino's millis(): wraps every 49.7 days, which the core's uint32_t differences absorb.
#pragma once

#include <Arduino.h>

#include "../core/clock.h"

namespace phyll {

class MillisClock : public Clock {
 public:
  uint32_t now_ms() override { return static_cast<uint32_t>(millis()); }
};

}  // namespace phyll
