#include "fd_medium_channel.h"

#include <errno.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

namespace phyll {

bool FdMediumChannel::read_exact(uint8_t* into, size_t n) {
  while (n) {
    const ssize_t got = ::read(fd_, into, n);
    if (got > 0) {
      into += got;
      n -= static_cast<size_t>(got);
    } else if (got == 0 || errno != EINTR) {
      return false;
    }
  }
  return true;
}

bool FdMediumChannel::write_all(const uint8_t* head, size_t head_size, const uint8_t* body, size_t body_size) {
  iovec parts[2] = {{const_cast<uint8_t*>(head), head_size}, {const_cast<uint8_t*>(body), body_size}};
  iovec* part = parts;
  int count = body_size ? 2 : 1;
  while (count) {
    const ssize_t sent = ::writev(fd_, part, count);
    if (sent < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    size_t done = static_cast<size_t>(sent);
    while (count && done >= part->iov_len) {
      done -= part->iov_len;
      ++part;
      --count;
    }
    if (count) {
      part->iov_base = static_cast<uint8_t*>(part->iov_base) + done;
      part->iov_len -= done;
    }
  }
  return true;
}

void FdMediumChannel::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void sleep_microseconds(uint32_t us) {
  timespec wait{static_cast<time_t>(us / 1000000), static_cast<long>(us % 1000000) * 1000};
  while (nanosleep(&wait, &wait) != 0 && errno == EINTR) {
  }
}

}  // namespace phyll
