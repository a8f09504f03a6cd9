/*
 * What the ESP32 second-stage bootloader and esp_ota_ops do, for the simulator: otadata with the boot
 * slot and per-slot image state (NEW -> PENDING_VERIFY -> VALID / INVALID / ABORTED, as with
 * CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE), and ESP image validation (segments, checksum, appended
 * SHA-256) before a slot is booted or set.
 */
#ifndef HOST_BOOT_H
#define HOST_BOOT_H

#include "host_flash.h"

enum { OTA_UNDEFINED = 0, OTA_NEW, OTA_PENDING_VERIFY, OTA_VALID, OTA_INVALID, OTA_ABORTED };

struct host_otadata {
    uint32_t magic;
    uint8_t boot_slot;
    uint8_t state[2];
    uint8_t pad;
};

/** Length of the valid ESP image in slot (checksum and appended SHA-256 verified), or -1. */
int32_t host_image_size(struct host_flash *f, int slot);
/** Chooses the slot to run like the bootloader does; -1 if neither slot holds a valid image. */
int host_bootloader(struct host_flash *f, const char **why);
int host_boot_set(struct host_flash *f, int slot);
int host_boot_confirm(struct host_flash *f, int running);
int host_boot_invalidate(struct host_flash *f, int running);
/** 1 when the running slot's image is PENDING_VERIFY (booted on trial, not confirmed yet). */
int host_boot_pending(struct host_flash *f, int running);

#endif
