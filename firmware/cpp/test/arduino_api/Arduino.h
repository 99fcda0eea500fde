// Declarations of the Arduino calls src/main.cpp and src/boards/ make, for a host -fsyntax-only
// check of the board code (test/build.py). Signatures follow the esp32 core
// (PHYLL_BOARD_ESP32_DEVKITC) or arduino-pico (PHYLL_BOARD_RP2_PICO); nothing here is linked
// or run, and it proves nothing about the real cores beyond these signatures.
#pragma once

#include <stddef.h>
#include <stdint.h>

#define HIGH 0x1
#define LOW 0x0
#define OUTPUT 0x03
#define MSBFIRST 1

#if defined(PHYLL_BOARD_ESP32_DEVKITC)
typedef enum { ADC_0db, ADC_2_5db, ADC_6db, ADC_11db } adc_attenuation_t;
void analogSetPinAttenuation(uint8_t pin, adc_attenuation_t attenuation);
uint16_t analogRead(uint8_t pin);
#else
int analogRead(uint8_t pin);
#endif

unsigned long millis();
void yield();
void delay(unsigned long ms);
void delayMicroseconds(unsigned int us);
void pinMode(uint8_t pin, uint8_t mode);
void digitalWrite(uint8_t pin, uint8_t value);
void analogReadResolution(int bits);

class Print {
 public:
  virtual ~Print() = default;
  virtual size_t write(uint8_t byte) = 0;
  virtual size_t write(const uint8_t* buffer, size_t size);
  virtual int availableForWrite();
  size_t print(const char* text);
  size_t println(const char* text);
};

class Stream : public Print {
 public:
  virtual int available() = 0;
  virtual int read() = 0;
  size_t readBytes(uint8_t* buffer, size_t length);
};

class HardwareSerial : public Stream {
 public:
  void begin(unsigned long baud);
#if defined(PHYLL_BOARD_ESP32_DEVKITC)
  size_t setRxBufferSize(size_t size);
#endif
  int available() override;
  int read() override;
  size_t write(uint8_t byte) override;
  int availableForWrite() override;
  using Print::write;
};

extern HardwareSerial Serial;
