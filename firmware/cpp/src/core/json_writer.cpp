#include "json_writer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

namespace phyll {

void JsonWriter::begin_object() {
  put('{');
  ++depth_;
  member_written_ &= ~(1u << depth_);
}

void JsonWriter::end_object() {
  put('}');
  --depth_;
}

void JsonWriter::key(const char* name) {
  if (member_written_ & (1u << depth_)) put(',');
  member_written_ |= 1u << depth_;
  value(name);
  put(':');
}

// Digits by hand: newlib-nano's printf (some Arduino cores) has no %lld.
void JsonWriter::value(uint64_t v) {
  char digits[20];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v);
  while (n) put(digits[--n]);
}

void JsonWriter::value(int64_t v) {
  if (v < 0) {
      put('-');
    value(static_cast<uint64_t>(-(v + 1)) + 1);
  } else {
    value(static_cast<uint64_t>(v));
  }
}

void JsonWriter::value(double v) {
  if (!isfinite(v)) {
    put("null");
    return;
  }
  // Shortest round trip, so the host reads back exactly the scale the device uses.
  char text[32];
  for (int precision = 1; precision <= 17; ++precision) {
    snprintf(text, sizeof text, "%.*g", precision, v);
    if (strtod(text, nullptr) == v) break;
  }
  put(text);
  // "1" would read back as a JSON int; INFO's scales and limits are floats.
  if (!strpbrk(text, ".eE")) put(".0");
}

void JsonWriter::value(const char* text) {
  put('"');
  for (const char* c = text; *c; ++c) {
    const uint8_t byte = static_cast<uint8_t>(*c);
    if (byte == '"' || byte == '\\') {
      put('\\');
      put(*c);
    } else if (byte < 0x20) {
      char escaped[7];
      snprintf(escaped, sizeof escaped, "\\u%04x", byte);
      put(escaped);
    } else {
      put(*c);
    }
  }
  put('"');
}

void JsonWriter::put(char c) {
  if (size_ < capacity_) {
    out_[size_++] = static_cast<uint8_t>(c);
  } else {
    overflowed_ = true;
  }
}

void JsonWriter::put(const char* text) {
  while (*text) put(*text++);
}

}  // namespace phyll
