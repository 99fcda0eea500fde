// Raspberry Pi Pico (arduino-pico core) driving the same metasurface rig as esp32_devkitc.h:
//   74HC595 chain (SPI0)        SCK GP18, TX GP19, RCLK (latch) GP17; 32 driven + 16 static elements
//   ADF4351 synthesiser (SPI1)  SCK GP14, TX GP15, LE GP13; 25 MHz reference
//   RF power detector           VOUT -> GP26 (ADC0, 12 bits, 3.3 V reference)
// Host link: USB CDC (Serial), whose flow control means no receive buffer can overflow.
#pragma once

#include <Arduino.h>
#include <SPI.h>

#include "../hal/metasurface_hal.h"

namespace board {

using SpiBus = SPIClassRP2040;

constexpr const char* kName = "rp2-pico";
constexpr uint32_t kWatchdogMs = 2000;
constexpr uint8_t kChainSck = 18, kChainMiso = 16, kChainMosi = 19, kLatch = 17;
constexpr uint8_t kSynthSck = 14, kSynthMiso = 12, kSynthMosi = 15, kSynthLe = 13;
constexpr uint8_t kDetector = 26;
constexpr uint32_t kReferenceMhz = 25;
constexpr uint16_t kFrequenciesMhz[] = {2400, 2410, 2420, 2430, 2440, 2450, 2460, 2470, 2480, 2490};
constexpr phyll::MetasurfaceLayout kLayout{32, sizeof kFrequenciesMhz / sizeof kFrequenciesMhz[0], 16, 12, 3.3};

inline SpiBus& chain_bus = SPI;
inline SpiBus& synth_bus = SPI1;

inline void begin_host_serial() { Serial.begin(115200); }  // USB CDC: the rate is ignored

inline void begin_buses() {
  chain_bus.setSCK(kChainSck);
  chain_bus.setTX(kChainMosi);
  chain_bus.setRX(kChainMiso);
  chain_bus.begin();
  synth_bus.setSCK(kSynthSck);
  synth_bus.setTX(kSynthMosi);
  synth_bus.setRX(kSynthMiso);
  synth_bus.begin();
  analogReadResolution(kLayout.adc_bits);
}

}  // namespace board
