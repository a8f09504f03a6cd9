#include "host_boot.h"
#include "host_crypto.h"

#include <string.h>

#define OTADATA "otadata.bin"
#define OTA_MAGIC 0x4F544144u

int32_t host_image_size(struct host_flash *f, int slot)
{
    uint8_t h[24], seg[8], buf[4096], sum = 0xEF, digest[32], stored[32], csum;
    struct furrow_sha256 c;
    uint32_t pos = 24, i, n, len;
    unsigned s, nseg;
    if (host_flash_read(f, slot, 0, h, sizeof h) || h[0] != 0xE9 || h[1] == 0 || h[1] > 16)
        return -1;
    nseg = h[1];
    for (s = 0; s < nseg; s++) {
        if (host_flash_read(f, slot, pos, seg, 8))
            return -1;
        len = (uint32_t)seg[4] | (uint32_t)seg[5] << 8 | (uint32_t)seg[6] << 16 | (uint32_t)seg[7] << 24;
        pos += 8;
        if (len > f->size[slot] - pos)
            return -1;
        for (i = 0; i < len; i += n) {
            uint32_t k;
            n = len - i < sizeof buf ? len - i : (uint32_t)sizeof buf;
            if (host_flash_read(f, slot, pos + i, buf, n))
                return -1;
            for (k = 0; k < n; k++)
                sum ^= buf[k];
        }
        pos += len;
    }
    /* the checksum byte ends a 16-byte aligned block */
    pos = (pos + 16) & ~15u;
    if (pos > f->size[slot] || host_flash_read(f, slot, pos - 1, &csum, 1) || csum != sum)
        return -1;
    if (h[23] == 1) {
        if (pos + 32 > f->size[slot] || host_flash_read(f, slot, pos, stored, 32))
            return -1;
        host_sha256_init(&c);
        for (i = 0; i < pos; i += n) {
            n = pos - i < sizeof buf ? pos - i : (uint32_t)sizeof buf;
            if (host_flash_read(f, slot, i, buf, n))
                return -1;
            host_sha256_update(&c, buf, n);
        }
        host_sha256_final(&c, digest);
        if (memcmp(digest, stored, 32))
            return -1;
        pos += 32;
    }
    return (int32_t)pos;
}

static void load(struct host_flash *f, struct host_otadata *o)
{
    if (host_blob_load(f, OTADATA, o, sizeof *o) != (int)sizeof *o || o->magic != OTA_MAGIC || o->boot_slot > 1) {
        memset(o, 0, sizeof *o);
        o->magic = OTA_MAGIC;
    }
}

static int store(struct host_flash *f, const struct host_otadata *o)
{
    return host_blob_store(f, OTADATA, o, sizeof *o);
}

int host_bootloader(struct host_flash *f, const char **why)
{
    struct host_otadata o;
    int s;
    load(f, &o);
    s = o.boot_slot;
    *why = "boot slot";
    if (o.state[s] == OTA_NEW) {
        o.state[s] = OTA_PENDING_VERIFY;
        store(f, &o);
        *why = "new image, pending verify";
    } else if (o.state[s] == OTA_PENDING_VERIFY) {
        /* the app never confirmed: roll back */
        o.state[s] = OTA_ABORTED;
        o.boot_slot = (uint8_t)(1 - s);
        store(f, &o);
        s = 1 - s;
        *why = "rollback: previous boot not confirmed";
    } else if (o.state[s] == OTA_INVALID || o.state[s] == OTA_ABORTED) {
        s = 1 - s;
        *why = "rollback: image marked invalid";
    }
    if (host_image_size(f, s) < 0) {
        s = 1 - s;
        *why = "fallback: boot slot image invalid";
        if (host_image_size(f, s) < 0)
            return -1;
    }
    return s;
}

int host_boot_set(struct host_flash *f, int slot)
{
    struct host_otadata o;
    if (host_image_size(f, slot) < 0)
        return -1; /* esp_ota_set_boot_partition validates the image too */
    load(f, &o);
    o.boot_slot = (uint8_t)slot;
    o.state[slot] = OTA_NEW;
    return store(f, &o);
}

int host_boot_confirm(struct host_flash *f, int running)
{
    struct host_otadata o;
    load(f, &o);
    if (o.state[running] == OTA_VALID && o.boot_slot == running)
        return 0;
    o.state[running] = OTA_VALID;
    o.boot_slot = (uint8_t)running;
    return store(f, &o);
}

int host_boot_invalidate(struct host_flash *f, int running)
{
    struct host_otadata o;
    load(f, &o);
    o.state[running] = OTA_INVALID;
    o.boot_slot = (uint8_t)(1 - running);
    return store(f, &o);
}

int host_boot_pending(struct host_flash *f, int running)
{
    struct host_otadata o;
    load(f, &o);
    return o.boot_slot == running && o.state[running] == OTA_PENDING_VERIFY;
}
