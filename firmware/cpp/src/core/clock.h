// Milliseconds from a free-running counter that wraps at 2^32 (Arduino's millis()); every
// user takes differences in uint32_t, so the wrap is harmless. Tests pass a clock they drive.
#pragma once

#include <stdint.h>

namespace phyll {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual uint32_t now_ms() = 0;
};

}  // namespace phyll
