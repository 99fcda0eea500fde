#include "medium_description.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <initializer_list>

#include "../core/byte_order.h"
#include "../core/protocol.h"

namespace phyll {
namespace {

// Python's json.dumps writes the description: ASCII with \u escapes, floats in shortest form.
// The cursor reads that grammar and no more than it needs: members it does not know are stepped
// over (nested up to kMaxDepth), as receivers ignore keys they do not know.
class JsonCursor {
 public:
  static constexpr int kMaxDepth = 16;

  JsonCursor(const uint8_t* text, size_t n) : text_(text), n_(n) {}

  // Skips whitespace, then takes c if it is next.
  bool take(char c) {
    skip_space();
    if (at_ < n_ && text_[at_] == static_cast<uint8_t>(c)) {
      ++at_;
      return true;
    }
    return false;
  }

  bool at_end() {
    skip_space();
    return at_ == n_;
  }

  uint8_t peek() {
    skip_space();
    return at_ < n_ ? text_[at_] : 0;
  }

  // A string decoded to UTF-8 into `into` (NUL-terminated); `cut` when it did not fit.
  bool string(char* into, size_t capacity, bool& cut) {
    size_t length = 0;
    cut = false;
    if (!take('"')) return false;
    while (at_ < n_) {
      const uint8_t c = text_[at_++];
      if (c == '"') {
        into[length] = '\0';
        return true;
      }
      if (c < 0x20) return false;
      uint32_t code = c;
      if (c == '\\' && !escape(code)) return false;
      append_utf8(code, c != '\\', into, capacity, length, cut);
    }
    return false;
  }

  // A JSON number; `integral` when it has neither fraction nor exponent.
  bool number(double& value, bool& integral) {
    skip_space();
    const size_t start = at_;
    if (at_ < n_ && text_[at_] == '-') ++at_;
    const size_t first_digit = at_;
    if (!digits()) return false;
    if (text_[first_digit] == '0' && at_ - first_digit > 1) return false;  // no leading zeros
    integral = true;
    if (at_ < n_ && text_[at_] == '.') {
      ++at_;
      integral = false;
      if (!digits()) return false;
    }
    if (at_ < n_ && (text_[at_] == 'e' || text_[at_] == 'E')) {
      ++at_;
      integral = false;
      if (at_ < n_ && (text_[at_] == '+' || text_[at_] == '-')) ++at_;
      if (!digits()) return false;
    }
    char token[40];
    const size_t length = at_ - start;
    if (length >= sizeof token) return false;
    memcpy(token, text_ + start, length);
    token[length] = '\0';
    value = strtod(token, nullptr);
    return true;
  }

  bool skip_value(int depth = 0) {
    if (depth > kMaxDepth) return false;
    const uint8_t c = peek();
    if (c == '"') {
      char ignored[1];
      bool cut;
      return string(ignored, sizeof ignored, cut);
    }
    if (c == '{' || c == '[') {
      const bool object = c == '{';
      ++at_;
      if (take(object ? '}' : ']')) return true;
      do {
        if (object) {
          char ignored[1];
          bool cut;
          if (!string(ignored, sizeof ignored, cut) || !take(':')) return false;
        }
        if (!skip_value(depth + 1)) return false;
      } while (take(','));
      return take(object ? '}' : ']');
    }
    for (const char* literal : {"true", "false", "null"}) {
      const size_t length = strlen(literal);
      if (n_ - at_ >= length && memcmp(text_ + at_, literal, length) == 0) {
        at_ += length;
        return true;
      }
    }
    double ignored;
    bool integral;
    return number(ignored, integral);
  }

  size_t offset() const { return at_; }

 private:
  void skip_space() {
    while (at_ < n_ && (text_[at_] == ' ' || text_[at_] == '\t' || text_[at_] == '\n' || text_[at_] == '\r')) ++at_;
  }

  bool digits() {
    const size_t start = at_;
    while (at_ < n_ && text_[at_] >= '0' && text_[at_] <= '9') ++at_;
    return at_ > start;
  }

  bool hex4(uint32_t& code) {
    if (n_ - at_ < 4) return false;
    code = 0;
    for (int i = 0; i < 4; ++i) {
      const uint8_t c = text_[at_++];
      const int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                      : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
      if (digit < 0) return false;
      code = code << 4 | static_cast<uint32_t>(digit);
    }
    return true;
  }

  // After a backslash: the code point it stands for (a surrogate pair makes one).
  bool escape(uint32_t& code) {
    if (at_ >= n_) return false;
    const uint8_t c = text_[at_++];
    switch (c) {
      case '"': case '\\': case '/': code = c; return true;
      case 'b': code = '\b'; return true;
      case 'f': code = '\f'; return true;
      case 'n': code = '\n'; return true;
      case 'r': code = '\r'; return true;
      case 't': code = '\t'; return true;
      case 'u': break;
      default: return false;
    }
    if (!hex4(code)) return false;
    if (code >= 0xD800 && code < 0xDC00 && n_ - at_ >= 6 && text_[at_] == '\\' && text_[at_ + 1] == 'u') {
      const size_t mark = at_;
      at_ += 2;
      uint32_t low = 0;
      if (hex4(low) && low >= 0xDC00 && low < 0xE000) {
        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
        return true;
      }
      at_ = mark;
    }
    if (code >= 0xD800 && code < 0xE000) code = '?';  // a lone surrogate encodes nothing
    return true;
  }

  // raw: a byte of the text as it stands (UTF-8 passes through); else a decoded code point.
  static void append_utf8(uint32_t code, bool raw, char* into, size_t capacity, size_t& length, bool& cut) {
    uint8_t bytes[4];
    size_t count = 0;
    if (raw || code < 0x80) {
      bytes[count++] = static_cast<uint8_t>(code);
    } else if (code < 0x800) {
      bytes[count++] = static_cast<uint8_t>(0xC0 | code >> 6);
      bytes[count++] = static_cast<uint8_t>(0x80 | (code & 0x3F));
    } else if (code < 0x10000) {
      bytes[count++] = static_cast<uint8_t>(0xE0 | code >> 12);
      bytes[count++] = static_cast<uint8_t>(0x80 | (code >> 6 & 0x3F));
      bytes[count++] = static_cast<uint8_t>(0x80 | (code & 0x3F));
    } else {
      bytes[count++] = static_cast<uint8_t>(0xF0 | code >> 18);
      bytes[count++] = static_cast<uint8_t>(0x80 | (code >> 12 & 0x3F));
      bytes[count++] = static_cast<uint8_t>(0x80 | (code >> 6 & 0x3F));
      bytes[count++] = static_cast<uint8_t>(0x80 | (code & 0x3F));
    }
    if (length + count >= capacity) {
      cut = true;  // whole characters only: a name is never cut inside one
      return;
    }
    memcpy(into + length, bytes, count);
    length += count;
  }

  const uint8_t* text_;
  size_t n_;
  size_t at_ = 0;
};

class Problem {
 public:
  Problem(char* text, size_t capacity) : text_(text), capacity_(capacity) {}

  bool operator()(const char* format, ...) __attribute__((format(printf, 2, 3))) {
    if (capacity_) {
      va_list args;
      va_start(args, format);
      vsnprintf(text_, capacity_, format, args);
      va_end(args);
    }
    return false;
  }

 private:
  char* text_;
  size_t capacity_;
};

enum Seen : uint32_t {
  kMedium = 1, kActuators = 2, kSensors = 4, kEncoding = 8, kActuatorScale = 16, kSensorScale = 32,
  kEncoder = 64, kLow = 128, kHigh = 256,
};

bool read_int(JsonCursor& cursor, const char* key, uint32_t low, uint32_t high, uint32_t& value, Problem& problem) {
  double number = 0;
  bool integral = false;
  if (!cursor.number(number, integral) || !integral || number < low || number > high) {
    return problem("medium description: \"%s\" must be an int in %lu..%lu", key, static_cast<unsigned long>(low),
                   static_cast<unsigned long>(high));
  }
  value = static_cast<uint32_t>(number);
  return true;
}

bool read_u16(JsonCursor& cursor, const char* key, uint32_t low, uint16_t& value, Problem& problem) {
  uint32_t wide = 0;
  if (!read_int(cursor, key, low, 65535, wide, problem)) return false;
  value = static_cast<uint16_t>(wide);
  return true;
}

bool read_float(JsonCursor& cursor, const char* key, double& value, Problem& problem) {
  bool integral = false;
  if (!cursor.number(value, integral) || !isfinite(value)) {
    return problem("medium description: \"%s\" must be a finite number", key);
  }
  return true;
}

bool read_text(JsonCursor& cursor, const char* key, char* into, size_t capacity, Problem& problem) {
  bool cut = false;
  if (!cursor.string(into, capacity, cut)) return problem("medium description: \"%s\" must be a string", key);
  if (cut) return problem("medium description: \"%s\" is longer than %u bytes", key, static_cast<unsigned>(capacity - 1));
  return true;
}

// The members of "encoding": {"encoder", "low", "high", "bits"}.
bool read_encoding(JsonCursor& cursor, MediumDescription& out, uint32_t& seen, Problem& problem) {
  if (!cursor.take('{')) return problem("medium description: \"encoding\" must be an object");
  if (cursor.take('}')) return true;
  do {
    char key[16];
    bool cut = false;
    if (!cursor.string(key, sizeof key, cut) || !cursor.take(':')) {
      return problem("medium description: \"encoding\" is not valid JSON (at byte %u)", static_cast<unsigned>(cursor.offset()));
    }
    bool ok = true;
    if (cut) {
      ok = cursor.skip_value();
    } else if (strcmp(key, "encoder") == 0) {
      ok = read_text(cursor, "encoding.encoder", out.encoder, sizeof out.encoder, problem);
      seen |= kEncoder;
    } else if (strcmp(key, "low") == 0) {
      ok = read_float(cursor, "encoding.low", out.low, problem);
      seen |= kLow;
    } else if (strcmp(key, "high") == 0) {
      ok = read_float(cursor, "encoding.high", out.high, problem);
      seen |= kHigh;
    } else if (strcmp(key, "bits") == 0) {
      ok = read_int(cursor, "encoding.bits", 1, 65535, out.bits, problem);
    } else {
      ok = cursor.skip_value();
    }
    if (!ok) return false;
  } while (cursor.take(','));
  return cursor.take('}') || problem("medium description: \"encoding\" is not valid JSON (at byte %u)",
                                     static_cast<unsigned>(cursor.offset()));
}

bool read_member(JsonCursor& cursor, const char* key, MediumDescription& out, uint32_t& seen, Problem& problem) {
  if (strcmp(key, "medium") == 0) {
    seen |= kMedium;
    return read_text(cursor, key, out.medium, sizeof out.medium, problem);
  }
  if (strcmp(key, "n_actuators") == 0) {
    seen |= kActuators;
    return read_u16(cursor, key, 1, out.n_actuators, problem);
  }
  if (strcmp(key, "n_sensors") == 0) {
    seen |= kSensors;
    return read_u16(cursor, key, 1, out.n_sensors, problem);
  }
  if (strcmp(key, "n_static") == 0) return read_u16(cursor, key, 0, out.n_static, problem);
  if (strcmp(key, "max_batch") == 0) return read_u16(cursor, key, 0, out.max_batch, problem);
  if (strcmp(key, "settle_us") == 0) return read_int(cursor, key, 0, 10000000, out.settle_us, problem);
  if (strcmp(key, "encoding") == 0) {
    seen |= kEncoding;
    return read_encoding(cursor, out, seen, problem);
  }
  if (strcmp(key, "actuator_scale") == 0) {
    seen |= kActuatorScale;
    return read_float(cursor, key, out.actuator_scale, problem);
  }
  if (strcmp(key, "sensor_scale") == 0) {
    seen |= kSensorScale;
    return read_float(cursor, key, out.sensor_scale, problem);
  }
  if (strcmp(key, "hal") == 0) {
    char hal[16];
    if (!read_text(cursor, key, hal, sizeof hal, problem)) return false;
    if (strcmp(hal, "loopback") != 0) {
      return problem("medium description: \"hal\" \"%s\" is no HAL of this firmware (it has \"loopback\")", hal);
    }
    out.loopback = true;
    return true;
  }
  return cursor.skip_value() || problem("medium description: the value of \"%s\" is not valid JSON", key);
}

struct Required {
  uint32_t bit;
  const char* key;
};

constexpr Required kRequired[] = {
    {kMedium, "medium"}, {kActuators, "n_actuators"}, {kSensors, "n_sensors"}, {kEncoding, "encoding"},
    {kActuatorScale, "actuator_scale"}, {kSensorScale, "sensor_scale"}, {kEncoder, "encoding.encoder"},
    {kLow, "encoding.low"}, {kHigh, "encoding.high"},
};

// What the wire can carry: one vector each way must fit a payload behind its batch header.
bool fits_the_wire(const MediumDescription& d, Problem& problem) {
  const size_t room = kMaxPayload - kBatchHeaderSize;
  const bool bits = strcmp(d.encoder, "bits") == 0;
  const size_t vector_bytes = bits ? (d.n_actuators + 7u) / 8u : 2u * d.n_actuators;
  if (vector_bytes > room || 2u * d.n_sensors > room) {
    return problem("medium description: %u actuators and %u sensors do not fit one vector in a %u-byte payload",
                   d.n_actuators, d.n_sensors, static_cast<unsigned>(kMaxPayload));
  }
  if (!bits && strcmp(d.encoder, "l2") != 0 && strcmp(d.encoder, "minmax") != 0) {
    return problem("medium description: encoder \"%s\"; this firmware takes \"l2\", \"minmax\" or \"bits\"", d.encoder);
  }
  return true;
}

}  // namespace

bool parse_medium_description(const uint8_t* text, size_t n, MediumDescription& out, char* problem_text,
                              size_t capacity) {
  Problem problem(problem_text, capacity);
  out = MediumDescription{};
  JsonCursor cursor(text, n);
  uint32_t seen = 0;
  if (!cursor.take('{')) return problem("medium description is not a JSON object");
  if (!cursor.take('}')) {
    do {
      char key[24];
      bool cut = false;
      if (!cursor.string(key, sizeof key, cut) || !cursor.take(':')) {
        return problem("medium description is not valid JSON (at byte %u)", static_cast<unsigned>(cursor.offset()));
      }
      if (!(cut ? cursor.skip_value() : read_member(cursor, key, out, seen, problem))) {
        return cut ? problem("medium description is not valid JSON (at byte %u)", static_cast<unsigned>(cursor.offset()))
                   : false;
      }
    } while (cursor.take(','));
    if (!cursor.take('}')) {
      return problem("medium description is not valid JSON (at byte %u)", static_cast<unsigned>(cursor.offset()));
    }
  }
  if (!cursor.at_end()) return problem("medium description has text after its object");
  for (const Required& required : kRequired) {
    if (!(seen & required.bit)) return problem("medium description lacks \"%s\"", required.key);
  }
  return fits_the_wire(out, problem);
}

bool read_medium_description(MediumChannel& channel, uint8_t* text, MediumDescription& out, char* problem_text,
                             size_t capacity) {
  Problem problem(problem_text, capacity);
  uint8_t size[4];
  if (!channel.read_exact(size, sizeof size)) return problem("the medium channel closed before its description");
  const uint32_t n = get_u32le(size);
  if (n < 2 || n > MediumDescription::kMaxText) {
    return problem("medium description of %lu bytes; expected 2..%u", static_cast<unsigned long>(n),
                   static_cast<unsigned>(MediumDescription::kMaxText));
  }
  if (!channel.read_exact(text, n)) return problem("the medium channel closed inside its description");
  return parse_medium_description(text, n, out, problem_text, capacity);
}

}  // namespace phyll
