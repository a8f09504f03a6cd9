/*
 * farm-sensor: wakes, runs the furrow update state machine until it has nothing to do, then deep
 * sleeps. Network bring-up (Wi-Fi here; an NB-IoT modem on the real sensor) is the application's job.
 * Provisioning values below come from `furrow devices add` and `furrow keys gateway|release`.
 */
#include <string.h>

#include "esp_app_desc.h"
#include "esp_event.h"
#include "esp_log.h"
#include "esp_netif.h"
#include "esp_sleep.h"
#include "nvs_flash.h"

#include "furrow_port_esp.h"
#include "furrow_update.h"

#define GATEWAY "192.168.1.10:5683"
static const char *TAG = "farm-sensor";

/* Placeholders: replace with the values printed at provisioning time. */
static const uint8_t device_key[32] = { 0 };
static const uint8_t gateway_pub[65] = { 0x04 };
static const uint8_t release_pub[65] = { 0x04 };

static struct furrow_update upd; /* ~62 KB: decoder RAM lives here, not on the stack */

/* The app's health check after an update: sensors answer, the radio attaches, ... */
static int self_test(void)
{
    return 0;
}

void app_main(void)
{
    static struct furrow_port port;
    static struct furrow_config cfg = {
        .device_id = "sensor-1",
        .product = "farm-sensor",
        .key = device_key,
        .gateway_pub = gateway_pub,
        .release_pub = release_pub,
        .max_szx = 6,
        .ack_timeout_ms = 2000,
        .secure_version = 0,
        .version = "1.0.0",
        /* 0 over Wi-Fi/NB-IoT UDP; a LoRaWAN port (CoAP in SCHC frames) sets the CoAP payload its data
         * rate carries, 32 at EU868 DR0-2: check-ins and reports then go block-wise */
        .max_payload = 0,
    };
    uint32_t sleep_s = 3600;
    esp_err_t err = nvs_flash_init();
    if (err == ESP_ERR_NVS_NO_FREE_PAGES || err == ESP_ERR_NVS_NEW_VERSION_FOUND) {
        ESP_ERROR_CHECK(nvs_flash_erase());
        err = nvs_flash_init();
    }
    ESP_ERROR_CHECK(err);
    ESP_ERROR_CHECK(esp_netif_init());
    ESP_ERROR_CHECK(esp_event_loop_create_default());
    /* ... bring the network up here (example_connect() in ESP-IDF examples) ... */

    /* used while no state is stored: this image's secure version, and with
     * CONFIG_BOOTLOADER_APP_ANTI_ROLLBACK never below the eFuse's */
    cfg.secure_version = furrow_port_esp_secure_version(esp_app_get_description()->secure_version);
    if (furrow_port_esp_init(&port, GATEWAY, self_test) != ESP_OK || furrow_update_boot(&upd, &port, &cfg) != 0) {
        ESP_LOGE(TAG, "furrow init failed; sleeping");
    } else {
        for (;;) {
            int act = furrow_update_step(&upd);
            if (act == FURROW_ACT_CONTINUE)
                continue;
            if (act == FURROW_ACT_REBOOT)
                esp_restart();
            sleep_s = upd.sleep_s ? upd.sleep_s : 3600;
            break;
        }
    }
    esp_deep_sleep((uint64_t)sleep_s * 1000000ull);
}
