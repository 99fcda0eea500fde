#include "systick.h"

#include "cortex_m.h"

namespace cortex_m {
namespace {

volatile uint32_t milliseconds = 0;
uint32_t cycles_per_ms = 1;

// Microseconds since start, from the tick count and the counter's position within the tick.
// The counter counts down from cycles_per_ms - 1; a tick in between is caught by re-reading.
uint64_t now_us() {
  uint32_t ms;
  uint32_t value;
  do {
    ms = milliseconds;
    value = reg(scs::kSysTickValue);
  } while (ms != milliseconds);
  return uint64_t{ms} * 1000u + (cycles_per_ms - 1u - value) * 1000u / cycles_per_ms;
}

}  // namespace

void SysTickClock::start(uint32_t cpu_hz) {
  cycles_per_ms = cpu_hz / 1000u;
  reg(scs::kSysTickReload) = cycles_per_ms - 1u;
  reg(scs::kSysTickValue) = 0;
  reg(scs::kSysTickCtrl) = scs::kSysTickEnable | scs::kSysTickInterrupt | scs::kSysTickCpuClock;
}

uint32_t SysTickClock::now_ms() { return milliseconds; }

void SysTickClock::wait_us(uint32_t us) {
  const uint64_t until = now_us() + us;
  while (now_us() < until) {
  }
}

}  // namespace cortex_m

extern "C" void systick_handler() { cortex_m::milliseconds = cortex_m::milliseconds + 1; }
