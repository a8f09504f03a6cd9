/* The Arduino face of furrow_ota: FurrowUpdate.h. Compiled only in Arduino builds (PlatformIO compiles
 * this library's src/ for framework = espidf too, where the C API is used directly). */
#ifdef ARDUINO

#include "FurrowUpdate.h"

#include <Arduino.h>
#include <string.h>

extern "C" {
#include "furrow_port_esp.h"
}

FurrowUpdateClass furrowUpdate;

/* the instance whose port is running: the port's event callback carries the port's own arg, not ours */
static FurrowUpdateClass *active;

bool FurrowUpdateClass::begin(const char *gateway, const struct furrow_config &config, int (*selfTest)(void))
{
    cfg_ = config;
    error_ = furrow_port_esp_init(&port_, gateway, selfTest);
    if (error_ != 0)
        return false;
    /* the port logs every event and aborts a refused OTA session; progress and the sketch's handler
     * are added behind it */
    portEventFn_ = port_.event;
    port_.event = portEvent;
    active = this;
    error_ = furrow_update_boot(&upd_, &port_, &cfg_);
    begun_ = error_ == 0;
    nextStepMs_ = millis();
    return begun_;
}

FurrowUpdateClass &FurrowUpdateClass::onProgress(ProgressHandler fn)
{
    progress_ = fn;
    return *this;
}

FurrowUpdateClass &FurrowUpdateClass::onEvent(EventHandler fn)
{
    event_ = fn;
    return *this;
}

void FurrowUpdateClass::portEvent(void *arg, const char *name, const char *detail, uint32_t a, uint32_t b)
{
    FurrowUpdateClass *self = active;
    if (self->portEventFn_)
        self->portEventFn_(arg, name, detail, a, b);
    if (self->event_)
        self->event_(name, detail);
    if (!self->progress_)
        return;
    /* "manifest": a = patch size; "chunk": b = patch bytes applied; "applied": the whole patch */
    if (!strcmp(name, "manifest"))
        self->progress_(0, a);
    else if (!strcmp(name, "chunk"))
        self->progress_(b, self->upd_.st.m.patch_size);
    else if (!strcmp(name, "applied"))
        self->progress_(self->upd_.st.m.patch_size, self->upd_.st.m.patch_size);
}

int FurrowUpdateClass::handle()
{
    if (!begun_ || (int32_t)(millis() - nextStepMs_) < 0)
        return FURROW_ACT_IDLE;
    int act = furrow_update_step(&upd_);
    if (act == FURROW_ACT_REBOOT) {
        ESP.restart();
    } else if (act != FURROW_ACT_CONTINUE) {
        /* nothing to do until the next check-in the gateway asked for (1 h if it named none) */
        nextStepMs_ = millis() + (upd_.sleep_s ? upd_.sleep_s : 3600u) * 1000u;
    }
    return act;
}

bool FurrowUpdateClass::isRunning() const
{
    return begun_ && upd_.st.phase != FURROW_PH_IDLE;
}

uint32_t FurrowUpdateClass::sleepSeconds() const
{
    return upd_.sleep_s;
}

int FurrowUpdateClass::getError() const
{
    return error_;
}

const char *FurrowUpdateClass::errorString() const
{
    if (error_ > 0)
        return "ESP-IDF set-up failed (partition table needs ota_0, ota_1 and furrow_stg; gateway must be host:port)";
    return error_ ? furrow_strerror(error_) : "no error";
}

#endif
