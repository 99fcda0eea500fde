// What the frame server drives: a medium driver (HAL). One implementation per rig type; the
// board gives it its buses and pins, it never creates them. The server owns no hardware.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace phyll {

// phyll's ActuatorEncoding (host/phyll/physical.py), reported in INFO "encoding".
struct ActuatorEncoding {
  const char* encoder;  // "l2", "minmax" or "bits"
  double low;
  double high;
  int bits;
};

struct HalDescription {
  const char* medium;  // INFO "medium"
  uint16_t n_actuators;
  uint16_t n_sensors;
  uint16_t n_static;  // elements SET_STATIC sets (0: none)
  ActuatorEncoding encoding;
  double actuator_scale;  // physical actuator value = code x actuator_scale (1 for "bits")
  double sensor_scale;    // physical sensor value = code x sensor_scale
  uint16_t max_batch;     // most vectors per EXCITE the medium takes; 0: the protocol bound
};

// The outcome of a HAL call: ok, or a fault whose message goes to the host as ERROR HAL_FAULT.
// The message must outlive the call (a literal, or a buffer the HAL owns).
struct HalStatus {
  const char* fault = nullptr;
  bool ok() const { return fault == nullptr; }
  static HalStatus success() { return HalStatus{}; }
  static HalStatus failure(const char* message) { return HalStatus{message}; }
};

// An int setting CONFIGURE may change: its key, its inclusive range, and where it lives.
struct IntSetting {
  const char* key;
  uint32_t low;
  uint32_t high;
  uint32_t* value;
};

struct IntSettings {
  IntSetting* items;
  size_t count;
};

class Hal {
 public:
  virtual ~Hal() = default;

  virtual const HalDescription& describe() const = 0;

  // Apply each of `batch` vectors in turn, wait settle_us, sample every sensor.
  // vectors: as on the wire after clamping -- batch x n_actuators little-endian int16 codes, or
  // for "bits" batch x ceil(n_actuators / 8) bytes, element i = bit i % 8 of byte i / 8
  // (padding bits are whatever the host sent: ignore them).
  // out: batch x n_sensors little-endian int16 codes, round(value / sensor_scale) saturated.
  virtual HalStatus excite(uint16_t batch, const uint8_t* vectors, uint8_t* out) = 0;

  // The pattern of the n static elements, packed as in EXCITE.
  virtual HalStatus set_static(const uint8_t* packed, uint16_t n) = 0;

  // Every driven actuator to its safe state (analog: 0 clamped into [low, high]; bits: 0);
  // static elements keep their pattern.
  virtual HalStatus safe() = 0;

  // The settings CONFIGURE may change, "settle_us" among them (INFO reports it).
  virtual IntSettings settings() = 0;

  // What this HAL cannot drive as set up (e.g. more elements than its buffers hold), or nullptr.
  virtual const char* setup_problem() const { return nullptr; }
};

// Why the server cannot serve this HAL (nullptr if it can): boards check once at start-up.
const char* hal_problem(Hal& hal);

}  // namespace phyll
