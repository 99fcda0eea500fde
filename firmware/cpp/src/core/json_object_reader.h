// Reads a JSON object {"key": value, ...} one member at a time, without allocating: enough for
// CONFIGURE, whose settings are all ints. Keys are decoded into a fixed buffer; int values are
// parsed; any other value (float, string, bool, null, object, array) is recognised only so the
// caller can refuse it -- the reader does not parse past it.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace phyll {

class JsonObjectReader {
 public:
  static constexpr size_t kMaxKey = 40;

  enum class Step : uint8_t {
    kMember,       // key() and the value are ready
    kEnd,          // the closing brace, followed only by whitespace
    kNotAnObject,  // the text does not start with '{'
    kSyntaxError,  // invalid JSON at error_offset()
  };

  JsonObjectReader(const uint8_t* text, size_t length) : text_(text), length_(length) {}

  // Call again only after kMember with an int value; otherwise the reader is done.
  Step next();

  const char* key() const { return key_; }  // NUL-terminated; cut at kMaxKey bytes
  bool key_cut() const { return key_cut_; }
  bool value_is_int() const { return value_is_int_; }
  // The int value, saturated at +-2^62 (far outside any setting's range).
  int64_t int_value() const { return int_value_; }
  size_t error_offset() const { return at_; }

 private:
  enum class State : uint8_t { kStart, kInObject, kFinished };

  Step member();
  bool read_key();
  bool read_escape();
  bool read_value();
  void skip_whitespace();
  bool at_end() const { return at_ >= length_; }
  uint8_t peek() const { return text_[at_]; }
  Step fail(Step why);

  const uint8_t* text_;
  size_t length_;
  size_t at_ = 0;
  State state_ = State::kStart;
  char key_[kMaxKey + 1] = {};
  size_t key_length_ = 0;
  bool key_cut_ = false;
  bool value_is_int_ = false;
  int64_t int_value_ = 0;
};

}  // namespace phyll
