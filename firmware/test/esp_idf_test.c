/*
 * TAP test of the host model of ESP-IDF (test/esp_idf/esp_idf_fake.c): the rules of the real APIs the
 * ESP-IDF port has to live with, each checked against the behaviour of ESP-IDF v5.5.3's sources.
 * usage: esp_idf_test TMPDIR IMAGE.bin      prints TAP lines; exit 1 if any failed.
 */
#define _POSIX_C_SOURCE 200809L
#include "esp_idf_fake.h"
#include "esp_ota_ops.h"
#include "esp_partition.h"
#include "host_boot.h"
#include "nvs.h"
#include "nvs_flash.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int failed, n;

static void check(int ok, const char *name)
{
    printf("%s %d - %s\n", ok ? "ok" : "not ok", ++n, name);
    if (!ok)
        failed = 1;
}

static const esp_partition_t *ota(int i)
{
    return esp_partition_find_first(ESP_PARTITION_TYPE_APP, i ? ESP_PARTITION_SUBTYPE_APP_OTA_1 : ESP_PARTITION_SUBTYPE_APP_OTA_0,
                                    NULL);
}

static esp_ota_img_states_t state_of(int i)
{
    esp_ota_img_states_t st = ESP_OTA_IMG_UNDEFINED;
    return esp_ota_get_state_partition(ota(i), &st) == ESP_OK ? st : (esp_ota_img_states_t)0xEE;
}

static int write_image(int slot, const uint8_t *img, size_t len)
{
    size_t sz = (len + 4095) & ~(size_t)4095;
    return esp_partition_erase_range(ota(slot), 0, sz) || esp_partition_write(ota(slot), 0, img, len);
}

int main(int argc, char **argv)
{
    static struct host_flash f;
    static uint8_t img[0x200000];
    const esp_partition_t *stg;
    const char *why;
    uint8_t buf[64], ff[16];
    esp_ota_handle_t h;
    nvs_handle_t nh;
    size_t len, got;
    FILE *in;
    int status;
    pid_t pid;

    if (argc != 3 || !(in = fopen(argv[2], "rb"))) {
        fprintf(stderr, "usage: esp_idf_test TMPDIR IMAGE.bin\n");
        return 2;
    }
    len = fread(img, 1, sizeof img, in);
    fclose(in);
    if (host_flash_open(&f, argv[1], 0x1E0000, 0x12000))
        return 2;
    esp_fake_open(&f);
    memset(ff, 0xFF, sizeof ff);

    /* factory flashing: ota_0 holds the image, otadata is blank */
    check(write_image(0, img, len) == 0, "a factory image is written to ota_0 with erase_range + partition_write");
    check(esp_fake_bootloader(&why) == 0, "blank otadata boots ota_0");
    check(state_of(0) == ESP_OTA_IMG_VALID, "the bootloader records a first boot from blank otadata as VALID (set_actual_ota_seq)");
    check(esp_ota_get_state_partition(ota(1), &(esp_ota_img_states_t){ 0 }) == ESP_ERR_NOT_FOUND,
          "a slot with no otadata entry has no state (ESP_ERR_NOT_FOUND)");

    stg = esp_partition_find_first(ESP_PARTITION_TYPE_DATA, ESP_PARTITION_SUBTYPE_ANY, "furrow_stg");
    check(stg && esp_partition_erase_range(stg, 100, 4096) == ESP_ERR_INVALID_ARG,
          "erase_range refuses an offset that is not 4 KB aligned (ESP_ERR_INVALID_ARG)");
    check(esp_partition_erase_range(stg, 0, 100) == ESP_ERR_INVALID_SIZE,
          "erase_range refuses a size that is not a multiple of 4 KB (ESP_ERR_INVALID_SIZE)");
    check(esp_partition_erase_range(stg, 0, stg->size + 4096) == ESP_ERR_INVALID_SIZE, "erase_range refuses a range past the partition");
    check(esp_partition_write(stg, stg->size - 8, ff, 16) == ESP_ERR_INVALID_SIZE, "partition_write refuses a write past the partition");
    memset(buf, 0, sizeof buf);
    check(esp_partition_erase_range(stg, 0, 4096) == ESP_OK && esp_partition_write(stg, 0, buf, 16) == ESP_OK &&
              esp_partition_write(stg, 0, buf, 16) == ESP_OK,
          "partition_write may write the same bytes again (only 1 -> 0 bits)");
    check(esp_partition_write(stg, 0, ff, 16) != ESP_OK, "partition_write refuses to set a 0 bit back to 1 (flash not erased)");

    /* the handle API: what the old port did */
    check(esp_ota_begin(ota(0), OTA_WITH_SEQUENTIAL_WRITES, &h) == ESP_ERR_OTA_PARTITION_CONFLICT,
          "esp_ota_begin refuses the running partition");
    check(esp_ota_begin(ota(1), OTA_WITH_SEQUENTIAL_WRITES, &h) == ESP_OK && esp_ota_end(h) == ESP_ERR_INVALID_ARG,
          "esp_ota_end with nothing written is ESP_ERR_INVALID_ARG");
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        freopen("/dev/null", "w", stderr);
        if (esp_ota_begin(ota(1), OTA_WITH_SEQUENTIAL_WRITES, &h) == ESP_OK)
            esp_ota_write_with_offset(h, img, 4096, 0);
        _exit(0);
    }
    waitpid(pid, &status, 0);
    check(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
          "esp_ota_write_with_offset after esp_ota_begin(OTA_WITH_SEQUENTIAL_WRITES) aborts (need_erase assert)");

    /* boot control with CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE */
    check(esp_partition_erase_range(ota(1), 0, ota(1)->size) == ESP_OK && esp_ota_set_boot_partition(ota(1)) == ESP_ERR_OTA_VALIDATE_FAILED,
          "esp_ota_set_boot_partition refuses a slot without a valid image (ESP_ERR_OTA_VALIDATE_FAILED)");
    check(esp_ota_mark_app_invalid_rollback_and_reboot() == ESP_ERR_OTA_ROLLBACK_FAILED,
          "marking the running app invalid with no other valid slot is ESP_ERR_OTA_ROLLBACK_FAILED");
    check(write_image(1, img, len) == 0 && esp_ota_set_boot_partition(ota(1)) == ESP_OK && state_of(1) == ESP_OTA_IMG_NEW,
          "esp_ota_set_boot_partition on a valid image writes it as NEW");
    check(esp_fake_bootloader(&why) == 1 && state_of(1) == ESP_OTA_IMG_PENDING_VERIFY,
          "the bootloader boots a NEW image as PENDING_VERIFY");
    check(esp_ota_begin(ota(0), OTA_WITH_SEQUENTIAL_WRITES, &h) == ESP_ERR_OTA_ROLLBACK_INVALID_STATE,
          "no update may start while the running image is PENDING_VERIFY");
    check(esp_fake_bootloader(&why) == 0 && state_of(1) == ESP_OTA_IMG_ABORTED,
          "a reset before confirmation aborts the image and boots the other slot");
    check(esp_ota_set_boot_partition(ota(1)) == ESP_OK && esp_fake_bootloader(&why) == 1 &&
              esp_ota_mark_app_valid_cancel_rollback() == ESP_OK && state_of(1) == ESP_OTA_IMG_VALID &&
              esp_fake_bootloader(&why) == 1,
          "a confirmed image (mark_app_valid_cancel_rollback) stays booted");

    /* NVS */
    check(nvs_open("furrow", NVS_READWRITE, &nh) == ESP_ERR_NVS_NOT_INITIALIZED, "nvs_open before nvs_flash_init fails");
    check(nvs_flash_init() == ESP_OK && nvs_open("furrow", NVS_READONLY, &nh) == ESP_ERR_NVS_NOT_FOUND,
          "a namespace never written does not open read-only (ESP_ERR_NVS_NOT_FOUND)");
    check(nvs_open("furrow", NVS_READWRITE, &nh) == ESP_OK && nvs_set_blob(nh, "state", img, 40) == ESP_OK, "a blob is stored");
    got = 8;
    check(nvs_get_blob(nh, "state", buf, &got) == ESP_ERR_NVS_INVALID_LENGTH && got == 40,
          "nvs_get_blob into a smaller buffer is ESP_ERR_NVS_INVALID_LENGTH and gives the size");
    got = sizeof buf;
    check(nvs_get_blob(nh, "state", buf, &got) == ESP_OK && got == 40 && !memcmp(buf, img, 40), "nvs_get_blob into a larger buffer gives the blob and its length");
    nvs_close(nh);
    check(nvs_open("furrow", NVS_READONLY, &nh) == ESP_OK && nvs_set_blob(nh, "state", img, 4) == ESP_ERR_NVS_READ_ONLY,
          "nvs_set_blob on a read-only handle is ESP_ERR_NVS_READ_ONLY");
    nvs_close(nh);
    host_flash_close(&f);
    printf("1..%d\n", n);
    return failed;
}
