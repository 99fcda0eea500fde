// Frame layout (docs/protocol.md section 1): writing a frame around a payload in place.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "protocol.h"

namespace phyll {

constexpr size_t frame_size(size_t payload_length) { return kHeaderSize + payload_length + kCrcSize; }

// The payload is already at frame + kHeaderSize (handlers write replies there directly, so a
// reply is never copied); this writes the header, its check byte and the CRC trailer.
// Returns the frame's size.
size_t seal_frame(uint8_t* frame, uint8_t type, uint16_t seq, uint16_t payload_length);

// header check byte of the 9 header bytes at frame.
uint8_t header_check(const uint8_t* frame);

}  // namespace phyll
