// The medium behind the emulator's medium channel: the C++ firmware's twin of the MicroPython
// firmware's phyllfw/hal/emu.py. Each EXCITE, SET_STATIC and SAFE becomes one request on the
// channel (8-byte header + bytes) and waits for its one reply, so whatever medium the host
// serves -- built-in or a user's Medium subclass -- is measured through this firmware unchanged.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "../core/hal.h"
#include "medium_channel.h"
#include "medium_description.h"

namespace phyll {

class MediumChannelHal : public Hal {
 public:
  static constexpr size_t kMaxFault = 200;  // bytes of a medium's fault message kept for the host

  MediumChannelHal(MediumChannel& channel, const MediumDescription& description, WaitMicroseconds wait_us);

  const HalDescription& describe() const override { return description_; }
  HalStatus excite(uint16_t batch, const uint8_t* vectors, uint8_t* out) override;
  HalStatus set_static(const uint8_t* packed, uint16_t n) override;
  HalStatus safe() override;
  IntSettings settings() override { return IntSettings{settings_, 1}; }

 private:
  struct ReplyHeader {
    uint8_t status;
    uint16_t count;
    uint32_t size;
  };

  // Sends one request and reads its reply's header; a fault reply becomes the HalStatus.
  HalStatus call(uint8_t op, uint16_t count, const uint8_t* body, size_t size, ReplyHeader& reply);
  // Reads and drops n bytes, so a reply of the wrong size leaves the stream in step.
  bool discard(uint32_t n);
  HalStatus fail(const char* format, ...) __attribute__((format(printf, 2, 3)));
  HalStatus channel_closed();
  HalStatus expect_empty(const ReplyHeader& reply);

  MediumChannel& channel_;
  MediumDescription medium_;
  HalDescription description_;
  WaitMicroseconds wait_us_;
  size_t vector_bytes_;
  bool closed_ = false;
  uint32_t settle_us_;
  IntSetting settings_[1];
  char fault_[kMaxFault + 1] = {};
};

}  // namespace phyll
