// A bounded JSON object writer for the INFO, CONFIG and STATUS replies, straight into a
// reply buffer. It never writes past its capacity; overflowed() says the text was cut.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace phyll {

class JsonWriter {
 public:
  JsonWriter(uint8_t* out, size_t capacity) : out_(out), capacity_(capacity) {}

  void begin_object();
  void end_object();
  void key(const char* name);  // then exactly one value or begin_object
  template <typename T>
  void member(const char* name, T v) {
    key(name);
    value(v);
  }
  void value(int64_t v);
  void value(uint64_t v);
  void value(uint32_t v) { value(static_cast<uint64_t>(v)); }
  void value(double v);  // shortest text that reads back as the same double; NaN/inf -> null
  void value(const char* text);

  size_t size() const { return size_; }
  bool overflowed() const { return overflowed_; }

 private:
  void put(char c);
  void put(const char* text);

  uint8_t* out_;
  size_t capacity_;
  size_t size_ = 0;
  bool overflowed_ = false;
  uint32_t member_written_ = 0;  // bit d: the object at depth d already has a member
  uint8_t depth_ = 0;
};

}  // namespace phyll
