// Time on any Cortex-M: SysTick interrupts every millisecond from the core clock. now_ms() is the
// core's Clock (wraps at 2^32 like Arduino's millis()); wait_us() busy-waits on the counter for
// settle times; the 1 kHz tick also wakes a sleeping main loop for the server's timeouts.
#pragma once

#include <stdint.h>

#include "../../src/core/clock.h"

namespace cortex_m {

class SysTickClock : public phyll::Clock {
 public:
  // Starts the 1 kHz interrupt; cpu_hz is the core clock SysTick counts (CLKSOURCE = processor).
  static void start(uint32_t cpu_hz);
  uint32_t now_ms() override;
  static void wait_us(uint32_t us);
};

}  // namespace cortex_m

extern "C" void systick_handler();
