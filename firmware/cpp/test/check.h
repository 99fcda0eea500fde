// A minimal test runner: TEST(name) registers a test; CHECK* record failures and carry on, so
// one run reports every broken expectation. The runner's last line is the summary pytest reads.
#pragma once

#include <sstream>
#include <string>

namespace check {

using TestFunction = void (*)();

struct Registration {
  Registration(const char* name, TestFunction function);
};

void fail(const char* file, int line, const std::string& what);

template <typename A, typename B>
void expect_equal(const A& a, const B& b, const char* a_text, const char* b_text, const char* file, int line) {
  if (a == b) return;
  std::ostringstream what;
  what << a_text << " == " << b_text << "  (" << a << " vs " << b << ")";
  fail(file, line, what.str());
}

}  // namespace check

#define TEST(name)                                                  \
  static void name();                                               \
  static const check::Registration registration_##name(#name, name); \
  static void name()

#define CHECK(condition) \
  ((condition) ? (void)0 : check::fail(__FILE__, __LINE__, "CHECK(" #condition ")"))

#define CHECK_MSG(condition, message) \
  ((condition) ? (void)0 : check::fail(__FILE__, __LINE__, std::string(#condition ": ") + (message)))

#define CHECK_EQ(a, b) check::expect_equal((a), (b), #a, #b, __FILE__, __LINE__)
