// One handler per request type (docs/protocol.md section 3). Each writes its reply payload at
// `out` (inside the reply's cache slot) and returns the reply type and payload length.
#include <string.h>

#include "byte_order.h"
#include "firmware_version.h"
#include "frame_server.h"
#include "json_object_reader.h"
#include "json_writer.h"

namespace phyll {
namespace {

constexpr uint8_t reply_type(uint8_t request_type) { return request_type | msg::kReplyBit; }

// watchdog_ms is the server's own setting; it has no HAL value to point at.
const IntSetting kWatchdogSetting{"watchdog_ms", 0, kMaxWatchdogMs, nullptr};

// CONFIGURE keys: 0 is watchdog_ms, 1 + i the HAL's setting i, -1 an unknown key.
int setting_index(const char* key, const IntSettings& hal_settings) {
  if (strcmp(key, kWatchdogSetting.key) == 0) return 0;
  for (size_t i = 0; i < hal_settings.count; ++i) {
    if (strcmp(key, hal_settings.items[i].key) == 0) return static_cast<int>(1 + i);
  }
  return -1;
}

// A key echoed in an error message: printable ASCII only, so the message stays valid UTF-8.
void printable_copy(char* into, size_t capacity, const char* text) {
  size_t i = 0;
  for (; text[i] && i + 1 < capacity; ++i) {
    const char c = text[i];
    into[i] = c >= 0x20 && c < 0x7F ? c : '?';
  }
  into[i] = '\0';
}

}  // namespace

FrameServer::Reply FrameServer::hello(const ParseEvent& request, uint8_t* out) {
  if (request.length != 2) {
    return error(out, ErrorCode::kBadLength, request.type,
                 "HELLO payload is u8 min_version, u8 max_version; got %u bytes", request.length);
  }
  const uint8_t low = request.payload[0];
  const uint8_t high = request.payload[1];
  if (low > high || low > kProtocolVersion || high < kProtocolVersion) {
    return error(out, ErrorCode::kBadVersion, request.type, "supported protocol versions %u..%u",
                 kProtocolVersion, kProtocolVersion);
  }
  const HalDescription& d = description_;
  JsonWriter json(out, kMaxPayload);
  json.begin_object();
  json.member("protocol", uint32_t{kProtocolVersion});
  json.member("firmware", kFirmwareName);
  json.member("board", board_);
  json.member("medium", d.medium);
  json.member("runtime", kRuntime);
  json.member("n_actuators", uint32_t{d.n_actuators});
  json.member("n_sensors", uint32_t{d.n_sensors});
  json.member("n_static", uint32_t{d.n_static});
  json.key("encoding");
  json.begin_object();
  json.member("encoder", d.encoding.encoder);
  json.member("low", d.encoding.low);
  json.member("high", d.encoding.high);
  json.member("bits", int64_t{bits_ ? d.encoding.bits : 1});  // one element per value unless "bits"
  json.end_object();
  json.member("actuator_scale", d.actuator_scale);
  json.member("sensor_scale", d.sensor_scale);
  json.member("max_batch", uint32_t{max_batch_});
  json.member("max_payload", uint32_t{kMaxPayload});
  json.member("in_flight", uint32_t{kInFlight});
  json.member("settle_us", settle_us());
  json.member("watchdog_ms", watchdog_.timeout_ms());
  json.end_object();
  return json_reply(out, request.type, json);
}

// All-or-nothing: every member is checked before any is applied.
FrameServer::Reply FrameServer::configure(const ParseEvent& request, uint8_t* out) {
  const IntSettings hal_settings = hal_.settings();
  uint32_t pending[1 + kMaxHalSettings];  // by setting_index()
  bool given[1 + kMaxHalSettings] = {};
  JsonObjectReader reader(request.payload, request.length);
  for (;;) {
    const JsonObjectReader::Step step = reader.next();
    if (step == JsonObjectReader::Step::kEnd) break;
    if (step == JsonObjectReader::Step::kNotAnObject) {
      return error(out, ErrorCode::kBadConfig, request.type, "CONFIGURE payload must be a JSON object");
    }
    if (step == JsonObjectReader::Step::kSyntaxError) {
      return error(out, ErrorCode::kBadConfig, request.type, "CONFIGURE payload is not valid JSON (at byte %u)",
                   static_cast<unsigned>(reader.error_offset()));
    }
    const int index = reader.key_cut() ? -1 : setting_index(reader.key(), hal_settings);
    if (index < 0) {
      char key[JsonObjectReader::kMaxKey + 1];
      printable_copy(key, sizeof key, reader.key());
      return error(out, ErrorCode::kBadConfig, request.type, "unknown key '%s'", key);
    }
    const IntSetting& setting = index == 0 ? kWatchdogSetting : hal_settings.items[index - 1];
    const int64_t value = reader.int_value();
    if (!reader.value_is_int() || value < setting.low || value > setting.high) {
      return error(out, ErrorCode::kBadConfig, request.type, "%s must be an int in %lu..%lu", setting.key,
                   static_cast<unsigned long>(setting.low), static_cast<unsigned long>(setting.high));
    }
    pending[index] = static_cast<uint32_t>(value);
    given[index] = true;
  }
  if (given[0]) watchdog_.set_timeout_ms(pending[0]);
  for (size_t i = 0; i < hal_settings.count; ++i) {
    if (given[1 + i]) *hal_settings.items[i].value = pending[1 + i];
  }
  JsonWriter json(out, kMaxPayload);
  json.begin_object();
  json.member("watchdog_ms", watchdog_.timeout_ms());
  for (size_t i = 0; i < hal_settings.count; ++i) {
    json.member(hal_settings.items[i].key, *hal_settings.items[i].value);
  }
  json.end_object();
  return json_reply(out, request.type, json);
}

// Checks in the order docs/protocol.md gives; the MEASURE is written by the HAL straight into
// the reply slot behind its 4-byte header.
FrameServer::Reply FrameServer::excite(const ParseEvent& request, uint8_t* out) {
  const uint16_t length = request.length;
  if (length < kBatchHeaderSize) {
    return error(out, ErrorCode::kBadLength, request.type,
                 "EXCITE payload of %u bytes; it starts with u16 batch, u16 width", length);
  }
  const uint16_t batch = get_u16le(request.payload);
  const uint16_t width = get_u16le(request.payload + 2);
  const uint16_t n_actuators = description_.n_actuators;
  if (width != n_actuators || batch == 0) {
    return error(out, ErrorCode::kBadShape, request.type,
                 "EXCITE of %u x %u; this device takes width %u and batch >= 1", batch, width, n_actuators);
  }
  if (batch > max_batch_) {
    return error(out, ErrorCode::kBatchTooLarge, request.type, "EXCITE batch %u > max_batch %u", batch, max_batch_);
  }
  const size_t vectors_size = static_cast<size_t>(batch) * vector_bytes_;
  if (length != kBatchHeaderSize + vectors_size) {
    return error(out, ErrorCode::kBadLength, request.type, "EXCITE of %u x %u needs %u payload bytes, got %u",
                 batch, width, static_cast<unsigned>(kBatchHeaderSize + vectors_size), length);
  }
  uint8_t* vectors = request.payload + kBatchHeaderSize;
  if (!bits_ && limits_.restrictive()) {
    counters_.clamps += clamp_codes(vectors, static_cast<size_t>(batch) * n_actuators, limits_);
  }
  const HalStatus status = hal_.excite(batch, vectors, out + kBatchHeaderSize);
  if (!status.ok()) return hal_fault(out, request.type, status);
  put_u16le(out, batch);
  put_u16le(out + 2, description_.n_sensors);
  ++counters_.excites;
  counters_.vectors += batch;
  return Reply{reply_type(request.type),
               static_cast<uint16_t>(kBatchHeaderSize + 2u * batch * description_.n_sensors)};
}

FrameServer::Reply FrameServer::set_static(const ParseEvent& request, uint8_t* out) {
  if (request.length < 2) {
    return error(out, ErrorCode::kBadLength, request.type,
                 "SET_STATIC payload starts with u16 n_elements; got %u bytes", request.length);
  }
  const uint16_t n = get_u16le(request.payload);
  if (n != description_.n_static) {
    return error(out, ErrorCode::kBadShape, request.type, "SET_STATIC of %u elements; this device has n_static %u",
                 n, description_.n_static);
  }
  const size_t packed_size = (n + 7u) / 8u;
  if (request.length != 2 + packed_size) {
    return error(out, ErrorCode::kBadLength, request.type, "SET_STATIC of %u elements needs %u payload bytes, got %u",
                 n, static_cast<unsigned>(2 + packed_size), request.length);
  }
  const HalStatus status = hal_.set_static(request.payload + 2, n);
  if (!status.ok()) return hal_fault(out, request.type, status);
  return Reply{reply_type(request.type), 0};
}

FrameServer::Reply FrameServer::ping(const ParseEvent& request, uint8_t* out) {
  if (request.length > kMaxPing) {
    return error(out, ErrorCode::kBadLength, request.type, "PING carries at most %u bytes, got %u",
                 static_cast<unsigned>(kMaxPing), request.length);
  }
  memcpy(out, request.payload, request.length);
  return Reply{reply_type(request.type), request.length};
}

FrameServer::Reply FrameServer::status(const ParseEvent& request, uint8_t* out) {
  if (request.length) {
    return error(out, ErrorCode::kBadLength, request.type, "STATUS takes an empty payload, got %u bytes",
                 request.length);
  }
  advance_uptime();
  const ParserCounters& parsed = parser_.counters();
  JsonWriter json(out, kMaxPayload);
  json.begin_object();
  json.member("frames_ok", counters_.frames_ok);
  json.member("crc_errors", parsed.crc_errors);
  json.member("header_errors", parsed.header_errors);
  json.member("excites", counters_.excites);
  json.member("vectors", counters_.vectors);
  json.member("duplicates", counters_.duplicates);
  json.member("clamps", counters_.clamps);
  json.member("watchdog_trips", watchdog_.trips());
  json.member("uptime_ms", uptime_ms_);
  json.member("skipped_bytes", parsed.skipped_bytes);
  json.member("inter_byte_timeouts", parsed.inter_byte_timeouts);
  json.member("hal_faults", counters_.hal_faults);
  json.member("replies_dropped", counters_.replies_dropped);
  json.end_object();
  return json_reply(out, request.type, json);
}

// Configuration is kept; the reply is cached after the cache is emptied, so a re-sent RESET
// gets it again instead of resetting twice.
FrameServer::Reply FrameServer::reset(const ParseEvent& request, uint8_t* out) {
  if (request.length) {
    return error(out, ErrorCode::kBadLength, request.type, "RESET takes an empty payload, got %u bytes",
                 request.length);
  }
  go_safe();
  if (description_.n_static) {
    // The reply is empty, so its payload area serves as the all-zero static pattern.
    memset(out, 0, (description_.n_static + 7u) / 8u);
    const HalStatus status = hal_.set_static(out, description_.n_static);
    if (!status.ok()) return hal_fault(out, request.type, status);
  }
  counters_ = ServerCounters{};
  parser_.reset_counters();
  watchdog_.reset_trips();
  cache_.forget_all();
  return Reply{reply_type(request.type), 0};
}

// Only absurd board or medium names could overflow a reply; a cut JSON must not go out.
FrameServer::Reply FrameServer::json_reply(uint8_t* out, uint8_t request_type, const JsonWriter& json) {
  if (json.overflowed()) {
    return error(out, ErrorCode::kHalFault, request_type, "reply JSON exceeds %u bytes",
                 static_cast<unsigned>(kMaxPayload));
  }
  return Reply{reply_type(request_type), static_cast<uint16_t>(json.size())};
}

uint32_t FrameServer::settle_us() {
  const IntSettings settings = hal_.settings();
  for (size_t i = 0; i < settings.count; ++i) {
    if (strcmp(settings.items[i].key, "settle_us") == 0) return *settings.items[i].value;
  }
  return 0;
}

}  // namespace phyll
