#include "json_value.h"

#include <cctype>
#include <cstdlib>

namespace {

class Parser {
 public:
  explicit Parser(const std::string& text) : text_(text) {}

  JsonValue document() {
    JsonValue value = parse_value();
    skip_whitespace();
    if (at_ != text_.size()) fail("trailing characters");
    return value;
  }

 private:
  [[noreturn]] void fail(const char* what) const {
    throw JsonParseError(std::string(what) + " at byte " + std::to_string(at_) + " of " + text_);
  }

  void skip_whitespace() {
    while (at_ < text_.size() && (text_[at_] == ' ' || text_[at_] == '\t' || text_[at_] == '\n' || text_[at_] == '\r'))
      ++at_;
  }

  char peek() {
    if (at_ >= text_.size()) fail("unexpected end");
    return text_[at_];
  }

  void expect(char c) {
    if (peek() != c) fail("unexpected character");
    ++at_;
  }

  bool literal(const char* word) {
    const std::string w(word);
    if (text_.compare(at_, w.size(), w) != 0) return false;
    at_ += w.size();
    return true;
  }

  JsonValue parse_value() {
    skip_whitespace();
    JsonValue value;
    const char c = peek();
    if (c == '{') {
      value.kind = JsonValue::kObject;
      ++at_;
      skip_whitespace();
      if (peek() == '}') return ++at_, value;
      for (;;) {
        skip_whitespace();
        const std::string key = parse_string();
        skip_whitespace();
        expect(':');
        value.members[key] = parse_value();
        skip_whitespace();
        if (peek() == '}') return ++at_, value;
        expect(',');
      }
    }
    if (c == '[') {
      value.kind = JsonValue::kArray;
      ++at_;
      skip_whitespace();
      if (peek() == ']') return ++at_, value;
      for (;;) {
        value.items.push_back(parse_value());
        skip_whitespace();
        if (peek() == ']') return ++at_, value;
        expect(',');
      }
    }
    if (c == '"') {
      value.kind = JsonValue::kString;
      value.text = parse_string();
      return value;
    }
    if (literal("true")) {
      value.kind = JsonValue::kBool;
      value.boolean = true;
      return value;
    }
    if (literal("false")) {
      value.kind = JsonValue::kBool;
      return value;
    }
    if (literal("null")) return value;
    return parse_number();
  }

  JsonValue parse_number() {
    const size_t start = at_;
    if (peek() == '-') ++at_;
    if (peek() == '0') {
      ++at_;
    } else if (peek() >= '1' && peek() <= '9') {
      while (at_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[at_]))) ++at_;
    } else {
      fail("bad value");
    }
    bool integral = true;
    if (at_ < text_.size() && text_[at_] == '.') {
      integral = false;
      ++at_;
      if (!std::isdigit(static_cast<unsigned char>(peek()))) fail("bad fraction");
      while (at_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[at_]))) ++at_;
    }
    if (at_ < text_.size() && (text_[at_] == 'e' || text_[at_] == 'E')) {
      integral = false;
      ++at_;
      if (peek() == '+' || peek() == '-') ++at_;
      if (!std::isdigit(static_cast<unsigned char>(peek()))) fail("bad exponent");
      while (at_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[at_]))) ++at_;
    }
    JsonValue value;
    value.kind = JsonValue::kNumber;
    value.integral = integral;
    value.number = std::strtod(text_.substr(start, at_ - start).c_str(), nullptr);
    return value;
  }

  std::string parse_string() {
    expect('"');
    std::string out;
    for (;;) {
      const char c = peek();
      ++at_;
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in string");
      if (c != '\\') {
        out += c;
        continue;
      }
      const char e = peek();
      ++at_;
      switch (e) {
        case '"': case '\\': case '/': out += e; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          if (at_ + 4 > text_.size()) fail("short \\u escape");
          const unsigned code = static_cast<unsigned>(std::strtoul(text_.substr(at_, 4).c_str(), nullptr, 16));
          at_ += 4;
          if (code < 0x80) {
            out += static_cast<char>(code);
          } else if (code < 0x800) {
            out += static_cast<char>(0xC0 | code >> 6);
            out += static_cast<char>(0x80 | (code & 0x3F));
          } else {
            out += static_cast<char>(0xE0 | code >> 12);
            out += static_cast<char>(0x80 | (code >> 6 & 0x3F));
            out += static_cast<char>(0x80 | (code & 0x3F));
          }
          break;
        }
        default: fail("bad escape");
      }
    }
  }

  const std::string& text_;
  size_t at_ = 0;
};

}  // namespace

JsonValue parse_json(const std::string& text) { return Parser(text).document(); }

const JsonValue& JsonValue::operator[](const std::string& key) const {
  const auto found = members.find(key);
  if (kind != kObject || found == members.end()) throw std::out_of_range("JSON has no key " + key);
  return found->second;
}

bool JsonValue::operator==(const JsonValue& other) const {
  if (kind != other.kind) return false;
  switch (kind) {
    case kNull: return true;
    case kBool: return boolean == other.boolean;
    case kNumber: return number == other.number;
    case kString: return text == other.text;
    case kArray: return items == other.items;
    case kObject: return members == other.members;
  }
  return false;
}

std::ostream& operator<<(std::ostream& out, const JsonValue& value) {
  switch (value.kind) {
    case JsonValue::kNull: return out << "null";
    case JsonValue::kBool: return out << (value.boolean ? "true" : "false");
    case JsonValue::kNumber: return out << value.number;
    case JsonValue::kString: return out << '"' << value.text << '"';
    case JsonValue::kArray: {
      out << '[';
      for (size_t i = 0; i < value.items.size(); ++i) out << (i ? "," : "") << value.items[i];
      return out << ']';
    }
    case JsonValue::kObject: {
      out << '{';
      bool first = true;
      for (const auto& member : value.members) {
        out << (first ? "" : ",") << '"' << member.first << "\":" << member.second;
        first = false;
      }
      return out << '}';
    }
  }
  return out;
}
