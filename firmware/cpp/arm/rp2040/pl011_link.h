// The host link on the RP2040's UART0 (an Arm PL011 with 32-byte FIFOs): GP0 TX, GP1 RX, 8N1.
// A UART has no flow control, so received bytes are taken by the RX interrupt into a ring that
// holds every frame the host may have in flight (as the ESP32 board sizes its Serial buffer):
// an EXCITE can keep the main loop busy for as long as its vectors take. What arrives while
// the ring is full is lost, and the protocol's CRC and re-sends recover it.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "../../src/core/link.h"
#include "../cortex_m/byte_ring.h"
#include "../cortex_m/systick.h"

namespace rp2040 {

class Pl011Link : public phyll::Link {
 public:
  Pl011Link(uint8_t* ring, size_t ring_size, cortex_m::SysTickClock& clock) : ring_(ring, ring_size), clock_(clock) {}

  // The UART's clock (clk_peri) and the rate; the board enables its interrupt in the NVIC.
  void begin(uint32_t clock_hz, uint32_t baud);

  size_t read(uint8_t* into, size_t max) override { return ring_.pop(into, max); }
  size_t write(const uint8_t* data, size_t n) override;  // what the TX FIFO has room for
  bool wait_writable(uint32_t timeout_ms) override;
  bool readable() const { return !ring_.empty(); }

  void on_interrupt();

 private:
  cortex_m::ByteRing ring_;
  cortex_m::SysTickClock& clock_;
};

}  // namespace rp2040
