#include "json_object_reader.h"

namespace phyll {
namespace {

constexpr int64_t kIntSaturation = int64_t{1} << 62;

bool is_digit(uint8_t c) { return c >= '0' && c <= '9'; }

int hex_digit(uint8_t c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

JsonObjectReader::Step JsonObjectReader::next() {
  if (state_ == State::kFinished) return fail(Step::kSyntaxError);
  skip_whitespace();
  if (state_ == State::kStart) {
    if (at_end() || peek() != '{') return fail(Step::kNotAnObject);
    ++at_;
    state_ = State::kInObject;
    skip_whitespace();
    if (!at_end() && peek() == '}') {
      ++at_;
      skip_whitespace();
      state_ = State::kFinished;
      return at_end() ? Step::kEnd : Step::kSyntaxError;
    }
    return member();
  }
  if (at_end()) return fail(Step::kSyntaxError);
  if (peek() == ',') {
    ++at_;
    return member();
  }
  if (peek() != '}') return fail(Step::kSyntaxError);
  ++at_;
  skip_whitespace();
  state_ = State::kFinished;
  return at_end() ? Step::kEnd : Step::kSyntaxError;
}

JsonObjectReader::Step JsonObjectReader::member() {
  skip_whitespace();
  if (!read_key()) return fail(Step::kSyntaxError);
  skip_whitespace();
  if (at_end() || peek() != ':') return fail(Step::kSyntaxError);
  ++at_;
  skip_whitespace();
  if (!read_value()) return fail(Step::kSyntaxError);
  // A value the reader cannot step over ends the walk; the caller refuses it anyway.
  if (!value_is_int_) state_ = State::kFinished;
  return Step::kMember;
}

bool JsonObjectReader::read_key() {
  key_length_ = 0;
  key_cut_ = false;
  if (at_end() || peek() != '"') return false;
  ++at_;
  while (!at_end()) {
    const uint8_t c = text_[at_++];
    if (c == '"') {
      key_[key_length_] = '\0';
      return true;
    }
    if (c < 0x20) return false;  // raw control characters are not allowed in JSON strings
    if (c == '\\') {
      if (!read_escape()) return false;
      continue;
    }
    if (key_length_ < kMaxKey) {
      key_[key_length_++] = static_cast<char>(c);
    } else {
      key_cut_ = true;
    }
  }
  return false;
}

// Every setting key is ASCII, so a \u escape beyond it only needs to make the key unknown.
bool JsonObjectReader::read_escape() {
  if (at_end()) return false;
  const uint8_t c = text_[at_++];
  char decoded;
  switch (c) {
    case '"': case '\\': case '/': decoded = static_cast<char>(c); break;
    case 'b': decoded = '\b'; break;
    case 'f': decoded = '\f'; break;
    case 'n': decoded = '\n'; break;
    case 'r': decoded = '\r'; break;
    case 't': decoded = '\t'; break;
    case 'u': {
      if (length_ - at_ < 4) return false;
      int code = 0;
      for (int i = 0; i < 4; ++i) {
        const int digit = hex_digit(text_[at_++]);
        if (digit < 0) return false;
        code = code << 4 | digit;
      }
      decoded = code < 0x80 ? static_cast<char>(code) : '?';
      break;
    }
    default: return false;
  }
  if (key_length_ < kMaxKey) {
    key_[key_length_++] = decoded;
  } else {
    key_cut_ = true;
  }
  return true;
}

// JSON number grammar; only -?(0|[1-9][0-9]*) without fraction or exponent is an int.
bool JsonObjectReader::read_value() {
  value_is_int_ = false;
  if (at_end()) return false;
  const bool negative = peek() == '-';
  if (!negative && !is_digit(peek())) return true;  // string, literal, object, array: not an int
  if (negative) ++at_;
  if (at_end() || !is_digit(peek())) return false;
  int64_t magnitude = 0;
  if (peek() == '0') {
    ++at_;
  } else {
    while (!at_end() && is_digit(peek())) {
      const int digit = text_[at_++] - '0';
      magnitude = magnitude > (kIntSaturation - digit) / 10 ? kIntSaturation : magnitude * 10 + digit;
    }
  }
  if (!at_end() && (peek() == '.' || peek() == 'e' || peek() == 'E')) return true;  // a float
  if (!at_end() && is_digit(peek())) return false;  // a leading zero such as 01
  value_is_int_ = true;
  int_value_ = negative ? -magnitude : magnitude;
  return true;
}

void JsonObjectReader::skip_whitespace() {
  while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) ++at_;
}

JsonObjectReader::Step JsonObjectReader::fail(Step why) {
  state_ = State::kFinished;
  return why;
}

}  // namespace phyll
