/*
 * C unit tests of the host port: NOR flash semantics, power-cut behaviour of writes, erases and
 * atomic blobs, ESP image validation and the bootloader's slot choice (rollback).
 * usage: flash_test TMPDIR IMAGE.bin      prints TAP lines; exit 1 if any failed.
 */
#define _POSIX_C_SOURCE 200809L
#include "host_boot.h"
#include "host_flash.h"

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

/* Runs fn in a child that dies at its first counted operation (a power cut). */
static void cut_during(void (*fn)(struct host_flash *), struct host_flash *f)
{
    pid_t pid;
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        freopen("/dev/null", "w", stdout);
        host_power_cut_at(host_ops() + 1);
        fn(f);
        _exit(0);
    }
    waitpid(pid, NULL, 0);
}

static void write_pattern(struct host_flash *f)
{
    uint8_t b[256];
    memset(b, 0x00, sizeof b);
    host_flash_write(f, 2, 8192, b, sizeof b);
}

static void erase_sector(struct host_flash *f)
{
    host_flash_erase(f, 2, 8192, 4096);
}

static void store_blob(struct host_flash *f)
{
    host_blob_store(f, "state.bin", "new!", 4);
}

int main(int argc, char **argv)
{
    struct host_flash f;
    uint8_t b[4096], c[4096];
    char dir[600];
    const char *why;
    FILE *img;
    size_t len;
    static uint8_t image[0x200000];
    int i, all;
    if (argc < 3)
        return 2;
    snprintf(dir, sizeof dir, "%s/flash", argv[1]);
    if (host_flash_open(&f, dir, 0x200000, 0x10000))
        return 2;

    host_flash_read(&f, 2, 0, b, sizeof b);
    for (all = 1, i = 0; i < 4096; i++)
        all &= b[i] == 0xFF;
    check(all, "fresh flash reads as erased (0xFF)");
    memset(b, 0xF0, 16);
    check(host_flash_write(&f, 2, 0, b, 16) == 0, "a write may clear bits of erased flash");
    memset(b, 0xF0, 16);
    check(host_flash_write(&f, 2, 0, b, 16) == 0, "writing the same bytes again is allowed (no bit set)");
    memset(b, 0x30, 16);
    check(host_flash_write(&f, 2, 0, b, 16) == 0, "clearing more bits of a written byte is allowed");
    memset(b, 0xF0, 16);
    check(host_flash_write(&f, 2, 0, b, 16) != 0, "a write that would set a 0 bit back to 1 is refused");
    host_flash_read(&f, 2, 0, c, 16);
    check(c[0] == 0x30 && c[15] == 0x30, "a refused write leaves the flash unchanged");
    check(host_flash_erase(&f, 2, 100, 4096) != 0, "an erase not aligned to 4 KB sectors is refused");
    check(host_flash_erase(&f, 2, 0, 4096) == 0, "a sector erase succeeds");
    host_flash_read(&f, 2, 0, c, 16);
    check(c[0] == 0xFF && c[15] == 0xFF, "an erased sector reads 0xFF again");
    check(host_flash_write(&f, 2, 0x10000 - 8, b, 16) != 0, "a write past the end of the region is refused");
    check(host_flash_read(&f, 2, 0x10000 - 8, c, 16) != 0, "a read past the end of the region is refused");

    cut_during(write_pattern, &f);
    host_flash_read(&f, 2, 8192, c, 256);
    check(c[0] == 0 && c[127] == 0 && c[128] == 0xFF && c[255] == 0xFF, "a power cut during a write leaves half of it written");
    cut_during(erase_sector, &f);
    host_flash_read(&f, 2, 8192, c, 4096);
    check(c[0] == 0xFF && c[2047] == 0xFF, "a power cut during an erase leaves the sector partly erased");

    host_blob_store(&f, "state.bin", "old!", 4);
    cut_during(store_blob, &f);
    memset(c, 0, 8);
    check(host_blob_load(&f, "state.bin", c, 8) == 4 && memcmp(c, "old!", 4) == 0, "a power cut during a state store keeps the old state");

    img = fopen(argv[2], "rb");
    len = img ? fread(image, 1, sizeof image, img) : 0;
    if (img)
        fclose(img);
    host_flash_erase(&f, 0, 0, 0x200000);
    host_flash_erase(&f, 1, 0, 0x200000);
    host_flash_write(&f, 0, 0, image, len);
    check(host_image_size(&f, 0) == (int32_t)len, "the ESP image parser finds the image length (appended SHA-256 verified)");
    check(host_image_size(&f, 1) < 0, "an erased slot holds no valid image");
    check(host_bootloader(&f, &why) == 0, "the bootloader runs the only valid slot");
    check(host_boot_set(&f, 1) != 0, "setting a boot slot without a valid image is refused");
    image[len / 2] ^= 1;
    host_flash_write(&f, 1, 0, image, len);
    check(host_image_size(&f, 1) < 0, "an image with a flipped bit fails validation");
    image[len / 2] ^= 1;
    host_flash_erase(&f, 1, 0, 0x200000);
    host_flash_write(&f, 1, 0, image, len);
    check(host_boot_set(&f, 1) == 0, "a valid image can be made the next boot");
    check(host_bootloader(&f, &why) == 1 && strstr(why, "pending"), "the next boot runs it, pending verification");
    check(host_bootloader(&f, &why) == 0 && strstr(why, "rollback"), "a reset before confirmation rolls back to the old slot");
    host_boot_set(&f, 1);
    host_bootloader(&f, &why);
    host_boot_confirm(&f, 1);
    check(host_bootloader(&f, &why) == 1, "a confirmed image keeps booting");
    host_boot_invalidate(&f, 1);
    check(host_bootloader(&f, &why) == 0, "an invalidated image is not booted again");
    host_boot_set(&f, 1);
    host_flash_erase(&f, 1, 0, 4096);
    check(host_bootloader(&f, &why) == 0 && strstr(why, "fallback"), "a boot slot whose image broke falls back to the other slot");
    host_flash_close(&f);
    printf("1..%d\n", n);
    return failed;
}
