/*
 * ESP-IDF port (written against ESP-IDF v5.0-v6.0; components/app_update/esp_ota_ops.c cited as of v5.5.3).
 *
 * Slot writes: esp_partition_write() and esp_partition_erase_range() straight on the passive app
 * partition, no esp_ota handle. The core erases each 4 KB sector itself just before it first writes it
 * (furrow_seq_write: offsets and lengths are multiples of SPI_FLASH_SEC_SIZE, as erase_range requires,
 * else ESP_ERR_INVALID_ARG / ESP_ERR_INVALID_SIZE), and resumes after a power cut without erasing
 * durable bytes. The esp_ota handle API cannot do that: esp_ota_begin(OTA_WITH_SEQUENTIAL_WRITES) sets
 * need_erase and esp_ota_write_with_offset() asserts "need_erase == 0" ("must erase the partition
 * before writing to it"), so the first chunk would abort(); any other image_size makes esp_ota_begin
 * erase the partition, losing every chunk applied before a cut; esp_ota_write() only appends
 * (wrote_size lives in RAM, gone after a reboot). Nothing is lost by skipping the handle:
 * esp_ota_end() only re-runs esp_image_verify(ESP_IMAGE_VERIFY), which esp_ota_set_boot_partition()
 * runs as well ("if (image_validate(partition, ESP_IMAGE_VERIFY) != ESP_OK) return
 * ESP_ERR_OTA_VALIDATE_FAILED"), and the core verifies the slot's SHA-256 against the signed manifest
 * before it sets the boot slot. What esp_ota_begin also checks is kept by the core: it never writes the
 * running slot, and it downloads only once the running image is confirmed (a PENDING_VERIFY boot goes
 * to TRIAL first, see boot_pending), which esp_ota_begin enforces with ESP_ERR_OTA_ROLLBACK_INVALID_STATE.
 *
 * Flash encryption: esp_partition_write() encrypts on an encrypted partition and then needs 16-byte
 * aligned offsets and lengths; the core writes 256-byte pages except at a chunk's end, so with flash
 * encryption chunk outputs must be multiples of 16 bytes (the encoder's chunk boundaries are 4 KB units).
 *
 * Anti-rollback with CONFIG_BOOTLOADER_APP_ANTI_ROLLBACK: the eFuse secure version is the floor, not
 * only the counter in the state blob (which erasing NVS resets). state_load raises a stored blob's
 * counter to esp_efuse_read_secure_version(), so the core's manifest check (secure version >= the
 * device's) refuses an older release before a byte is written; furrow_port_esp_secure_version() gives
 * the app the same floor for furrow_config.secure_version (used while no blob is stored). boot_set
 * refuses an image whose esp_app_desc_t.secure_version is not the signed manifest's (the core stored
 * it in the blob before SWITCH): the bootloader and esp_ota_mark_app_valid_cancel_rollback() use the
 * app_desc one, so a release built without CONFIG_BOOTLOADER_APP_SECURE_VERSION set to its statement's
 * would otherwise be judged by two different numbers. Without the option: the blob's counter only.
 */
#include "furrow_port_esp.h"

#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <netdb.h>
#include <unistd.h>

#include "esp_err.h"
#ifdef CONFIG_BOOTLOADER_APP_ANTI_ROLLBACK
#include "esp_efuse.h"
#endif
#include "esp_image_format.h"
#include "esp_log.h"
#include "esp_ota_ops.h"
#include "esp_partition.h"
#include "esp_random.h"
#include "esp_timer.h"
#include "mbedtls/ecdsa.h"
#include "mbedtls/sha256.h"
#include "nvs.h"
#include "nvs_flash.h"
#include "spi_flash_mmap.h" /* SPI_FLASH_SEC_SIZE */

#include "furrow_errors.h"
#include "furrow_update.h" /* struct furrow_persist: the blob the port stores */

static const char *TAG = "furrow";

struct esp_port {
    const esp_partition_t *part[3];
    int sock;
    int (*self_test)(void);
    uint32_t manifest_secure; /* m.secure_version of the blob last loaded or stored */
};

static struct esp_port g;

_Static_assert(sizeof(mbedtls_sha256_context) <= sizeof(struct furrow_sha256), "SHA-256 context does not fit");

static uint32_t region_size(void *arg, int r)
{
    (void)arg;
    return r >= 0 && r < 3 && g.part[r] ? g.part[r]->size : 0;
}

static int flash_read(void *arg, int r, uint32_t off, void *buf, size_t len)
{
    (void)arg;
    return esp_partition_read(g.part[r], off, buf, len) == ESP_OK ? 0 : -1;
}

static int flash_write(void *arg, int r, uint32_t off, const void *buf, size_t len)
{
    (void)arg;
    /* the core writes only sectors it erased (NOR: a write may only clear bits) */
    return esp_partition_write(g.part[r], off, buf, len) == ESP_OK ? 0 : -1;
}

static int flash_erase(void *arg, int r, uint32_t off, uint32_t len)
{
    (void)arg;
    return esp_partition_erase_range(g.part[r], off, len) == ESP_OK ? 0 : -1;
}

uint32_t furrow_port_esp_secure_version(uint32_t factory)
{
#ifdef CONFIG_BOOTLOADER_APP_ANTI_ROLLBACK
    uint32_t fuse = esp_efuse_read_secure_version();
    return fuse > factory ? fuse : factory;
#else
    return factory;
#endif
}

/* A blob of ours (every layout keeps these fields' offsets): remember the manifest's secure version
 * for boot_set; on load, raise the device's counter to the eFuse floor. */
static void note_blob(void *buf, size_t n, int loading)
{
    struct furrow_persist *p = buf;
    if (n < FURROW_STATE_V1_SIZE || p->magic != FURROW_STATE_MAGIC)
        return;
    g.manifest_secure = p->m.secure_version;
    if (loading)
        p->secure_version = furrow_port_esp_secure_version(p->secure_version);
}

static int state_load(void *arg, void *buf, size_t len)
{
    nvs_handle_t h;
    size_t n = len;
    esp_err_t e;
    (void)arg;
    if (nvs_open("furrow", NVS_READONLY, &h) != ESP_OK)
        return 0; /* namespace not created yet: factory state */
    /* nvs_get_blob: ESP_ERR_NVS_INVALID_LENGTH if the stored blob is larger than len (the core passes
     * a buffer larger than its own layout, so a newer image's larger blob still loads) */
    e = nvs_get_blob(h, "state", buf, &n);
    nvs_close(h);
    if (e == ESP_ERR_NVS_NOT_FOUND)
        return 0;
    if (e != ESP_OK)
        return -1;
    note_blob(buf, n, 1);
    return (int)n;
}

static int state_store(void *arg, const void *buf, size_t len)
{
    nvs_handle_t h;
    esp_err_t e;
    (void)arg;
    if (nvs_open("furrow", NVS_READWRITE, &h) != ESP_OK)
        return -1;
    /* NVS writes a blob atomically: a power cut leaves the old or the new one */
    e = nvs_set_blob(h, "state", buf, len);
    if (e == ESP_OK)
        e = nvs_commit(h);
    nvs_close(h);
    if (e == ESP_OK)
        note_blob((void *)buf, len, 0);
    return e == ESP_OK ? 0 : -1;
}

static void sha_init(struct furrow_sha256 *c)
{
    mbedtls_sha256_init((mbedtls_sha256_context *)c);
    mbedtls_sha256_starts((mbedtls_sha256_context *)c, 0);
}

static void sha_update(struct furrow_sha256 *c, const void *p, size_t n)
{
    mbedtls_sha256_update((mbedtls_sha256_context *)c, p, n);
}

static void sha_final(struct furrow_sha256 *c, uint8_t out[32])
{
    mbedtls_sha256_finish((mbedtls_sha256_context *)c, out);
    mbedtls_sha256_free((mbedtls_sha256_context *)c);
}

static int ecdsa_verify(void *arg, const uint8_t pub[65], const uint8_t hash[32], const uint8_t sig[64])
{
    mbedtls_ecp_group grp;
    mbedtls_ecp_point q;
    mbedtls_mpi r, s;
    int ret;
    (void)arg;
    mbedtls_ecp_group_init(&grp);
    mbedtls_ecp_point_init(&q);
    mbedtls_mpi_init(&r);
    mbedtls_mpi_init(&s);
    ret = mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_SECP256R1);
    if (!ret)
        ret = mbedtls_ecp_point_read_binary(&grp, &q, pub, 65);
    if (!ret)
        ret = mbedtls_mpi_read_binary(&r, sig, 32);
    if (!ret)
        ret = mbedtls_mpi_read_binary(&s, sig + 32, 32);
    if (!ret)
        ret = mbedtls_ecdsa_verify(&grp, hash, 32, &q, &r, &s);
    mbedtls_mpi_free(&s);
    mbedtls_mpi_free(&r);
    mbedtls_ecp_point_free(&q);
    mbedtls_ecp_group_free(&grp);
    return ret ? -1 : 0;
}

static void fill_random(void *arg, void *buf, size_t len)
{
    (void)arg;
    esp_fill_random(buf, len);
}

static int running_slot(void *arg)
{
    const esp_partition_t *run = esp_ota_get_running_partition();
    (void)arg;
    return run && run->address == g.part[1]->address ? 1 : 0;
}

static int boot_set(void *arg, int slot)
{
    esp_err_t e;
    (void)arg;
#ifdef CONFIG_BOOTLOADER_APP_ANTI_ROLLBACK
    {
        esp_app_desc_t desc;
        /* ESP_ERR_NOT_FOUND: no app_desc magic word (the core verified the image's SHA-256 already) */
        e = esp_ota_get_partition_description(g.part[slot], &desc);
        if (e != ESP_OK) {
            ESP_LOGE(TAG, "esp_ota_get_partition_description: 0x%x", (unsigned)e);
            return FURROW_ERR_RELEASE;
        }
        if (desc.secure_version != g.manifest_secure) {
            ESP_LOGE(TAG, "image secure_version %u is not the release statement's %u (CONFIG_BOOTLOADER_APP_SECURE_VERSION)",
                     (unsigned)desc.secure_version, (unsigned)g.manifest_secure);
            return FURROW_ERR_RELEASE;
        }
    }
#endif
    /* validates the image (ESP_ERR_OTA_VALIDATE_FAILED) and, with CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE,
     * writes the next otadata entry as ESP_OTA_IMG_NEW: the bootloader boots it PENDING_VERIFY */
    e = esp_ota_set_boot_partition(g.part[slot]);
    if (e != ESP_OK)
        ESP_LOGE(TAG, "esp_ota_set_boot_partition: 0x%x", (unsigned)e);
#ifdef CONFIG_BOOTLOADER_APP_ANTI_ROLLBACK
    /* "secure_version of the new app is lower than eFuse's": it erased the slot; not transient */
    if (e == ESP_ERR_OTA_SMALL_SEC_VER)
        return FURROW_ERR_DOWNGRADE;
#endif
    return e == ESP_OK ? 0 : FURROW_ERR_IO;
}

static int boot_pending(void *arg)
{
    esp_ota_img_states_t st;
    (void)arg;
    /* ESP_ERR_NOT_FOUND when otadata has no entry for this slot (factory-flashed): not on trial */
    return esp_ota_get_state_partition(esp_ota_get_running_partition(), &st) == ESP_OK &&
           st == ESP_OTA_IMG_PENDING_VERIFY;
}

static int boot_confirm(void *arg)
{
    (void)arg;
    return esp_ota_mark_app_valid_cancel_rollback() == ESP_OK ? 0 : -1;
}

static int boot_invalidate(void *arg)
{
    (void)arg;
    /* marks the running entry ESP_OTA_IMG_INVALID and calls esp_restart(): it returns only on failure
     * (ESP_ERR_OTA_ROLLBACK_FAILED when the other slot holds no valid image). The state was persisted
     * before. */
    return esp_ota_mark_app_invalid_rollback_and_reboot() == ESP_OK ? 0 : -1;
}

static int32_t image_size(void *arg, int slot)
{
    esp_partition_pos_t pos = { .offset = g.part[slot]->address, .size = g.part[slot]->size };
    esp_image_metadata_t meta;
    (void)arg;
    if (esp_image_verify(ESP_IMAGE_VERIFY_SILENT, &pos, &meta) != ESP_OK)
        return -1;
    return (int32_t)meta.image_len;
}

static int self_test(void *arg)
{
    (void)arg;
    return g.self_test ? g.self_test() : 0;
}

static int udp_send(void *arg, const void *buf, size_t len)
{
    (void)arg;
    return send(g.sock, buf, len, 0) < 0 ? -1 : 0;
}

static int udp_recv(void *arg, void *buf, size_t len, uint32_t timeout_ms)
{
    struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
    fd_set rd;
    int n;
    (void)arg;
    FD_ZERO(&rd);
    FD_SET(g.sock, &rd);
    if (select(g.sock + 1, &rd, NULL, NULL, &tv) <= 0)
        return 0;
    n = recv(g.sock, buf, len, 0);
    return n < 0 ? 0 : n;
}

static uint32_t now_ms(void *arg)
{
    (void)arg;
    return (uint32_t)(esp_timer_get_time() / 1000);
}

static void event(void *arg, const char *name, const char *detail, uint32_t a, uint32_t b)
{
    (void)arg;
    ESP_LOGI(TAG, "%s %s %u %u", name, detail ? detail : "", (unsigned)a, (unsigned)b);
}

int furrow_port_esp_init(struct furrow_port *port, const char *server, int (*test)(void))
{
    char host[128];
    const char *colon = strrchr(server, ':');
    struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *res = NULL;
    memset(port, 0, sizeof *port);
    memset(&g, 0, sizeof g);
    g.self_test = test;
    g.part[0] = esp_partition_find_first(ESP_PARTITION_TYPE_APP, ESP_PARTITION_SUBTYPE_APP_OTA_0, NULL);
    g.part[1] = esp_partition_find_first(ESP_PARTITION_TYPE_APP, ESP_PARTITION_SUBTYPE_APP_OTA_1, NULL);
    g.part[2] = esp_partition_find_first(ESP_PARTITION_TYPE_DATA, ESP_PARTITION_SUBTYPE_ANY, FURROW_ESP_STAGING_LABEL);
    if (!g.part[0] || !g.part[1] || !g.part[2]) {
        ESP_LOGE(TAG, "partition table needs ota_0, ota_1 and a data partition labelled %s", FURROW_ESP_STAGING_LABEL);
        return ESP_ERR_NOT_FOUND;
    }
    if (!colon || (size_t)(colon - server) >= sizeof host)
        return ESP_ERR_INVALID_ARG;
    memcpy(host, server, (size_t)(colon - server));
    host[colon - server] = 0;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0 || !res)
        return ESP_ERR_NOT_FOUND;
    g.sock = socket(res->ai_family, SOCK_DGRAM, 0);
    if (g.sock < 0 || connect(g.sock, res->ai_addr, res->ai_addrlen) != 0) {
        freeaddrinfo(res);
        return ESP_FAIL;
    }
    freeaddrinfo(res);
    port->sector_size = SPI_FLASH_SEC_SIZE;
    port->region_size = region_size;
    port->flash_read = flash_read;
    port->flash_write = flash_write;
    port->flash_erase = flash_erase;
    port->state_load = state_load;
    port->state_store = state_store;
    port->sha256_init = sha_init;
    port->sha256_update = sha_update;
    port->sha256_final = sha_final;
    port->ecdsa_p256_verify = ecdsa_verify;
    port->random = fill_random;
    port->running_slot = running_slot;
    port->boot_set = boot_set;
    port->boot_confirm = boot_confirm;
    port->boot_invalidate = boot_invalidate;
    port->image_size = image_size;
    port->self_test = self_test;
    port->udp_send = udp_send;
    port->udp_recv = udp_recv;
    port->now_ms = now_ms;
    port->event = event;
    port->boot_pending = boot_pending;
    return ESP_OK;
}
