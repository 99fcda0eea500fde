// Received bytes between a UART's interrupt handler (which pushes) and the main loop (which
// pops): one producer, one consumer, so the two indices need no lock, only to be volatile.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace cortex_m {

class ByteRing {
 public:
  // storage: size bytes, a power of two, owned by the caller for the ring's life.
  ByteRing(uint8_t* storage, size_t size) : storage_(storage), mask_(size - 1) {}

  bool empty() const { return head_ == tail_; }
  bool full() const { return head_ - tail_ > mask_; }

  void push(uint8_t byte) {  // the producer, and only when !full()
    const size_t head = head_;
    storage_[head & mask_] = byte;
    head_ = head + 1;
  }

  size_t pop(uint8_t* into, size_t max) {  // the consumer
    size_t tail = tail_;
    const size_t head = head_;
    size_t got = 0;
    while (got < max && tail != head) into[got++] = storage_[tail++ & mask_];
    tail_ = tail;
    return got;
  }

 private:
  uint8_t* storage_;
  size_t mask_;
  volatile size_t head_ = 0;
  volatile size_t tail_ = 0;
};

}  // namespace cortex_m
