// phyll-cpp on a bare RP2040 (Raspberry Pi Pico), without the Arduino core: the metasurface rig
// of src/boards/rp2_pico.h served over UART0 (GP0 TX, GP1 RX, 460800 baud) instead of USB CDC.
// It is built (targets.py rp2040) for the figures a Pico's flash and RAM must hold -- the core,
// the metasurface HAL, its 4 reply slots and a receive ring of as many frames -- with the
// Cortex-M0+ code the compiler makes for them. It has no second-stage bootloader and has not run
// on a Pico: boards are flashed from PlatformIO (firmware/README.md).
//
// Clocks: the 12 MHz crystal drives clk_ref, clk_sys (the core, SysTick), clk_peri (UART, SPI)
// and clk_adc (slower than the ADC's 48 MHz: a conversion takes 8 us instead of 2).
#include <stddef.h>
#include <stdint.h>

#include <initializer_list>

#include "../../src/core/frame_server.h"
#include "../../src/hal/metasurface_hal.h"
#include "../cortex_m/cortex_m.h"
#include "../cortex_m/startup.h"
#include "../cortex_m/systick.h"
#include "metasurface_port.h"
#include "pl011_link.h"
#include "registers.h"

namespace {

constexpr const char* kBoard = "rp2-pico";
constexpr uint32_t kClockHz = 12000000;
constexpr uint32_t kBaud = 460800;  // at most clk_peri / 16 = 750 kbaud
constexpr uint32_t kWatchdogMs = 2000;
constexpr uint8_t kUartTx = 0, kUartRx = 1;
constexpr rp2040::MetasurfacePins kPins{18, 19, 17, 14, 15, 13, 26};
constexpr uint32_t kReferenceMhz = 25;
constexpr uint16_t kFrequenciesMhz[] = {2400, 2410, 2420, 2430, 2440, 2450, 2460, 2470, 2480, 2490};
constexpr phyll::MetasurfaceLayout kLayout{32, sizeof kFrequenciesMhz / sizeof kFrequenciesMhz[0], 16, 12, 3.3};

// Every request the host may have in flight besides the one the server is reading or answering
// (its window counts a request until its reply has arrived), rounded up to a power of two.
constexpr size_t ring_size(size_t at_least) {
  size_t size = 1;
  while (size < at_least) size *= 2;
  return size;
}
uint8_t link_ring[ring_size((phyll::kInFlight - 1) * phyll::kMaxFrame)];
cortex_m::SysTickClock systick;
rp2040::Pl011Link link(link_ring, sizeof link_ring, systick);
rp2040::Rp2040MetasurfacePort port(kPins);
phyll::MetasurfaceHal hal(port, kLayout);

volatile uint32_t& at(uint32_t base, uint32_t offset) { return cortex_m::reg(base + offset); }

void start_clocks() {
  using namespace rp2040;
  at(xosc::kBase, xosc::kStartup) = xosc::kStartupDelay;
  at(xosc::kBase, xosc::kCtrl) = xosc::kRange1To15Mhz | xosc::kEnable;
  while (!(at(xosc::kBase, xosc::kStatus) & xosc::kStable)) {
  }
  at(clocks::kBase, clocks::kRefCtrl) = clocks::kRefFromXosc;
  at(clocks::kBase, clocks::kSysCtrl) = clocks::kSysFromRef;
  at(clocks::kBase, clocks::kPeriCtrl) = clocks::kEnable | clocks::kPeriFromSys;
  at(clocks::kBase, clocks::kAdcCtrl) = clocks::kEnable | clocks::kAdcFromXosc;
}

void release_resets() {
  using namespace rp2040;
  const uint32_t used = resets::kAdc | resets::kIoBank0 | resets::kPadsBank0 | resets::kSpi0 | resets::kSpi1 |
                        resets::kUart0;
  at(resets::kBase + kClear, resets::kReset) = used;
  while ((at(resets::kBase, resets::kResetDone) & used) != used) {
  }
}

// A board that cannot serve says why on its link, once a second.
[[noreturn]] void refuse_to_serve(const char* problem) {
  for (;;) {
    for (const char* text : {"phyll-cpp cannot start: ", problem, "\r\n"}) {
      for (const char* c = text; *c; ++c) {
        while (!link.write(reinterpret_cast<const uint8_t*>(c), 1)) {
        }
      }
    }
    cortex_m::SysTickClock::wait_us(1000000);
  }
}

}  // namespace

extern "C" void uart0_handler() { link.on_interrupt(); }

void board_main() {
  start_clocks();
  release_resets();
  cortex_m::SysTickClock::start(kClockHz);
  for (const uint8_t gpio : {kUartTx, kUartRx}) at(rp2040::io_bank0::kBase, rp2040::io_bank0::ctrl(gpio)) = rp2040::io_bank0::kUart;
  link.begin(kClockHz, kBaud);
  cortex_m::enable_irq(rp2040::uart::kUart0Irq);
  if (const char* problem = port.begin(kClockHz, kFrequenciesMhz, kLayout.n_frequencies, kReferenceMhz)) {
    refuse_to_serve(problem);
  }
  if (const char* problem = phyll::hal_problem(hal)) refuse_to_serve(problem);
  // 74HC595 outputs power up undefined; the HAL's image starts all zero, so this turns every
  // element off, static ones included.
  hal.safe();
  static phyll::FrameServer server(link, hal, systick, phyll::ServerOptions{kBoard, kWatchdogMs, 0});
  for (;;) {
    server.poll();
    cortex_m::sleep_unless([] { return link.readable(); });  // a byte or the 1 ms tick wakes it
  }
}
