// Waits of any length: delayMicroseconds is only exact for short waits on some cores, and
// delay() lets the ESP32's RTOS run its idle task during long settle times.
#pragma once

#include <Arduino.h>

namespace phyll {

inline void wait_microseconds(uint32_t us) {
  if (us >= 1000) delay(us / 1000);
  delayMicroseconds(us % 1000);
}

}  // namespace phyll
