// The host build's link (host/posix_stdio_link) on real pipes: it takes what fits and never
// blocks, so a server over it waits for a host that reads late, drops a reply nobody reads for
// kReplyStallMs, and keeps serving.
#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "../host/posix_stdio_link.h"
#include "../src/core/protocol.h"
#include "check.h"
#include "test_support.h"

namespace {

class MonotonicClock : public phyll::Clock {
 public:
  uint32_t now_ms() override {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<uint32_t>(static_cast<uint64_t>(now.tv_sec) * 1000u + static_cast<uint64_t>(now.tv_nsec) / 1000000u);
  }
};

// A pipe, closed at the end. A small one holds 4 KB where Linux allows (F_SETPIPE_SZ), else
// the default 64 KB.
struct Pipe {
  explicit Pipe(bool small = false) {
    CHECK(pipe(fds) == 0);
    signal(SIGPIPE, SIG_IGN);  // a write to a pipe whose reader left fails with EPIPE instead
#ifdef F_SETPIPE_SZ
    if (small) fcntl(fds[1], F_SETPIPE_SZ, 4096);
#else
    (void)small;
#endif
  }
  ~Pipe() {
    close_reader();
    if (fds[1] >= 0) close(fds[1]);
  }
  void close_reader() {
    if (fds[0] >= 0) close(fds[0]);
    fds[0] = -1;
  }
  Bytes drain() {
    Bytes out;
    uint8_t chunk[4096];
    const int flags = fcntl(fds[0], F_GETFL);
    fcntl(fds[0], F_SETFL, flags | O_NONBLOCK);
    for (ssize_t n; (n = read(fds[0], chunk, sizeof chunk)) > 0;) out.insert(out.end(), chunk, chunk + n);
    fcntl(fds[0], F_SETFL, flags);
    return out;
  }
  int fds[2] = {-1, -1};
};

}  // namespace

TEST(posix_link_takes_what_fits_waits_for_room_and_swallows_after_a_hang_up) {
  Pipe requests, replies(true);
  const Bytes big(100000, 0x55);
  {
    phyll::PosixStdioLink link(requests.fds[0], replies.fds[1]);
    const size_t first = link.write(big.data(), big.size());
    CHECK(first > 0 && first < big.size());
    CHECK_EQ(link.write(big.data(), big.size()), 0u);  // full: never blocks
    CHECK(!link.wait_writable(20));
    CHECK_EQ(replies.drain().size(), first);  // the host reads
    CHECK(link.wait_writable(20));
    CHECK(link.write(big.data(), big.size()) > 0);
    replies.close_reader();  // the host hangs up
    CHECK(link.wait_writable(20));
    CHECK_EQ(link.write(big.data(), big.size()), big.size());
    CHECK(link.closed());
  }
  CHECK_EQ(fcntl(replies.fds[1], F_GETFL) & O_NONBLOCK, 0);  // its flags given back
}

TEST(a_server_over_a_pipe_nobody_reads_drops_the_reply_after_1_s_and_serves_on) {
  DeviceSpec spec;
  spec.n_actuators = 1;
  spec.low = -1;
  spec.high = 1;
  spec.max_batch = 0;
  RecordingHal hal(spec);
  MonotonicClock clock;
  Pipe requests, replies(true);
  phyll::PosixStdioLink link(requests.fds[0], replies.fds[1]);
  phyll::FrameServer server(link, hal, clock, phyll::ServerOptions{"host", 0, 0});
  // 16 KB MEASUREs into a pipe that holds 4 KB (or 64 KB: then the fifth one stalls)
  for (uint16_t seq = 1; seq <= 5; ++seq) {
    Bytes frame = encode_frame(0x03, seq, excite_payload(std::vector<std::vector<int16_t>>(4095, {7})));
    CHECK_EQ(write(requests.fds[1], frame.data(), frame.size()), static_cast<ssize_t>(frame.size()));
    const uint32_t started = clock.now_ms();
    server.poll();
    if (server.counters().replies_dropped) {
      CHECK(clock.now_ms() - started >= phyll::kReplyStallMs);
      break;
    }
  }
  CHECK_EQ(server.counters().replies_dropped, 1u);
  replies.drain();  // the host reads again
  const Bytes ping = encode_frame(0x05, 9, text_bytes("still here"));
  CHECK_EQ(write(requests.fds[1], ping.data(), ping.size()), static_cast<ssize_t>(ping.size()));
  server.poll();
  const std::vector<DecodedFrame> answer = decode_frames(replies.drain());
  CHECK(answer.size() == 1 && answer[0].type == 0x85 && answer[0].payload == text_bytes("still here"));
}
