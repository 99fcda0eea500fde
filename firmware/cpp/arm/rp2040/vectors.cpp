// The RP2040's vector table (core 0): the Cortex-M0+ exceptions, then its 26 interrupts, of which
// the firmware uses UART0_IRQ (20).
#include "../cortex_m/startup.h"
#include "../cortex_m/systick.h"

extern "C" void uart0_handler();

namespace {

constexpr ExceptionHandler x = unexpected_exception;

__attribute__((section(".vectors"), used)) const VectorTable<26> kVectors = {
    &__stack_top__,
    reset_handler,
    // NMI, HardFault, 7 reserved, SVCall, 2 reserved, PendSV, SysTick
    {x, x, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, x, nullptr, nullptr, x, systick_handler},
    {x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, uart0_handler, x, x, x, x, x},
};

}  // namespace
