/*
 * Host model of the ESP-IDF v5.5 APIs the ESP-IDF port calls, with the same argument checks, error
 * returns and asserts as the real sources (quoted by file), so the real port file
 * (components/furrow_ota/port/esp_idf/furrow_port_esp.c) can be compiled with host gcc and driven
 * through whole updates and power cuts. Flash is firmware/host/host_flash.c (NOR: erase 4 KB sectors to
 * 0xFF, a write may only clear bits; every write, erase and atomic store is one power-cut operation).
 * The otadata entries, their CRC and the bootloader's choice follow bootloader_common_loader.c and
 * bootloader_utility.c with CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE=y (examples/farm-sensor/sdkconfig.defaults).
 */
#define _POSIX_C_SOURCE 200809L
#include "esp_idf_fake.h"
#include "esp_efuse.h"
#include "esp_image_format.h"
#include "esp_ota_ops.h"
#include "esp_partition.h"
#include "esp_random.h"
#include "esp_timer.h"
#include "host_boot.h"
#include "host_crypto.h"
#include "nvs.h"
#include "nvs_flash.h"
#include "spi_flash_mmap.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* esp_flash_read/write/erase failure (components/spi_flash: ESP_ERR_FLASH_OP_FAIL) */
#define FLASH_OP_FAIL (ESP_ERR_FLASH_BASE + 1)

enum { P_NVS, P_OTADATA, P_STG, P_OTA0, P_OTA1, P_COUNT };
static esp_partition_t parts[P_COUNT];
static struct host_flash *fl;
static jmp_buf *restart_env;
static int running = -1; /* P_OTA0 or P_OTA1 once the bootloader ran */

static void set_part(int i, esp_partition_type_t t, esp_partition_subtype_t st, uint32_t addr, uint32_t size,
                     const char *label)
{
    esp_partition_t *p = &parts[i];
    memset(p, 0, sizeof *p);
    p->type = t;
    p->subtype = st;
    p->address = addr;
    p->size = size;
    p->erase_size = SPI_FLASH_SEC_SIZE;
    snprintf(p->label, sizeof p->label, "%s", label);
}

void esp_fake_open(struct host_flash *f)
{
    fl = f;
    set_part(P_NVS, ESP_PARTITION_TYPE_DATA, ESP_PARTITION_SUBTYPE_DATA_NVS, 0x9000, 0x6000, "nvs");
    set_part(P_OTADATA, ESP_PARTITION_TYPE_DATA, ESP_PARTITION_SUBTYPE_DATA_OTA, 0xf000, 0x2000, "otadata");
    set_part(P_STG, ESP_PARTITION_TYPE_DATA, (esp_partition_subtype_t)0x40, 0x12000, f->size[2], "furrow_stg");
    set_part(P_OTA0, ESP_PARTITION_TYPE_APP, ESP_PARTITION_SUBTYPE_APP_OTA_0, 0x100000, f->size[0], "ota_0");
    set_part(P_OTA1, ESP_PARTITION_TYPE_APP, ESP_PARTITION_SUBTYPE_APP_OTA_1, 0x100000 + f->size[0], f->size[1], "ota_1");
}

void esp_fake_on_restart(jmp_buf *env)
{
    restart_env = env;
}

/* the host_flash region behind a partition; the partition must be one of ours (esp_partition_verify) */
static int region(const esp_partition_t *p)
{
    assert(p != NULL);
    assert(p >= parts && p < parts + P_COUNT && "not a partition from esp_partition_find_first");
    return p == &parts[P_OTA0] ? 0 : p == &parts[P_OTA1] ? 1 : p == &parts[P_STG] ? 2 : -1;
}

/* ---- esp_partition (components/esp_partition/partition_target.c) ---- */

const esp_partition_t *esp_partition_find_first(esp_partition_type_t type, esp_partition_subtype_t subtype,
                                                const char *label)
{
    int i;
    for (i = 0; i < P_COUNT; i++) {
        const esp_partition_t *p = &parts[i];
        if ((type == ESP_PARTITION_TYPE_ANY || p->type == type) &&
            (subtype == ESP_PARTITION_SUBTYPE_ANY || p->subtype == subtype) && (!label || !strcmp(label, p->label)))
            return p;
    }
    return NULL;
}

esp_err_t esp_partition_read(const esp_partition_t *partition, size_t src_offset, void *dst, size_t size)
{
    int r = region(partition);
    if (src_offset > partition->size)
        return ESP_ERR_INVALID_ARG;
    if (size > partition->size - src_offset)
        return ESP_ERR_INVALID_SIZE;
    if (r < 0)
        return ESP_ERR_NOT_SUPPORTED; /* the port never reads nvs/otadata directly */
    return host_flash_read(fl, r, (uint32_t)src_offset, dst, size) ? FLASH_OP_FAIL : ESP_OK;
}

esp_err_t esp_partition_write(const esp_partition_t *partition, size_t dst_offset, const void *src, size_t size)
{
    int r = region(partition);
    if (partition->readonly)
        return ESP_ERR_NOT_ALLOWED;
    if (dst_offset > partition->size)
        return ESP_ERR_INVALID_ARG;
    if (size > partition->size - dst_offset)
        return ESP_ERR_INVALID_SIZE;
    if (r < 0)
        return ESP_ERR_NOT_SUPPORTED;
    /* NOR: only 1 -> 0 (spi_flash Kconfig SPI_FLASH_WARN_SETTING_ZERO_TO_ONE: such writes "will not
     * result in the requested data appearing identically in flash"); host_flash refuses them loudly */
    return host_flash_write(fl, r, (uint32_t)dst_offset, src, size) ? FLASH_OP_FAIL : ESP_OK;
}

esp_err_t esp_partition_erase_range(const esp_partition_t *partition, size_t offset, size_t size)
{
    int r = region(partition);
    if (partition->readonly)
        return ESP_ERR_NOT_ALLOWED;
    if (offset > partition->size)
        return ESP_ERR_INVALID_ARG;
    if (size > partition->size - offset)
        return ESP_ERR_INVALID_SIZE;
    if (size % SPI_FLASH_SEC_SIZE != 0)
        return ESP_ERR_INVALID_SIZE;
    if (offset % SPI_FLASH_SEC_SIZE != 0)
        return ESP_ERR_INVALID_ARG;
    if (r < 0)
        return ESP_ERR_NOT_SUPPORTED;
    return host_flash_erase(fl, r, (uint32_t)offset, (uint32_t)size) ? FLASH_OP_FAIL : ESP_OK;
}

/* ---- esp_image_verify: segments, checksum, appended SHA-256 (host_image_size) ---- */

esp_err_t esp_image_verify(esp_image_load_mode_t mode, const esp_partition_pos_t *part, esp_image_metadata_t *data)
{
    int s = part->offset == parts[P_OTA0].address ? 0 : part->offset == parts[P_OTA1].address ? 1 : -1;
    int32_t len = s < 0 ? -1 : host_image_size(fl, s);
    memset(data, 0, sizeof *data);
    if (len < 0) {
        if (mode == ESP_IMAGE_VERIFY)
            fprintf(stderr, "E esp_image: image at 0x%x is not a valid app image\n", (unsigned)part->offset);
        return ESP_ERR_IMAGE_INVALID;
    }
    data->start_addr = part->offset;
    data->image_len = (uint32_t)len;
    return ESP_OK;
}

/* ---- otadata: two sectors, one esp_ota_select_entry_t each (esp_flash_partitions.h) ---- */

typedef struct {
    uint32_t ota_seq;
    uint8_t seq_label[20];
    uint32_t ota_state;
    uint32_t crc;
} ota_entry;

static const char *const od_file[2] = { "otadata0.bin", "otadata1.bin" };

static void od_read(ota_entry od[2])
{
    int i;
    for (i = 0; i < 2; i++)
        if (host_blob_load(fl, od_file[i], &od[i], sizeof od[i]) != (int)sizeof od[i])
            memset(&od[i], 0xFF, sizeof od[i]); /* never written: erased flash */
}

/* esp_rom_crc32_le(UINT32_MAX, &ota_seq, 4) (bootloader_common_ota_select_crc) */
static uint32_t od_crc(const ota_entry *s)
{
    const uint8_t *b = (const uint8_t *)&s->ota_seq;
    uint32_t c = 0; /* ~UINT32_MAX */
    int i, k;
    for (i = 0; i < 4; i++)
        for (c ^= b[i], k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
    return ~c;
}

/* bootloader_common_ota_select_valid / _invalid */
static int od_valid(const ota_entry *s)
{
    return s->ota_seq != UINT32_MAX && s->ota_state != ESP_OTA_IMG_INVALID && s->ota_state != ESP_OTA_IMG_ABORTED &&
           s->crc == od_crc(s);
}

/* bootloader_common_select_otadata(max = true) over the valid entries (get_active_otadata) */
static int od_active(const ota_entry od[2])
{
    int v0 = od_valid(&od[0]), v1 = od_valid(&od[1]);
    if (v0 && v1)
        return od[0].ota_seq >= od[1].ota_seq ? 0 : 1;
    return v0 ? 0 : v1 ? 1 : -1;
}

/* rewrite_ota_seq / the bootloader's write_otadata: erase the sector, then write the entry (two
 * operations: a cut between them leaves that sector erased) */
static esp_err_t od_write(ota_entry *e, int sec)
{
    ota_entry erased;
    e->crc = od_crc(e);
    memset(&erased, 0xFF, sizeof erased);
    if (host_blob_store(fl, od_file[sec], &erased, sizeof erased) || host_blob_store(fl, od_file[sec], e, sizeof *e))
        return FLASH_OP_FAIL;
    return ESP_OK;
}

static const esp_partition_t *slot_part(uint32_t seq)
{
    return &parts[P_OTA0 + (int)((seq - 1) % 2)];
}

/* bootloader_utility_get_selected_boot_partition + bootloader_utility_load_boot_image */
int esp_fake_bootloader(const char **why)
{
    ota_entry od[2];
    int i, a, idx = 0, initial;
    od_read(od);
    for (i = 0; i < 2; i++)
        if (od[i].ota_state == ESP_OTA_IMG_PENDING_VERIFY && od[i].ota_seq != UINT32_MAX) {
            od[i].ota_state = ESP_OTA_IMG_ABORTED; /* the app never confirmed */
            od_write(&od[i], i);
        }
    initial = (od[0].ota_seq == UINT32_MAX || od[0].crc != od_crc(&od[0])) &&
              (od[1].ota_seq == UINT32_MAX || od[1].crc != od_crc(&od[1]));
    a = od_active(od);
    *why = "otadata";
    if (a < 0) {
        *why = initial ? "otadata blank: ota_0" : "no valid otadata entry: trying all slots";
    } else {
        idx = (int)((od[a].ota_seq - 1) % 2);
        if (od[a].ota_state == ESP_OTA_IMG_NEW) {
            od[a].ota_state = ESP_OTA_IMG_PENDING_VERIFY;
            od_write(&od[a], a);
            *why = "new image, pending verify";
        }
    }
    /* work backwards from idx, then forwards (no factory partition) */
    for (i = 0; i < 2; i++) {
        int s = i == 0 ? idx : 1 - idx;
        if (host_image_size(fl, s) >= 0) {
            if (i)
                *why = "boot slot image invalid: other slot";
            if (initial) {
                /* set_actual_ota_seq: the first boot of blank otadata records the slot as VALID */
                ota_entry e;
                memset(&e, 0xFF, sizeof e);
                e.ota_seq = (uint32_t)s + 1;
                e.ota_state = ESP_OTA_IMG_VALID;
                od_write(&e, 0);
            }
            running = P_OTA0 + s;
            return s;
        }
    }
    return -1;
}

/* ---- esp_ota_ops (components/app_update/esp_ota_ops.c) ---- */

static int is_ota_partition(const esp_partition_t *p)
{
    return p && p->type == ESP_PARTITION_TYPE_APP && p->subtype >= ESP_PARTITION_SUBTYPE_APP_OTA_0 &&
           p->subtype < ESP_PARTITION_SUBTYPE_APP_OTA_MAX;
}

const esp_partition_t *esp_ota_get_running_partition(void)
{
    assert(running >= 0 && "the bootloader has not run");
    return &parts[running];
}

const esp_partition_t *esp_ota_get_boot_partition(void)
{
    ota_entry od[2];
    int a;
    od_read(od);
    a = od_active(od);
    return a < 0 ? &parts[P_OTA0] : slot_part(od[a].ota_seq);
}

esp_err_t esp_ota_get_state_partition(const esp_partition_t *partition, esp_ota_img_states_t *ota_state)
{
    ota_entry od[2];
    int i;
    if (!partition || !ota_state)
        return ESP_ERR_INVALID_ARG;
    if (!is_ota_partition(partition))
        return ESP_ERR_NOT_SUPPORTED;
    od_read(od);
    for (i = 0; i < 2; i++)
        if (slot_part(od[i].ota_seq) == partition && od[i].crc == od_crc(&od[i])) {
            *ota_state = (esp_ota_img_states_t)od[i].ota_state;
            return ESP_OK;
        }
    return ESP_ERR_NOT_FOUND;
}

static esp_err_t image_validate(const esp_partition_t *p)
{
    esp_partition_pos_t pos = { p->address, p->size };
    esp_image_metadata_t meta;
    return esp_image_verify(ESP_IMAGE_VERIFY, &pos, &meta) == ESP_OK ? ESP_OK : ESP_ERR_OTA_VALIDATE_FAILED;
}

/* ---- eFuse secure version (components/efuse/src/esp_efuse_fields.c): a field of bits that are only
 * ever burned, so the value only rises; kept in a file beside the flash ---- */

static const char efuse_file[] = "efuse_secure_version.bin";

uint32_t esp_efuse_read_secure_version(void)
{
    uint32_t v = 0;
    if (host_blob_load(fl, efuse_file, &v, sizeof v) != (int)sizeof v)
        v = 0; /* a new chip: no bit burned */
    return v;
}

bool esp_efuse_check_secure_version(uint32_t secure_version)
{
    return secure_version >= esp_efuse_read_secure_version();
}

esp_err_t esp_efuse_update_secure_version(uint32_t secure_version)
{
    if (secure_version <= esp_efuse_read_secure_version())
        return ESP_OK;
    fprintf(stderr, "I efuse: secure_version burned to %u\n", (unsigned)secure_version);
    return host_blob_store(fl, efuse_file, &secure_version, sizeof secure_version) ? ESP_FAIL : ESP_OK;
}

/* esp_ota_ops.c: the app_desc after the image header and the first segment header */
esp_err_t esp_ota_get_partition_description(const esp_partition_t *partition, esp_app_desc_t *app_desc)
{
    esp_err_t e;
    if (!partition || !app_desc)
        return ESP_ERR_INVALID_ARG;
    if (partition->type != ESP_PARTITION_TYPE_APP)
        return ESP_ERR_NOT_SUPPORTED;
    e = esp_partition_read(partition, 24 + 8, app_desc, sizeof *app_desc);
    if (e != ESP_OK)
        return e;
    return app_desc->magic_word == ESP_APP_DESC_MAGIC_WORD ? ESP_OK : ESP_ERR_NOT_FOUND;
}

esp_err_t esp_ota_set_boot_partition(const esp_partition_t *partition)
{
    ota_entry od[2];
    int a, next;
    uint32_t sub, seq, i = 0;
    if (!partition)
        return ESP_ERR_INVALID_ARG;
    region(partition);
    if (image_validate(partition) != ESP_OK)
        return ESP_ERR_OTA_VALIDATE_FAILED;
    if (!is_ota_partition(partition))
        return ESP_ERR_INVALID_ARG;
#ifdef CONFIG_BOOTLOADER_APP_ANTI_ROLLBACK
    {
        /* esp_ota_ops.c: a lower app secure_version than the eFuse's erases the partition */
        esp_app_desc_t d;
        esp_err_t e = esp_ota_get_partition_description(partition, &d);
        if (e != ESP_OK)
            return e;
        if (!esp_efuse_check_secure_version(d.secure_version)) {
            fprintf(stderr, "E esp_ota_ops: secure version is lower than stored in efuse. Partition will be erased.\n");
            e = esp_partition_erase_range(partition, 0, partition->size);
            return e != ESP_OK ? e : ESP_ERR_OTA_SMALL_SEC_VER;
        }
    }
#endif
    /* esp_rewrite_ota_data: the next sequence number that maps to this slot, in the other sector,
     * state NEW (set_new_state_otadata with rollback enabled) */
    sub = (uint32_t)(partition->subtype & 0x0F);
    od_read(od);
    a = od_active(od);
    if (a >= 0) {
        seq = od[a].ota_seq;
        while (seq > (sub + 1) % 2 + i * 2)
            i++;
        next = a ^ 1;
        seq = (sub + 1) % 2 + i * 2;
    } else {
        next = 0;
        seq = sub + 1;
    }
    od[next].ota_seq = seq;
    od[next].ota_state = ESP_OTA_IMG_NEW;
    return od_write(&od[next], next);
}

/* esp_ota_current_ota_is_workable(true): marks the ACTIVE otadata entry VALID; ESP_FAIL if there is none */
esp_err_t esp_ota_mark_app_valid_cancel_rollback(void)
{
    ota_entry od[2];
    int a;
    od_read(od);
    a = od_active(od);
    if (a < 0) {
        fprintf(stderr, "E esp_ota_ops: Running firmware is factory\n");
        return ESP_FAIL;
    }
    if (od[a].ota_state == ESP_OTA_IMG_VALID)
        return ESP_OK;
    od[a].ota_state = ESP_OTA_IMG_VALID;
#ifdef CONFIG_BOOTLOADER_APP_ANTI_ROLLBACK
    {
        /* esp_ota_set_anti_rollback(): the running app's secure_version is burned after otadata says VALID */
        esp_app_desc_t d;
        esp_err_t e = od_write(&od[a], a);
        if (e == ESP_OK)
            e = esp_ota_get_partition_description(esp_ota_get_running_partition(), &d);
        return e == ESP_OK ? esp_efuse_update_secure_version(d.secure_version) : e;
    }
#else
    return od_write(&od[a], a);
#endif
}

static void esp_restart(void)
{
    if (restart_env)
        longjmp(*restart_env, 1);
    exit(0);
}

esp_err_t esp_ota_mark_app_invalid_rollback_and_reboot(void)
{
    ota_entry od[2];
    int a, last;
    esp_err_t e;
    od_read(od);
    a = od_active(od);
    if (a < 0) {
        fprintf(stderr, "E esp_ota_ops: Running firmware is factory\n");
        return ESP_FAIL;
    }
    /* esp_ota_check_rollback_is_possible: the other entry must be valid and its image verify */
    last = a ^ 1;
    if (!od_valid(&od[last]) || image_validate(slot_part(od[last].ota_seq)) != ESP_OK) {
        fprintf(stderr, "E esp_ota_ops: Rollback is not possible, do not have any suitable apps in slots\n");
        return ESP_ERR_OTA_ROLLBACK_FAILED;
    }
    od[a].ota_state = ESP_OTA_IMG_INVALID;
    if ((e = od_write(&od[a], a)) != ESP_OK)
        return e;
    esp_restart();
    return ESP_OK;
}

/* The handle API, kept so a port using it meets the same rules (the old port did, and crashed). */
static struct {
    esp_ota_handle_t handle;
    const esp_partition_t *part;
    int need_erase;
    uint32_t wrote_size;
} ota_ent[4];
static esp_ota_handle_t last_handle;

static int find_ent(esp_ota_handle_t h)
{
    int i;
    for (i = 0; i < 4; i++)
        if (ota_ent[i].handle && ota_ent[i].handle == h)
            return i;
    return -1;
}

esp_err_t esp_ota_begin(const esp_partition_t *partition, size_t image_size, esp_ota_handle_t *out_handle)
{
    esp_ota_img_states_t st;
    int i = find_ent(0);
    if (!partition || !out_handle)
        return ESP_ERR_INVALID_ARG;
    region(partition);
    if (!is_ota_partition(partition))
        return ESP_ERR_INVALID_ARG;
    if (partition == esp_ota_get_running_partition())
        return ESP_ERR_OTA_PARTITION_CONFLICT;
    if (esp_ota_get_state_partition(esp_ota_get_running_partition(), &st) == ESP_OK && st == ESP_OTA_IMG_PENDING_VERIFY)
        return ESP_ERR_OTA_ROLLBACK_INVALID_STATE;
    for (i = 0; i < 4 && ota_ent[i].handle; i++)
        ;
    if (i == 4)
        return ESP_ERR_NO_MEM;
    ota_ent[i].handle = ++last_handle;
    ota_ent[i].part = partition;
    ota_ent[i].need_erase = image_size == OTA_WITH_SEQUENTIAL_WRITES;
    ota_ent[i].wrote_size = 0;
    *out_handle = ota_ent[i].handle;
    if (image_size != OTA_WITH_SEQUENTIAL_WRITES) {
        size_t n = image_size == 0 || image_size == OTA_SIZE_UNKNOWN ? partition->size
                                                                     : (image_size + SPI_FLASH_SEC_SIZE - 1) & ~(size_t)(SPI_FLASH_SEC_SIZE - 1);
        return esp_partition_erase_range(partition, 0, n);
    }
    return ESP_OK;
}

esp_err_t esp_ota_write(esp_ota_handle_t handle, const void *data, size_t size)
{
    int i = find_ent(handle);
    esp_err_t r;
    if (!data)
        return ESP_ERR_INVALID_ARG;
    if (!size)
        return ESP_OK;
    if (i < 0)
        return ESP_ERR_INVALID_ARG;
    if (ota_ent[i].need_erase) {
        uint32_t es = SPI_FLASH_SEC_SIZE, w = ota_ent[i].wrote_size, first = w / es, last = (uint32_t)((w + size - 1) / es);
        r = ESP_OK;
        if (w % es == 0)
            r = esp_partition_erase_range(ota_ent[i].part, w, (last - first + 1) * es);
        else if (first != last)
            r = esp_partition_erase_range(ota_ent[i].part, (first + 1) * es, (last - first) * es);
        if (r != ESP_OK)
            return r;
    }
    if (ota_ent[i].wrote_size == 0 && ((const uint8_t *)data)[0] != ESP_IMAGE_HEADER_MAGIC)
        return ESP_ERR_OTA_VALIDATE_FAILED;
    r = esp_partition_write(ota_ent[i].part, ota_ent[i].wrote_size, data, size);
    if (r == ESP_OK)
        ota_ent[i].wrote_size += (uint32_t)size;
    return r;
}

esp_err_t esp_ota_write_with_offset(esp_ota_handle_t handle, const void *data, size_t size, uint32_t offset)
{
    int i = find_ent(handle);
    esp_err_t r;
    if (!data)
        return ESP_ERR_INVALID_ARG;
    if (i < 0)
        return ESP_ERR_INVALID_ARG;
    /* esp_ota_ops.c: "must erase the partition before writing to it" */
    assert(ota_ent[i].need_erase == 0 && "must erase the partition before writing to it");
    r = esp_partition_write(ota_ent[i].part, offset, data, size);
    if (r == ESP_OK)
        ota_ent[i].wrote_size += (uint32_t)size;
    return r;
}

esp_err_t esp_ota_abort(esp_ota_handle_t handle)
{
    int i = find_ent(handle);
    if (i < 0)
        return ESP_ERR_NOT_FOUND;
    ota_ent[i].handle = 0;
    return ESP_OK;
}

esp_err_t esp_ota_end(esp_ota_handle_t handle)
{
    int i = find_ent(handle);
    esp_err_t r;
    if (i < 0)
        return ESP_ERR_NOT_FOUND;
    r = ota_ent[i].wrote_size == 0 ? ESP_ERR_INVALID_ARG : image_validate(ota_ent[i].part);
    ota_ent[i].handle = 0;
    return r;
}

/* ---- NVS (components/nvs_flash/src/nvs_api.cpp), blobs only: the partition is one atomic file;
 * each nvs_set_blob is written at once (one operation), nvs_commit writes nothing more ---- */

#define NVS_MAX 8
#define NVS_BLOB_MAX 2048
static struct nvs_item {
    char ns[NVS_KEY_NAME_MAX_SIZE], key[NVS_KEY_NAME_MAX_SIZE];
    uint32_t len;
    uint8_t data[NVS_BLOB_MAX];
} nvs[NVS_MAX];
static int nvs_ready;
static struct {
    char ns[NVS_KEY_NAME_MAX_SIZE];
    int open, rw;
} handles[4];

esp_err_t nvs_flash_init(void)
{
    if (host_blob_load(fl, "nvs.bin", nvs, sizeof nvs) < 0)
        return ESP_FAIL;
    nvs_ready = 1;
    return ESP_OK;
}

static int ns_exists(const char *ns)
{
    int i;
    for (i = 0; i < NVS_MAX; i++)
        if (nvs[i].ns[0] && !strcmp(nvs[i].ns, ns))
            return 1;
    return 0;
}

esp_err_t nvs_open(const char *namespace_name, nvs_open_mode_t open_mode, nvs_handle_t *out_handle)
{
    int i;
    if (!nvs_ready)
        return ESP_ERR_NVS_NOT_INITIALIZED;
    if (!namespace_name || strlen(namespace_name) > NVS_KEY_NAME_MAX_SIZE - 1)
        return ESP_ERR_NVS_KEY_TOO_LONG;
    if (open_mode == NVS_READONLY && !ns_exists(namespace_name))
        return ESP_ERR_NVS_NOT_FOUND;
    for (i = 0; i < 4 && handles[i].open; i++)
        ;
    if (i == 4)
        return ESP_ERR_NO_MEM;
    snprintf(handles[i].ns, sizeof handles[i].ns, "%s", namespace_name);
    handles[i].open = 1;
    handles[i].rw = open_mode == NVS_READWRITE;
    *out_handle = (nvs_handle_t)i + 1;
    return ESP_OK;
}

void nvs_close(nvs_handle_t handle)
{
    if (handle >= 1 && handle <= 4)
        handles[handle - 1].open = 0;
}

static int handle_ok(nvs_handle_t h)
{
    return h >= 1 && h <= 4 && handles[h - 1].open;
}

static struct nvs_item *item(nvs_handle_t h, const char *key)
{
    int i;
    for (i = 0; i < NVS_MAX; i++)
        if (nvs[i].ns[0] && !strcmp(nvs[i].ns, handles[h - 1].ns) && !strcmp(nvs[i].key, key))
            return &nvs[i];
    return NULL;
}

esp_err_t nvs_get_blob(nvs_handle_t handle, const char *key, void *out_value, size_t *length)
{
    struct nvs_item *it;
    if (!handle_ok(handle))
        return ESP_ERR_NVS_INVALID_HANDLE;
    if (!key || strlen(key) > NVS_KEY_NAME_MAX_SIZE - 1)
        return ESP_ERR_NVS_KEY_TOO_LONG;
    if (!(it = item(handle, key)))
        return ESP_ERR_NVS_NOT_FOUND;
    /* nvs_get_str_or_blob */
    if (!length)
        return ESP_ERR_NVS_INVALID_LENGTH;
    if (!out_value) {
        *length = it->len;
        return ESP_OK;
    }
    if (*length < it->len) {
        *length = it->len;
        return ESP_ERR_NVS_INVALID_LENGTH;
    }
    *length = it->len;
    memcpy(out_value, it->data, it->len);
    return ESP_OK;
}

esp_err_t nvs_set_blob(nvs_handle_t handle, const char *key, const void *value, size_t length)
{
    static struct nvs_item saved[NVS_MAX];
    struct nvs_item *it;
    int i;
    if (!handle_ok(handle))
        return ESP_ERR_NVS_INVALID_HANDLE;
    if (!handles[handle - 1].rw)
        return ESP_ERR_NVS_READ_ONLY;
    if (!key || strlen(key) > NVS_KEY_NAME_MAX_SIZE - 1)
        return ESP_ERR_NVS_KEY_TOO_LONG;
    if (length > NVS_BLOB_MAX)
        return ESP_ERR_NVS_NOT_ENOUGH_SPACE;
    memcpy(saved, nvs, sizeof nvs);
    if (!(it = item(handle, key))) {
        for (i = 0; i < NVS_MAX && nvs[i].ns[0]; i++)
            ;
        if (i == NVS_MAX)
            return ESP_ERR_NVS_NOT_ENOUGH_SPACE;
        it = &nvs[i];
        snprintf(it->ns, sizeof it->ns, "%s", handles[handle - 1].ns);
        snprintf(it->key, sizeof it->key, "%s", key);
    }
    it->len = (uint32_t)length;
    memcpy(it->data, value, length);
    /* the old value stays until the new one is complete (nvs::Storage::writeItem) */
    if (host_blob_store(fl, "nvs.bin", nvs, sizeof nvs)) {
        memcpy(nvs, saved, sizeof nvs);
        return ESP_FAIL;
    }
    return ESP_OK;
}

esp_err_t nvs_commit(nvs_handle_t handle)
{
    return handle_ok(handle) ? ESP_OK : ESP_ERR_NVS_INVALID_HANDLE;
}

/* ---- esp_random, esp_timer ---- */

void esp_fill_random(void *buf, size_t len)
{
    host_random(NULL, buf, len);
}

int64_t esp_timer_get_time(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
