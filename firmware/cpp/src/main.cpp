// Arduino entry point: the metasurface rig served over the phyll protocol. The board (pins,
// buses, host serial) is chosen at build time by platformio.ini; everything protocol-related
// is the portable core in core/, the rig's logic the portable HAL in hal/.
#include <Arduino.h>
#include <SPI.h>

#include "boards/adf4351_tuner.h"
#include "boards/millis_clock.h"
#include "boards/spi_metasurface_port.h"
#include "boards/stream_link.h"
#include "core/frame_server.h"
#include "hal/metasurface_hal.h"

#if defined(PHYLL_BOARD_ESP32_DEVKITC)
#include "boards/esp32_devkitc.h"
#elif defined(PHYLL_BOARD_RP2_PICO)
#include "boards/rp2_pico.h"
#else
#error "build with -DPHYLL_BOARD_ESP32_DEVKITC or -DPHYLL_BOARD_RP2_PICO (see platformio.ini)"
#endif

namespace {

phyll::StreamLink host_link(Serial);
phyll::MillisClock millis_clock;
phyll::Adf4351Tuner<board::SpiBus> tuner(board::synth_bus, board::kSynthLe);
phyll::SpiMetasurfacePort<board::SpiBus> port(board::chain_bus, board::kLatch, board::kDetector, tuner);
phyll::MetasurfaceHal hal(port, board::kLayout);

// Built on first use, inside setup(): its constructor reads millis(), which the cores only
// promise after their own start-up. A function-local static: ~kInFlight x 16 KB of .bss.
phyll::FrameServer& server() {
  static phyll::FrameServer instance(host_link, hal, millis_clock,
                                     phyll::ServerOptions{board::kName, board::kWatchdogMs, 0});
  return instance;
}

// A board that cannot serve says why, once a second, on the host link: a terminal shows it,
// and a host's HELLO fails instead of talking to a half-configured rig.
[[noreturn]] void refuse_to_serve(const char* problem) {
  for (;;) {
    Serial.print("phyll-cpp cannot start: ");
    Serial.println(problem);
    delay(1000);
  }
}

}  // namespace

void setup() {
  board::begin_host_serial();
  board::begin_buses();
  port.begin();
  if (const char* problem = tuner.begin(board::kFrequenciesMhz, board::kLayout.n_frequencies, board::kReferenceMhz)) {
    refuse_to_serve(problem);
  }
  if (const char* problem = phyll::hal_problem(hal)) refuse_to_serve(problem);
  // 74HC595 outputs power up undefined; the HAL's image starts all zero, so this turns every
  // element off, static ones included.
  hal.safe();
  server();
}

void loop() { server().poll(); }
