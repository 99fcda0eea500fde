// The CMSDK APB UART (ARM DDI0479C, Cortex-M System Design Kit) of the MPS2 boards, as
// qemu-system-arm models it: 8N1, one byte of buffer each way, no FIFO, no flow control of its
// own. QEMU hands a received byte over only once the previous one was read, so nothing overruns.
//
// Received bytes go from the RX interrupt into a ring the caller supplies, so a burst waits
// there while the firmware is busy (on the medium's UART, say), and both UARTs take bytes at
// once. When the ring is full the interrupt is switched off and the byte left in the UART: QEMU
// then holds the rest in its host-side buffer until read() makes room. Transmission is polled:
// write() takes what the transmitter accepts now, which under QEMU is one byte at a time until
// the host stops reading.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "../cortex_m/byte_ring.h"

namespace mps2 {

class CmsdkUart {
 public:
  // ring: ring_size bytes (a power of two), owned by the caller for the UART's life.
  CmsdkUart(uint32_t base, uint8_t* ring, size_t ring_size);

  // 8N1 at `baud` from the peripheral clock; enables both directions and the RX interrupt
  // (the board enables `rx_irq` in the NVIC and calls on_rx_interrupt() from its handler).
  void begin(uint32_t pclk_hz, uint32_t baud);

  size_t read(uint8_t* into, size_t max);        // what has arrived; never waits
  size_t write(const uint8_t* data, size_t n);   // what the transmitter takes now; never waits
  bool readable() const { return !ring_.empty(); }
  bool writable() const;

  // The TX interrupt, while waiting for room: on only inside wait_writable-style loops, since
  // under QEMU every byte sent would raise it.
  void enable_tx_interrupt(bool on);

  void on_rx_interrupt();
  void on_tx_interrupt();

 private:
  volatile uint32_t& reg(uint32_t offset) const;
  void take_received();  // from the UART into the ring while there is room (interrupts masked)

  uint32_t base_;
  cortex_m::ByteRing ring_;
  volatile bool paused_ = false;  // RX interrupt off: the ring was full
};

}  // namespace mps2
