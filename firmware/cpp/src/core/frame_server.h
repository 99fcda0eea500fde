// The device end of docs/protocol.md: receive, resynchronise, dispatch, reply, cache replies,
// clamp actuator codes, count, and put the actuators in their safe state when the host falls
// silent. All memory is inside the object (one receive frame + kInFlight reply frames): boards
// make it a static; nothing is allocated while serving.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "actuator_limits.h"
#include "clock.h"
#include "frame_parser.h"
#include "hal.h"
#include "json_writer.h"
#include "link.h"
#include "protocol.h"
#include "reply_cache.h"
#include "watchdog.h"

namespace phyll {

struct ServerOptions {
  const char* board;           // INFO "board", e.g. "rp2-pico"
  uint32_t watchdog_ms = 2000;  // 0: off
  uint16_t max_batch = 0;      // a board's own cap (RAM, timing); 0: what HAL and protocol allow
};

struct ServerCounters {
  uint32_t frames_ok = 0;  // frames that passed their CRC
  uint32_t excites = 0;
  uint32_t vectors = 0;
  uint32_t duplicates = 0;  // requests answered from the reply cache
  uint32_t clamps = 0;      // actuator codes clamped into the limits
  uint32_t hal_faults = 0;
  uint32_t replies_dropped = 0;  // replies cut short: the host did not read them for kReplyStallMs
};

class FrameServer {
 public:
  // The HAL must pass hal_problem() (boards check first). The server keeps references.
  FrameServer(Link& link, Hal& hal, Clock& clock, const ServerOptions& options);

  // Reads what the link holds, answers every complete request in order, abandons a partial
  // frame after the inter-byte timeout, runs the watchdog. Returns when the link is drained.
  void poll();

  // ms until poll() has time-driven work (inter-byte timeout, watchdog); -1: none. A host
  // build waits that long for input; a board simply polls in its loop.
  int32_t ms_until_due();

  uint16_t max_batch() const { return max_batch_; }
  const ServerCounters& counters() const { return counters_; }
  const ParserCounters& parser_counters() const { return parser_.counters(); }
  uint32_t watchdog_trips() const { return watchdog_.trips(); }

 private:
  struct Reply {
    uint8_t type;
    uint16_t length;
  };

  void dispatch(const ParseEvent& request);
  void send(const uint8_t* frame, size_t size);
  void reply_bad_crc(const ParseEvent& request);
  Reply handle(const ParseEvent& request, uint8_t* out);

  Reply hello(const ParseEvent& request, uint8_t* out);
  Reply configure(const ParseEvent& request, uint8_t* out);
  Reply excite(const ParseEvent& request, uint8_t* out);
  Reply set_static(const ParseEvent& request, uint8_t* out);
  Reply ping(const ParseEvent& request, uint8_t* out);
  Reply status(const ParseEvent& request, uint8_t* out);
  Reply reset(const ParseEvent& request, uint8_t* out);

  Reply error(uint8_t* out, ErrorCode code, uint8_t request_type, const char* format, ...)
      __attribute__((format(printf, 5, 6)));
  Reply hal_fault(uint8_t* out, uint8_t request_type, HalStatus status);
  Reply json_reply(uint8_t* out, uint8_t request_type, const JsonWriter& json);
  void go_safe();
  void advance_uptime();
  uint32_t settle_us();

  Link& link_;
  Hal& hal_;
  Clock& clock_;
  const char* board_;
  const HalDescription& description_;
  bool bits_;
  size_t vector_bytes_;
  CodeLimits limits_;
  uint16_t max_batch_;

  FrameParser parser_;
  ReplyCache cache_;
  Watchdog watchdog_;
  ServerCounters counters_;
  uint64_t uptime_ms_ = 0;
  uint32_t uptime_mark_ms_;
  uint8_t bad_crc_reply_[kHeaderSize + 2 + 32 + kCrcSize];
};

}  // namespace phyll
