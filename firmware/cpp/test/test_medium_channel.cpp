// The emulator's medium channel from the firmware's side (firmware/README.md, "Medium channel
// wire format"): the description as Python's json.dumps writes it, the requests the HAL sends
// byte for byte, the replies it takes (codes, faults, wrong sizes, a closed channel), and the
// loopback twin.
#include <string.h>

#include <string>
#include <vector>

#include "../src/core/byte_order.h"
#include "../src/hal/loopback_hal.h"
#include "../src/hal/medium_channel_hal.h"
#include "../src/hal/medium_description.h"
#include "check.h"
#include "test_support.h"

namespace {

// Replies the test scripts, read in order; everything written is kept. Past the script the
// stream has ended, as a closed socket.
class ScriptedChannel : public phyll::MediumChannel {
 public:
  bool read_exact(uint8_t* into, size_t n) override {
    if (incoming.size() - at < n) return false;
    memcpy(into, incoming.data() + at, n);
    at += n;
    return true;
  }

  bool write_all(const uint8_t* head, size_t head_size, const uint8_t* body, size_t body_size) override {
    if (write_fails) return false;
    written.insert(written.end(), head, head + head_size);
    if (body_size) written.insert(written.end(), body, body + body_size);
    ++writes;
    return true;
  }

  void reply(uint8_t status, uint16_t count, const Bytes& body) {
    Bytes header(8);
    header[0] = status;
    phyll::put_u16le(header.data() + 2, count);
    phyll::put_u32le(header.data() + 4, static_cast<uint32_t>(body.size()));
    incoming.insert(incoming.end(), header.begin(), header.end());
    incoming.insert(incoming.end(), body.begin(), body.end());
  }

  Bytes incoming;
  size_t at = 0;
  Bytes written;
  int writes = 0;
  bool write_fails = false;
};

std::vector<uint32_t> waits;
void record_wait(uint32_t us) { waits.push_back(us); }

// What phyll.emulator.runner sends for emu://acoustic (json.dumps: ASCII, shortest floats).
const char kAcoustic[] =
    "{\"medium\": \"acoustic\", \"n_actuators\": 20, \"n_sensors\": 20, \"encoding\": {\"encoder\": \"l2\", "
    "\"low\": -1.0, \"high\": 1.0, \"bits\": 1}, \"actuator_scale\": 3.051850947599719e-05, "
    "\"sensor_scale\": 6.185583795351808e-05, \"max_batch\": 0}";

bool parse(const std::string& text, phyll::MediumDescription& out, std::string& problem) {
  char message[200] = {};
  const bool ok = phyll::parse_medium_description(reinterpret_cast<const uint8_t*>(text.data()), text.size(), out,
                                                  message, sizeof message);
  problem = message;
  return ok;
}

phyll::MediumDescription description(const std::string& text) {
  phyll::MediumDescription out;
  std::string problem;
  CHECK_MSG(parse(text, out, problem), problem);
  return out;
}

// A small analog medium: 3 actuators, 2 sensors, 4 static elements.
const char kSmall[] =
    "{\"medium\": \"small\", \"n_actuators\": 3, \"n_sensors\": 2, \"n_static\": 4, \"settle_us\": 7, "
    "\"encoding\": {\"encoder\": \"minmax\", \"low\": 0.0, \"high\": 0.5, \"bits\": 1}, "
    "\"actuator_scale\": 3.0517578125e-05, \"sensor_scale\": 0.000244140625}";

}  // namespace

TEST(medium_description_reads_what_the_emulator_sends) {
  const phyll::MediumDescription d = description(kAcoustic);
  CHECK_EQ(std::string(d.medium), "acoustic");
  CHECK_EQ(std::string(d.encoder), "l2");
  CHECK_EQ(d.low, -1.0);
  CHECK_EQ(d.high, 1.0);
  CHECK_EQ(d.bits, 1u);
  CHECK_EQ(d.n_actuators, 20);
  CHECK_EQ(d.n_sensors, 20);
  CHECK_EQ(d.n_static, 0);
  CHECK_EQ(d.actuator_scale, 3.051850947599719e-05);
  CHECK_EQ(d.sensor_scale, 6.185583795351808e-05);
  CHECK_EQ(d.max_batch, 0);
  CHECK_EQ(d.settle_us, 0u);
  CHECK(!d.loopback);
  CHECK(description("{\"medium\": \"loopback\", \"n_actuators\": 4, \"n_sensors\": 4, \"encoding\": {\"encoder\": "
                    "\"l2\", \"low\": -1, \"high\": 1}, \"actuator_scale\": 1e-3, \"sensor_scale\": 1e-3, "
                    "\"hal\": \"loopback\"}").loopback);
}

TEST(medium_description_decodes_escapes_and_skips_unknown_members) {
  // A user's medium named in Greek and with a surrogate pair, as json.dumps escapes them; keys
  // phyll may add later, of every JSON kind, are stepped over.
  const phyll::MediumDescription d = description(
      "{\"future\": {\"a\": [1, 2.5e3, \"x\\\"y\", null, true, {\"b\": []}]}, \"medium\": \"\\u03b1\\u03ba\\ud83d\\ude00\\n\","
      " \"n_actuators\": 3, \"n_sensors\": 2, \"encoding\": {\"encoder\": \"minmax\", \"low\": 0, \"high\": 0.5, "
      "\"extra\": false}, \"actuator_scale\": 1.5e-5, \"sensor_scale\": 2E-4, \"more\": -0.0}");
  CHECK_EQ(std::string(d.medium), "\xce\xb1\xce\xba\xf0\x9f\x98\x80\n");
  CHECK_EQ(d.n_actuators, 3);
  CHECK_EQ(d.high, 0.5);
  CHECK_EQ(d.sensor_scale, 2e-4);
}

TEST(medium_description_names_what_is_wrong) {
  const std::string base = "\"medium\": \"m\", \"encoding\": {\"encoder\": \"l2\", \"low\": -1.0, \"high\": 1.0}, "
                           "\"actuator_scale\": 0.5, \"sensor_scale\": 0.5";
  const struct {
    std::string text;
    std::string names;
  } cases[] = {
      {"[]", "not a JSON object"},
      {"{" + base + ", \"n_sensors\": 2}", "lacks \"n_actuators\""},
      {"{" + base + ", \"n_actuators\": 2.5, \"n_sensors\": 2}", "\"n_actuators\" must be an int in 1..65535"},
      {"{" + base + ", \"n_actuators\": 0, \"n_sensors\": 2}", "\"n_actuators\" must be an int in 1..65535"},
      {"{" + base + ", \"n_actuators\": 2, \"n_sensors\": \"2\"}", "\"n_sensors\" must be an int"},
      {"{" + base + ", \"n_actuators\": 2, \"n_sensors\": 2, \"settle_us\": 10000001}", "\"settle_us\" must be an int in 0..10000000"},
      {"{" + base + ", \"n_actuators\": 9000, \"n_sensors\": 2}", "do not fit one vector"},
      {"{" + base + ", \"n_actuators\": 2, \"n_sensors\": 2, \"hal\": \"metasurface\"}", "\"hal\" \"metasurface\" is no HAL"},
      {"{" + base + ", \"n_actuators\": 2, \"n_sensors\": 2} x", "text after its object"},
      {"{" + base + ", \"n_actuators\": 02, \"n_sensors\": 2}", "\"n_actuators\" must be an int"},
      {"{\"medium\": \"m\", \"n_actuators\": 2, \"n_sensors\": 2, \"encoding\": {\"encoder\": \"l3\", \"low\": 0, "
       "\"high\": 1}, \"actuator_scale\": 1, \"sensor_scale\": 1}", "encoder \"l3\""},
      {"{\"medium\": \"m\", \"n_actuators\": 2, \"n_sensors\": 2, \"encoding\": {\"low\": 0, \"high\": 1}, "
       "\"actuator_scale\": 1, \"sensor_scale\": 1}", "lacks \"encoding.encoder\""},
      {"{\"medium\": \"" + std::string(101, 'm') + "\"}", "\"medium\" is longer than 100 bytes"},
      {"{\"medium\": \"m\", \"n_actuators\": 2,", "not valid JSON"},
  };
  for (const auto& c : cases) {
    phyll::MediumDescription out;
    std::string problem;
    CHECK_MSG(!parse(c.text, out, problem), c.text);
    CHECK_MSG(problem.find(c.names) != std::string::npos, "'" + problem + "' should name " + c.names);
  }
}

TEST(medium_description_is_read_after_its_length) {
  ScriptedChannel channel;
  uint8_t text[phyll::MediumDescription::kMaxText];
  phyll::MediumDescription out;
  char problem[200] = {};
  const std::string json = kSmall;
  Bytes framed(4);
  phyll::put_u32le(framed.data(), static_cast<uint32_t>(json.size()));
  framed.insert(framed.end(), json.begin(), json.end());
  channel.incoming = framed;
  CHECK(phyll::read_medium_description(channel, text, out, problem, sizeof problem));
  CHECK_EQ(std::string(out.medium), "small");

  channel.incoming = Bytes{0x01, 0x10, 0x00, 0x00};  // 4097 bytes: more than a description may be
  channel.at = 0;
  CHECK(!phyll::read_medium_description(channel, text, out, problem, sizeof problem));
  CHECK_EQ(std::string(problem), "medium description of 4097 bytes; expected 2..4096");

  channel.incoming = Bytes{0x10, 0x00, 0x00, 0x00, '{'};  // the host went away inside it
  channel.at = 0;
  CHECK(!phyll::read_medium_description(channel, text, out, problem, sizeof problem));
  CHECK_EQ(std::string(problem), "the medium channel closed inside its description");
}

TEST(medium_channel_hal_sends_requests_and_takes_codes) {
  const phyll::MediumDescription d = description(kSmall);
  ScriptedChannel channel;
  phyll::MediumChannelHal hal(channel, d, record_wait);
  CHECK(phyll::hal_problem(hal) == nullptr);
  CHECK_EQ(std::string(hal.describe().medium), "small");
  CHECK_EQ(hal.describe().n_static, 4);
  CHECK_EQ(*hal.settings().items[0].value, 7u);  // settle_us from the description, CONFIGURE may change it

  const Bytes vectors = int16_bytes({1, -2, 3, 4, 5, -6});
  const Bytes codes = int16_bytes({10, 20, -30, 40});
  channel.reply(0, 2, codes);
  uint8_t out[8] = {};
  waits.clear();
  CHECK(hal.excite(2, vectors.data(), out).ok());
  Bytes request = {0x45, 0, 2, 0, 12, 0, 0, 0};
  request.insert(request.end(), vectors.begin(), vectors.end());
  CHECK_EQ(to_hex(channel.written), to_hex(request));
  CHECK_EQ(channel.writes, 1);  // one request, one write
  CHECK_EQ(to_hex(Bytes(out, out + 8)), to_hex(codes));
  CHECK(waits == std::vector<uint32_t>({7, 7}));  // settle_us after each vector

  channel.written.clear();
  channel.reply(0, 0, {});
  CHECK(hal.set_static(Bytes{0x05}.data(), 4).ok());
  channel.reply(0, 0, {});
  CHECK(hal.safe().ok());
  CHECK_EQ(to_hex(channel.written), "530004000100000005" "5a00000000000000");
}

TEST(medium_channel_hal_turns_replies_it_cannot_use_into_faults) {
  ScriptedChannel channel;
  phyll::MediumChannelHal hal(channel, description(kSmall), record_wait);
  const Bytes vectors = int16_bytes({1, 2, 3});
  uint8_t out[4] = {};

  channel.reply(1, 0, text_bytes("medium 'small' raised ValueError: boom"));
  phyll::HalStatus status = hal.excite(1, vectors.data(), out);
  CHECK(!status.ok() && std::string(status.fault) == "medium 'small' raised ValueError: boom");

  // A reply of the wrong size is read past, so the next request is answered in step.
  channel.reply(0, 2, int16_bytes({1, 2, 3, 4}));
  status = hal.excite(1, vectors.data(), out);
  CHECK(!status.ok() && std::string(status.fault) == "emulator medium answered 2 vectors / 8 bytes; expected 1 / 4");
  channel.reply(0, 1, int16_bytes({9, 8}));
  CHECK(hal.excite(1, vectors.data(), out).ok());
  CHECK_EQ(to_hex(Bytes(out, out + 4)), to_hex(int16_bytes({9, 8})));

  channel.reply(0, 0, Bytes{1, 2, 3});
  status = hal.safe();
  CHECK(!status.ok() && std::string(status.fault) == "emulator medium sent 3 unexpected bytes");

  // A fault message longer than the host is shown is cut, the rest read past.
  channel.reply(1, 0, Bytes(300, 'x'));
  channel.reply(0, 0, {});
  status = hal.safe();
  CHECK(!status.ok() && std::string(status.fault) == std::string(phyll::MediumChannelHal::kMaxFault, 'x'));
  CHECK(hal.safe().ok());
}

TEST(medium_channel_hal_fails_fast_once_the_channel_closed) {
  ScriptedChannel channel;
  phyll::MediumChannelHal hal(channel, description(kSmall), record_wait);
  const Bytes vectors = int16_bytes({1, 2, 3});
  uint8_t out[4] = {};
  channel.incoming = Bytes{0, 0, 1, 0, 4, 0, 0, 0, 0x11};  // 4 bytes promised, 1 sent: the server went away
  phyll::HalStatus status = hal.excite(1, vectors.data(), out);
  CHECK(!status.ok() && std::string(status.fault) == "emulator medium channel closed");
  const int writes = channel.writes;
  channel.reply(0, 0, {});  // too late: the HAL no longer uses the channel
  CHECK(!hal.safe().ok());
  CHECK_EQ(channel.writes, writes);

  ScriptedChannel refused;
  refused.write_fails = true;
  phyll::MediumChannelHal unplugged(refused, description(kSmall), record_wait);
  status = unplugged.set_static(Bytes{0}.data(), 4);
  CHECK(!status.ok() && std::string(status.fault) == "emulator medium channel closed");
}

TEST(loopback_hal_reads_back_the_applied_codes) {
  phyll::MediumDescription d = description(
      "{\"medium\": \"loopback\", \"n_actuators\": 3, \"n_sensors\": 3, \"encoding\": {\"encoder\": \"l2\", "
      "\"low\": -1.0, \"high\": 1.0}, \"actuator_scale\": 3.0517578125e-05, \"sensor_scale\": 3.0517578125e-05, "
      "\"max_batch\": 5, \"hal\": \"loopback\"}");
  phyll::LoopbackHal hal(d, record_wait);
  CHECK(phyll::hal_problem(hal) == nullptr);
  CHECK_EQ(hal.describe().max_batch, 5);
  const Bytes vectors = int16_bytes({1, -2, 32767, -32768, 0, 9});
  uint8_t out[12] = {};
  waits.clear();
  CHECK(hal.excite(2, vectors.data(), out).ok());
  CHECK_EQ(to_hex(Bytes(out, out + 12)), to_hex(vectors));
  CHECK(waits.empty());  // settle_us 0

  d.n_sensors = 2;
  CHECK_EQ(std::string(phyll::LoopbackHal(d, record_wait).setup_problem()),
           "a loopback medium needs as many sensors as actuators, on one scale");
  d.n_sensors = 3;
  strcpy(d.encoder, "bits");
  CHECK_EQ(std::string(phyll::LoopbackHal(d, record_wait).setup_problem()),
           "loopback reads back int16 codes; the bits encoder sends none");
}
