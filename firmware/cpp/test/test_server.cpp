// Frame-server behaviour beyond single vectors: reply cache, sessions, RESET, watchdog,
// clamping, CONFIGURE, HAL faults, counters, batch bounds.
#include <cstring>
#include <string>

#include "../src/core/protocol.h"
#include "check.h"
#include "test_support.h"

namespace {

constexpr uint8_t kHello = 0x01, kConfigure = 0x02, kExcite = 0x03, kSetStatic = 0x04, kPing = 0x05;
constexpr uint8_t kReset = 0x07, kError = 0xFF;

Bytes hello(uint16_t seq) { return encode_frame(kHello, seq, {1, 1}); }
Bytes excite(uint16_t seq, const std::vector<std::vector<int16_t>>& vectors = {{1, 2, 3}}) {
  return encode_frame(kExcite, seq, excite_payload(vectors));
}
Bytes configure(uint16_t seq, const std::string& json) { return encode_frame(kConfigure, seq, text_bytes(json)); }

int error_code(const DecodedFrame& reply) { return reply.type == kError ? reply.payload.at(0) : 0; }

std::string error_message(const DecodedFrame& reply) {
  return reply.type == kError ? std::string(reply.payload.begin() + 2, reply.payload.end()) : "";
}

// One request, one reply: its frame (a failed check leaves an empty frame).
DecodedFrame ask(Rig& rig, const Bytes& request) {
  const std::vector<DecodedFrame> replies = rig.exchange(request);
  CHECK_EQ(replies.size(), 1u);
  return replies.size() == 1 ? replies[0] : DecodedFrame{};
}

}  // namespace

TEST(resent_excite_is_answered_from_the_cache_without_exciting_again) {
  Rig rig;
  const Bytes request = excite(7);
  rig.link.feed(request);
  rig.server->poll();
  const Bytes first = rig.link.take_written();
  rig.link.feed(request);
  rig.server->poll();
  CHECK(rig.link.take_written() == first);
  CHECK_EQ(rig.hal.applied.size(), 1u);
  CHECK_EQ(rig.server->counters().duplicates, 1u);
  CHECK_EQ(rig.server->counters().excites, 1u);
}

TEST(cache_is_keyed_by_seq_and_type) {
  Rig rig;
  ask(rig, excite(7));
  const DecodedFrame pong = ask(rig, encode_frame(kPing, 7, text_bytes("x")));
  CHECK_EQ(int{pong.type}, 0x85);
  CHECK_EQ(rig.server->counters().duplicates, 0u);
}

TEST(cache_holds_the_last_in_flight_replies) {
  Rig rig;
  ask(rig, excite(100));
  for (uint16_t seq = 101; seq < 101 + phyll::kInFlight - 1; ++seq) ask(rig, excite(seq));
  ask(rig, excite(100));  // still cached: the oldest of kInFlight
  CHECK_EQ(rig.server->counters().duplicates, 1u);
  ask(rig, encode_frame(kPing, 500, {}));  // evicts seq 100
  ask(rig, excite(100));
  CHECK_EQ(rig.server->counters().duplicates, 1u);
  CHECK_EQ(rig.hal.applied.size(), phyll::kInFlight + 1);
}

TEST(a_cache_hit_does_not_refresh_its_entry) {
  Rig rig;
  for (uint16_t seq = 100; seq < 100 + phyll::kInFlight; ++seq) ask(rig, excite(seq));
  ask(rig, excite(100));  // a hit on the oldest entry
  CHECK_EQ(rig.server->counters().duplicates, 1u);
  ask(rig, encode_frame(kPing, 500, {}));  // first in, first out: evicts seq 100 all the same
  ask(rig, excite(100));
  CHECK_EQ(rig.server->counters().duplicates, 1u);
  CHECK_EQ(rig.hal.applied.size(), phyll::kInFlight + 1);
}

TEST(error_replies_are_cached_but_bad_crc_replies_are_not) {
  Rig rig;
  const Bytes bad_shape = excite(9, {{1, 2}});
  CHECK_EQ(error_code(ask(rig, bad_shape)), 5);
  CHECK_EQ(error_code(ask(rig, bad_shape)), 5);
  CHECK_EQ(rig.server->counters().duplicates, 1u);

  Bytes corrupted = excite(10);
  corrupted[12] ^= 0x01;
  CHECK_EQ(error_code(ask(rig, corrupted)), 1);
  const DecodedFrame measured = ask(rig, excite(10));  // the re-send runs
  CHECK_EQ(int{measured.type}, 0x83);
  CHECK_EQ(rig.server->counters().duplicates, 1u);
  CHECK_EQ(rig.hal.applied.size(), 1u);
}

TEST(hello_empties_the_cache_and_is_never_answered_from_it) {
  Rig rig;
  ask(rig, excite(7));
  ask(rig, hello(3));
  ask(rig, hello(3));
  ask(rig, excite(7));  // a new session's seq 7 is a new request
  CHECK_EQ(rig.server->counters().duplicates, 0u);
  CHECK_EQ(rig.hal.applied.size(), 2u);
}

TEST(reset_goes_safe_zeroes_static_and_counters_and_is_cached) {
  Rig rig(DeviceSpec::bits_device());
  ask(rig, encode_frame(kSetStatic, 1, {12, 0, 0xFF, 0x0F}));
  ask(rig, encode_frame(kExcite, 2, {1, 0, 10, 0, 0xFF, 0x03}));
  ask(rig, excite(3, {{1}}));  // wrong shape: an error, cached
  const int safes = rig.hal.safes;
  CHECK_EQ(int{ask(rig, encode_frame(kReset, 4, {})).type}, 0x87);
  CHECK_EQ(rig.hal.safes, safes + 1);
  CHECK(rig.hal.statics.size() == 2 && rig.hal.statics[1].first == 12 && rig.hal.statics[1].second == Bytes({0, 0}));
  CHECK_EQ(int{ask(rig, encode_frame(kReset, 4, {})).type}, 0x87);  // re-sent: from the cache
  CHECK_EQ(rig.hal.safes, safes + 1);
  ask(rig, excite(3, {{1}}));  // the cache was emptied: the error is computed anew
  const JsonValue status = rig.status();
  CHECK_EQ(status["duplicates"].number, 1.0);
  CHECK_EQ(status["excites"].number, 0.0);
  CHECK_EQ(status["frames_ok"].number, 3.0);  // re-sent RESET, bad EXCITE, this STATUS
}

TEST(status_right_after_reset_reports_frames_ok_1) {
  Rig rig;
  ask(rig, excite(1));
  ask(rig, encode_frame(kPing, 2, {}));
  ask(rig, encode_frame(kReset, 3, {}));
  const JsonValue status = rig.status();
  CHECK_EQ(status["frames_ok"].number, 1.0);  // the RESET was counted before the zeroing
  CHECK_EQ(status["excites"].number, 0.0);
}

TEST(rejected_excites_count_in_neither_excites_nor_vectors) {
  Rig rig;
  CHECK_EQ(error_code(ask(rig, excite(1, {{1, 2}}))), 5);
  CHECK_EQ(error_code(ask(rig, excite(2, std::vector<std::vector<int16_t>>(5, {1, 2, 3})))), 6);
  Bytes short_payload = excite_payload({{1, 2, 3}});
  short_payload.pop_back();
  CHECK_EQ(error_code(ask(rig, encode_frame(kExcite, 3, short_payload))), 4);
  rig.hal.fault = "medium overloaded";
  CHECK_EQ(error_code(ask(rig, excite(4, {{9, 9, 9}, {9, 9, 9}}))), 8);
  rig.hal.fault = nullptr;
  ask(rig, excite(5, {{1, 2, 3}, {1, 2, 3}, {1, 2, 3}}));
  ask(rig, excite(5, {{1, 2, 3}, {1, 2, 3}, {1, 2, 3}}));  // from the cache
  const JsonValue status = rig.status();
  CHECK_EQ(status["excites"].number, 1.0);
  CHECK_EQ(status["vectors"].number, 3.0);
  CHECK_EQ(status["duplicates"].number, 1.0);
}

TEST(info_encoding_bits_is_1_for_analog_encoders) {
  DeviceSpec spec;
  spec.bits = 3;
  Rig rig(spec);
  CHECK_EQ(json_of(ask(rig, hello(1)))["encoding"],
           parse_json(R"({"encoder": "minmax", "low": 0.0, "high": 0.5, "bits": 1})"));
  Rig bits(DeviceSpec::bits_device());
  CHECK_EQ(json_of(ask(bits, hello(1)))["encoding"]["bits"].number, 2.0);
}

TEST(reset_keeps_the_configuration) {
  Rig rig;
  ask(rig, configure(1, R"({"settle_us": 7, "watchdog_ms": 50})"));
  ask(rig, encode_frame(kReset, 2, {}));
  const JsonValue config = json_of(ask(rig, configure(3, "{}")));
  CHECK_EQ(config["settle_us"].number, 7.0);
  CHECK_EQ(config["watchdog_ms"].number, 50.0);
}

TEST(watchdog_trips_once_per_silence_after_the_first_frame) {
  Rig rig(DeviceSpec{}, 1000);
  rig.clock.now += 5000;
  rig.server->poll();
  CHECK_EQ(rig.hal.safes, 0);  // not armed before a host spoke
  ask(rig, excite(1));
  CHECK_EQ(rig.server->ms_until_due(), 1000);
  rig.clock.now += 999;
  rig.server->poll();
  CHECK_EQ(rig.hal.safes, 0);
  rig.clock.now += 1;
  rig.server->poll();
  CHECK_EQ(rig.hal.safes, 1);
  CHECK_EQ(rig.server->watchdog_trips(), 1u);
  rig.clock.now += 10000;
  rig.server->poll();
  CHECK_EQ(rig.hal.safes, 1);  // once per silence
  CHECK_EQ(rig.server->ms_until_due(), -1);
  ask(rig, excite(2));  // the next EXCITE drives the actuators normally and re-arms
  CHECK_EQ(rig.hal.applied.size(), 2u);
  rig.clock.now += 1000;
  rig.server->poll();
  CHECK_EQ(rig.server->watchdog_trips(), 2u);
  CHECK_EQ(rig.status()["watchdog_trips"].number, 2.0);
}

TEST(watchdog_does_not_trip_when_a_request_is_already_waiting) {
  Rig rig(DeviceSpec{}, 1000);
  ask(rig, excite(1));
  rig.clock.now += 5000;  // the device was busy; the host's request arrived meanwhile
  CHECK_EQ(int{ask(rig, excite(2)).type}, 0x83);
  CHECK_EQ(rig.server->watchdog_trips(), 0u);
}

TEST(watchdog_zero_is_off_and_configure_changes_it) {
  Rig rig(DeviceSpec{}, 0);
  ask(rig, excite(1));
  rig.clock.now += 100000;
  rig.server->poll();
  CHECK_EQ(rig.server->watchdog_trips(), 0u);
  ask(rig, configure(2, R"({"watchdog_ms": 20})"));
  rig.clock.now += 20;
  rig.server->poll();
  CHECK_EQ(rig.server->watchdog_trips(), 1u);
}

TEST(watchdog_and_inter_byte_timeout_work_across_the_millis_wrap) {
  Rig rig(DeviceSpec{}, 1000);
  rig.clock.now = 0xFFFFFF00u;
  ask(rig, excite(1));
  rig.link.feed(Bytes{0xA5, 0x5A, 0x01});
  rig.server->poll();
  rig.clock.now += 0x100;  // wraps to 0
  CHECK_EQ(rig.server->ms_until_due(), 0);  // 256 ms of silence: the partial frame is due
  rig.server->poll();
  CHECK_EQ(rig.server->parser_counters().inter_byte_timeouts, 1u);
  CHECK_EQ(rig.server->watchdog_trips(), 0u);
  rig.clock.now += 1000;
  rig.server->poll();
  CHECK_EQ(rig.server->watchdog_trips(), 1u);
}

TEST(uptime_accumulates_across_the_millis_wrap) {
  Rig rig;
  rig.clock.now = 0xFFFFFFF0u;
  rig.server->poll();
  const double before = rig.status()["uptime_ms"].number;
  rig.clock.now += 0x20;
  CHECK_EQ(rig.status()["uptime_ms"].number - before, 32.0);
}

TEST(analog_codes_are_clamped_into_the_limits_and_counted) {
  DeviceSpec spec;
  spec.low = -0.25;
  spec.high = 0.5;  // codes [-8192, 16384] at 2^-15
  Rig rig(spec);
  ask(rig, excite(1, {{-32768, 0, 32767}, {-8193, -8192, 16385}}));
  CHECK(int16s(rig.hal.applied.at(0)) == std::vector<int16_t>({-8192, 0, 16384, -8192, -8192, 16384}));
  CHECK_EQ(rig.server->counters().clamps, 4u);
}

TEST(full_range_limits_and_bits_devices_clamp_nothing) {
  DeviceSpec spec;
  spec.low = -2.0;
  spec.high = 2.0;  // beyond int16 at 2^-15: saturated to the int16 range
  Rig analog(spec);
  ask(analog, excite(1, {{-32768, 0, 32767}}));
  CHECK_EQ(analog.server->counters().clamps, 0u);
  Rig bits(DeviceSpec::bits_device());
  ask(bits, encode_frame(kExcite, 1, {1, 0, 10, 0, 0xFF, 0xFF}));
  CHECK(bits.hal.applied.at(0) == Bytes({0xFF, 0xFF}));  // padding bits reach the HAL untouched
  CHECK_EQ(bits.server->counters().clamps, 0u);
}

TEST(code_limits_round_half_to_even_like_python) {
  DeviceSpec spec;
  spec.actuator_scale = 0.5;
  spec.low = -1.25;  // -2.5 -> -2
  spec.high = 1.75;  // 3.5 -> 4
  Rig rig(spec);
  ask(rig, excite(1, {{-3, 5, 0}}));
  CHECK(int16s(rig.hal.applied.at(0)) == std::vector<int16_t>({-2, 4, 0}));
}

TEST(configure_applies_all_or_nothing) {
  Rig rig(DeviceSpec{}, 2000, 0, true);
  const DecodedFrame good = ask(rig, configure(1, R"( { "gain" : 3 , "settle_us":0, "watchdog_ms": 3600000 } )"));
  CHECK_EQ(int{good.type}, 0x82);
  CHECK_EQ(json_of(good), parse_json(R"({"gain": 3, "settle_us": 0, "watchdog_ms": 3600000})"));
  const char* refused[] = {
      R"({"settle_us": 5, "watchdog_ms": 3600001})", R"({"settle_us": 5, "gain": 9})",
      R"({"settle_us": 5, "gain": 0})",             R"({"settle_us": 5, "gain": 2.0})",
      R"({"settle_us": 5, "gain": 2e0})",           R"({"settle_us": 5, "gain": "2"})",
      R"({"settle_us": 5, "gain": true})",          R"({"settle_us": 5, "gain": null})",
      R"({"settle_us": 5, "gain": -1})",            R"({"settle_us": 5, "gain": 99999999999999999999})",
      R"({"settle_us": 5, "colour": 1})",           R"({"settle_us": 5, "gain": 02})",
      R"({"settle_us": 5,})",                       R"({"settle_us": 5} x)",
      R"({"settle_us" 5})",                         R"({"settle_us": 5)",
      R"([1])",                                     "",
      "   ",                                        R"({"settle_us": -})",
      R"({"settle_us": 5, "gain": [1]})",           R"({"sett\u006ce_us": 5, "x": 1})",
      "{\"settle_us\": 5, \"a\nb\": 1}",
      R"({"settle_us": true})",                     R"({"settle_us": 5.0})",
      R"({"settle_us": "5"})",                      R"({"settle_us": null})",
      R"({"settle_us": 10000001})",                 R"({"watchdog_ms": 1e3})",
      "{\"settle_us\": 5, \"\xff\": 1}",            "\xff{\"settle_us\": 5}",
      "{\"settle_us\": \"\xc3\x28\"}",
  };
  uint16_t seq = 10;
  for (const char* json : refused) {
    const DecodedFrame reply = ask(rig, configure(seq++, json));
    CHECK_MSG(error_code(reply) == 7, json);
  }
  CHECK_EQ(json_of(ask(rig, configure(seq++, "{}"))), json_of(good));
  const JsonValue edges = json_of(ask(rig, configure(seq++, R"({"settle_us": 10000000, "watchdog_ms": 0})")));
  CHECK_EQ(edges["settle_us"].number, 10000000.0);
  CHECK_EQ(edges["watchdog_ms"].number, 0.0);
}

TEST(configure_errors_name_the_key) {
  Rig rig;
  CHECK_EQ(error_message(ask(rig, configure(1, R"({"colour": "red"})"))), std::string("unknown key 'colour'"));
  CHECK_EQ(error_message(ask(rig, configure(2, R"({"settle_us": 1.5})"))),
           std::string("settle_us must be an int in 0..10000000"));
  const std::string long_key(100, 'k');
  CHECK_EQ(error_message(ask(rig, configure(3, "{\"" + long_key + "\": 1}"))),
           "unknown key '" + std::string(40, 'k') + "'");
  CHECK_EQ(error_message(ask(rig, configure(4, "{\"\\u00e9\\u0001\": 1}"))), std::string("unknown key '?") + "?'");
  CHECK_EQ(error_message(ask(rig, configure(5, R"({"settle_us": true})"))),
           std::string("settle_us must be an int in 0..10000000"));
  CHECK_EQ(error_message(ask(rig, configure(6, "[]"))), std::string("CONFIGURE payload must be a JSON object"));
}

TEST(configure_decodes_escaped_keys) {
  Rig rig;
  const DecodedFrame reply = ask(rig, configure(1, R"({"settle\u005fus": 42})"));
  CHECK_EQ(int{reply.type}, 0x82);
  CHECK_EQ(rig.hal.settle_us, 42u);
}

TEST(hal_fault_becomes_an_error_reply_with_its_message) {
  Rig rig;
  rig.hal.fault = "ADC read timed out";
  const DecodedFrame reply = ask(rig, excite(22));
  CHECK_EQ(error_code(reply), 8);
  CHECK_EQ(error_message(reply), std::string("ADC read timed out"));
  CHECK_EQ(rig.server->counters().hal_faults, 1u);
  CHECK_EQ(rig.server->counters().excites, 0u);
  CHECK_EQ(error_code(ask(rig, excite(22))), 8);  // cached: not run again
  CHECK_EQ(rig.server->counters().hal_faults, 1u);
}

TEST(a_failing_safe_is_counted_and_serving_goes_on) {
  Rig rig(DeviceSpec{}, 10);
  ask(rig, excite(1));
  rig.hal.fault = "driver gone";
  rig.clock.now += 10;
  rig.server->poll();
  CHECK_EQ(rig.server->counters().hal_faults, 1u);
  rig.hal.fault = nullptr;
  CHECK_EQ(int{ask(rig, excite(2)).type}, 0x83);
}

TEST(hal_fault_messages_are_cut_to_200_bytes) {
  Rig rig;
  const std::string long_message(300, 'm');
  rig.hal.fault = long_message.c_str();
  CHECK_EQ(error_message(ask(rig, excite(1))).size(), 200u);
}

TEST(payload_length_checks) {
  Rig rig;
  CHECK_EQ(error_code(ask(rig, encode_frame(kHello, 1, {1}))), 4);
  CHECK_EQ(error_code(ask(rig, encode_frame(kHello, 2, {1, 1, 1}))), 4);
  CHECK_EQ(error_code(ask(rig, encode_frame(kHello, 3, {2, 1}))), 2);
  CHECK_EQ(error_code(ask(rig, encode_frame(kHello, 4, {0, 9}))), 0);  // 0..9 includes 1
  CHECK_EQ(error_code(ask(rig, encode_frame(0x06, 5, {0}))), 4);
  CHECK_EQ(error_code(ask(rig, encode_frame(kReset, 6, {0}))), 4);
  CHECK_EQ(error_code(ask(rig, encode_frame(kPing, 7, Bytes(64, 1)))), 0);
  CHECK_EQ(error_code(ask(rig, encode_frame(kPing, 8, Bytes(65, 1)))), 4);
  CHECK_EQ(error_code(ask(rig, encode_frame(kExcite, 9, {1, 0, 3}))), 4);
  CHECK_EQ(error_code(ask(rig, encode_frame(kExcite, 10, {0, 0, 3, 0}))), 5);  // batch 0
  CHECK_EQ(error_code(ask(rig, encode_frame(kSetStatic, 11, {0}))), 4);
  CHECK_EQ(error_code(ask(rig, encode_frame(kSetStatic, 12, {0, 0}))), 0);  // n_static 0
  CHECK_EQ(error_code(ask(rig, encode_frame(kSetStatic, 13, {0, 0, 0}))), 4);
}

TEST(repl_and_unknown_types_are_unknown) {
  Rig rig;
  for (const uint8_t type : {uint8_t{0x08}, uint8_t{0x09}, uint8_t{0x3F}, uint8_t{0x81}, uint8_t{0xFF}, uint8_t{0x00}}) {
    const DecodedFrame reply = ask(rig, encode_frame(type, type, {}));
    CHECK_EQ(error_code(reply), 3);
    CHECK_EQ(int{reply.payload.at(1)}, int{type});
  }
}

TEST(status_reports_every_counter) {
  Rig rig;
  rig.link.feed(Bytes{0x00, 0x01, 0x02});  // skipped noise
  ask(rig, excite(1, {{-1, 2, 3}, {4, 5, 6}}));
  Bytes corrupted = excite(2);
  corrupted[12] ^= 0x40;
  ask(rig, corrupted);
  Bytes bad_header = excite(3);
  bad_header[9] ^= 0xFF;
  CHECK(rig.exchange(bad_header).empty());
  ask(rig, excite(1, {{-1, 2, 3}, {4, 5, 6}}));
  const JsonValue status = rig.status();
  for (const char* key : {"frames_ok", "crc_errors", "header_errors", "excites", "vectors", "duplicates", "clamps",
                          "watchdog_trips", "uptime_ms", "skipped_bytes", "inter_byte_timeouts", "hal_faults",
                          "replies_dropped"}) {
    CHECK_MSG(status.has(key) && status[key].kind == JsonValue::kNumber && status[key].integral, key);
  }
  CHECK_EQ(status["frames_ok"].number, 3.0);
  CHECK_EQ(status["crc_errors"].number, 1.0);
  CHECK_EQ(status["header_errors"].number, 1.0);
  CHECK_EQ(status["excites"].number, 1.0);
  CHECK_EQ(status["vectors"].number, 2.0);
  CHECK_EQ(status["duplicates"].number, 1.0);
  CHECK_EQ(status["clamps"].number, 1.0);
  CHECK(status["skipped_bytes"].number >= 3.0);
}

TEST(max_batch_is_the_protocol_bound_unless_capped) {
  DeviceSpec spec;
  spec.n_actuators = 64;
  spec.n_sensors = 16;
  spec.low = -1;
  spec.high = 1;
  spec.max_batch = 0;
  CHECK_EQ(Rig(spec).server->max_batch(), 127);  // docs/protocol.md section 4 example
  spec.max_batch = 100;
  CHECK_EQ(Rig(spec).server->max_batch(), 100);
  CHECK_EQ(Rig(spec, 2000, 50).server->max_batch(), 50);
  spec.max_batch = 1000;  // more than fits: the bound wins
  CHECK_EQ(Rig(spec).server->max_batch(), 127);
  DeviceSpec bits = DeviceSpec::bits_device();
  bits.n_actuators = 1;
  bits.n_sensors = 1;
  bits.max_batch = 0;
  CHECK_EQ(Rig(bits).server->max_batch(), 8190);
}

TEST(largest_batch_fills_a_whole_measure_frame) {
  DeviceSpec spec;  // 2 sensors per actuator: MEASURE is the side that bounds the batch
  spec.n_actuators = 1;
  spec.n_sensors = 2;
  spec.low = -1;
  spec.high = 1;
  spec.max_batch = 0;
  Rig rig(spec);
  CHECK_EQ(rig.server->max_batch(), 4095);
  std::vector<std::vector<int16_t>> vectors(4095, std::vector<int16_t>{5});
  const DecodedFrame reply = ask(rig, excite(1, vectors));
  CHECK_EQ(int{reply.type}, 0x83);
  CHECK_EQ(reply.payload.size(), phyll::kMaxPayload);
  vectors.emplace_back(std::vector<int16_t>{5});
  CHECK_EQ(error_code(ask(rig, excite(2, vectors))), 6);
}

TEST(a_frame_longer_than_max_payload_is_a_header_error) {
  DeviceSpec spec;
  spec.n_actuators = 1;
  spec.n_sensors = 1;
  spec.max_batch = 0;
  Rig rig(spec);
  CHECK(rig.exchange(excite(1, std::vector<std::vector<int16_t>>(8191, std::vector<int16_t>{5}))).empty());
  CHECK(rig.server->parser_counters().header_errors >= 1);
  CHECK_EQ(int{ask(rig, encode_frame(kPing, 2, {})).type}, 0x85);  // resynchronised
}

TEST(hal_problems_are_named) {
  DeviceSpec spec;
  spec.n_sensors = 0;
  RecordingHal no_sensors(spec);
  CHECK(phyll::hal_problem(no_sensors) != nullptr);
  DeviceSpec encoder;
  encoder.encoder = "gray";
  RecordingHal bad_encoder(encoder);
  CHECK_EQ(std::string(phyll::hal_problem(bad_encoder)), std::string("HAL encoder must be \"l2\", \"minmax\" or \"bits\""));
  DeviceSpec bits = DeviceSpec::bits_device();
  bits.actuator_scale = 0.5;
  RecordingHal bad_bits(bits);
  CHECK(phyll::hal_problem(bad_bits) != nullptr);
  DeviceSpec limits;
  limits.low = 1;
  limits.high = 0;
  RecordingHal bad_limits(limits);
  CHECK(phyll::hal_problem(bad_limits) != nullptr);
  RecordingHal fine{DeviceSpec{}};
  CHECK(phyll::hal_problem(fine) == nullptr);
}
