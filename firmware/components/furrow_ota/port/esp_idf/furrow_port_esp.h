/*
 * ESP-IDF port of furrow_ota: app slots ota_0/ota_1 through esp_ota_ops, the staging data partition
 * through esp_partition, the state blob in NVS, crypto from mbedTLS, UDP through lwIP sockets.
 * Written against the ESP-IDF v5 APIs; in this repository it is compiled with host gcc against a model
 * of those APIs (firmware/test/esp_idf/, same checks and asserts) and driven through whole updates
 * (build/furrow-device-esp), see firmware/README.md.
 */
#ifndef FURROW_PORT_ESP_H
#define FURROW_PORT_ESP_H

#include "furrow_port.h"

/** Label of the staging data partition in partitions.csv. */
#define FURROW_ESP_STAGING_LABEL "furrow_stg"

/**
 * Fills port for this device. server is "host:port" of the gateway (resolved with getaddrinfo);
 * self_test is the application's health check of a freshly booted image (0 = healthy).
 * Returns ESP_OK or an esp_err_t.
 */
int furrow_port_esp_init(struct furrow_port *port, const char *server, int (*self_test)(void));

/**
 * The device's anti-rollback floor for furrow_config.secure_version: with
 * CONFIG_BOOTLOADER_APP_ANTI_ROLLBACK the larger of factory and the eFuse secure version
 * (esp_efuse_read_secure_version), else factory.
 */
uint32_t furrow_port_esp_secure_version(uint32_t factory);

#endif
