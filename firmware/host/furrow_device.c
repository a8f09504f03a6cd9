/*
 * furrow-device: the furrow_ota core on a simulated ESP32 (file-backed NOR flash, POSIX UDP,
 * OpenSSL), for end-to-end tests against the gateway. One JSON line per event on stdout.
 * Run with --help for the options.
 *
 * Built with -DFURROW_DEVICE_ESP it is furrow-device-esp: the same simulator, but the port is the real
 * ESP-IDF port (port/esp_idf/furrow_port_esp.c with mbedTLS) on the host model of the ESP-IDF APIs
 * (test/esp_idf/), whose otadata, bootloader and NVS live in the same --flash directory.
 */
#define _POSIX_C_SOURCE 200809L
#include "furrow_errors.h"
#include "furrow_update.h"
#include "host_boot.h"
#include "host_crypto.h"
#include "host_flash.h"

#ifdef FURROW_DEVICE_ESP
#include "esp_idf_fake.h"
#include "furrow_port_esp.h"
#include "nvs_flash.h"
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct host_flash flash;
static struct furrow_update upd;
static int running = 0, fail_self_test = 0;
#ifndef FURROW_DEVICE_ESP
static int sock = -1;
#endif

static const char usage[] =
    "usage: furrow-device --server HOST:PORT --device-id ID --key-file FILE --product P --flash DIR\n"
    "                     --gateway-pub FILE (--release-pub FILE | --allow-unsigned) [--image FILE]\n"
    "  --image FILE            factory image written to slot0 when DIR is fresh\n"
    "  --version V             factory version string (default 0)\n"
    "  --secure-version N      factory anti-rollback counter (default 0)\n"
    "  --slot-size N           bytes per app slot (default 0x1E0000)\n"
    "  --staging-size N        bytes of the staging partition (default 0x12000, as partitions.csv)\n"
    "  --power-cut-after N     die after N flash/state operations (the next run resumes)\n"
    "  --power-cut-random SEED die at a pseudo-random operation in [1, --power-cut-range] (default 20000)\n"
    "  --fail-op N             the N-th flash/state operation fails once (a flash or NVS write error)\n"
    "  --fail-self-test        the new image's self-test fails (tests rollback)\n"
    "  --ack-timeout-ms N      CoAP ACK_TIMEOUT (default 2000)\n"
    "  --max-szx N             largest Block2 SZX to ask for (default 6 = 1024 bytes)\n"
    "  --max-payload N         largest CoAP payload per datagram, 16..1024 (LoRa DR0: 32): larger\n"
    "                          check-ins/reports go block-wise, and --max-szx is capped to fit\n"
    "  --max-sleep S           cap every sleep at S seconds (tests; default 5)\n"
    "  --max-wakes N           give up (exit 4) after N sleeps (default 50)\n"
    "  --keep-running          do not exit when the server has nothing to do\n";

/* options that take a value, each followed by a space */
static const char value_opts[] = "--server --device-id --key-file --product --flash --image --gateway-pub --release-pub "
                                 "--version --secure-version --slot-size --staging-size --power-cut-after "
                                 "--power-cut-random --power-cut-range --fail-op --ack-timeout-ms --max-szx --max-payload --max-sleep "
                                 "--max-wakes ";

static void json_str(const char *s)
{
    putchar('"');
    for (; s && *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", *s);
        else
            putchar(*s);
    }
    putchar('"');
}

static void ev(void *arg, const char *name, const char *detail, uint32_t a, uint32_t b)
{
    (void)arg;
    printf("{\"event\":");
    json_str(name);
    if (detail) {
        printf(",\"detail\":");
        json_str(detail);
    }
    printf(",\"a\":%u,\"b\":%u,\"ops\":%llu}\n", a, b, (unsigned long long)host_ops());
    fflush(stdout);
}

static int p_self_test(void *a)
{
    (void)a;
    return fail_self_test ? -1 : 0;
}
#ifdef FURROW_DEVICE_ESP
static int esp_self_test(void)
{
    return p_self_test(NULL);
}
#endif
#ifndef FURROW_DEVICE_ESP
static uint32_t p_region_size(void *a, int r)
{
    (void)a;
    return r >= 0 && r < 3 ? flash.size[r] : 0;
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
static int p_state_load(void *a, void *b, size_t n)
{
    (void)a;
    return host_blob_load(&flash, "state.bin", b, n);
}
static int p_state_store(void *a, const void *b, size_t n)
{
    (void)a;
    return host_blob_store(&flash, "state.bin", b, n);
}
static int p_running(void *a)
{
    (void)a;
    return running;
}
static int p_boot_set(void *a, int slot)
{
    (void)a;
    return host_boot_set(&flash, slot);
}
static int p_boot_confirm(void *a)
{
    (void)a;
    return host_boot_confirm(&flash, running);
}
static int p_boot_invalidate(void *a)
{
    (void)a;
    return host_boot_invalidate(&flash, running);
}
static int p_boot_pending(void *a)
{
    (void)a;
    return host_boot_pending(&flash, running);
}
static int32_t p_image_size(void *a, int slot)
{
    (void)a;
    return host_image_size(&flash, slot);
}
static int p_send(void *a, const void *b, size_t n)
{
    (void)a;
    return send(sock, b, n, 0) < 0 ? -1 : 0;
}
static int p_recv(void *a, void *b, size_t n, uint32_t timeout_ms)
{
    struct pollfd pfd = { sock, POLLIN, 0 };
    ssize_t k;
    (void)a;
    if (poll(&pfd, 1, (int)timeout_ms) <= 0)
        return 0;
    k = recv(sock, b, n, 0);
    /* ICMP port unreachable surfaces as ECONNREFUSED: the server is not up yet; treat as silence */
    return k < 0 ? 0 : (int)k;
}
static uint32_t p_now(void *a)
{
    struct timespec ts;
    (void)a;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint32_t)(ts.tv_sec * 1000u + ts.tv_nsec / 1000000u);
}

#endif

static uint8_t *slurp(const char *path, size_t *len, size_t max)
{
    FILE *f = fopen(path, "rb");
    uint8_t *b = malloc(max + 1);
    if (!f || !b) {
        if (f)
            fclose(f);
        free(b);
        return NULL;
    }
    *len = fread(b, 1, max + 1, f);
    fclose(f);
    b[*len < max ? *len : max] = 0;
    return b;
}

#ifndef FURROW_DEVICE_ESP
static int connect_udp(const char *server)
{
    char host[256];
    const char *colon = strrchr(server, ':');
    struct addrinfo hints, *res;
    int s;
    if (!colon || (size_t)(colon - server) >= sizeof host)
        return -1;
    memcpy(host, server, (size_t)(colon - server));
    host[colon - server] = 0;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_DGRAM;
    if (getaddrinfo(host, colon + 1, &hints, &res))
        return -1;
    s = socket(res->ai_family, SOCK_DGRAM, 0);
    if (s < 0 || connect(s, res->ai_addr, res->ai_addrlen)) {
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    return s;
}
#endif

static int die(const char *msg, const char *what)
{
    fprintf(stderr, "furrow-device: %s%s%s\n", msg, what ? ": " : "", what ? what : "");
    return 2;
}

int main(int argc, char **argv)
{
    const char *server = NULL, *key_file = NULL, *flash_dir = NULL, *image = NULL, *gw = NULL, *rel = NULL;
    static struct furrow_port port;
    static struct furrow_config cfg;
    static uint8_t key[32], gw_pub[65], rel_pub[65];
    static jmp_buf restart;
    static uint32_t wakes;
    static uint32_t max_sleep = 5, max_wakes = 50;
    uint32_t slot_size = 0x1E0000, staging_size = 0x12000;
    uint64_t cut = 0, seed = 0, range = 20000, fail_op = 0;
    unsigned long max_payload = 0;
    static int keep_running;
    int i, allow_unsigned = 0, use_seed = 0;
    size_t n;
    uint8_t *txt;

    cfg.max_szx = 6;
    cfg.version = "0";
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int flag = 1;
        if (!strcmp(a, "--allow-unsigned"))
            allow_unsigned = 1;
        else if (!strcmp(a, "--fail-self-test"))
            fail_self_test = 1;
        else if (!strcmp(a, "--keep-running"))
            keep_running = 1;
        else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 0;
        } else
            flag = 0;
        if (flag)
            continue;
        if (strncmp(a, "--", 2) || !strstr(value_opts, a) || strstr(value_opts, a)[strlen(a)] != ' ') {
            fputs(usage, stderr);
            return die("unknown option", a);
        }
        if (!v)
            return die("missing value after", a);
        i++;
        if (!strcmp(a, "--server")) server = v;
        else if (!strcmp(a, "--device-id")) cfg.device_id = v;
        else if (!strcmp(a, "--key-file")) key_file = v;
        else if (!strcmp(a, "--product")) cfg.product = v;
        else if (!strcmp(a, "--flash")) flash_dir = v;
        else if (!strcmp(a, "--image")) image = v;
        else if (!strcmp(a, "--gateway-pub")) gw = v;
        else if (!strcmp(a, "--release-pub")) rel = v;
        else if (!strcmp(a, "--version")) cfg.version = v;
        else if (!strcmp(a, "--secure-version")) cfg.secure_version = (uint32_t)strtoul(v, NULL, 0);
        else if (!strcmp(a, "--slot-size")) slot_size = (uint32_t)strtoul(v, NULL, 0);
        else if (!strcmp(a, "--staging-size")) staging_size = (uint32_t)strtoul(v, NULL, 0);
        else if (!strcmp(a, "--power-cut-after")) cut = strtoull(v, NULL, 0);
        else if (!strcmp(a, "--power-cut-random")) { seed = strtoull(v, NULL, 0); use_seed = 1; }
        else if (!strcmp(a, "--power-cut-range")) range = strtoull(v, NULL, 0);
        else if (!strcmp(a, "--fail-op")) fail_op = strtoull(v, NULL, 0);
        else if (!strcmp(a, "--ack-timeout-ms")) cfg.ack_timeout_ms = (uint32_t)strtoul(v, NULL, 0);
        else if (!strcmp(a, "--max-szx")) cfg.max_szx = (uint8_t)strtoul(v, NULL, 0);
        else if (!strcmp(a, "--max-payload")) max_payload = strtoul(v, NULL, 0);
        else if (!strcmp(a, "--max-sleep")) max_sleep = (uint32_t)strtoul(v, NULL, 0);
        else if (!strcmp(a, "--max-wakes")) max_wakes = (uint32_t)strtoul(v, NULL, 0);
        else {
            fputs(usage, stderr);
            return die("unknown option", a);
        }
    }
    if (!server || !cfg.device_id || !key_file || !cfg.product || !flash_dir || !gw || (!rel && !allow_unsigned)) {
        fputs(usage, stderr);
        return die("missing a required option", NULL);
    }
    if (cfg.max_szx > 6 || slot_size % HOST_SECTOR || staging_size % HOST_SECTOR || !slot_size || !staging_size)
        return die("--max-szx must be 0..6 and sizes multiples of 4096", NULL);
    if (max_payload && (max_payload < 16 || max_payload > 1024))
        return die("--max-payload must be 16..1024 bytes (one block of at least 16 must fit)", NULL);
    cfg.max_payload = (uint16_t)max_payload;
    /* a device whose datagrams carry N payload bytes asks for Block2 blocks of at most N */
    while (cfg.max_payload && cfg.max_szx && (16u << cfg.max_szx) > cfg.max_payload)
        cfg.max_szx--;
    if (strlen(cfg.device_id) >= FURROW_ID_MAX || strlen(cfg.product) >= FURROW_ID_MAX)
        return die("device id and product must be shorter than 48 bytes", NULL);
    txt = slurp(key_file, &n, 256);
    if (!txt || host_hex((char *)txt, key, sizeof key) != 32)
        return die("key file must hold the 32-byte device key as 64 hex digits", key_file);
    free(txt);
    if (host_load_pubkey(gw, gw_pub))
        return die("cannot read the gateway public key (PEM or 130 hex digits)", gw);
    if (rel && host_load_pubkey(rel, rel_pub))
        return die("cannot read the release public key (PEM or 130 hex digits)", rel);
    cfg.key = key;
    cfg.gateway_pub = gw_pub;
    cfg.release_pub = rel ? rel_pub : NULL;
    if (host_flash_open(&flash, flash_dir, slot_size, staging_size))
        return 2;
    if (image && host_image_size(&flash, 0) < 0 && host_image_size(&flash, 1) < 0) {
        /* factory flashing: not counted as operations */
        size_t len;
        uint8_t *img = slurp(image, &len, slot_size);
        if (!img || len > slot_size)
            return die("cannot read the image or it is larger than --slot-size", image);
        if (host_flash_erase(&flash, 0, 0, slot_size) || host_flash_write(&flash, 0, 0, img, len))
            return die("cannot write the factory image", image);
        free(img);
        if (host_image_size(&flash, 0) < 0)
            return die("the factory image is not a valid ESP application image", image);
    }
    if (use_seed) {
        /* splitmix64: the same seed gives the same cut on every machine */
        uint64_t z = seed + 0x9E3779B97F4A7C15ull;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        cut = 1 + ((z ^ (z >> 31)) % (range ? range : 1));
    }
    host_power_cut_at(cut ? host_ops() + cut : 0);
    host_fail_at(fail_op ? host_ops() + fail_op : 0);
#ifdef FURROW_DEVICE_ESP
    /* what app_main does (examples/farm-sensor/main/main.c) */
    esp_fake_open(&flash);
    esp_fake_on_restart(&restart);
    if (nvs_flash_init() != ESP_OK)
        return die("nvs_flash_init failed", NULL);
    if (furrow_port_esp_init(&port, server, esp_self_test) != ESP_OK)
        return die("furrow_port_esp_init failed (partitions or --server)", server);
#else
    sock = connect_udp(server);
    if (sock < 0)
        return die("cannot resolve or connect to --server", server);

    port.sector_size = HOST_SECTOR;
    port.region_size = p_region_size;
    port.flash_read = p_read;
    port.flash_write = p_write;
    port.flash_erase = p_erase;
    port.state_load = p_state_load;
    port.state_store = p_state_store;
    port.sha256_init = host_sha256_init;
    port.sha256_update = host_sha256_update;
    port.sha256_final = host_sha256_final;
    port.ecdsa_p256_verify = host_ecdsa_p256_verify;
    port.random = host_random;
    port.running_slot = p_running;
    port.boot_set = p_boot_set;
    port.boot_confirm = p_boot_confirm;
    port.boot_invalidate = p_boot_invalidate;
    port.image_size = p_image_size;
    port.self_test = p_self_test;
    port.udp_send = p_send;
    port.udp_recv = p_recv;
    port.now_ms = p_now;
    port.event = ev;
    port.boot_pending = p_boot_pending;
#endif

    for (;;) {
        const char *why;
        int r;
        if (setjmp(restart))
            ev(NULL, "restart", "esp_restart", 0, 0);
#ifdef FURROW_DEVICE_ESP
        /* the port's events go to the log; the simulator prints the core's through the same hook */
        port.event = ev;
        running = esp_fake_bootloader(&why);
#else
        running = host_bootloader(&flash, &why);
#endif
        if (running < 0) {
            ev(NULL, "bricked", "no valid image in either slot", 0, 0);
            return 3;
        }
        ev(NULL, "bootloader", why, (uint32_t)running, 0);
#ifdef FURROW_DEVICE_ESP
        cfg.secure_version = furrow_port_esp_secure_version(cfg.secure_version); /* as app_main does */
#endif
        if ((r = furrow_update_boot(&upd, &port, &cfg)) != 0) {
            ev(NULL, "error", furrow_strerror(r), (uint32_t)-r, 0);
            return 1;
        }
        for (;;) {
            int act = furrow_update_step(&upd);
            if (act == FURROW_ACT_CONTINUE)
                continue;
            if (act == FURROW_ACT_REBOOT)
                break;
            if (act == FURROW_ACT_IDLE && !keep_running) {
                ev(NULL, "idle", furrow_phase_name(upd.st.phase), upd.st.result, upd.st.secure_version);
                return 0;
            }
            if (++wakes > max_wakes) {
                ev(NULL, "gave_up", furrow_phase_name(upd.st.phase), wakes, 0);
                return 4;
            }
            ev(NULL, "sleep", furrow_phase_name(upd.st.phase), upd.sleep_s, 0);
            sleep(upd.sleep_s < max_sleep ? upd.sleep_s : max_sleep);
        }
    }
}
