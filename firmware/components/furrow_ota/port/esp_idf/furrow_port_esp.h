/*
 * ESP-IDF port of furrow_ota: app slots ota_0/ota_1 through esp_ota_ops, the staging data partition
 * through esp_partition, the state blob in NVS, crypto from mbedTLS, UDP through lwIP sockets.
 * Written against the documented ESP-IDF v5 APIs; it is not compiled in this repository (no ESP-IDF
 * toolchain here), see firmware/README.md.
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

/** Aborts an open OTA write session (esp_ota_abort): call when an update is refused. */
void furrow_port_esp_abort(void);

#endif
