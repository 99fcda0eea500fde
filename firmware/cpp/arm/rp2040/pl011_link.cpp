#include "pl011_link.h"

#include "../cortex_m/cortex_m.h"
#include "registers.h"

namespace rp2040 {
namespace {

volatile uint32_t& uart0(uint32_t offset) { return cortex_m::reg(uart::kUart0 + offset); }

}  // namespace

// Baud divisor = clock / (16 x baud), as 16.6 fixed point (PL011 TRM, "UARTIBRD/UARTFBRD").
void Pl011Link::begin(uint32_t clock_hz, uint32_t baud) {
  const uint32_t divisor64 = (8u * clock_hz / baud + 1u) / 2u;  // 64 x the divisor, rounded
  uart0(uart::kIntegerBaud) = divisor64 / 64u;
  uart0(uart::kFractionalBaud) = divisor64 % 64u;
  uart0(uart::kLineCtrl) = uart::kEightBits | uart::kFifos;  // also latches the divisor
  uart0(uart::kFifoLevels) = 0;  // interrupt at 1/8 full; the RX timeout takes the tail of a frame
  uart0(uart::kInterruptMask) = uart::kRxInterrupt | uart::kRxTimeoutInterrupt;
  uart0(uart::kCtrl) = uart::kEnable | uart::kTxEnable | uart::kRxEnable;
}

size_t Pl011Link::write(const uint8_t* data, size_t n) {
  size_t sent = 0;
  while (sent < n && !(uart0(uart::kFlags) & uart::kTxFull)) uart0(uart::kData) = data[sent++];
  return sent;
}

bool Pl011Link::wait_writable(uint32_t timeout_ms) {
  const uint32_t start = clock_.now_ms();
  while (uart0(uart::kFlags) & uart::kTxFull) {
    if (clock_.now_ms() - start >= timeout_ms) return false;
  }
  return true;
}

void Pl011Link::on_interrupt() {
  while (!(uart0(uart::kFlags) & uart::kRxEmpty)) {
    const uint8_t byte = static_cast<uint8_t>(uart0(uart::kData));
    if (!ring_.full()) ring_.push(byte);
  }
  uart0(uart::kInterruptClear) = uart::kRxInterrupt | uart::kRxTimeoutInterrupt;
}

}  // namespace rp2040
