// The medium channel on a POSIX descriptor: the emulator's socketpair end, inherited by
// phyll-cpp-host (--medium-fd). Blocking, as the medium answers each request in turn.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "../src/hal/medium_channel.h"

namespace phyll {

class FdMediumChannel : public MediumChannel {
 public:
  explicit FdMediumChannel(int fd) : fd_(fd) {}

  bool read_exact(uint8_t* into, size_t n) override;
  // One writev: the medium's thread wakes once, with the whole request there.
  bool write_all(const uint8_t* head, size_t head_size, const uint8_t* body, size_t body_size) override;
  // Once the firmware serves a medium of its own ("hal": "loopback"), so the server may end.
  void close();

 private:
  int fd_;
};

// nanosleep, for the settle time.
void sleep_microseconds(uint32_t us);

}  // namespace phyll
