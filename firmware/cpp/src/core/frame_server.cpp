// The frame loop and the reply cache; the message handlers are in frame_server_messages.cpp.
#include "frame_server.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <initializer_list>

#include "frame.h"

namespace phyll {
namespace {

constexpr char kBadCrcMessage[] = "frame CRC-32 mismatch";
constexpr size_t kBatchBound = 65535;

uint16_t batch_bound(size_t vector_bytes, uint16_t n_sensors, uint16_t hal_max, uint16_t board_max) {
  const size_t room = kMaxPayload - kBatchHeaderSize;
  size_t bound = room / vector_bytes;
  if (room / (2u * n_sensors) < bound) bound = room / (2u * n_sensors);
  if (kBatchBound < bound) bound = kBatchBound;
  for (const uint16_t limit : {hal_max, board_max}) {
    if (limit > 0 && limit < bound) bound = limit;
  }
  return static_cast<uint16_t>(bound);
}

}  // namespace

FrameServer::FrameServer(Link& link, Hal& hal, Clock& clock, const ServerOptions& options)
    : link_(link),
      hal_(hal),
      clock_(clock),
      board_(options.board),
      description_(hal.describe()),
      bits_(strcmp(description_.encoding.encoder, "bits") == 0),
      vector_bytes_(bits_ ? (description_.n_actuators + 7u) / 8u : 2u * description_.n_actuators),
      limits_(code_limits(description_.encoding.low, description_.encoding.high, description_.actuator_scale)),
      max_batch_(batch_bound(vector_bytes_, description_.n_sensors, description_.max_batch, options.max_batch)),
      watchdog_(options.watchdog_ms),
      uptime_mark_ms_(clock.now_ms()) {}

void FrameServer::poll() {
  advance_uptime();
  for (;;) {
    const ParseEvent event = parser_.next();
    if (event.kind == ParseEvent::kFrame) {
      dispatch(event);
      continue;
    }
    if (event.kind == ParseEvent::kBadCrc) {
      reply_bad_crc(event);
      continue;
    }
    const size_t room = parser_.fill_room();
    const size_t n = room ? link_.read(parser_.fill_position(), room) : 0;
    if (n) {
      parser_.commit(n, clock_.now_ms());
      continue;
    }
    // Only an empty read may expire a partial frame: bytes already waiting in the link are
    // not late just because this device was busy.
    if (!parser_.expire_partial(clock_.now_ms())) break;
  }
  // After the input: a request that was waiting feeds the watchdog before it can trip.
  if (watchdog_.check(clock_.now_ms())) go_safe();
}

int32_t FrameServer::ms_until_due() {
  const uint32_t now = clock_.now_ms();
  const int32_t partial = parser_.ms_until_expiry(now);
  const int32_t watchdog = watchdog_.ms_until_trip(now);
  if (partial < 0) return watchdog;
  if (watchdog < 0) return partial;
  return partial < watchdog ? partial : watchdog;
}

void FrameServer::dispatch(const ParseEvent& request) {
  ++counters_.frames_ok;
  watchdog_.feed(clock_.now_ms());
  // HELLO starts a session: never answered from the cache, which it empties (a new session's
  // seqs may repeat the last one's).
  if (request.type == msg::kHello) {
    cache_.forget_all();
  } else {
    const int hit = cache_.find(request.seq, request.type);
    if (hit >= 0) {
      ++counters_.duplicates;
      send(cache_.frame(static_cast<size_t>(hit)), cache_.size(static_cast<size_t>(hit)));
      return;
    }
  }
  const size_t slot = cache_.claim();
  uint8_t* frame = cache_.frame(slot);
  const Reply reply = handle(request, frame + kHeaderSize);
  const size_t size = seal_frame(frame, reply.type, request.seq, reply.length);
  if (request.type != msg::kHello) cache_.store(slot, request.seq, request.type, size);
  send(frame, size);
}

// A host that stops reading must not stop the loop (docs/protocol.md section 2): wait while the
// link keeps taking bytes; after kReplyStallMs in which it took none, drop the rest and count
// it. The reply stays cached, so the host's re-send gets it whole. The watchdog runs meanwhile:
// silence counts from the last valid frame, whatever the server is doing.
void FrameServer::send(const uint8_t* frame, size_t size) {
  size_t done = link_.write(frame, size);
  uint32_t progress_ms = clock_.now_ms();
  while (done < size) {
    const uint32_t now = clock_.now_ms();
    const uint32_t stalled = now - progress_ms;
    if (stalled >= kReplyStallMs) {
      ++counters_.replies_dropped;
      return;
    }
    if (watchdog_.check(now)) {
      go_safe();
      continue;
    }
    uint32_t wait_ms = kReplyStallMs - stalled;
    const int32_t due = watchdog_.ms_until_trip(now);
    if (due > 0 && static_cast<uint32_t>(due) < wait_ms) wait_ms = static_cast<uint32_t>(due);
    if (!link_.wait_writable(wait_ms)) continue;
    const size_t n = link_.write(frame + done, size - done);
    if (n) {
      done += n;
      progress_ms = clock_.now_ms();
    }
  }
}

// Never cached: that request never ran, and its re-send must run.
void FrameServer::reply_bad_crc(const ParseEvent& request) {
  static_assert(sizeof kBadCrcMessage - 1 <= 32, "bad_crc_reply_ is sized for the message");
  uint8_t* out = bad_crc_reply_ + kHeaderSize;
  out[0] = static_cast<uint8_t>(ErrorCode::kBadCrc);
  out[1] = request.type;
  memcpy(out + 2, kBadCrcMessage, sizeof kBadCrcMessage - 1);
  const size_t size = seal_frame(bad_crc_reply_, msg::kError, request.seq, 2 + sizeof kBadCrcMessage - 1);
  send(bad_crc_reply_, size);
}

FrameServer::Reply FrameServer::handle(const ParseEvent& request, uint8_t* out) {
  switch (request.type) {
    case msg::kHello: return hello(request, out);
    case msg::kConfigure: return configure(request, out);
    case msg::kExcite: return excite(request, out);
    case msg::kSetStatic: return set_static(request, out);
    case msg::kPing: return ping(request, out);
    case msg::kStatus: return status(request, out);
    case msg::kReset: return reset(request, out);
    case msg::kRepl:
      // docs/protocol.md: a type the device does not know -> UNKNOWN_TYPE. There is no REPL to
      // hand the port to, so acknowledging would leave the host's mpremote talking to frames.
      return error(out, ErrorCode::kUnknownType, request.type,
                   "REPL (0x08): the C++ firmware has no REPL; reflash MicroPython to use mpremote");
    default:
      return error(out, ErrorCode::kUnknownType, request.type, "unknown request type 0x%02X", request.type);
  }
}

FrameServer::Reply FrameServer::error(uint8_t* out, ErrorCode code, uint8_t request_type, const char* format, ...) {
  out[0] = static_cast<uint8_t>(code);
  out[1] = request_type;
  va_list args;
  va_start(args, format);
  // The reply slot is a whole frame: room for the message and vsnprintf's terminating NUL.
  const int written = vsnprintf(reinterpret_cast<char*>(out + 2), kMaxErrorMessage + 1, format, args);
  va_end(args);
  size_t length = written < 0 ? 0 : static_cast<size_t>(written);
  if (length > kMaxErrorMessage) length = kMaxErrorMessage;
  return Reply{msg::kError, static_cast<uint16_t>(2 + length)};
}

FrameServer::Reply FrameServer::hal_fault(uint8_t* out, uint8_t request_type, HalStatus status) {
  ++counters_.hal_faults;
  return error(out, ErrorCode::kHalFault, request_type, "%s", status.fault);
}

// A failing HAL is counted, never allowed to stop the loop: safety is retried at the next trip.
void FrameServer::go_safe() {
  if (!hal_.safe().ok()) ++counters_.hal_faults;
}

// Accumulated in 64 bits across millis() wrap-arounds (every 49.7 days).
void FrameServer::advance_uptime() {
  const uint32_t now = clock_.now_ms();
  uptime_ms_ += now - uptime_mark_ms_;
  uptime_mark_ms_ = now;
}

}  // namespace phyll
