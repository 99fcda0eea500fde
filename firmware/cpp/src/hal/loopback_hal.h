// Zero-latency medium inside the firmware: sensor j reads back actuator j's clamped code (the
// C++ twin of phyllfw/hal/loopback.py). No medium process: an EXCITE costs the link and the
// frame loop alone, which is what the link benchmark measures (emu://loopback), and what a board
// can serve to check its link before any hardware is attached.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "../core/hal.h"
#include "medium_channel.h"
#include "medium_description.h"

namespace phyll {

class LoopbackHal : public Hal {
 public:
  // As many sensors as actuators on one scale, int16 codes (any encoder but "bits").
  LoopbackHal(const MediumDescription& description, WaitMicroseconds wait_us);

  const HalDescription& describe() const override { return description_; }
  HalStatus excite(uint16_t batch, const uint8_t* vectors, uint8_t* out) override;
  HalStatus set_static(const uint8_t*, uint16_t) override { return HalStatus::success(); }  // n_static is 0
  HalStatus safe() override { return HalStatus::success(); }  // nothing is driven between EXCITEs
  IntSettings settings() override { return IntSettings{settings_, 1}; }
  const char* setup_problem() const override;

 private:
  MediumDescription medium_;
  HalDescription description_;
  WaitMicroseconds wait_us_;
  uint32_t settle_us_;
  IntSetting settings_[1];
};

}  // namespace phyll
