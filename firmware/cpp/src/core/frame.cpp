#include "frame.h"

#include "byte_order.h"
#include "crc32.h"

namespace phyll {

uint8_t header_check(const uint8_t* frame) { return static_cast<uint8_t>(crc32(frame, 9) & 0xFF); }

size_t seal_frame(uint8_t* frame, uint8_t type, uint16_t seq, uint16_t payload_length) {
  frame[0] = kMagic0;
  frame[1] = kMagic1;
  frame[2] = kProtocolVersion;
  frame[3] = type;
  put_u16le(frame + 4, seq);
  put_u16le(frame + 6, payload_length);
  frame[8] = 0;  // flags: reserved
  frame[9] = header_check(frame);
  const size_t end = kHeaderSize + payload_length;
  put_u32le(frame + end, crc32(frame, end));
  return end + kCrcSize;
}

}  // namespace phyll
