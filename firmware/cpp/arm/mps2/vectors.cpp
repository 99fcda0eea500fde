// The AN385's vector table: the Cortex-M3 exceptions, then its 32 external interrupts, of which
// the firmware uses UART0 and UART1 (QEMU hw/arm/mps2.c: UART n's RX interrupt is 2n, TX 2n + 1).
#include "../cortex_m/startup.h"
#include "../cortex_m/systick.h"

extern "C" {
void link_rx_handler();
void link_tx_handler();
void medium_rx_handler();
void medium_tx_handler();
}

namespace {

constexpr ExceptionHandler x = unexpected_exception;

__attribute__((section(".vectors"), used)) const VectorTable<32> kVectors = {
    &__stack_top__,
    reset_handler,
    // NMI, HardFault, MemManage, BusFault, UsageFault, 4 reserved, SVCall, DebugMon, reserved,
    // PendSV, SysTick
    {x, x, x, x, x, nullptr, nullptr, nullptr, nullptr, x, x, nullptr, x, systick_handler},
    {link_rx_handler, link_tx_handler, medium_rx_handler, medium_tx_handler, x, x, x, x, x, x, x, x, x, x, x, x,
     x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x},
};

}  // namespace
