/*
 * Test-only controls of the host model of ESP-IDF (esp_idf_fake.c): which flash backs it, the
 * second-stage bootloader's slot choice, and where esp_restart() lands.
 */
#ifndef ESP_IDF_FAKE_H
#define ESP_IDF_FAKE_H

#include <setjmp.h>

#include "host_flash.h"

/** Partitions as examples/farm-sensor/partitions.csv: ota_0/ota_1/furrow_stg are regions 0/1/2 of f;
 * otadata (two sectors) and the NVS partition are atomic files in f's directory. */
void esp_fake_open(struct host_flash *f);
/** What the bootloader does with CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE: PENDING_VERIFY -> ABORTED,
 * NEW -> PENDING_VERIFY, boot the highest valid otadata entry whose image verifies, else the other
 * slot. Returns the slot it runs (the running partition from now on) or -1; *why says why. */
int esp_fake_bootloader(const char **why);
/** esp_restart() longjmps here (0 = it exits the process instead). */
void esp_fake_on_restart(jmp_buf *env);

#endif
