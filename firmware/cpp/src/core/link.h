// The byte link to the host: USB CDC or a UART on a board, a pty or pipe on a host build.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace phyll {

class Link {
 public:
  virtual ~Link() = default;
  // Up to max bytes that have already arrived; 0 when none have. Never waits.
  virtual size_t read(uint8_t* into, size_t max) = 0;
  // The whole buffer, in order (may wait until the link has room).
  virtual void write(const uint8_t* data, size_t n) = 0;
};

}  // namespace phyll
