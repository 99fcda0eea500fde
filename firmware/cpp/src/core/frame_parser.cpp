#include "frame_parser.h"

#include <string.h>

#include "byte_order.h"
#include "crc32.h"
#include "frame.h"

namespace phyll {
namespace {

// The buffer starts with a whole magic, or with the A5 of one still arriving.
bool starts_with_magic(const uint8_t* buffer, size_t have) {
  return buffer[0] == kMagic0 && (have < 2 || buffer[1] == kMagic1);
}

}  // namespace

ParseEvent FrameParser::next() {
  if (delivered_) {
    discard_front(delivered_);
    delivered_ = 0;
  }
  for (;;) {
    if (have_ && !starts_with_magic(buffer_, have_)) {
      realign(0);
      continue;
    }
    if (have_ < kHeaderSize) {
      wanted_ = kHeaderSize;
      return ParseEvent{};
    }
    const uint16_t length = get_u16le(buffer_ + 6);
    // Rejected at once: the seq of a bad header cannot be trusted, so no reply.
    if (buffer_[2] != kProtocolVersion || length > kMaxPayload || buffer_[9] != header_check(buffer_)) {
      ++counters_.header_errors;
      realign(1);
      continue;
    }
    const size_t size = frame_size(length);
    if (have_ < size) {
      wanted_ = size;
      return ParseEvent{};
    }
    ParseEvent event;
    event.type = buffer_[3];
    event.seq = get_u16le(buffer_ + 4);
    const size_t end = kHeaderSize + length;
    if (crc32(buffer_, end) != get_u32le(buffer_ + end)) {
      ++counters_.crc_errors;
      event.kind = ParseEvent::kBadCrc;
      // One byte only: a frame that lost bytes must not swallow the good frame behind it.
      realign(1);
      return event;
    }
    event.kind = ParseEvent::kFrame;
    event.payload = buffer_ + kHeaderSize;
    event.length = length;
    delivered_ = size;
    wanted_ = size;  // nothing more to read until the frame is consumed
    return event;
  }
}

void FrameParser::commit(size_t n, uint32_t now_ms) {
  have_ += n;
  if (n) last_byte_ms_ = now_ms;
}

bool FrameParser::expire_partial(uint32_t now_ms) {
  if (ms_until_expiry(now_ms) != 0) return false;
  ++counters_.inter_byte_timeouts;
  realign(1);
  return true;
}

int32_t FrameParser::ms_until_expiry(uint32_t now_ms) const {
  if (!have_ || delivered_) return -1;
  const uint32_t silent = now_ms - last_byte_ms_;  // unsigned: right across millis() wrap-around
  return silent >= kInterByteTimeoutMs ? 0 : static_cast<int32_t>(kInterByteTimeoutMs - silent);
}

void FrameParser::realign(size_t drop) {
  size_t at = have_;
  for (size_t i = drop; i + 1 < have_; ++i) {
    if (buffer_[i] == kMagic0 && buffer_[i + 1] == kMagic1) {
      at = i;
      break;
    }
  }
  // A trailing A5 may be the first half of a magic still on its way.
  if (at == have_ && have_ > drop && buffer_[have_ - 1] == kMagic0) at = have_ - 1;
  counters_.skipped_bytes += static_cast<uint32_t>(at - drop);
  discard_front(at);
}

void FrameParser::discard_front(size_t n) {
  if (n < have_) memmove(buffer_, buffer_ + n, have_ - n);
  have_ = n < have_ ? have_ - n : 0;
}

}  // namespace phyll
