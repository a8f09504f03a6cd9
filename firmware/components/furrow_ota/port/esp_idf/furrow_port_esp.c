/*
 * ESP-IDF port. Slot writes go through an esp_ota handle opened with OTA_WITH_SEQUENTIAL_WRITES (which
 * erases nothing up front, so chunks already applied before a power cut survive) and
 * esp_ota_write_with_offset(); the core erases each sector itself before writing it (NOR rule), via
 * esp_partition_erase_range(). Setting the boot slot closes the handle (esp_ota_end validates the
 * image) and calls esp_ota_set_boot_partition(), which validates it again.
 */
#include "furrow_port_esp.h"

#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <netdb.h>
#include <unistd.h>

#include "esp_err.h"
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

static const char *TAG = "furrow";

struct esp_port {
    const esp_partition_t *part[3];
    esp_ota_handle_t ota;
    int ota_slot; /* slot the handle writes, -1 if none open */
    int sock;
    int (*self_test)(void);
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

static int open_ota(int slot)
{
    if (g.ota_slot == slot)
        return 0;
    if (g.ota_slot >= 0) {
        esp_ota_abort(g.ota);
        g.ota_slot = -1;
    }
    if (esp_ota_begin(g.part[slot], OTA_WITH_SEQUENTIAL_WRITES, &g.ota) != ESP_OK)
        return -1;
    g.ota_slot = slot;
    return 0;
}

static int flash_write(void *arg, int r, uint32_t off, const void *buf, size_t len)
{
    (void)arg;
    if (r == FURROW_STAGING)
        return esp_partition_write(g.part[r], off, buf, len) == ESP_OK ? 0 : -1;
    if (open_ota(r))
        return -1;
    return esp_ota_write_with_offset(g.ota, buf, len, off) == ESP_OK ? 0 : -1;
}

static int flash_erase(void *arg, int r, uint32_t off, uint32_t len)
{
    (void)arg;
    return esp_partition_erase_range(g.part[r], off, len) == ESP_OK ? 0 : -1;
}

static int state_load(void *arg, void *buf, size_t len)
{
    nvs_handle_t h;
    size_t n = len;
    esp_err_t e;
    (void)arg;
    if (nvs_open("furrow", NVS_READONLY, &h) != ESP_OK)
        return 0; /* namespace not created yet: factory state */
    e = nvs_get_blob(h, "state", buf, &n);
    nvs_close(h);
    if (e == ESP_ERR_NVS_NOT_FOUND)
        return 0;
    return e == ESP_OK ? (int)n : -1;
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
    (void)arg;
    if (g.ota_slot == slot) {
        /* esp_ota_end validates the image; with nothing written in this boot it reports
         * ESP_ERR_INVALID_ARG, and esp_ota_set_boot_partition validates the image anyway */
        esp_err_t e = esp_ota_end(g.ota);
        g.ota_slot = -1;
        if (e != ESP_OK && e != ESP_ERR_INVALID_ARG)
            return -1;
    }
    return esp_ota_set_boot_partition(g.part[slot]) == ESP_OK ? 0 : -1;
}

static int boot_confirm(void *arg)
{
    (void)arg;
    return esp_ota_mark_app_valid_cancel_rollback() == ESP_OK ? 0 : -1;
}

static int boot_invalidate(void *arg)
{
    (void)arg;
    /* reboots into the other slot when it succeeds; the state was persisted before */
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
    if (!strcmp(name, "refused"))
        furrow_port_esp_abort();
}

void furrow_port_esp_abort(void)
{
    if (g.ota_slot >= 0) {
        esp_ota_abort(g.ota);
        g.ota_slot = -1;
    }
}

int furrow_port_esp_init(struct furrow_port *port, const char *server, int (*test)(void))
{
    char host[128];
    const char *colon = strrchr(server, ':');
    struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *res = NULL;
    memset(port, 0, sizeof *port);
    memset(&g, 0, sizeof g);
    g.ota_slot = -1;
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
    return ESP_OK;
}
