// The host link on POSIX file descriptors: the emulator-style pty (firmware on the master, the
// host's pyserial on the slave), a pipe, or a socket. Ends at EOF, EIO or hang-up.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "../src/core/link.h"

namespace phyll {

class PosixStdioLink : public Link {
 public:
  PosixStdioLink(int in_fd, int out_fd) : in_fd_(in_fd), out_fd_(out_fd) {}

  size_t read(uint8_t* into, size_t max) override;
  void write(const uint8_t* data, size_t n) override;

  // Waits up to timeout_ms (-1: forever) for input or a hang-up.
  void wait_for_input(int32_t timeout_ms);
  bool closed() const { return closed_; }

 private:
  int in_fd_;
  int out_fd_;
  bool closed_ = false;
};

}  // namespace phyll
