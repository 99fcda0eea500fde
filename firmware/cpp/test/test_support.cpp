#include "test_support.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "check.h"

Bytes from_hex(const std::string& hex) {
  Bytes out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

std::string to_hex(const Bytes& bytes) {
  std::string out;
  char pair[3];
  for (const uint8_t b : bytes) {
    std::snprintf(pair, sizeof pair, "%02x", b);
    out += pair;
  }
  return out;
}

Bytes text_bytes(const std::string& text) { return Bytes(text.begin(), text.end()); }

std::vector<int16_t> int16s(const Bytes& bytes, size_t offset) {
  std::vector<int16_t> out;
  for (size_t i = offset; i + 1 < bytes.size(); i += 2) out.push_back(static_cast<int16_t>(bytes[i] | bytes[i + 1] << 8));
  return out;
}

Bytes int16_bytes(const std::vector<int16_t>& codes) {
  Bytes out;
  for (const int16_t c : codes) {
    out.push_back(static_cast<uint8_t>(c & 0xFF));
    out.push_back(static_cast<uint8_t>(static_cast<uint16_t>(c) >> 8));
  }
  return out;
}

uint32_t reference_crc32(const uint8_t* data, size_t n) {
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    crc ^= data[i];
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

Bytes encode_frame(uint8_t type, uint16_t seq, const Bytes& payload) {
  Bytes frame = {0xA5, 0x5A, 1, type, static_cast<uint8_t>(seq), static_cast<uint8_t>(seq >> 8),
                 static_cast<uint8_t>(payload.size()), static_cast<uint8_t>(payload.size() >> 8), 0};
  frame.push_back(static_cast<uint8_t>(reference_crc32(frame.data(), 9)));
  frame.insert(frame.end(), payload.begin(), payload.end());
  const uint32_t crc = reference_crc32(frame.data(), frame.size());
  for (int i = 0; i < 4; ++i) frame.push_back(static_cast<uint8_t>(crc >> (8 * i)));
  return frame;
}

std::vector<DecodedFrame> decode_frames(const Bytes& stream) {
  std::vector<DecodedFrame> frames;
  size_t at = 0;
  while (at < stream.size()) {
    const std::string where = "reply stream byte " + std::to_string(at) + ": ";
    if (stream.size() - at < 14 || stream[at] != 0xA5 || stream[at + 1] != 0x5A) {
      CHECK_MSG(false, where + "no frame starts here");
      break;
    }
    const uint8_t* f = stream.data() + at;
    const size_t length = static_cast<size_t>(f[6] | f[7] << 8);
    const size_t size = 10 + length + 4;
    if (at + size > stream.size() || f[9] != static_cast<uint8_t>(reference_crc32(f, 9))) {
      CHECK_MSG(false, where + "truncated frame or bad header check");
      break;
    }
    const uint32_t crc = static_cast<uint32_t>(f[10 + length] | f[11 + length] << 8 | f[12 + length] << 16) |
                         static_cast<uint32_t>(f[13 + length]) << 24;
    CHECK_MSG(crc == reference_crc32(f, 10 + length), where + "CRC-32 mismatch");
    CHECK_MSG(f[8] == 0, where + "flags must be written 0");
    DecodedFrame frame;
    frame.version = f[2];
    frame.type = f[3];
    frame.seq = static_cast<uint16_t>(f[4] | f[5] << 8);
    frame.payload.assign(f + 10, f + 10 + length);
    frames.push_back(frame);
    at += size;
  }
  return frames;
}

size_t ScriptedLink::read(uint8_t* into, size_t max) {
  size_t n = std::min(max, pending.size() - read_at);
  if (n && read_chunks) n = std::uniform_int_distribution<size_t>(1, n)(*read_chunks);
  std::copy(pending.begin() + static_cast<std::ptrdiff_t>(read_at),
            pending.begin() + static_cast<std::ptrdiff_t>(read_at + n), into);
  read_at += n;
  if (read_at == pending.size()) {
    pending.clear();
    read_at = 0;
  }
  return n;
}

size_t ScriptedLink::write(const uint8_t* data, size_t n) {
  const size_t taken = std::min(n, room);
  written.insert(written.end(), data, data + taken);
  if (room != SIZE_MAX) room -= taken;
  return taken;
}

bool ScriptedLink::wait_writable(uint32_t timeout_ms) {
  if (room) return true;
  CHECK_MSG(clock != nullptr, "a ScriptedLink that runs out of room needs a clock");
  if (!clock) return true;
  const uint32_t drain_at = drains.empty() ? 0 : drains.front().first;
  if (!drains.empty() && (drain_at <= clock->now || drain_at - clock->now <= timeout_ms)) {
    clock->now = std::max(clock->now, drain_at);
    room = drains.front().second;
    drains.pop_front();
    return true;
  }
  clock->now += timeout_ms;
  ++stalls;
  return false;
}

Bytes ScriptedLink::take_written() {
  Bytes out;
  out.swap(written);
  return out;
}

DeviceSpec DeviceSpec::from(const vectors::VectorDevice& device) {
  DeviceSpec spec;
  spec.n_actuators = static_cast<uint16_t>(device.n_actuators);
  spec.n_sensors = static_cast<uint16_t>(device.n_sensors);
  spec.n_static = static_cast<uint16_t>(device.n_static);
  spec.encoder = device.encoder;
  spec.low = device.low;
  spec.high = device.high;
  spec.bits = device.bits;
  spec.actuator_scale = device.actuator_scale;
  spec.sensor_scale = device.sensor_scale;
  spec.max_batch = static_cast<uint16_t>(device.max_batch);
  return spec;
}

DeviceSpec DeviceSpec::bits_device() {
  DeviceSpec spec;
  spec.n_actuators = 10;
  spec.n_sensors = 3;
  spec.n_static = 12;
  spec.encoder = "bits";
  spec.low = 0.0;
  spec.high = 1.0;
  spec.bits = 2;
  spec.actuator_scale = 1.0;
  spec.sensor_scale = 1.0 / 1024;
  return spec;
}

RecordingHal::RecordingHal(const DeviceSpec& spec, bool with_gain_setting)
    : spec_(spec),
      description_{"example",
                   spec_.n_actuators,
                   spec_.n_sensors,
                   spec_.n_static,
                   phyll::ActuatorEncoding{spec_.encoder.c_str(), spec_.low, spec_.high, spec_.bits},
                   spec_.actuator_scale,
                   spec_.sensor_scale,
                   spec_.max_batch},
      settings_{{"settle_us", 0, 10000000, &settle_us}, {"gain", 1, 8, &gain}},
      n_settings_(with_gain_setting ? 2 : 1) {}

phyll::HalStatus RecordingHal::excite(uint16_t batch, const uint8_t* vectors, uint8_t* out) {
  if (fault) return phyll::HalStatus::failure(fault);
  const bool bits = spec_.encoder == "bits";
  const size_t vector_bytes = bits ? (spec_.n_actuators + 7u) / 8u : 2u * spec_.n_actuators;
  applied.emplace_back(vectors, vectors + batch * vector_bytes);
  std::vector<int16_t> codes;
  for (int b = 0; b < batch; ++b) {
    for (int j = 0; j < spec_.n_sensors; ++j) {
      const size_t i = static_cast<size_t>(b * spec_.n_sensors + j);
      codes.push_back(i < answer.size() ? answer[i] : static_cast<int16_t>(100 * b + j + offset));
    }
  }
  const Bytes bytes = int16_bytes(codes);
  std::copy(bytes.begin(), bytes.end(), out);
  return phyll::HalStatus::success();
}

phyll::HalStatus RecordingHal::set_static(const uint8_t* packed, uint16_t n) {
  if (fault) return phyll::HalStatus::failure(fault);
  statics.emplace_back(n, Bytes(packed, packed + (n + 7) / 8));
  return phyll::HalStatus::success();
}

phyll::HalStatus RecordingHal::safe() {
  ++safes;
  if (clock) safe_at.push_back(clock->now);
  return fault ? phyll::HalStatus::failure(fault) : phyll::HalStatus::success();
}

Rig::Rig(const DeviceSpec& spec, uint32_t watchdog_ms, uint16_t board_max_batch, bool with_gain_setting)
    : hal(spec, with_gain_setting) {
  link.clock = &clock;
  hal.clock = &clock;
  const char* problem = phyll::hal_problem(hal);
  CHECK_MSG(problem == nullptr, problem ? problem : "");
  server = std::make_unique<phyll::FrameServer>(link, hal, clock, phyll::ServerOptions{"unix", watchdog_ms, board_max_batch});
}

std::vector<DecodedFrame> Rig::exchange(const Bytes& stream) {
  link.feed(stream);
  server->poll();
  return decode_frames(link.take_written());
}

JsonValue Rig::status() {
  const std::vector<DecodedFrame> replies = exchange(encode_frame(0x06, status_seq++, {}));
  CHECK_EQ(replies.size(), 1u);
  if (replies.size() != 1 || replies[0].type != 0x86) return JsonValue{};
  return json_of(replies[0]);
}

JsonValue json_of(const DecodedFrame& frame) {
  return parse_json(std::string(frame.payload.begin(), frame.payload.end()));
}

Bytes excite_payload(const std::vector<std::vector<int16_t>>& vectors) {
  const size_t width = vectors.empty() ? 0 : vectors[0].size();
  Bytes payload = {static_cast<uint8_t>(vectors.size()), static_cast<uint8_t>(vectors.size() >> 8),
                   static_cast<uint8_t>(width), static_cast<uint8_t>(width >> 8)};
  for (const auto& vector : vectors) {
    const Bytes codes = int16_bytes(vector);
    payload.insert(payload.end(), codes.begin(), codes.end());
  }
  return payload;
}
