// Little-endian field access byte by byte: frame fields sit at odd offsets, and byte access
// is alignment-safe on every core (Cortex-M0+ faults on unaligned 16-bit loads).
#pragma once

#include <stdint.h>

namespace phyll {

inline uint16_t get_u16le(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }

inline int16_t get_i16le(const uint8_t* p) { return static_cast<int16_t>(get_u16le(p)); }

inline uint32_t get_u32le(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

inline void put_u16le(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}

inline void put_i16le(uint8_t* p, int16_t v) { put_u16le(p, static_cast<uint16_t>(v)); }

inline void put_u32le(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

}  // namespace phyll
