// phyll-cpp-host: the C++ firmware's protocol core on stdin/stdout, so the host's serial Device
// can talk to it on a pty exactly as to a board. The medium is a linear test medium, or with
// --medium-fd whatever the emulator's medium server describes and serves on that descriptor
// (emu://MEDIUM?firmware=cpp, docs/emulator.md).
//
//   phyll-cpp-host [--actuators N] [--sensors M] [--static S] [--bits] [--max-batch B]
//                  [--watchdog-ms W]
//   phyll-cpp-host --medium-fd FD [--watchdog-ms W]
//
// It ends when the host side hangs up (EOF, EIO, POLLHUP), after putting the medium safe.
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../src/core/frame_server.h"
#include "../src/hal/loopback_hal.h"
#include "../src/hal/medium_channel_hal.h"
#include "fd_medium_channel.h"
#include "linear_medium_hal.h"
#include "posix_stdio_link.h"

namespace {

class MonotonicClock : public phyll::Clock {
 public:
  uint32_t now_ms() override {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<uint32_t>(static_cast<uint64_t>(now.tv_sec) * 1000u + static_cast<uint64_t>(now.tv_nsec) / 1000000u);
  }
};

struct Options {
  phyll::LinearMediumShape shape;
  bool shaped = false;  // a linear-medium option was given
  int medium_fd = -1;
  uint32_t watchdog_ms = 2000;
};

[[noreturn]] void usage_error(const char* what, const char* value) {
  fprintf(stderr,
          "phyll-cpp-host: %s%s%s\nusage: phyll-cpp-host [--actuators 1..4096] [--sensors 1..4096] "
          "[--static 0..1024] [--bits] [--max-batch 0..65535] [--watchdog-ms 0..3600000]\n"
          "       phyll-cpp-host --medium-fd FD [--watchdog-ms 0..3600000]\n",
          what, value ? " " : "", value ? value : "");
  exit(2);
}

unsigned long number_in(const char* option, const char* text, unsigned long low, unsigned long high) {
  if (!text) usage_error(option, "needs a value");
  char* end = nullptr;
  const unsigned long value = strtoul(text, &end, 10);
  if (!*text || *end || *text == '-' || value < low || value > high) usage_error(option, text);
  return value;
}

Options parse_options(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const char* option = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
    if (strcmp(option, "--bits") == 0) {
      options.shape.bits = options.shaped = true;
      continue;
    }
    ++i;
    options.shaped |= strcmp(option, "--watchdog-ms") != 0 && strcmp(option, "--medium-fd") != 0;
    if (strcmp(option, "--medium-fd") == 0) {
      options.medium_fd = static_cast<int>(number_in(option, value, 0, 65535));
    } else if (strcmp(option, "--actuators") == 0) {
      options.shape.n_actuators = static_cast<uint16_t>(number_in(option, value, 1, 4096));
    } else if (strcmp(option, "--sensors") == 0) {
      options.shape.n_sensors = static_cast<uint16_t>(number_in(option, value, 1, 4096));
    } else if (strcmp(option, "--static") == 0) {
      options.shape.n_static = static_cast<uint16_t>(number_in(option, value, 0, phyll::LinearMediumHal::kMaxStatic));
    } else if (strcmp(option, "--max-batch") == 0) {
      options.shape.max_batch = static_cast<uint16_t>(number_in(option, value, 0, 65535));
    } else if (strcmp(option, "--watchdog-ms") == 0) {
      options.watchdog_ms = static_cast<uint32_t>(number_in(option, value, 0, phyll::kMaxWatchdogMs));
    } else {
      usage_error("unknown option", option);
    }
  }
  if (options.medium_fd >= 0 && options.shaped) usage_error("--medium-fd serves the emulator's medium:", "no linear-medium options");
  return options;
}

// Static storage, as on a board: the server holds its frame buffers inline. Called once.
int serve(phyll::Hal& hal, uint32_t watchdog_ms) {
  if (const char* problem = phyll::hal_problem(hal)) {
    fprintf(stderr, "phyll-cpp-host: %s\n", problem);
    return 2;
  }
  phyll::PosixStdioLink link(STDIN_FILENO, STDOUT_FILENO);
  MonotonicClock clock;
  static phyll::FrameServer server(link, hal, clock, phyll::ServerOptions{"host", watchdog_ms, 0});
  while (!link.closed()) {
    link.wait_for_input(server.ms_until_due());
    server.poll();
  }
  hal.safe();
  return 0;
}

// The medium the emulator's server describes first on the channel: served over it, or, for a
// medium with a firmware twin ("hal": "loopback"), computed here and the channel closed.
int serve_medium_channel(const Options& options) {
  static phyll::FdMediumChannel channel(options.medium_fd);
  static uint8_t text[phyll::MediumDescription::kMaxText];
  static phyll::MediumDescription description;
  char problem[200];
  if (!phyll::read_medium_description(channel, text, description, problem, sizeof problem)) {
    fprintf(stderr, "phyll-cpp-host: %s\n", problem);
    return 2;
  }
  if (description.loopback) {
    channel.close();
    static phyll::LoopbackHal loopback(description, phyll::sleep_microseconds);
    return serve(loopback, options.watchdog_ms);
  }
  static phyll::MediumChannelHal medium(channel, description, phyll::sleep_microseconds);
  return serve(medium, options.watchdog_ms);
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse_options(argc, argv);
  signal(SIGPIPE, SIG_IGN);  // a host that hung up makes write() fail with EPIPE instead
  if (options.medium_fd >= 0) return serve_medium_channel(options);
  static phyll::LinearMediumHal linear(options.shape);
  return serve(linear, options.watchdog_ms);
}
