// Writing replies to a host that reads late (docs/protocol.md section 2, "Writing replies"): a
// reply the link does not take is waited for while the link keeps taking bytes; after 1000 ms in
// which it took none, the rest is dropped and counted, and the server goes on serving.
#include "../src/core/protocol.h"
#include "check.h"
#include "test_support.h"

namespace {

constexpr uint8_t kExcite = 0x03;

Bytes excite(uint16_t seq) { return encode_frame(kExcite, seq, excite_payload({{1, 2, 3}, {4, 5, 6}})); }

// The MEASURE frame the recording HAL answers excite(seq) with.
Bytes reply_to(uint16_t seq) {
  Rig rig;
  rig.link.feed(excite(seq));
  rig.server->poll();
  return rig.link.take_written();
}

}  // namespace

TEST(a_reply_the_host_does_not_read_for_1_s_is_dropped_and_serving_goes_on) {
  Rig rig(DeviceSpec{}, 0);
  rig.link.room = 7;
  rig.link.feed(excite(1));
  rig.server->poll();
  const Bytes reply = reply_to(1);
  CHECK(rig.link.take_written() == Bytes(reply.begin(), reply.begin() + 7));
  CHECK_EQ(rig.server->counters().replies_dropped, 1u);
  CHECK_EQ(rig.link.stalls, 1);
  CHECK_EQ(rig.clock.now, 2000u);
  rig.link.room = SIZE_MAX;  // the host reads again
  const JsonValue status = rig.status();
  CHECK_EQ(status["replies_dropped"].number, 1.0);
  CHECK_EQ(status["excites"].number, 1.0);
}

TEST(the_dropped_reply_stays_cached_and_a_resend_gets_it_whole) {
  Rig rig(DeviceSpec{}, 0);
  rig.link.room = 0;
  rig.link.feed(excite(1));
  rig.server->poll();
  CHECK(rig.link.take_written().empty());
  CHECK_EQ(rig.server->counters().replies_dropped, 1u);
  rig.link.room = SIZE_MAX;
  rig.link.feed(excite(1));
  rig.server->poll();
  CHECK(rig.link.take_written() == reply_to(1));
  CHECK_EQ(rig.server->counters().duplicates, 1u);
  CHECK_EQ(rig.hal.applied.size(), 1u);  // the medium was not excited again
}

TEST(a_host_that_reads_slowly_is_waited_for_without_a_drop) {
  Rig rig(DeviceSpec{}, 0);
  rig.link.room = 0;
  for (uint32_t i = 1; i < 10; ++i) rig.link.drains.emplace_back(1000 + 900 * i, 8);  // gaps < 1000 ms
  rig.link.feed(excite(1));
  rig.server->poll();
  CHECK(rig.link.take_written() == reply_to(1));
  CHECK_EQ(rig.server->counters().replies_dropped, 0u);
  CHECK_EQ(rig.link.stalls, 0);
  CHECK(rig.clock.now >= 1000 + 900 * 3);  // it did wait: 22 bytes at 8 per drain
}

TEST(the_watchdog_runs_while_a_reply_waits_for_the_host) {
  Rig rig(DeviceSpec{}, 300);
  rig.link.room = 0;
  rig.link.feed(excite(1));
  rig.server->poll();
  // silence counted from the EXCITE at t=1000, not from the end of the wait to write
  CHECK(!rig.hal.safe_at.empty() && rig.hal.safe_at[0] == 1300u);
  CHECK_EQ(rig.server->watchdog_trips(), 1u);
  CHECK_EQ(rig.server->counters().replies_dropped, 1u);
}
