#include "posix_stdio_link.h"

#include <errno.h>
#include <poll.h>
#include <unistd.h>

namespace phyll {

// Polls before reading, so a blocking descriptor (a pty master) never blocks here.
size_t PosixStdioLink::read(uint8_t* into, size_t max) {
  if (closed_ || max == 0) return 0;
  pollfd in{in_fd_, POLLIN, 0};
  if (poll(&in, 1, 0) <= 0) return 0;
  if (!(in.revents & POLLIN)) {
    closed_ = (in.revents & (POLLHUP | POLLERR | POLLNVAL)) != 0;
    return 0;
  }
  const ssize_t n = ::read(in_fd_, into, max);
  if (n > 0) return static_cast<size_t>(n);
  // 0: end of file; EIO: a pty master whose slave side closed.
  if (n == 0 || (errno != EINTR && errno != EAGAIN)) closed_ = true;
  return 0;
}

void PosixStdioLink::write(const uint8_t* data, size_t n) {
  while (n && !closed_) {
    const ssize_t done = ::write(out_fd_, data, n);
    if (done > 0) {
      data += done;
      n -= static_cast<size_t>(done);
    } else if (done < 0 && errno == EAGAIN) {
      pollfd out{out_fd_, POLLOUT, 0};
      poll(&out, 1, 1000);
    } else if (!(done < 0 && errno == EINTR)) {
      closed_ = true;
    }
  }
}

void PosixStdioLink::wait_for_input(int32_t timeout_ms) {
  pollfd in{in_fd_, POLLIN, 0};
  poll(&in, 1, timeout_ms);
}

}  // namespace phyll
