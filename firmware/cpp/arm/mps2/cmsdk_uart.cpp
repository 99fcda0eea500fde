#include "cmsdk_uart.h"

#include "../cortex_m/cortex_m.h"

namespace mps2 {
namespace {

// Register offsets and bits (DDI0479C, "APB UART").
constexpr uint32_t kData = 0x00;
constexpr uint32_t kState = 0x04;
constexpr uint32_t kCtrl = 0x08;
constexpr uint32_t kIntStatus = 0x0C;  // write 1 to clear
constexpr uint32_t kBaudDiv = 0x10;
constexpr uint32_t kTxFull = 1u << 0, kRxFull = 1u << 1;                    // STATE
constexpr uint32_t kTxEnable = 1u << 0, kRxEnable = 1u << 1;                // CTRL
constexpr uint32_t kTxInterrupt = 1u << 2, kRxInterrupt = 1u << 3;          // CTRL
constexpr uint32_t kTxPending = 1u << 0, kRxPending = 1u << 1;              // INTSTATUS

}  // namespace

CmsdkUart::CmsdkUart(uint32_t base, uint8_t* ring, size_t ring_size) : base_(base), ring_(ring, ring_size) {}

volatile uint32_t& CmsdkUart::reg(uint32_t offset) const { return cortex_m::reg(base_ + offset); }

void CmsdkUart::begin(uint32_t pclk_hz, uint32_t baud) {
  reg(kBaudDiv) = pclk_hz / baud;  // the UART takes 16 .. pclk_hz
  reg(kCtrl) = kTxEnable | kRxEnable | kRxInterrupt;
}

bool CmsdkUart::writable() const { return !(reg(kState) & kTxFull); }

size_t CmsdkUart::write(const uint8_t* data, size_t n) {
  size_t sent = 0;
  while (sent < n && writable()) reg(kData) = data[sent++];
  return sent;
}

size_t CmsdkUart::read(uint8_t* into, size_t max) {
  const size_t got = ring_.pop(into, max);
  if (paused_ && got) {
    // Room again: take what waited in the UART (its arrival raised no interrupt), then listen.
    cortex_m::mask_interrupts();
    paused_ = false;
    reg(kCtrl) = reg(kCtrl) | kRxInterrupt;
    take_received();
    cortex_m::unmask_interrupts();
  }
  return got;
}

void CmsdkUart::enable_tx_interrupt(bool on) {
  cortex_m::mask_interrupts();
  reg(kCtrl) = on ? reg(kCtrl) | kTxInterrupt : reg(kCtrl) & ~kTxInterrupt;
  reg(kIntStatus) = kTxPending;
  cortex_m::unmask_interrupts();
}

// Cleared before the data is read: a byte arriving after the last read raises it again.
void CmsdkUart::on_rx_interrupt() {
  reg(kIntStatus) = kRxPending;
  take_received();
}

void CmsdkUart::on_tx_interrupt() { reg(kIntStatus) = kTxPending; }

void CmsdkUart::take_received() {
  while (reg(kState) & kRxFull) {
    if (ring_.full()) {
      paused_ = true;
      reg(kCtrl) = reg(kCtrl) & ~kRxInterrupt;
      return;
    }
    ring_.push(static_cast<uint8_t>(reg(kData)));
  }
}

}  // namespace mps2
