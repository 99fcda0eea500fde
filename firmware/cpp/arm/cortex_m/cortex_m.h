// The Cortex-M core's own registers (ARMv6-M / ARMv7-M architecture reference manuals, "System
// Control Space") and the few instructions the boards need. Every M0+, M3, M4 and M7 has these.
#pragma once

#include <stdint.h>

namespace cortex_m {

inline volatile uint32_t& reg(uint32_t address) { return *reinterpret_cast<volatile uint32_t*>(address); }

namespace scs {
constexpr uint32_t kSysTickCtrl = 0xE000E010;   // SYST_CSR
constexpr uint32_t kSysTickReload = 0xE000E014; // SYST_RVR
constexpr uint32_t kSysTickValue = 0xE000E018;  // SYST_CVR
constexpr uint32_t kNvicEnable = 0xE000E100;    // NVIC_ISER0..
constexpr uint32_t kSysTickEnable = 1u << 0, kSysTickInterrupt = 1u << 1, kSysTickCpuClock = 1u << 2;
}  // namespace scs

inline void enable_irq(unsigned irq) { reg(scs::kNvicEnable + 4u * (irq / 32u)) = 1u << (irq % 32u); }

// PRIMASK set: interrupts wait (pending) until unmasked; WFI still wakes on them.
inline void mask_interrupts() { __asm volatile("cpsid i" ::: "memory"); }
inline void unmask_interrupts() { __asm volatile("cpsie i" ::: "memory"); }
inline void wait_for_interrupt() { __asm volatile("wfi" ::: "memory"); }

// Sleeps until an interrupt unless `ready()` already holds. Masked around the check, so an
// interrupt that makes it true between the check and the WFI still wakes the WFI (it pends).
template <typename Ready>
void sleep_unless(Ready ready) {
  mask_interrupts();
  if (!ready()) wait_for_interrupt();
  unmask_interrupts();
}

}  // namespace cortex_m
