#include "posix_stdio_link.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

namespace phyll {

PosixStdioLink::PosixStdioLink(int in_fd, int out_fd)
    : in_fd_(in_fd), out_fd_(out_fd), out_flags_(fcntl(out_fd, F_GETFL)) {
  if (out_flags_ >= 0) fcntl(out_fd_, F_SETFL, out_flags_ | O_NONBLOCK);
}

PosixStdioLink::~PosixStdioLink() {
  if (out_flags_ >= 0) fcntl(out_fd_, F_SETFL, out_flags_);
}

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

// Once the host has hung up the bytes go nowhere: reported taken, so the server moves on and
// the loop ends instead of waiting out a reply nobody can read.
size_t PosixStdioLink::write(const uint8_t* data, size_t n) {
  while (!closed_) {
    const ssize_t done = ::write(out_fd_, data, n);
    if (done >= 0) return static_cast<size_t>(done);
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    if (errno != EINTR) closed_ = true;
  }
  return n;
}

bool PosixStdioLink::wait_writable(uint32_t timeout_ms) {
  if (closed_) return true;
  pollfd out{out_fd_, POLLOUT, 0};
  if (poll(&out, 1, static_cast<int>(timeout_ms)) <= 0) return false;
  if (out.revents & (POLLHUP | POLLERR | POLLNVAL)) closed_ = true;
  return true;
}

void PosixStdioLink::wait_for_input(int32_t timeout_ms) {
  pollfd in{in_fd_, POLLIN, 0};
  poll(&in, 1, timeout_ms);
}

}  // namespace phyll
