/*
 * Test driver for the patch decoder on the host flash, with power-cut resume:
 *   patch_cli FLASH_DIR BASE PATCH [--block N] [--cut OP] [--slot-size N] [--staging-size N]
 * First run writes BASE into slot0 (not counted as operations). Each run resumes from the progress blob
 * the previous one left. Prints one JSON line: {"event":"done",...} or {"event":"error",...}, or
 * {"event":"power_cut",...} when the cut fires. The result is in FLASH_DIR/slot1.bin.
 */
#include "furrow_errors.h"
#include "furrow_patch.h"
#include "host_crypto.h"
#include "host_flash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct host_flash flash;
static struct furrow_patch patch;

static uint32_t p_region_size(void *a, int r)
{
    (void)a;
    return flash.size[r];
}
static int p_read(void *a, int r, uint32_t o, void *b, size_t n)
{
    (void)a;
    return host_flash_read(&flash, r, o, b, n);
}
static int p_write(void *a, int r, uint32_t o, const void *b, size_t n)
{
    (void)a;
    return host_flash_write(&flash, r, o, b, n);
}
static int p_erase(void *a, int r, uint32_t o, uint32_t n)
{
    (void)a;
    return host_flash_erase(&flash, r, o, n);
}

static int save(void *arg, const struct furrow_patch_progress *pr)
{
    (void)arg;
    return host_blob_store(&flash, "progress.bin", pr, sizeof *pr);
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *b;
    long n;
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b = malloc((size_t)n + 1);
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n)
        return NULL;
    fclose(f);
    *len = (size_t)n;
    return b;
}

int main(int argc, char **argv)
{
    struct furrow_port port;
    struct furrow_patch_progress pr = { 0, 0 };
    struct furrow_sha256 c;
    uint8_t table[32], base_sha[32];
    size_t base_len, patch_len, block = 512, off;
    uint32_t slot_size = 0x200000, staging_size = 0x12000, count;
    uint64_t cut = 0;
    const char *expect_table = NULL;
    uint8_t *base, *pt;
    int i, r, fresh;
    if (argc < 4) {
        fprintf(stderr, "usage: patch_cli FLASH_DIR BASE PATCH [--block N] [--cut OP] [--slot-size N] [--staging-size N] [--table-digest HEX]\n");
        return 2;
    }
    for (i = 4; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--block"))
            block = strtoul(argv[i + 1], NULL, 0);
        else if (!strcmp(argv[i], "--cut"))
            cut = strtoull(argv[i + 1], NULL, 0);
        else if (!strcmp(argv[i], "--slot-size"))
            slot_size = (uint32_t)strtoul(argv[i + 1], NULL, 0);
        else if (!strcmp(argv[i], "--staging-size"))
            staging_size = (uint32_t)strtoul(argv[i + 1], NULL, 0);
        else if (!strcmp(argv[i], "--table-digest"))
            expect_table = argv[i + 1];
    }
    base = slurp(argv[2], &base_len);
    pt = slurp(argv[3], &patch_len);
    if (!base || !pt || patch_len < 160 || block == 0) {
        fprintf(stderr, "patch_cli: cannot read %s or %s\n", argv[2], argv[3]);
        return 2;
    }
    if (host_flash_open(&flash, argv[1], slot_size, staging_size))
        return 2;
    fresh = host_blob_load(&flash, "progress.bin", &pr, sizeof pr) == 0;
    if (fresh && base_len && (host_flash_erase(&flash, 0, 0, (uint32_t)((base_len + 4095) & ~4095u)) ||
                              host_flash_write(&flash, 0, 0, base, base_len))) {
        fprintf(stderr, "patch_cli: base does not fit slot0\n");
        return 2;
    }
    host_power_cut_at(cut ? host_ops() + cut : 0);

    /* the manifest would carry these; here they come from the trusted test inputs */
    count = (uint32_t)pt[84] | (uint32_t)pt[85] << 8 | (uint32_t)pt[86] << 16 | (uint32_t)pt[87] << 24;
    host_sha256_init(&c);
    host_sha256_update(&c, pt, 128);
    if (160 + 60 * (size_t)count <= patch_len)
        host_sha256_update(&c, pt + 160, 60 * (size_t)count);
    host_sha256_final(&c, table);
    if (expect_table && host_hex(expect_table, table, sizeof table) != 32) {
        fprintf(stderr, "patch_cli: --table-digest needs 64 hex digits\n");
        return 2;
    }
    host_sha256_init(&c);
    host_sha256_update(&c, base, base_len);
    host_sha256_final(&c, base_sha);

    memset(&port, 0, sizeof port);
    port.sector_size = HOST_SECTOR;
    port.region_size = p_region_size;
    port.flash_read = p_read;
    port.flash_write = p_write;
    port.flash_erase = p_erase;
    port.sha256_init = host_sha256_init;
    port.sha256_update = host_sha256_update;
    port.sha256_final = host_sha256_final;

    r = furrow_patch_init(&patch, &port, 0, 1, (uint32_t)patch_len, table, base_sha, &pr, save, NULL);
    off = patch.pr.offset;
    printf("{\"event\":\"resume\",\"offset\":%zu,\"applied\":%u}\n", off, (unsigned)patch.pr.applied);
    while (r == 0 && off < patch_len) {
        /* blocks are aligned to the block size, as Block2 resumes are */
        size_t n = block - off % block;
        if (n > patch_len - off)
            n = patch_len - off;
        r = furrow_patch_process(&patch, pt + off, n);
        off += n;
        if (r == 0)
            r = save(NULL, &patch.pr);
    }
    if (r == 0)
        r = furrow_patch_finalize(&patch);
    if (r) {
        printf("{\"event\":\"error\",\"code\":%d,\"message\":\"%s\",\"offset\":%zu}\n", r, furrow_strerror(r), off);
        return 1;
    }
    printf("{\"event\":\"done\",\"result_size\":%u,\"ops\":%llu,\"ram\":%zu}\n", (unsigned)furrow_patch_result_size(&patch),
           (unsigned long long)host_ops(), sizeof patch);
    return 0;
}
