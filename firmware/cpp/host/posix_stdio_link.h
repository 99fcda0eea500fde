// The host link on POSIX file descriptors: the emulator-style pty (firmware on the master, the
// host's pyserial on the slave), a pipe, or a socket. Ends at EOF, EIO or hang-up.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "../src/core/link.h"

namespace phyll {

class PosixStdioLink : public Link {
 public:
  // Makes out_fd non-blocking (a write must never wait on a host that stopped reading); the
  // destructor gives it its flags back, in case a shell shares the descriptor.
  PosixStdioLink(int in_fd, int out_fd);
  ~PosixStdioLink() override;
  PosixStdioLink(const PosixStdioLink&) = delete;
  PosixStdioLink& operator=(const PosixStdioLink&) = delete;

  size_t read(uint8_t* into, size_t max) override;
  size_t write(const uint8_t* data, size_t n) override;
  bool wait_writable(uint32_t timeout_ms) override;

  // Waits up to timeout_ms (-1: forever) for input or a hang-up.
  void wait_for_input(int32_t timeout_ms);
  bool closed() const { return closed_; }

 private:
  int in_fd_;
  int out_fd_;
  int out_flags_;
  bool closed_ = false;
};

}  // namespace phyll
