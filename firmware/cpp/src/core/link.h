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
  // How many of the n bytes the link took, in order: what fits now, 0 when a host that does not
  // read has let the buffer fill. Never waits: waiting, and giving up, is the server's.
  virtual size_t write(const uint8_t* data, size_t n) = 0;
  // Waits until the link can take a byte, at most timeout_ms; false if it still cannot.
  virtual bool wait_writable(uint32_t timeout_ms) = 0;
};

}  // namespace phyll
