/* Host model of ESP-IDF v5.5 components/efuse/include/esp_efuse.h: the secure-version field only
 * (esp_idf_fake.c keeps it in efuse_secure_version.bin beside the flash; it only ever rises). */
#ifndef ESP_EFUSE_H
#define ESP_EFUSE_H
#include <stdbool.h>
#include <stdint.h>
#include "esp_err.h"

/** Secure version from the eFuse field. */
uint32_t esp_efuse_read_secure_version(void);
/** True if secure_version (an app's) is equal to or more than the eFuse field's. */
bool esp_efuse_check_secure_version(uint32_t secure_version);
/** Raises the eFuse field to secure_version (never lowers it): ESP_OK, ESP_FAIL when it cannot be set. */
esp_err_t esp_efuse_update_secure_version(uint32_t secure_version);

#endif
