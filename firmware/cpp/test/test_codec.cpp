// CRC-32 and the JSON writer and reader, on their own.
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>

#include "../src/core/crc32.h"
#include "../src/core/json_object_reader.h"
#include "../src/core/json_writer.h"
#include "check.h"
#include "test_support.h"

namespace {

std::string written(const phyll::JsonWriter& json, const uint8_t* buffer) {
  return std::string(reinterpret_cast<const char*>(buffer), json.size());
}

std::string double_text(double v) {
  uint8_t buffer[64];
  phyll::JsonWriter json(buffer, sizeof buffer);
  json.value(v);
  return written(json, buffer);
}

}  // namespace

TEST(crc32_matches_zlib_and_the_bitwise_reference) {
  const std::string check = "123456789";
  CHECK_EQ(phyll::crc32(reinterpret_cast<const uint8_t*>(check.data()), check.size()), 0xCBF43926u);
  CHECK_EQ(phyll::crc32(nullptr, 0), 0u);
  std::mt19937 rng(1);
  for (int round = 0; round < 200; ++round) {
    Bytes data(rng() % 3000);
    for (uint8_t& b : data) b = static_cast<uint8_t>(rng());
    const uint32_t whole = phyll::crc32(data.data(), data.size());
    CHECK_EQ(whole, reference_crc32(data.data(), data.size()));
    const size_t split = data.empty() ? 0 : rng() % data.size();
    CHECK_EQ(phyll::crc32_update(phyll::crc32(data.data(), split), data.data() + split, data.size() - split), whole);
  }
}

TEST(json_doubles_are_the_shortest_exact_text) {
  CHECK_EQ(double_text(0.1), std::string("0.1"));
  CHECK_EQ(double_text(1.0), std::string("1.0"));
  CHECK_EQ(double_text(0.0), std::string("0.0"));
  CHECK_EQ(double_text(-0.5), std::string("-0.5"));
  CHECK_EQ(double_text(1.0 / 32768), std::string("3.0517578125e-05"));
  CHECK_EQ(double_text(3.3 / 32768), std::string("0.0001007080078125"));  // as Python repr()
  CHECK_EQ(double_text(1e300), std::string("1e+300"));
  CHECK_EQ(double_text(std::nan("")), std::string("null"));
  CHECK_EQ(double_text(std::numeric_limits<double>::infinity()), std::string("null"));
  std::mt19937_64 rng(2);
  for (int round = 0; round < 2000; ++round) {
    uint64_t bits = rng();
    double v;
    std::memcpy(&v, &bits, sizeof v);
    if (!std::isfinite(v)) continue;
    CHECK_EQ(std::strtod(double_text(v).c_str(), nullptr), v);
  }
}

TEST(json_writer_builds_nested_objects_and_escapes_strings) {
  uint8_t buffer[256];
  phyll::JsonWriter json(buffer, sizeof buffer);
  json.begin_object();
  json.member("a", int64_t{-5});
  json.key("inner");
  json.begin_object();
  json.member("x", std::numeric_limits<int64_t>::min());
  json.member("y", std::numeric_limits<uint64_t>::max());
  json.end_object();
  json.member("s", "quote\" back\\ tab\t bell\x07 é");
  json.end_object();
  CHECK(!json.overflowed());
  const std::string text = written(json, buffer);
  CHECK_EQ(text, std::string("{\"a\":-5,\"inner\":{\"x\":-9223372036854775808,\"y\":18446744073709551615},"
                             "\"s\":\"quote\\\" back\\\\ tab\\u0009 bell\\u0007 é\"}"));
  const JsonValue parsed = parse_json(text);
  CHECK_EQ(parsed["s"].text, std::string("quote\" back\\ tab\t bell\x07 é"));
}

TEST(json_writer_never_writes_past_its_capacity) {
  uint8_t buffer[16];
  std::memset(buffer, 0xEE, sizeof buffer);
  phyll::JsonWriter json(buffer, 10);
  json.begin_object();
  json.member("a long key", "a long value");
  json.end_object();
  CHECK(json.overflowed());
  CHECK_EQ(json.size(), 10u);
  for (size_t i = 10; i < sizeof buffer; ++i) CHECK_EQ(int{buffer[i]}, 0xEE);
}

TEST(json_reader_walks_members_and_refuses_non_ints) {
  const std::string text = R"( {"a": 0, "b" :-12 ,"c": 4611686018427387904, "d": 1.5} )";
  phyll::JsonObjectReader reader(reinterpret_cast<const uint8_t*>(text.data()), text.size());
  using Step = phyll::JsonObjectReader::Step;
  CHECK(reader.next() == Step::kMember && std::string(reader.key()) == "a" && reader.value_is_int() && reader.int_value() == 0);
  CHECK(reader.next() == Step::kMember && std::string(reader.key()) == "b" && reader.int_value() == -12);
  CHECK(reader.next() == Step::kMember && reader.int_value() == int64_t{1} << 62);  // saturated
  CHECK(reader.next() == Step::kMember && std::string(reader.key()) == "d" && !reader.value_is_int());
  CHECK(reader.next() == Step::kSyntaxError);  // it does not step over a float
  const std::string empty = " {  } \n";
  phyll::JsonObjectReader empty_reader(reinterpret_cast<const uint8_t*>(empty.data()), empty.size());
  CHECK(empty_reader.next() == Step::kEnd);
  const std::string list = "[]";
  phyll::JsonObjectReader list_reader(reinterpret_cast<const uint8_t*>(list.data()), list.size());
  CHECK(list_reader.next() == Step::kNotAnObject);
}
