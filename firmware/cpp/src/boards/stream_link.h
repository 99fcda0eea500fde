// The host link over an Arduino Stream: USB CDC (rp2040) or the UART behind a USB bridge (esp32).
#pragma once

#include <Arduino.h>

#include "../core/link.h"

namespace phyll {

class StreamLink : public Link {
 public:
  explicit StreamLink(Stream& stream) : stream_(stream) {}

  // Asks only for bytes already buffered, so readBytes returns at once, never waiting out
  // Stream's timeout.
  size_t read(uint8_t* into, size_t max) override {
    const int available = stream_.available();
    if (available <= 0) return 0;
    const size_t n = static_cast<size_t>(available) < max ? static_cast<size_t>(available) : max;
    return stream_.readBytes(into, n);
  }

  // Only what fits in the transmit buffer, so Stream::write never blocks on a host that stopped
  // reading; the server waits (wait_writable) and gives up after kReplyStallMs.
  size_t write(const uint8_t* data, size_t n) override {
    const int room = stream_.availableForWrite();
    if (room <= 0) return 0;
    return stream_.write(data, static_cast<size_t>(room) < n ? static_cast<size_t>(room) : n);
  }

  bool wait_writable(uint32_t timeout_ms) override {
    const unsigned long start = millis();
    while (stream_.availableForWrite() <= 0) {
      if (millis() - start >= timeout_ms) return false;
      yield();
    }
    return true;
  }

 private:
  Stream& stream_;
};

}  // namespace phyll
