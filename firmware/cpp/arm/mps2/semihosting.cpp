#include "semihosting.h"

#include <stdint.h>

#include "../cortex_m/startup.h"

namespace mps2 {
namespace {

constexpr uint32_t kWrite0 = 0x04;  // SYS_WRITE0: a NUL-terminated string to the debug console
constexpr uint32_t kExit = 0x18;    // SYS_EXIT
constexpr uint32_t kRunTimeError = 0x20023;  // ADP_Stopped_RunTimeErrorUnknown: QEMU exits with 1

void semihost(uint32_t operation, const void* argument) {
  register uint32_t r0 asm("r0") = operation;
  register const void* r1 asm("r1") = argument;
  asm volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
}

}  // namespace

void stop_emulation(const char* problem) {
  semihost(kWrite0, "phyll-cpp cannot start: ");
  semihost(kWrite0, problem);
  semihost(kWrite0, "\n");
  semihost(kExit, reinterpret_cast<const void*>(kRunTimeError));  // AArch32: the reason itself
  unexpected_exception();
}

}  // namespace mps2
