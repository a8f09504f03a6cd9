/* Host model of ESP-IDF components/esp_hw_support/include/esp_random.h */
#ifndef ESP_RANDOM_H
#define ESP_RANDOM_H
#include <stddef.h>
void esp_fill_random(void *buf, size_t len);
#endif
