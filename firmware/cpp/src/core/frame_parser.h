// Receiving frames with resynchronisation (docs/protocol.md section 1, "Receiving").
//
// The parser owns one frame-sized buffer and asks for exactly the bytes the frame in it still
// needs (the header first, then the rest), so it never reads past a frame: requests behind it
// wait in the link's own buffer, and a delivered frame is consumed without moving memory.
// Time comes from the caller (now_ms), so tests drive the inter-byte timeout with a fake clock.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "protocol.h"

namespace phyll {

struct ParserCounters {
  uint32_t header_errors = 0;
  uint32_t crc_errors = 0;
  uint32_t skipped_bytes = 0;        // bytes discarded while looking for a magic
  uint32_t inter_byte_timeouts = 0;  // partial frames abandoned after kInterByteTimeoutMs
};

struct ParseEvent {
  enum Kind : uint8_t {
    kNeedBytes,  // nothing complete: read up to fill_room() bytes into fill_position()
    kFrame,      // a CRC-valid frame: type, seq, payload, length
    kBadCrc,     // a frame with a valid header failed its CRC: type and seq from its header
  };
  Kind kind = kNeedBytes;
  uint8_t type = 0;
  uint16_t seq = 0;
  uint8_t* payload = nullptr;  // kFrame: in the parser's buffer, writable (EXCITE clamps in place)
  uint16_t length = 0;
};

class FrameParser {
 public:
  // The next event. A kFrame's payload stays valid until the next call, which consumes it.
  ParseEvent next();

  uint8_t* fill_position() { return buffer_ + have_; }
  size_t fill_room() const { return wanted_ - have_; }
  // n bytes were written at fill_position() at now_ms (n <= fill_room()).
  void commit(size_t n, uint32_t now_ms);

  // Called when a read found nothing: abandons a partial frame silent for the inter-byte
  // timeout (drops one byte, rescans). True if it did; next() may then find a frame.
  bool expire_partial(uint32_t now_ms);
  // ms until expire_partial would act, or -1 when nothing is pending.
  int32_t ms_until_expiry(uint32_t now_ms) const;

  const ParserCounters& counters() const { return counters_; }
  void reset_counters() { counters_ = ParserCounters{}; }

 private:
  void realign(size_t drop);
  void discard_front(size_t n);

  uint8_t buffer_[kMaxFrame];
  size_t have_ = 0;
  size_t wanted_ = kHeaderSize;
  size_t delivered_ = 0;  // size of the frame handed out by the last next(), consumed by the next
  uint32_t last_byte_ms_ = 0;
  ParserCounters counters_;
};

}  // namespace phyll
