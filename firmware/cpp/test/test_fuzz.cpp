// Seeded fuzzing: noise, bit flips, truncations, random read splits and random requests. The
// server must never crash (the harness runs under ASan/UBSan), every byte it sends must be a
// valid frame, and a clean frame after any damage must be answered: it resynchronises.
#include <random>
#include <string>

#include "../src/core/json_object_reader.h"
#include "check.h"
#include "test_support.h"

namespace {

constexpr uint8_t kPing = 0x05;
constexpr uint16_t kCleanSeqs = 40000;  // damaged and random frames use seqs below this

Bytes random_bytes(std::mt19937& rng, size_t n) {
  Bytes out(n);
  for (uint8_t& b : out) b = static_cast<uint8_t>(rng());
  return out;
}

size_t uniform(std::mt19937& rng, size_t low, size_t high) {
  return std::uniform_int_distribution<size_t>(low, high)(rng);
}

// A valid request of a random known or unknown type, with a random (often wrong) payload.
Bytes random_request(std::mt19937& rng) {
  static const uint8_t kTypes[] = {0x01, 0x02, 0x03, 0x03, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x3F, 0x83, 0xFF};
  const uint8_t type = kTypes[uniform(rng, 0, sizeof kTypes - 1)];
  const uint16_t seq = static_cast<uint16_t>(uniform(rng, 0, kCleanSeqs - 1));
  Bytes payload;
  if (type == 0x03 && uniform(rng, 0, 1)) {
    std::vector<std::vector<int16_t>> vectors(uniform(rng, 1, 5), std::vector<int16_t>(3));
    for (auto& v : vectors)
      for (int16_t& c : v) c = static_cast<int16_t>(rng());
    payload = excite_payload(vectors);
  } else if (type == 0x02) {
    static const char* kJson[] = {R"({"settle_us": 3})", R"({"watchdog_ms": 0})", "{}", R"({"x": 1})", "{\"settle_us\""};
    payload = text_bytes(kJson[uniform(rng, 0, 4)]);
  } else {
    payload = random_bytes(rng, uniform(rng, 0, 80));
  }
  return encode_frame(type, seq, payload);
}

// Damage of every kind the link can do, some of it harmless.
Bytes damage(std::mt19937& rng) {
  Bytes out;
  const size_t pieces = uniform(rng, 1, 4);
  for (size_t p = 0; p < pieces; ++p) {
    Bytes piece;
    switch (uniform(rng, 0, 4)) {
      case 0:  // noise, sometimes with stray magics and half magics
        piece = random_bytes(rng, uniform(rng, 0, 60));
        if (!piece.empty() && uniform(rng, 0, 1)) piece[uniform(rng, 0, piece.size() - 1)] = 0xA5;
        if (uniform(rng, 0, 2) == 0) piece.insert(piece.end(), {0xA5, 0x5A});
        break;
      case 1: {  // bit flips
        piece = random_request(rng);
        const size_t flips = uniform(rng, 1, 3);
        for (size_t f = 0; f < flips; ++f) piece[uniform(rng, 0, piece.size() - 1)] ^= static_cast<uint8_t>(1u << uniform(rng, 0, 7));
        break;
      }
      case 2:  // a frame cut short
        piece = random_request(rng);
        piece.resize(uniform(rng, 1, piece.size() - 1));
        break;
      case 3:  // lost bytes in the middle
        piece = random_request(rng);
        piece.erase(piece.begin() + static_cast<std::ptrdiff_t>(uniform(rng, 0, piece.size() - 2)));
        break;
      default:  // an intact random request
        piece = random_request(rng);
    }
    out.insert(out.end(), piece.begin(), piece.end());
  }
  return out;
}

}  // namespace

TEST(fuzz_noise_never_crashes_and_replies_are_whole_frames) {
  std::mt19937 rng(20240601);
  Rig rig(DeviceSpec{}, 300);
  rig.link.read_chunks = &rng;
  for (int round = 0; round < 1000; ++round) {
    rig.link.feed(random_bytes(rng, uniform(rng, 0, 3000)));
    rig.server->poll();
    rig.clock.now += static_cast<uint32_t>(uniform(rng, 0, 250));
    rig.server->poll();
  }
  decode_frames(rig.link.take_written());  // checks every reply byte belongs to a valid frame
}

TEST(fuzz_damaged_streams_resynchronise_on_the_next_clean_frame) {
  std::mt19937 rng(7);
  Rig rig(DeviceSpec{}, 0);
  rig.link.read_chunks = &rng;
  int answered = 0;
  const int rounds = 5000;
  for (int round = 0; round < rounds; ++round) {
    Bytes stream = damage(rng);
    const bool silence_first = uniform(rng, 0, 1) == 1;
    if (silence_first) {
      rig.link.feed(stream);
      rig.server->poll();
      rig.clock.now += 150;
      rig.server->poll();
      stream.clear();
    }
    const uint16_t seq = static_cast<uint16_t>(kCleanSeqs + round);
    const Bytes data = random_bytes(rng, uniform(rng, 0, 64));
    const Bytes ping = encode_frame(kPing, seq, data);
    stream.insert(stream.end(), ping.begin(), ping.end());
    rig.link.feed(stream);
    rig.server->poll();
    rig.clock.now += 150;  // a partial frame that swallowed the ping expires; the ping is rescanned
    rig.server->poll();
    int pongs = 0;
    for (const DecodedFrame& reply : decode_frames(rig.link.take_written())) {
      if (reply.type == 0x85 && reply.seq == seq) pongs += reply.payload == data ? 1 : 100;
    }
    CHECK_MSG(pongs == 1, "round " + std::to_string(round) + ": " + std::to_string(pongs) + " answers to the clean PING");
    answered += pongs == 1;
  }
  CHECK_EQ(answered, rounds);
}

TEST(fuzz_every_valid_request_gets_exactly_one_matching_reply) {
  std::mt19937 rng(99);
  Rig rig(DeviceSpec::bits_device(), 0);
  for (int round = 0; round < 10000; ++round) {
    const Bytes request = random_request(rng);
    const uint8_t type = request[3];
    const uint16_t seq = static_cast<uint16_t>(request[4] | request[5] << 8);
    const std::vector<DecodedFrame> replies = rig.exchange(request);
    CHECK_EQ(replies.size(), 1u);
    if (replies.size() != 1) continue;
    CHECK_EQ(replies[0].seq, seq);
    const bool matched = replies[0].type == (type | 0x80) && type < 0x80;
    const bool refused = replies[0].type == 0xFF && replies[0].payload.size() >= 2 && replies[0].payload[1] == type;
    CHECK_MSG(matched || refused, "request type " + std::to_string(type));
  }
}

TEST(fuzz_json_reader_terminates_on_mutated_text) {
  std::mt19937 rng(5);
  const std::string seeds[] = {R"({"settle_us": 200, "watchdog_ms": 1000})", R"({"a\u0041\"": -0, "b": [1]})", "{}"};
  for (int round = 0; round < 20000; ++round) {
    std::string text = seeds[uniform(rng, 0, 2)];
    const size_t edits = uniform(rng, 0, 4);
    for (size_t e = 0; e < edits && !text.empty(); ++e) {
      const size_t at = uniform(rng, 0, text.size() - 1);
      switch (uniform(rng, 0, 2)) {
        case 0: text[at] = static_cast<char>(rng()); break;
        case 1: text.erase(at, 1); break;
        default: text.resize(at);
      }
    }
    phyll::JsonObjectReader reader(reinterpret_cast<const uint8_t*>(text.data()), text.size());
    int steps = 0;
    for (; steps < 100; ++steps) {
      const phyll::JsonObjectReader::Step step = reader.next();
      if (step != phyll::JsonObjectReader::Step::kMember || !reader.value_is_int()) break;
    }
    CHECK_MSG(steps < 100, text);
  }
}
