// The last kInFlight replies keyed by (seq, request type) (docs/protocol.md "Reply cache"):
// a re-sent request is answered with the stored bytes and never reaches the medium twice.
// Each slot is a whole frame; replies are built in their slot, so caching costs no copy.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "protocol.h"

namespace phyll {

class ReplyCache {
 public:
  // The slot the next reply is built in (the oldest); it forgets what it held.
  size_t claim();
  uint8_t* frame(size_t slot) { return frames_[slot]; }
  size_t size(size_t slot) const { return sizes_[slot]; }
  void store(size_t slot, uint16_t seq, uint8_t request_type, size_t size);
  // The slot holding the reply to (seq, request_type), or -1.
  int find(uint16_t seq, uint8_t request_type) const;
  void forget_all();

 private:
  uint8_t frames_[kInFlight][kMaxFrame];
  size_t sizes_[kInFlight] = {};
  uint16_t seqs_[kInFlight] = {};
  uint8_t types_[kInFlight] = {};
  bool held_[kInFlight] = {};
  size_t next_ = 0;
};

}  // namespace phyll
