// CRC-32 as zlib / binascii.crc32: reflected polynomial 0xEDB88320, init and final xor ~0.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace phyll {

// crc32(data) in one call; crc32_update(crc32(a), b) == crc32(a + b), as zlib's crc32(b, crc).
uint32_t crc32_update(uint32_t crc, const uint8_t* data, size_t n);

inline uint32_t crc32(const uint8_t* data, size_t n) { return crc32_update(0, data, n); }

}  // namespace phyll
