// The medium channel's description (firmware/README.md, "Medium channel wire format"): the JSON
// object the host's medium server sends once, before any request, saying what it serves.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "medium_channel.h"

namespace phyll {

struct MediumDescription {
  static constexpr size_t kMaxText = 4096;  // bytes of JSON the channel may carry
  static constexpr size_t kMaxName = 100;   // bytes of UTF-8 in "medium"

  char medium[kMaxName + 1] = {};
  char encoder[8] = {};  // "l2", "minmax" or "bits"
  double low = 0;
  double high = 0;
  uint32_t bits = 1;
  uint16_t n_actuators = 0;
  uint16_t n_sensors = 0;
  uint16_t n_static = 0;
  double actuator_scale = 0;
  double sensor_scale = 0;
  uint32_t settle_us = 0;
  uint16_t max_batch = 0;  // 0: the protocol bound
  bool loopback = false;   // "hal": "loopback": the firmware computes the medium itself
};

// Reads `n` bytes of JSON into `out`. False when they are not a description this firmware can
// serve; `problem` then says which key is wrong and what it takes (cut to `capacity`).
bool parse_medium_description(const uint8_t* text, size_t n, MediumDescription& out, char* problem,
                              size_t capacity);

// The description as it comes first on the channel: u32 n (2 .. kMaxText), then n bytes of JSON,
// read into `text` (kMaxText bytes) and parsed. False with `problem` said as above.
bool read_medium_description(MediumChannel& channel, uint8_t* text, MediumDescription& out, char* problem,
                             size_t capacity);

}  // namespace phyll
