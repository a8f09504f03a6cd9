/*
 * furrow OTA for Arduino (arduino-esp32 3.x, built on ESP-IDF 5): the furrow update state machine behind
 * an interface in the style of the ESP32 Update/ArduinoOTA libraries.
 *
 *   furrowUpdate.onProgress([](size_t done, size_t total) { ... });
 *   furrowUpdate.begin("gateway.example:5683", config, selfTest);   // in setup(), network up
 *   furrowUpdate.handle();                                           // in loop()
 *
 * The sketch needs a partition table with ota_0, ota_1 and a data partition labelled furrow_stg
 * (partitions.csv beside the sketch; the example has one).
 */
#ifndef FURROW_UPDATE_ARDUINO_H
#define FURROW_UPDATE_ARDUINO_H

#include <stddef.h>
#include <stdint.h>

extern "C" {
#include "furrow_errors.h"
#include "furrow_port.h"
#include "furrow_update.h"
}

class FurrowUpdateClass {
  public:
    /** done/total in patch bytes of the update being applied (as Update.onProgress). */
    typedef void (*ProgressHandler)(size_t done, size_t total);
    /** Every state-machine event: "checkin", "manifest", "chunk", "applied", "reboot", "confirmed", "refused", ... */
    typedef void (*EventHandler)(const char *name, const char *detail);

    /**
     * Sets up the port (partitions, gateway socket) and loads the persisted update state; call once the
     * network is up. gateway is "host:port". config and every buffer it points to (keys) must stay
     * valid: keep them static. selfTest is the health check of a freshly updated image (0 = healthy);
     * without one every image that boots is confirmed. false: see getError()/errorString().
     */
    bool begin(const char *gateway, const struct furrow_config &config, int (*selfTest)(void) = nullptr);

    FurrowUpdateClass &onProgress(ProgressHandler fn);
    FurrowUpdateClass &onEvent(EventHandler fn);

    /**
     * Runs the update state machine when it is due: one step per call (a check-in, one block, ...), so
     * loop() keeps running. Restarts the chip when a new image is ready (or rolled back). Returns the
     * step's FURROW_ACT_* action, or FURROW_ACT_IDLE while waiting for the next check-in.
     */
    int handle();

    /** True while an update is between its manifest and its final report. */
    bool isRunning() const;
    /** Seconds until the next check-in the gateway asked for. */
    uint32_t sleepSeconds() const;
    /** 0, a negative furrow error (FURROW_ERR_*) or a positive esp_err_t from the port set-up. */
    int getError() const;
    const char *errorString() const;

  private:
    static void portEvent(void *arg, const char *name, const char *detail, uint32_t a, uint32_t b);

    struct furrow_update upd_; /* ~62 KB: the decoder RAM lives here (.bss), not on the stack */
    struct furrow_port port_;
    struct furrow_config cfg_;
    void (*portEventFn_)(void *, const char *, const char *, uint32_t, uint32_t) = nullptr;
    ProgressHandler progress_ = nullptr;
    EventHandler event_ = nullptr;
    bool begun_ = false;
    int error_ = 0;
    uint32_t nextStepMs_ = 0;
};

extern FurrowUpdateClass furrowUpdate;

#endif
