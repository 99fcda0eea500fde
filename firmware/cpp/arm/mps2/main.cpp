// phyll-cpp on an ARM MPS2 board with the AN385 image (Cortex-M3), as qemu-system-arm emulates it
// for emu://MEDIUM?firmware=cpp-arm (docs/emulator.md):
//   UART0 (0x40004000, RX IRQ 0)  the host link: -serial on the emulator's pty
//   UART1 (0x40005000, RX IRQ 2)  the medium channel: -serial on a socket to the medium server
//   SysTick at 1 kHz from the 25 MHz core clock: time, the watchdog, the inter-byte timeout
// The medium's description arrives first on UART1; then the frame server runs for ever,
// asleep (WFI) whenever no byte and no timeout needs it. A medium it cannot serve ends the
// emulation, the reason on QEMU's stderr (semihosting.h).
#include <stdint.h>

#include <initializer_list>

#include "../../src/core/frame_server.h"
#include "../../src/hal/loopback_hal.h"
#include "../../src/hal/medium_channel_hal.h"
#include "../../src/hal/medium_description.h"
#include "../cortex_m/cortex_m.h"
#include "../cortex_m/startup.h"
#include "../cortex_m/systick.h"
#include "cmsdk_uart.h"
#include "semihosting.h"
#include "uart_streams.h"

namespace {

constexpr const char* kBoard = "mps2-an385";
constexpr uint32_t kClockHz = 25000000;  // SYSCLK: the core and the APB peripherals
constexpr uint32_t kBaud = 115200;       // QEMU ignores it; a real board would not
constexpr uint32_t kWatchdogMs = 2000;
constexpr uint32_t kLinkBase = 0x40004000, kMediumBase = 0x40005000;
constexpr unsigned kLinkRxIrq = 0, kLinkTxIrq = 1, kMediumRxIrq = 2, kMediumTxIrq = 3;

// Room for two whole frames: the host pipelines requests while one is served.
uint8_t link_ring[32768];
uint8_t medium_ring[32768];
mps2::CmsdkUart link_uart(kLinkBase, link_ring, sizeof link_ring);
mps2::CmsdkUart medium_uart(kMediumBase, medium_ring, sizeof medium_ring);
cortex_m::SysTickClock systick;
mps2::UartLink link(link_uart, systick);
mps2::UartMediumChannel channel(medium_uart);
uint8_t description_text[phyll::MediumDescription::kMaxText];
phyll::MediumDescription description;

[[noreturn]] void serve(phyll::Hal& hal) {
  if (const char* problem = phyll::hal_problem(hal)) mps2::stop_emulation(problem);
  static phyll::FrameServer server(link, hal, systick, phyll::ServerOptions{kBoard, kWatchdogMs, 0});
  for (;;) {
    server.poll();
    // The RX interrupt wakes it for a byte, SysTick every millisecond for the timeouts.
    cortex_m::sleep_unless([] { return link_uart.readable(); });
  }
}

}  // namespace

extern "C" {
void link_rx_handler() { link_uart.on_rx_interrupt(); }
void link_tx_handler() { link_uart.on_tx_interrupt(); }
void medium_rx_handler() { medium_uart.on_rx_interrupt(); }
void medium_tx_handler() { medium_uart.on_tx_interrupt(); }
}

void board_main() {
  cortex_m::SysTickClock::start(kClockHz);
  link_uart.begin(kClockHz, kBaud);
  medium_uart.begin(kClockHz, kBaud);
  for (const unsigned irq : {kLinkRxIrq, kLinkTxIrq, kMediumRxIrq, kMediumTxIrq}) cortex_m::enable_irq(irq);
  char problem[200];
  if (!phyll::read_medium_description(channel, description_text, description, problem, sizeof problem)) {
    mps2::stop_emulation(problem);
  }
  if (description.loopback) {
    static phyll::LoopbackHal loopback(description, cortex_m::SysTickClock::wait_us);
    serve(loopback);
  }
  static phyll::MediumChannelHal medium(channel, description, cortex_m::SysTickClock::wait_us);
  serve(medium);
}
