/*
 * Declarations of the few Arduino core APIs (arduino-esp32 3.x signatures) the furrow_ota wrapper and
 * its example use, for a host `g++ -fsyntax-only` check (the Arduino core cannot be installed here).
 * Declarations only: nothing is linked or run against this file.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>

unsigned long millis(void);
void delay(uint32_t ms);

class IPAddress {
};

class HardwareSerial {
  public:
    void begin(unsigned long baud);
    size_t print(const char *s);
    size_t println(void);
    size_t println(const char *s);
    size_t println(const IPAddress &ip);
    size_t printf(const char *format, ...) __attribute__((format(printf, 2, 3)));
};
extern HardwareSerial Serial;

class EspClass {
  public:
    void restart(void);
};
extern EspClass ESP;
