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

  // HardwareSerial blocks until everything is queued. USB CDC with no host attached drops the
  // bytes instead of blocking: that host is gone, and a new one starts with HELLO.
  void write(const uint8_t* data, size_t n) override { stream_.write(data, n); }

 private:
  Stream& stream_;
};

}  // namespace phyll
