// The metasurface HAL against a simulated 74HC595 chain (bits shifted through every register,
// outputs copied on the latch), and the ADF4351 register words it tunes with.
#include <random>
#include <string>
#include <vector>

#include "../src/hal/adf4351.h"
#include "../src/hal/metasurface_hal.h"
#include "check.h"
#include "test_support.h"

namespace {

// MCU MOSI -> register 0 -> register 1 -> ...: each clock shifts SER into Q0 and every Q up
// one place; Q7 of a register feeds the next register's SER. The latch copies to the outputs.
class SimulatedChain : public phyll::MetasurfacePort {
 public:
  explicit SimulatedChain(size_t registers) : shift_(registers), outputs_(registers) {}

  void shift_out_and_latch(const uint8_t* image, size_t n) override {
    for (size_t i = 0; i < n; ++i) {
      for (int bit = 7; bit >= 0; --bit) clock_in((image[i] >> bit) & 1);  // MSB first
    }
    outputs_ = shift_;
    events.push_back("latch");
  }

  void tune(uint16_t k) override {
    tuned_ = k;
    events.push_back("tune " + std::to_string(k));
  }

  // Depends on the tuned frequency and the latched pattern, so order mistakes show.
  uint16_t read_detector() override {
    ++reads;
    int on = 0;
    for (const uint8_t r : outputs_) on += __builtin_popcount(r);
    return static_cast<uint16_t>(override_reading >= 0 ? override_reading : 100 * tuned_ + 7 * on + reads % 2);
  }

  void wait_us(uint32_t us) override { events.push_back("wait " + std::to_string(us)); }

  bool output(size_t reg, int q) const { return (outputs_.at(reg) >> q) & 1; }
  int lit_outputs() const {
    int on = 0;
    for (const uint8_t r : outputs_) on += __builtin_popcount(r);
    return on;
  }

  std::vector<std::string> events;
  int reads = 0;
  int override_reading = -1;

 private:
  void clock_in(int ser) {
    for (size_t r = shift_.size() - 1; r > 0; --r) shift_[r] = static_cast<uint8_t>(shift_[r] << 1 | shift_[r - 1] >> 7);
    shift_[0] = static_cast<uint8_t>(shift_[0] << 1 | ser);
  }

  std::vector<uint8_t> shift_;
  std::vector<uint8_t> outputs_;
  uint16_t tuned_ = 0;
};

constexpr phyll::MetasurfaceLayout kLayout{10, 3, 5, 12, 3.3};  // 2 driven registers, 1 static

Bytes pack(const std::vector<int>& states) {
  Bytes packed((states.size() + 7) / 8);
  for (size_t i = 0; i < states.size(); ++i) packed[i / 8] |= static_cast<uint8_t>(states[i] << (i % 8));
  return packed;
}

}  // namespace

TEST(metasurface_elements_land_on_their_register_outputs) {
  std::mt19937 rng(3);
  SimulatedChain chain(3);
  phyll::MetasurfaceHal hal(chain, kLayout);
  CHECK(phyll::hal_problem(hal) == nullptr);
  const std::vector<int> statics = {1, 0, 1, 1, 0};
  Bytes static_bytes = pack(statics);
  static_bytes[0] |= 0xE0;  // padding bits: ignored
  hal.set_static(static_bytes.data(), 5);
  for (int round = 0; round < 50; ++round) {
    std::vector<int> states(10);
    for (int& s : states) s = static_cast<int>(rng() & 1);
    Bytes packed = pack(states);
    packed[1] |= 0xFC;  // padding bits of the vector: ignored
    uint8_t out[6];
    hal.excite(1, packed.data(), out);
    for (size_t i = 0; i < 10; ++i) CHECK(chain.output(i / 8, static_cast<int>(i % 8)) == (states[i] == 1));
    for (int q = 2; q < 8; ++q) CHECK(!chain.output(1, q));
    for (size_t j = 0; j < 5; ++j) CHECK(chain.output(2, static_cast<int>(j)) == (statics[j] == 1));
    for (int q = 5; q < 8; ++q) CHECK(!chain.output(2, q));
  }
  hal.safe();
  CHECK_EQ(chain.lit_outputs(), 3);  // the static pattern stays
}

TEST(metasurface_measures_each_frequency_after_latching_the_vector) {
  SimulatedChain chain(3);
  phyll::MetasurfaceHal hal(chain, kLayout);
  const Bytes vectors = {0xFF, 0x03, 0x01, 0x00};  // vector 0: all 10 on; vector 1: element 0
  uint8_t out[2 * 2 * 3];
  CHECK(hal.excite(2, vectors.data(), out).ok());
  const std::vector<int16_t> codes = int16s(Bytes(out, out + sizeof out));
  // adc_samples 4 reads alternate +0/+1: mean = 100 k + 7 lit (integer division); 12 -> 15 bits.
  const std::vector<int16_t> expected = {(0 + 70) << 3, (100 + 70) << 3, (200 + 70) << 3,
                                         (0 + 7) << 3,  (100 + 7) << 3,  (200 + 7) << 3};
  CHECK(codes == expected);
  const std::vector<std::string> first_vector(chain.events.begin(), chain.events.begin() + 8);
  CHECK(first_vector == std::vector<std::string>({"latch", "wait 50", "tune 0", "wait 200", "tune 1", "wait 200",
                                                  "tune 2", "wait 200"}));
  CHECK_EQ(chain.reads, 2 * 3 * 4);
  chain.override_reading = 9999;  // above 12-bit full scale: capped, never wrapped negative
  hal.excite(1, vectors.data(), out);
  CHECK_EQ(int16s(Bytes(out, out + 2))[0], 4095 << 3);
}

TEST(metasurface_through_the_frame_server) {
  SimulatedChain chain(3);
  phyll::MetasurfaceHal hal(chain, kLayout);
  FakeClock clock;
  ScriptedLink link;
  phyll::FrameServer server(link, hal, clock, phyll::ServerOptions{"sim", 2000, 0});
  link.feed(encode_frame(0x01, 1, {1, 1}));
  link.feed(encode_frame(0x02, 2, text_bytes(R"({"adc_samples": 1, "tune_settle_us": 5, "settle_us": 9})")));
  link.feed(encode_frame(0x04, 3, {5, 0, 0x1F}));
  link.feed(encode_frame(0x03, 4, {1, 0, 10, 0, 0x01, 0x00}));
  server.poll();
  const std::vector<DecodedFrame> replies = decode_frames(link.take_written());
  CHECK_EQ(replies.size(), 4u);
  if (replies.size() != 4) return;
  const JsonValue info = json_of(replies[0]);
  CHECK_EQ(info["medium"].text, std::string("metasurface"));
  CHECK_EQ(info["encoding"], parse_json(R"({"encoder": "bits", "low": 0.0, "high": 1.0, "bits": 1})"));
  CHECK_EQ(info["n_static"].number, 5.0);
  CHECK_EQ(info["sensor_scale"].number, 3.3 / 32768);
  CHECK_EQ(info["settle_us"].number, 50.0);
  CHECK_EQ(json_of(replies[1]), parse_json(R"({"watchdog_ms": 2000, "settle_us": 9, "tune_settle_us": 5, "adc_samples": 1})"));
  CHECK_EQ(int{replies[2].type}, 0x84);
  CHECK_EQ(int{replies[3].type}, 0x83);
  // 5 static + 1 driven element lit; one read per frequency (reads 1..3 alternate +1/+0).
  CHECK(int16s(replies[3].payload, 4) == std::vector<int16_t>({(0 + 42 + 1) << 3, (100 + 42) << 3, (200 + 42 + 1) << 3}));
  CHECK_EQ(chain.events.at(chain.events.size() - 7), std::string("wait 9"));
  CHECK_EQ(chain.events.back(), std::string("wait 5"));
}

TEST(metasurface_refuses_layouts_it_cannot_hold) {
  SimulatedChain chain(1);
  phyll::MetasurfaceHal too_long(chain, phyll::MetasurfaceLayout{500, 1, 100, 12, 3.3});
  CHECK(phyll::hal_problem(too_long) != nullptr);
  phyll::MetasurfaceHal bad_adc(chain, phyll::MetasurfaceLayout{8, 1, 0, 16, 3.3});
  CHECK(phyll::hal_problem(bad_adc) != nullptr);
  phyll::MetasurfaceHal longest(chain, phyll::MetasurfaceLayout{256, 1, 256, 12, 3.3});
  CHECK(phyll::hal_problem(longest) == nullptr);
}

TEST(adf4351_words_encode_the_frequency) {
  for (uint32_t freq = 2200; freq <= 4400; freq += 7) {
    phyll::Adf4351Registers registers{};
    CHECK(phyll::adf4351_registers(freq, 25, 25, registers));
    for (uint32_t r = 0; r < 6; ++r) CHECK_EQ(registers.words[r] & 7u, 5u - r);  // address bits, R5 first
    const uint32_t r0 = registers.words[5];
    const uint32_t integer = r0 >> 15 & 0xFFFF;
    const uint32_t frac = r0 >> 3 & 0xFFF;
    CHECK_EQ(integer * 25 + frac, freq);  // (INT + FRAC / MOD) x f_PFD with MOD = f_PFD = 25
    CHECK_EQ(registers.words[4] >> 3 & 0xFFF, 25u);   // MOD in R1
  }
  phyll::Adf4351Registers unused{};
  CHECK(!phyll::adf4351_registers(2199, 25, 25, unused));
  CHECK(!phyll::adf4351_registers(4401, 25, 25, unused));
}
