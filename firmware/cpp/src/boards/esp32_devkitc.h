// ESP32 DevKitC driving a 1-bit PIN-diode metasurface (wiring as the MicroPython board
// firmware/micropython/boards/esp32_metasurface.py):
//   74HC595 chain (VSPI)        SCK GPIO18, MOSI GPIO23, RCLK (latch) GPIO5, /OE to GND,
//                               /SRCLR to 3V3; 32 driven elements (4 registers), then 16 static
//                               elements (2 registers)
//   ADF4351 synthesiser (HSPI)  CLK GPIO14, DATA GPIO13, LE GPIO15; 25 MHz reference
//   AD8318 RF power detector    VOUT -> GPIO34 (ADC1, 11 dB attenuation, 12 bits)
// Host link: UART0 through the DevKitC's USB bridge.
#pragma once

#include <Arduino.h>
#include <SPI.h>

#include "../core/protocol.h"
#include "../hal/metasurface_hal.h"

namespace board {

using SpiBus = SPIClass;

constexpr const char* kName = "esp32-devkitc";
// A UART, unlike USB CDC, has a real rate: open the host side with the same baudrate.
constexpr uint32_t kBaudrate = 921600;
constexpr uint32_t kWatchdogMs = 2000;
constexpr uint8_t kChainSck = 18, kChainMiso = 19, kChainMosi = 23, kLatch = 5;
constexpr uint8_t kSynthSck = 14, kSynthMiso = 12, kSynthMosi = 13, kSynthLe = 15;
constexpr uint8_t kDetector = 34;
constexpr uint32_t kReferenceMhz = 25;
constexpr uint16_t kFrequenciesMhz[] = {2400, 2410, 2420, 2430, 2440, 2450, 2460, 2470, 2480, 2490};
constexpr phyll::MetasurfaceLayout kLayout{32, sizeof kFrequenciesMhz / sizeof kFrequenciesMhz[0], 16, 12, 3.3};

inline SpiBus chain_bus(VSPI);
inline SpiBus synth_bus(HSPI);

inline void begin_host_serial() {
  // The default 256-byte receive buffer overflows while an EXCITE runs and the host pipelines
  // the next requests: hold every frame the host may have outstanding.
  Serial.setRxBufferSize(phyll::kInFlight * phyll::kMaxFrame);
  Serial.begin(kBaudrate);
}

inline void begin_buses() {
  chain_bus.begin(kChainSck, kChainMiso, kChainMosi, -1);
  synth_bus.begin(kSynthSck, kSynthMiso, kSynthMosi, -1);
  analogReadResolution(kLayout.adc_bits);
  analogSetPinAttenuation(kDetector, ADC_11db);
}

}  // namespace board
