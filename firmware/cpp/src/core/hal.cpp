#include "hal.h"

#include <math.h>
#include <string.h>

#include "protocol.h"

namespace phyll {
namespace {

bool positive_finite(double x) { return isfinite(x) && x > 0; }

}  // namespace

const char* hal_problem(Hal& hal) {
  if (const char* problem = hal.setup_problem()) return problem;
  const HalDescription& d = hal.describe();
  const ActuatorEncoding& e = d.encoding;
  if (!d.medium || !*d.medium) return "HAL describes no medium name";
  if (d.n_actuators < 1 || d.n_sensors < 1) return "HAL needs n_actuators >= 1 and n_sensors >= 1";
  if (!e.encoder) return "HAL encoding has no encoder";
  const bool bits = strcmp(e.encoder, "bits") == 0;
  if (!bits && strcmp(e.encoder, "l2") != 0 && strcmp(e.encoder, "minmax") != 0)
    return "HAL encoder must be \"l2\", \"minmax\" or \"bits\"";
  if (!isfinite(e.low) || !isfinite(e.high) || e.low > e.high) return "HAL encoding needs finite low <= high";
  if (!positive_finite(d.actuator_scale) || !positive_finite(d.sensor_scale))
    return "HAL scales must be finite and > 0";
  if (bits && d.actuator_scale != 1.0) return "a \"bits\" HAL has actuator_scale 1";
  const IntSettings settings = hal.settings();
  if (settings.count > kMaxHalSettings) return "HAL has more settings than PHYLL_MAX_HAL_SETTINGS";
  for (size_t i = 0; i < settings.count; ++i) {
    const IntSetting& s = settings.items[i];
    if (!s.key || !s.value || s.low > s.high) return "HAL setting lacks a key or value, or has low > high";
    if (strcmp(s.key, "watchdog_ms") == 0) return "watchdog_ms belongs to the server, not a HAL setting";
  }
  return nullptr;
}

}  // namespace phyll
