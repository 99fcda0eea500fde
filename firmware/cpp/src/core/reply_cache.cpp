#include "reply_cache.h"

namespace phyll {

size_t ReplyCache::claim() {
  const size_t slot = next_;
  next_ = (next_ + 1) % kInFlight;
  held_[slot] = false;
  return slot;
}

void ReplyCache::store(size_t slot, uint16_t seq, uint8_t request_type, size_t size) {
  seqs_[slot] = seq;
  types_[slot] = request_type;
  sizes_[slot] = size;
  held_[slot] = true;
}

int ReplyCache::find(uint16_t seq, uint8_t request_type) const {
  for (size_t i = 0; i < kInFlight; ++i) {
    if (held_[i] && seqs_[i] == seq && types_[i] == request_type) return static_cast<int>(i);
  }
  return -1;
}

void ReplyCache::forget_all() {
  for (bool& held : held_) held = false;
}

}  // namespace phyll
