// Test doubles and helpers shared by the harness: a clock the tests move, a link fed from a
// script, a HAL that records what it is driven with, and an independent frame codec.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "../src/core/frame_server.h"
#include "json_value.h"
#include "vector_types.h"

using Bytes = std::vector<uint8_t>;

Bytes from_hex(const std::string& hex);
std::string to_hex(const Bytes& bytes);
Bytes text_bytes(const std::string& text);
std::vector<int16_t> int16s(const Bytes& bytes, size_t offset = 0);
Bytes int16_bytes(const std::vector<int16_t>& codes);

// Bitwise CRC-32, written apart from the firmware's table version so each checks the other.
uint32_t reference_crc32(const uint8_t* data, size_t n);

// A frame as the host codec writes it (docs/protocol.md section 1).
Bytes encode_frame(uint8_t type, uint16_t seq, const Bytes& payload);

struct DecodedFrame {
  uint8_t version = 0;
  uint8_t type = 0;
  uint16_t seq = 0;
  Bytes payload;
};

// Strictly back-to-back valid frames; records a test failure naming the offset otherwise.
std::vector<DecodedFrame> decode_frames(const Bytes& stream);

class FakeClock : public phyll::Clock {
 public:
  uint32_t now_ms() override { return now; }
  uint32_t now = 1000;
};

// Bytes the tests script arrive all at once, or in random pieces (read_chunks). Writes are
// taken whole unless `room` says how many more bytes a host that reads late has room for; more
// room comes at the clock times of `drains` (at_ms, bytes), and wait_writable moves the clock.
class ScriptedLink : public phyll::Link {
 public:
  size_t read(uint8_t* into, size_t max) override;
  size_t write(const uint8_t* data, size_t n) override;
  bool wait_writable(uint32_t timeout_ms) override;

  void feed(const Bytes& bytes) { pending.insert(pending.end(), bytes.begin(), bytes.end()); }
  Bytes take_written();

  Bytes pending;
  size_t read_at = 0;
  Bytes written;
  std::mt19937* read_chunks = nullptr;  // when set, each read returns 1..max of the bytes asked
  size_t room = SIZE_MAX;
  std::deque<std::pair<uint32_t, size_t>> drains;
  FakeClock* clock = nullptr;  // needed when room runs out
  int stalls = 0;              // waits that ended with no room
};

// A device from the protocol vectors ("device" key); defaults are the analog example device.
struct DeviceSpec {
  uint16_t n_actuators = 3;
  uint16_t n_sensors = 2;
  uint16_t n_static = 0;
  std::string encoder = "minmax";
  double low = 0.0;
  double high = 0.5;
  int bits = 1;
  double actuator_scale = 1.0 / 32768;
  double sensor_scale = 1.0 / 4096;
  uint16_t max_batch = 4;

  static DeviceSpec from(const vectors::VectorDevice& device);
  static DeviceSpec bits_device();  // the bits example device of the vectors
};

// The "example" medium of the protocol vectors: sensor j of vector b reads 100 b + j + offset,
// or `answer` (batch x n_sensors codes) when set; `fault` makes every call fail.
class RecordingHal : public phyll::Hal {
 public:
  explicit RecordingHal(const DeviceSpec& spec, bool with_gain_setting = false);

  const phyll::HalDescription& describe() const override { return description_; }
  phyll::HalStatus excite(uint16_t batch, const uint8_t* vectors, uint8_t* out) override;
  phyll::HalStatus set_static(const uint8_t* packed, uint16_t n) override;
  phyll::HalStatus safe() override;
  phyll::IntSettings settings() override { return phyll::IntSettings{settings_, n_settings_}; }

  std::vector<Bytes> applied;  // the vectors of each excite, as the HAL saw them
  std::vector<std::pair<uint16_t, Bytes>> statics;
  int safes = 0;
  std::vector<uint32_t> safe_at;  // the clock at each safe(), when a clock is given
  FakeClock* clock = nullptr;
  int offset = 0;
  std::vector<int16_t> answer;
  const char* fault = nullptr;
  uint32_t settle_us = 100;
  uint32_t gain = 1;

 private:
  DeviceSpec spec_;
  phyll::HalDescription description_;
  phyll::IntSetting settings_[2];
  size_t n_settings_;
};

// One server with its doubles; exchange() feeds bytes, polls, and decodes what came back.
struct Rig {
  explicit Rig(const DeviceSpec& spec = DeviceSpec{}, uint32_t watchdog_ms = 2000, uint16_t board_max_batch = 0,
               bool with_gain_setting = false);

  std::vector<DecodedFrame> exchange(const Bytes& stream);
  JsonValue status();  // a STATUS request's reply, parsed (seq 60000 + n)

  FakeClock clock;
  ScriptedLink link;
  RecordingHal hal;
  std::unique_ptr<phyll::FrameServer> server;
  uint16_t status_seq = 60000;
};

JsonValue json_of(const DecodedFrame& frame);
Bytes excite_payload(const std::vector<std::vector<int16_t>>& vectors);
