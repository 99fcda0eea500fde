// The shape of one docs/protocol-vectors.json case, as gen_vectors.py writes it.
#pragma once

#include <stddef.h>

namespace vectors {

struct VectorFrame {
  int version;
  int type;
  int seq;
  const char* payload_hex;
};

struct VectorDevice {
  bool present;
  int n_actuators;
  int n_sensors;
  const char* encoder;
  double low;
  double high;
  int bits;
  double actuator_scale;
  double sensor_scale;
  int max_batch;
  int n_static;
};

struct VectorCase {
  const char* name;
  const char* hex;          // the byte stream
  const VectorFrame* frames;  // the frames it decodes to ("decoded"); n_frames 0 for an error case
  size_t n_frames;
  const char* error;  // "" or the reason the stream yields no frame
  int error_seq;      // "bad_crc": what the device puts in its BAD_CRC reply; else -1
  int error_type;
  VectorDevice device;  // the device a request is sent to (present: false if none)
  bool has_reply;
  int reply_type;
  int reply_code;             // -1: not an ERROR
  const int* applied_codes;   // EXCITE analog: codes after clamping, vector after vector
  size_t n_applied;
  int clamps;                 // -1 if not given
};

}  // namespace vectors
