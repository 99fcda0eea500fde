#include "metasurface_hal.h"

#include <string.h>

#include "../core/byte_order.h"

namespace phyll {
namespace {

constexpr uint32_t kMaxSettleUs = 10000000;

// Mask of the bits of a vector's last byte that are elements (padding bits are ignored).
uint8_t last_byte_mask(uint16_t n) { return static_cast<uint8_t>(n % 8 ? (1u << (n % 8)) - 1 : 0xFFu); }

}  // namespace

MetasurfaceHal::MetasurfaceHal(MetasurfacePort& port, const MetasurfaceLayout& layout)
    : port_(port),
      layout_(layout),
      description_{"metasurface",
                   layout.n_elements,
                   layout.n_frequencies,
                   layout.n_static,
                   ActuatorEncoding{"bits", 0.0, 1.0, 1},
                   1.0,
                   layout.adc_full_scale_v / 32768.0,
                   0},
      dynamic_bytes_((layout.n_elements + 7u) / 8u),
      static_bytes_((layout.n_static + 7u) / 8u),
      settings_{{"settle_us", 0, kMaxSettleUs, &settle_us_},
                {"tune_settle_us", 0, kMaxSettleUs, &tune_settle_us_},
                {"adc_samples", 1, kMaxAdcSamples, &adc_samples_}} {}

const char* MetasurfaceHal::setup_problem() const {
  if (dynamic_bytes_ + static_bytes_ > kMaxRegisters) return "metasurface chain longer than kMaxRegisters registers";
  if (layout_.adc_bits < 1 || layout_.adc_bits > 15) return "metasurface adc_bits must be 1..15";
  return nullptr;
}

HalStatus MetasurfaceHal::excite(uint16_t batch, const uint8_t* vectors, uint8_t* out) {
  const uint16_t n_frequencies = layout_.n_frequencies;
  for (uint16_t v = 0; v < batch; ++v) {
    load_vector(vectors + v * dynamic_bytes_);
    port_.shift_out_and_latch(image_, static_bytes_ + dynamic_bytes_);
    port_.wait_us(settle_us_);
    uint8_t* codes = out + 2u * v * n_frequencies;
    for (uint16_t k = 0; k < n_frequencies; ++k) put_i16le(codes + 2u * k, detect(k));
  }
  return HalStatus::success();
}

HalStatus MetasurfaceHal::set_static(const uint8_t* packed, uint16_t n) {
  for (size_t j = 0; j < static_bytes_; ++j) image_[static_bytes_ - 1 - j] = packed[j];
  if (static_bytes_) image_[0] &= last_byte_mask(n);
  port_.shift_out_and_latch(image_, static_bytes_ + dynamic_bytes_);
  return HalStatus::success();
}

HalStatus MetasurfaceHal::safe() {
  memset(image_ + static_bytes_, 0, dynamic_bytes_);
  port_.shift_out_and_latch(image_, static_bytes_ + dynamic_bytes_);
  return HalStatus::success();
}

// Packed byte j (elements 8j..8j+7) belongs to register j, which is shifted out last-first.
void MetasurfaceHal::load_vector(const uint8_t* packed) {
  uint8_t* driven = image_ + static_bytes_;
  for (size_t j = 0; j < dynamic_bytes_; ++j) driven[dynamic_bytes_ - 1 - j] = packed[j];
  driven[0] &= last_byte_mask(layout_.n_elements);
}

int16_t MetasurfaceHal::detect(uint16_t frequency_index) {
  port_.tune(frequency_index);
  port_.wait_us(tune_settle_us_);
  uint32_t total = 0;
  for (uint32_t i = 0; i < adc_samples_; ++i) total += port_.read_detector();
  const uint32_t full_scale = (1u << layout_.adc_bits) - 1;
  const uint32_t mean = total / adc_samples_;
  if (mean > full_scale) return static_cast<int16_t>(full_scale << (15 - layout_.adc_bits));
  return static_cast<int16_t>(mean << (15 - layout_.adc_bits));
}

}  // namespace phyll
