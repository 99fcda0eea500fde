// The emulator's medium channel (firmware/README.md, "Medium channel wire format"): a blocking
// byte stream to the host process that serves the medium -- a socket on the host build, the
// second UART on the ARM build under QEMU. The same host medium server answers the MicroPython
// firmware, so every medium phyll has reaches both firmwares unchanged.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace phyll {

class MediumChannel {
 public:
  virtual ~MediumChannel() = default;
  // Exactly n bytes, waiting as long as they take; false once the stream has ended.
  virtual bool read_exact(uint8_t* into, size_t n) = 0;
  // head then body, as one request; false once the stream has ended.
  virtual bool write_all(const uint8_t* head, size_t head_size, const uint8_t* body, size_t body_size) = 0;
};

// A wait of a board's own clock (settle_us after an EXCITE): nanosleep on a host, SysTick on ARM.
using WaitMicroseconds = void (*)(uint32_t us);

}  // namespace phyll
