// INFO "firmware" and "runtime" of this firmware.
#pragma once

namespace phyll {

constexpr const char* kFirmwareName = "phyll-cpp 0.1.0";
// docs/protocol.md names "micropython" and "cpython"; this firmware is neither.
constexpr const char* kRuntime = "cpp";

}  // namespace phyll
