// Constants of the phyll serial protocol, version 1 (docs/protocol.md), and the firmware's
// compile-time capacities. Everything the core allocates is sized from this file.
#pragma once

#include <stddef.h>
#include <stdint.h>

// Requests the host may pipeline = reply-cache slots; each slot is one whole frame of RAM.
// Boards short of RAM override it with -DPHYLL_IN_FLIGHT=2 (platformio.ini build_flags).
#ifndef PHYLL_IN_FLIGHT
#define PHYLL_IN_FLIGHT 4
#endif

// Most int settings a HAL may expose to CONFIGURE (settle_us included, watchdog_ms not).
#ifndef PHYLL_MAX_HAL_SETTINGS
#define PHYLL_MAX_HAL_SETTINGS 8
#endif

namespace phyll {

constexpr uint8_t kMagic0 = 0xA5;
constexpr uint8_t kMagic1 = 0x5A;
constexpr uint8_t kProtocolVersion = 1;
constexpr size_t kHeaderSize = 10;
constexpr size_t kCrcSize = 4;
constexpr size_t kMaxPayload = 16384;
constexpr size_t kMaxFrame = kHeaderSize + kMaxPayload + kCrcSize;
constexpr size_t kBatchHeaderSize = 4;  // u16 batch, u16 width (EXCITE) / n_sensors (MEASURE)
constexpr size_t kMaxPing = 64;
constexpr size_t kMaxErrorMessage = 200;
constexpr uint32_t kInterByteTimeoutMs = 100;
// A reply the link took no byte of for this long is dropped (docs/protocol.md section 2).
constexpr uint32_t kReplyStallMs = 1000;
constexpr uint32_t kMaxWatchdogMs = 3600000;

constexpr size_t kInFlight = PHYLL_IN_FLIGHT;
constexpr size_t kMaxHalSettings = PHYLL_MAX_HAL_SETTINGS;
static_assert(kInFlight >= 1 && kInFlight <= 32, "PHYLL_IN_FLIGHT must be 1..32");
static_assert(kMaxHalSettings >= 1 && kMaxHalSettings <= 32, "PHYLL_MAX_HAL_SETTINGS must be 1..32");

namespace msg {
constexpr uint8_t kHello = 0x01;
constexpr uint8_t kConfigure = 0x02;
constexpr uint8_t kExcite = 0x03;
constexpr uint8_t kSetStatic = 0x04;
constexpr uint8_t kPing = 0x05;
constexpr uint8_t kStatus = 0x06;
constexpr uint8_t kReset = 0x07;
constexpr uint8_t kRepl = 0x08;
constexpr uint8_t kReplyBit = 0x80;
constexpr uint8_t kError = 0xFF;
}  // namespace msg

enum class ErrorCode : uint8_t {
  kBadCrc = 1,
  kBadVersion = 2,
  kUnknownType = 3,
  kBadLength = 4,
  kBadShape = 5,
  kBatchTooLarge = 6,
  kBadConfig = 7,
  kHalFault = 8,
};

}  // namespace phyll
