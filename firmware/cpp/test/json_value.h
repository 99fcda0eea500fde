// A small strict JSON parser for the tests, to compare JSON replies by value (docs/protocol.md:
// never by bytes). Test-only: it allocates and throws, unlike the firmware's reader.
#pragma once

#include <map>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

struct JsonValue {
  enum Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  Kind kind = kNull;
  bool boolean = false;
  double number = 0;
  bool integral = false;  // written without fraction or exponent
  std::string text;
  std::vector<JsonValue> items;
  std::map<std::string, JsonValue> members;

  bool has(const std::string& key) const { return kind == kObject && members.count(key); }
  const JsonValue& operator[](const std::string& key) const;
  // Numbers compare by value (1 == 1.0, as Python's json does); everything else structurally.
  bool operator==(const JsonValue& other) const;
  bool operator!=(const JsonValue& other) const { return !(*this == other); }
};

struct JsonParseError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

JsonValue parse_json(const std::string& text);  // throws JsonParseError naming the offset
std::ostream& operator<<(std::ostream& out, const JsonValue& value);
