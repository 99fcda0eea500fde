#include "medium_channel_hal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../core/byte_order.h"

namespace phyll {
namespace {

constexpr size_t kHeader = 8;  // u8 op/status, u8 0, u16 count, u32 n
constexpr uint8_t kOpExcite = 0x45;
constexpr uint8_t kOpStatic = 0x53;
constexpr uint8_t kOpSafe = 0x5A;
constexpr uint8_t kStatusOk = 0;

HalDescription described(const MediumDescription& m) {
  return HalDescription{m.medium,
                        m.n_actuators,
                        m.n_sensors,
                        m.n_static,
                        ActuatorEncoding{m.encoder, m.low, m.high, static_cast<int>(m.bits)},
                        m.actuator_scale,
                        m.sensor_scale,
                        m.max_batch};
}

}  // namespace

MediumChannelHal::MediumChannelHal(MediumChannel& channel, const MediumDescription& description,
                                   WaitMicroseconds wait_us)
    : channel_(channel),
      medium_(description),
      description_(described(medium_)),
      wait_us_(wait_us),
      vector_bytes_(strcmp(medium_.encoder, "bits") == 0 ? (medium_.n_actuators + 7u) / 8u : 2u * medium_.n_actuators),
      settle_us_(medium_.settle_us),
      settings_{{"settle_us", 0, 10000000, &settle_us_}} {}

// The reply's codes are the MEASURE's as they stand (little-endian int16, row-major), so they
// are read straight into the reply frame.
HalStatus MediumChannelHal::excite(uint16_t batch, const uint8_t* vectors, uint8_t* out) {
  ReplyHeader reply{};
  const HalStatus status = call(kOpExcite, batch, vectors, batch * vector_bytes_, reply);
  if (!status.ok()) return status;
  const uint32_t expected = 2u * batch * medium_.n_sensors;
  if (reply.count != batch || reply.size != expected) {
    if (!discard(reply.size)) return channel_closed();
    return fail("emulator medium answered %u vectors / %lu bytes; expected %u / %lu", reply.count,
                static_cast<unsigned long>(reply.size), batch, static_cast<unsigned long>(expected));
  }
  if (!channel_.read_exact(out, expected)) return channel_closed();
  // After the fact, as the MicroPython firmware does: the medium measured them all at once.
  for (uint16_t b = 0; settle_us_ && b < batch; ++b) wait_us_(settle_us_);
  return HalStatus::success();
}

HalStatus MediumChannelHal::set_static(const uint8_t* packed, uint16_t n) {
  ReplyHeader reply{};
  const HalStatus status = call(kOpStatic, n, packed, (n + 7u) / 8u, reply);
  return status.ok() ? expect_empty(reply) : status;
}

HalStatus MediumChannelHal::safe() {
  ReplyHeader reply{};
  const HalStatus status = call(kOpSafe, 0, nullptr, 0, reply);
  return status.ok() ? expect_empty(reply) : status;
}

HalStatus MediumChannelHal::call(uint8_t op, uint16_t count, const uint8_t* body, size_t size, ReplyHeader& reply) {
  // Once the channel has ended every call fails at once: the host has gone or closed it.
  if (closed_) return channel_closed();
  uint8_t header[kHeader] = {op, 0};
  put_u16le(header + 2, count);
  put_u32le(header + 4, static_cast<uint32_t>(size));
  uint8_t answer[kHeader];
  if (!channel_.write_all(header, kHeader, body, size) || !channel_.read_exact(answer, kHeader)) {
    return channel_closed();
  }
  reply = ReplyHeader{answer[0], get_u16le(answer + 2), get_u32le(answer + 4)};
  if (reply.status == kStatusOk) return HalStatus::success();
  // A fault: its message, as much of it as the host is shown, the rest read past.
  const uint32_t kept = reply.size < kMaxFault ? reply.size : kMaxFault;
  if (!channel_.read_exact(reinterpret_cast<uint8_t*>(fault_), kept) || !discard(reply.size - kept)) {
    return channel_closed();
  }
  fault_[kept] = '\0';
  return HalStatus::failure(fault_);
}

HalStatus MediumChannelHal::expect_empty(const ReplyHeader& reply) {
  if (reply.size == 0) return HalStatus::success();
  if (!discard(reply.size)) return channel_closed();
  return fail("emulator medium sent %lu unexpected bytes", static_cast<unsigned long>(reply.size));
}

bool MediumChannelHal::discard(uint32_t n) {
  uint8_t sink[64];
  while (n) {
    const uint32_t step = n < sizeof sink ? n : static_cast<uint32_t>(sizeof sink);
    if (!channel_.read_exact(sink, step)) return false;
    n -= step;
  }
  return true;
}

HalStatus MediumChannelHal::channel_closed() {
  closed_ = true;
  return HalStatus::failure("emulator medium channel closed");
}

HalStatus MediumChannelHal::fail(const char* format, ...) {
  va_list args;
  va_start(args, format);
  vsnprintf(fault_, sizeof fault_, format, args);
  va_end(args);
  return HalStatus::failure(fault_);
}

}  // namespace phyll
