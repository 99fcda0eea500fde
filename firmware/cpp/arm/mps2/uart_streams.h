// The two roles a CMSDK UART plays on the emulated board: the host link the frame server
// drives (never waiting), and the medium channel the HAL drives (waiting, asleep, for bytes).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "../../src/core/link.h"
#include "../../src/hal/medium_channel.h"
#include "../cortex_m/cortex_m.h"
#include "../cortex_m/systick.h"
#include "cmsdk_uart.h"

namespace mps2 {

class UartLink : public phyll::Link {
 public:
  UartLink(CmsdkUart& uart, cortex_m::SysTickClock& clock) : uart_(uart), clock_(clock) {}

  size_t read(uint8_t* into, size_t max) override { return uart_.read(into, max); }
  size_t write(const uint8_t* data, size_t n) override { return uart_.write(data, n); }

  // Asleep between checks: the TX interrupt (room again) or the 1 ms tick wakes it.
  bool wait_writable(uint32_t timeout_ms) override {
    const uint32_t start = clock_.now_ms();
    uart_.enable_tx_interrupt(true);
    bool room;
    while (!(room = uart_.writable()) && clock_.now_ms() - start < timeout_ms) {
      cortex_m::sleep_unless([this] { return uart_.writable(); });
    }
    uart_.enable_tx_interrupt(false);
    return room;
  }

 private:
  CmsdkUart& uart_;
  cortex_m::SysTickClock& clock_;
};

// A UART has no end of stream: these wait for as long as the host takes, as the MicroPython
// firmware's blocking socket does.
class UartMediumChannel : public phyll::MediumChannel {
 public:
  explicit UartMediumChannel(CmsdkUart& uart) : uart_(uart) {}

  bool read_exact(uint8_t* into, size_t n) override {
    while (n) {
      const size_t got = uart_.read(into, n);
      into += got;
      n -= got;
      if (n) cortex_m::sleep_unless([this] { return uart_.readable(); });
    }
    return true;
  }

  bool write_all(const uint8_t* head, size_t head_size, const uint8_t* body, size_t body_size) override {
    send(head, head_size);
    send(body, body_size);
    return true;
  }

 private:
  void send(const uint8_t* data, size_t n) {
    uart_.enable_tx_interrupt(true);
    while (n) {
      const size_t sent = uart_.write(data, n);
      data += sent;
      n -= sent;
      if (n) cortex_m::sleep_unless([this] { return uart_.writable(); });
    }
    uart_.enable_tx_interrupt(false);
  }

  CmsdkUart& uart_;
};

}  // namespace mps2
