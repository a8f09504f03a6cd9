/* Host model of ESP-IDF v5.5 components/bootloader_support/include/esp_image_format.h (verify only). */
#ifndef ESP_IMAGE_FORMAT_H
#define ESP_IMAGE_FORMAT_H
#include <stdint.h>
#include "esp_err.h"
#define ESP_IMAGE_HEADER_MAGIC 0xE9
#define ESP_ERR_IMAGE_BASE 0x2000
#define ESP_ERR_IMAGE_INVALID (ESP_ERR_IMAGE_BASE + 2)
typedef struct {
    uint32_t offset;
    uint32_t size;
} esp_partition_pos_t;
typedef struct {
    uint32_t start_addr;
    uint32_t image_len; /* Length of image on flash, in bytes */
} esp_image_metadata_t;
typedef enum {
    ESP_IMAGE_VERIFY,
    ESP_IMAGE_VERIFY_SILENT,
} esp_image_load_mode_t;
esp_err_t esp_image_verify(esp_image_load_mode_t mode, const esp_partition_pos_t *part, esp_image_metadata_t *data);
#endif
