/*
 * FurrowOTA: delta OTA updates from a furrow gateway over Wi-Fi, in the style of the ESP32 OTA examples.
 * The provisioning values come from `furrow devices add` (device key) and `furrow keys gateway|release`
 * (public keys); partitions.csv beside this sketch adds the furrow_stg staging partition.
 */
#include <WiFi.h>
#include <FurrowUpdate.h>

const char *ssid = "your-ssid";
const char *password = "your-password";
const char *gateway = "192.168.1.10:5683"; /* furrow gateway, CoAP over UDP */

/* Placeholders: replace with the values printed at provisioning time. */
static const uint8_t deviceKey[32] = { 0 };
static const uint8_t gatewayPub[65] = { 0x04 };
static const uint8_t releasePub[65] = { 0x04 };

static const struct furrow_config config = {
    "sensor-1",    /* device_id */
    "farm-sensor", /* product */
    deviceKey,
    gatewayPub,
    releasePub,
    6,       /* max_szx: 1024-byte blocks */
    2000,    /* ack_timeout_ms */
    0,       /* secure_version */
    "1.0.0", /* version of this build */
    0,       /* max_payload: no limit over Wi-Fi */
};

/* After an update: the new image stays only if this passes (sensors answer, the network is up, ...). */
static int selfTest(void)
{
    return WiFi.status() == WL_CONNECTED ? 0 : -1;
}

void setup()
{
    Serial.begin(115200);
    WiFi.mode(WIFI_STA);
    WiFi.begin(ssid, password);
    while (WiFi.status() != WL_CONNECTED) {
        delay(500);
        Serial.print(".");
    }
    Serial.println();
    Serial.print("IP address: ");
    Serial.println(WiFi.localIP());

    furrowUpdate
        .onProgress([](size_t done, size_t total) {
            Serial.printf("Progress: %u%%\r", (unsigned)(total ? done * 100 / total : 0));
        })
        .onEvent([](const char *name, const char *detail) {
            Serial.printf("furrow: %s %s\n", name, detail ? detail : "");
        });
    if (!furrowUpdate.begin(gateway, config, selfTest)) {
        Serial.printf("furrow: begin failed: %s\n", furrowUpdate.errorString());
    }
}

void loop()
{
    furrowUpdate.handle(); /* checks in when due, applies an update block by block, restarts into it */
    delay(10);
}
