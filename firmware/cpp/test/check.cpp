#include "check.h"

#include <cstdio>
#include <vector>

namespace check {
namespace {

struct Test {
  const char* name;
  TestFunction function;
};

std::vector<Test>& registry() {
  static std::vector<Test> tests;
  return tests;
}

int failures_in_current_test = 0;
constexpr int kMaxReportedPerTest = 20;

}  // namespace

Registration::Registration(const char* name, TestFunction function) { registry().push_back({name, function}); }

void fail(const char* file, int line, const std::string& what) {
  if (++failures_in_current_test <= kMaxReportedPerTest) std::printf("    %s:%d: %s\n", file, line, what.c_str());
}

}  // namespace check

// Runs every test, or those whose name contains argv[1].
int main(int argc, char** argv) {
  int passed = 0;
  int failed = 0;
  for (const check::Test& test : check::registry()) {
    if (argc > 1 && std::string(test.name).find(argv[1]) == std::string::npos) continue;
    check::failures_in_current_test = 0;
    test.function();
    const bool ok = check::failures_in_current_test == 0;
    std::printf("%-60s %s\n", test.name, ok ? "ok" : "FAILED");
    (ok ? passed : failed) += 1;
  }
  std::printf("phyll-cpp tests: %d passed, %d failed\n", passed, failed);
  return failed == 0 && passed > 0 ? 0 : 1;
}
