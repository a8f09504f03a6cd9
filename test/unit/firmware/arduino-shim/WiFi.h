/* WiFi API declarations (arduino-esp32 3.x) for the host syntax check: see Arduino.h here. */
#pragma once
#include "Arduino.h"

typedef enum { WL_IDLE_STATUS = 0, WL_CONNECTED = 3, WL_DISCONNECTED = 6 } wl_status_t;
typedef enum { WIFI_OFF = 0, WIFI_STA = 1 } wifi_mode_t;

class WiFiClass {
  public:
    bool mode(wifi_mode_t m);
    wl_status_t begin(const char *ssid, const char *passphrase = nullptr);
    wl_status_t status(void);
    IPAddress localIP(void);
};
extern WiFiClass WiFi;
