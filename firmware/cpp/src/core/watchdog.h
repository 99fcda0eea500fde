// The host-silence watchdog (docs/protocol.md "Watchdog"): trips once per silence longer
// than timeout_ms after the last valid frame. It is armed by the first valid frame: before any
// host spoke, the actuators are already safe, so an unconnected board counts no trips.
#pragma once

#include <stdint.h>

namespace phyll {

class Watchdog {
 public:
  explicit Watchdog(uint32_t timeout_ms) : timeout_ms_(timeout_ms) {}

  void feed(uint32_t now_ms) {
    last_ms_ = now_ms;
    armed_ = true;
  }

  // True exactly once when the silence reaches timeout_ms; it then disarms until fed.
  bool check(uint32_t now_ms) {
    if (ms_until_trip(now_ms) != 0) return false;
    armed_ = false;
    ++trips_;
    return true;
  }

  // ms until it trips; -1 when it cannot (off, or not armed).
  int32_t ms_until_trip(uint32_t now_ms) const {
    if (!armed_ || timeout_ms_ == 0) return -1;
    const uint32_t silent = now_ms - last_ms_;  // unsigned: right across millis() wrap-around
    return silent >= timeout_ms_ ? 0 : static_cast<int32_t>(timeout_ms_ - silent);
  }

  uint32_t timeout_ms() const { return timeout_ms_; }
  void set_timeout_ms(uint32_t timeout_ms) { timeout_ms_ = timeout_ms; }
  uint32_t trips() const { return trips_; }
  void reset_trips() { trips_ = 0; }

 private:
  uint32_t timeout_ms_;
  uint32_t last_ms_ = 0;
  uint32_t trips_ = 0;
  bool armed_ = false;
};

}  // namespace phyll
