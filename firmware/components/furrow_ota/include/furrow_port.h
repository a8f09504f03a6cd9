/*
 * The port: every piece of I/O the portable core needs, as callbacks plus an opaque arg
 * (detools style). The host simulator (firmware/host/) and the ESP-IDF port
 * (port/esp_idf/) each fill one of these.
 */
#ifndef FURROW_PORT_H
#define FURROW_PORT_H

#include <stddef.h>
#include <stdint.h>

/** Flash regions: the two app slots and the staging data partition. */
enum furrow_region { FURROW_SLOT0 = 0, FURROW_SLOT1 = 1, FURROW_STAGING = 2 };

/** Storage for the port's SHA-256 context (OpenSSL SHA256_CTX, mbedtls_sha256_context fit). */
struct furrow_sha256 {
    uint64_t opaque[32];
};

struct furrow_port {
    void *arg;
    /** Erase unit of the flash, a power of two (4096 on ESP32 NOR flash). */
    uint32_t sector_size;

    /* --- flash (NOR: erase sets bytes to 0xFF, a write may only clear bits) --- */
    uint32_t (*region_size)(void *arg, int region);
    int (*flash_read)(void *arg, int region, uint32_t off, void *buf, size_t len);
    int (*flash_write)(void *arg, int region, uint32_t off, const void *buf, size_t len);
    /** off and len are multiples of sector_size. */
    int (*flash_erase)(void *arg, int region, uint32_t off, uint32_t len);

    /* --- persistent state (atomic replace of one small blob, e.g. an NVS blob) --- */
    /** Returns the blob length, 0 if none stored, < 0 on error. */
    int (*state_load)(void *arg, void *buf, size_t len);
    int (*state_store)(void *arg, const void *buf, size_t len);

    /* --- crypto --- */
    void (*sha256_init)(struct furrow_sha256 *c);
    void (*sha256_update)(struct furrow_sha256 *c, const void *p, size_t n);
    void (*sha256_final)(struct furrow_sha256 *c, uint8_t out[32]);
    /** 0 when sig (raw r||s) is a valid ES256 signature of hash by pub (65-byte uncompressed). */
    int (*ecdsa_p256_verify)(void *arg, const uint8_t pub[65], const uint8_t hash[32], const uint8_t sig[64]);
    /** Fills buf with random bytes (CoAP message ids, tokens, backoff jitter). */
    void (*random)(void *arg, void *buf, size_t len);

    /* --- boot control (esp_ota_* on the ESP32) --- */
    int (*running_slot)(void *arg);
    /**
     * Validates the image in slot and makes it the next boot (esp_ota_set_boot_partition). 0, or a
     * FURROW_ERR_* the update is refused with (-1 = FURROW_ERR_IO, retried as transient).
     */
    int (*boot_set)(void *arg, int slot);
    /** Marks the running image valid (esp_ota_mark_app_valid_cancel_rollback). */
    int (*boot_confirm)(void *arg);
    /** Marks the running image invalid; the next boot runs the other slot. */
    int (*boot_invalidate)(void *arg);
    /** Returns the running image's size in bytes (from its image header), < 0 on error. */
    int32_t (*image_size)(void *arg, int slot);
    /** The application's self-test of a freshly booted image: 0 = healthy. */
    int (*self_test)(void *arg);

    /* --- network: one UDP "connection" to the gateway --- */
    int (*udp_send)(void *arg, const void *buf, size_t len);
    /** Waits up to timeout_ms; returns bytes received, 0 on timeout, < 0 on error. */
    int (*udp_recv)(void *arg, void *buf, size_t len, uint32_t timeout_ms);

    /* --- clock and notifications --- */
    uint32_t (*now_ms)(void *arg);
    /** A state change or notable event; detail may be NULL. */
    void (*event)(void *arg, const char *name, const char *detail, uint32_t a, uint32_t b);

    /**
     * 1 when the running image is on trial: the bootloader will roll it back unless it is confirmed
     * (esp_ota_get_state_partition(running) == ESP_OTA_IMG_PENDING_VERIFY); 0 otherwise. It, not the
     * state blob, decides that a boot runs the self-test and confirms: a blob this image cannot read
     * must not get a good image rolled back. NULL: decided from the state blob alone. Last in the
     * struct: the fields above keep their offsets.
     */
    int (*boot_pending)(void *arg);
};

#endif
