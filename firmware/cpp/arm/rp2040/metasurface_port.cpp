#include "metasurface_port.h"

#include <initializer_list>

#include "../cortex_m/cortex_m.h"
#include "../cortex_m/systick.h"
#include "registers.h"

namespace rp2040 {
namespace {

constexpr uint32_t kModulus = 25;  // with a 25 MHz reference: a 1 MHz grid
constexpr uint32_t kChainHz = 10000000, kSynthHz = 1000000;  // as the Arduino build's SPISettings

volatile uint32_t& at(uint32_t base, uint32_t offset) { return cortex_m::reg(base + offset); }

void select_function(unsigned gpio, uint32_t function) { at(io_bank0::kBase, io_bank0::ctrl(gpio)) = function; }

void make_output(unsigned gpio) {
  at(sio::kBase, sio::kOutClear) = 1u << gpio;
  at(sio::kBase, sio::kOeSet) = 1u << gpio;
  select_function(gpio, io_bank0::kSio);
}

void pulse(unsigned gpio) {  // a rising edge latches (74HC595 RCLK, ADF4351 LE)
  at(sio::kBase, sio::kOutSet) = 1u << gpio;
  at(sio::kBase, sio::kOutClear) = 1u << gpio;
}

// Mode 0, 8-bit frames, at most `hz`: clk_peri / (even prescale 2..254), no further divider.
void begin_spi(uint32_t base, uint32_t peri_hz, uint32_t hz) {
  uint32_t prescale = 2;
  while (prescale < 254 && peri_hz / prescale > hz) prescale += 2;
  at(base, spi::kCtrl1) = 0;
  at(base, spi::kPrescale) = prescale;
  at(base, spi::kCtrl0) = spi::kEightBitFrames;
  at(base, spi::kCtrl1) = spi::kEnable;
}

// One byte out, and the byte clocked in read back so the RX FIFO never overflows.
void transfer(uint32_t base, uint8_t byte) {
  while (!(at(base, spi::kStatus) & spi::kTxNotFull)) {
  }
  at(base, spi::kData) = byte;
  while (!(at(base, spi::kStatus) & spi::kRxNotEmpty)) {
  }
  const uint32_t clocked_in = at(base, spi::kData);  // a read of the register, which pops the FIFO
  (void)clocked_in;
}

}  // namespace

const char* Rp2040MetasurfacePort::begin(uint32_t peri_hz, const uint16_t* frequencies_mhz, uint16_t count,
                                         uint32_t ref_mhz) {
  if (count > kMaxFrequencies) return "more synthesiser frequencies than Rp2040MetasurfacePort::kMaxFrequencies";
  for (uint16_t k = 0; k < count; ++k) {
    if (!phyll::adf4351_registers(frequencies_mhz[k], ref_mhz, kModulus, registers_[k]))
      return "ADF4351 tunes 2200..4400 MHz with RF divider 1";
  }
  count_ = count;
  for (const uint8_t gpio : {pins_.chain_sck, pins_.chain_tx, pins_.synth_sck, pins_.synth_tx}) {
    select_function(gpio, io_bank0::kSpi);
  }
  make_output(pins_.latch);
  make_output(pins_.synth_le);
  // The detector's pad: no digital input or output, so the ADC sees the pin alone.
  at(pads_bank0::kBase, pads_bank0::gpio(pins_.detector)) = pads_bank0::kOutputDisable;
  select_function(pins_.detector, io_bank0::kNull);
  begin_spi(spi::kSpi0, peri_hz, kChainHz);
  begin_spi(spi::kSpi1, peri_hz, kSynthHz);
  at(adc::kBase, adc::kCtrl) = adc::kEnable | adc::input(pins_.detector - adc::kFirstPin);
  return nullptr;
}

void Rp2040MetasurfacePort::shift_out_and_latch(const uint8_t* image, size_t n) {
  for (size_t i = 0; i < n; ++i) transfer(spi::kSpi0, image[i]);  // the PL022 sends MSB first
  pulse(pins_.latch);
}

void Rp2040MetasurfacePort::tune(uint16_t frequency_index) {
  if (frequency_index >= count_) return;
  for (const uint32_t word : registers_[frequency_index].words) {
    for (int shift = 24; shift >= 0; shift -= 8) transfer(spi::kSpi1, static_cast<uint8_t>(word >> shift));
    pulse(pins_.synth_le);  // LE's rising edge loads the word into its register
  }
}

uint16_t Rp2040MetasurfacePort::read_detector() {
  at(adc::kBase, adc::kCtrl) = at(adc::kBase, adc::kCtrl) | adc::kStartOnce;
  while (!(at(adc::kBase, adc::kCtrl) & adc::kReady)) {
  }
  return static_cast<uint16_t>(at(adc::kBase, adc::kResult) & 0xFFFu);
}

void Rp2040MetasurfacePort::wait_us(uint32_t us) { cortex_m::SysTickClock::wait_us(us); }

}  // namespace rp2040
