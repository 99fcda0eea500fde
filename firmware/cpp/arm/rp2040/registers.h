// RP2040 register addresses and fields the board uses (RP2040 datasheet, chapter 2 "System
// Description" and chapter 4 "Peripherals"). Every peripheral also has atomic set and clear
// aliases at +0x2000 and +0x3000.
#pragma once

#include <stdint.h>

namespace rp2040 {

constexpr uint32_t kSet = 0x2000, kClear = 0x3000;

namespace resets {
constexpr uint32_t kBase = 0x4000C000, kReset = 0x0, kResetDone = 0x8;
constexpr uint32_t kAdc = 1u << 0, kIoBank0 = 1u << 5, kPadsBank0 = 1u << 8, kSpi0 = 1u << 16, kSpi1 = 1u << 17,
                   kUart0 = 1u << 22;
}  // namespace resets

namespace clocks {
constexpr uint32_t kBase = 0x40008000;
constexpr uint32_t kRefCtrl = 0x30, kSysCtrl = 0x3C, kPeriCtrl = 0x48, kAdcCtrl = 0x60;
constexpr uint32_t kRefFromXosc = 2, kSysFromRef = 0;  // the glitchless muxes' SRC fields
constexpr uint32_t kEnable = 1u << 11;                  // the auxiliary clocks' ENABLE
constexpr uint32_t kPeriFromSys = 0u << 5, kAdcFromXosc = 3u << 5;  // AUXSRC fields
}  // namespace clocks

namespace xosc {
constexpr uint32_t kBase = 0x40024000, kCtrl = 0x00, kStatus = 0x04, kStartup = 0x0C;
constexpr uint32_t kRange1To15Mhz = 0xAA0, kEnable = 0xFABu << 12, kStable = 1u << 31;
constexpr uint32_t kStartupDelay = 47;  // x 256 cycles of 12 MHz: ~1 ms for the crystal to settle
}  // namespace xosc

namespace io_bank0 {
constexpr uint32_t kBase = 0x40014000;
constexpr uint32_t ctrl(unsigned gpio) { return 0x004 + 8u * gpio; }
constexpr uint32_t kSpi = 1, kUart = 2, kSio = 5, kNull = 31;  // FUNCSEL
}  // namespace io_bank0

namespace pads_bank0 {
constexpr uint32_t kBase = 0x4001C000;
constexpr uint32_t gpio(unsigned n) { return 0x04 + 4u * n; }
constexpr uint32_t kOutputDisable = 1u << 7, kInputEnable = 1u << 6;
}  // namespace pads_bank0

namespace sio {
constexpr uint32_t kBase = 0xD0000000, kOutSet = 0x014, kOutClear = 0x018, kOeSet = 0x024;
}

namespace uart {  // PL011
constexpr uint32_t kUart0 = 0x40034000;
constexpr uint32_t kData = 0x000, kFlags = 0x018, kIntegerBaud = 0x024, kFractionalBaud = 0x028, kLineCtrl = 0x02C,
                   kCtrl = 0x030, kFifoLevels = 0x034, kInterruptMask = 0x038, kInterruptClear = 0x044;
constexpr uint32_t kTxFull = 1u << 5, kRxEmpty = 1u << 4;                           // FR
constexpr uint32_t kEightBits = 3u << 5, kFifos = 1u << 4;                          // LCR_H
constexpr uint32_t kEnable = 1u << 0, kTxEnable = 1u << 8, kRxEnable = 1u << 9;     // CR
constexpr uint32_t kRxInterrupt = 1u << 4, kRxTimeoutInterrupt = 1u << 6;           // IMSC
constexpr unsigned kUart0Irq = 20;
}  // namespace uart

namespace spi {  // PL022
constexpr uint32_t kSpi0 = 0x4003C000, kSpi1 = 0x40040000;
constexpr uint32_t kCtrl0 = 0x000, kCtrl1 = 0x004, kData = 0x008, kStatus = 0x00C, kPrescale = 0x010;
constexpr uint32_t kEightBitFrames = 7;                                  // CR0 DSS; SPO = SPH = 0: mode 0
constexpr uint32_t kEnable = 1u << 1;                                    // CR1 SSE
constexpr uint32_t kTxNotFull = 1u << 1, kRxNotEmpty = 1u << 2;          // SR
}  // namespace spi

namespace adc {
constexpr uint32_t kBase = 0x4004C000, kCtrl = 0x00, kResult = 0x04;
constexpr uint32_t kEnable = 1u << 0, kStartOnce = 1u << 2, kReady = 1u << 8;
constexpr uint32_t input(unsigned channel) { return channel << 12; }  // AINSEL
constexpr unsigned kFirstPin = 26;                                     // GPIO 26..29 are inputs 0..3
}  // namespace adc

}  // namespace rp2040
