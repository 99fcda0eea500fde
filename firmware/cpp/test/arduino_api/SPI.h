// SPI declarations for the host syntax check of the board code (see Arduino.h here).
#pragma once

#include "Arduino.h"

#define SPI_MODE0 0x00

class SPISettings {
 public:
  SPISettings(uint32_t clock, uint8_t bit_order, uint8_t data_mode);
};

#if defined(PHYLL_BOARD_ESP32_DEVKITC)
#define HSPI 2
#define VSPI 3

class SPIClass {
 public:
  explicit SPIClass(uint8_t spi_bus = HSPI);
  void begin(int8_t sck = -1, int8_t miso = -1, int8_t mosi = -1, int8_t ss = -1);
  void beginTransaction(SPISettings settings);
  void endTransaction();
  uint8_t transfer(uint8_t data);
};
#else
class SPIClassRP2040 {
 public:
  bool setRX(uint8_t pin);
  bool setTX(uint8_t pin);
  bool setSCK(uint8_t pin);
  void begin(bool hw_cs = false);
  void beginTransaction(SPISettings settings);
  void endTransaction();
  uint8_t transfer(uint8_t data);
};

extern SPIClassRP2040 SPI;
extern SPIClassRP2040 SPI1;
#endif
