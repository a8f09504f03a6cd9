/*
 * Mutation fuzzer for everything in the core that parses outside bytes: the patch decoder (raw
 * mutations, and mutations with the digests fixed up so the LZMA streams and control entries are
 * really decoded), the LZMA decoder, COSE/manifest parsing, CoAP messages. Built with
 * -fsanitize=address,undefined: any memory error or UB aborts the run.
 *
 * usage: fuzz_main ITERATIONS SEED PATCH BASE LZMA MANIFEST COAP CHECKIN
 * Prints {"inputs":N,"patch":..,"lzma":..,...} with the count of inputs per target and of accepted ones.
 */
#include "furrow_coap.h"
#include "furrow_errors.h"
#include "furrow_lzma.h"
#include "furrow_manifest.h"
#include "furrow_patch.h"
#include "furrow_proto.h"
#include "host_crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOT 0x20000u
#define STAGING 0x20000u

static uint8_t mem[3][SLOT];
static uint32_t sizes[3] = { SLOT, SLOT, STAGING };
static struct furrow_patch patch;
static uint64_t rng;

static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static uint32_t m_size(void *a, int r)
{
    (void)a;
    return sizes[r];
}
static int m_read(void *a, int r, uint32_t o, void *b, size_t n)
{
    (void)a;
    if (r < 0 || r > 2 || o > sizes[r] || n > sizes[r] - o)
        abort(); /* the decoder must stay inside its regions */
    memcpy(b, mem[r] + o, n);
    return 0;
}
static int m_write(void *a, int r, uint32_t o, const void *b, size_t n)
{
    const uint8_t *p = b;
    size_t i;
    (void)a;
    if (r < 1 || r > 2 || o > sizes[r] || n > sizes[r] - o)
        abort(); /* never writes the running slot (0) */
    for (i = 0; i < n; i++) {
        if ((mem[r][o + i] & p[i]) != p[i])
            abort(); /* NOR: wrote over unerased bits */
        mem[r][o + i] = p[i];
    }
    return 0;
}
static int m_erase(void *a, int r, uint32_t o, uint32_t n)
{
    (void)a;
    if (r < 1 || r > 2 || o % 4096 || n % 4096 || o > sizes[r] || n > sizes[r] - o)
        abort();
    memset(mem[r] + o, 0xFF, n);
    return 0;
}
static int ok_verify(void *a, const uint8_t pub[65], const uint8_t h[32], const uint8_t s[64])
{
    (void)a;
    (void)pub;
    (void)h;
    return s[0] == 0xEE ? -1 : 0; /* accept: fuzz what comes after the signature check */
}

static struct furrow_port port;

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
    b = malloc((size_t)n + 64);
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n)
        exit(2);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static size_t mutate(uint8_t *b, size_t len, size_t cap)
{
    int k, n = 1 + (int)(rnd() % 8);
    for (k = 0; k < n && len; k++) {
        uint32_t op = rnd() % 10, at = rnd() % (uint32_t)len;
        if (op < 5)
            b[at] ^= (uint8_t)(1u << (rnd() % 8));
        else if (op < 8)
            b[at] = (uint8_t)rnd();
        else if (op == 8)
            len = at + 1; /* truncate */
        else if (len < cap)
            b[len++] = (uint8_t)rnd(); /* append */
    }
    return len;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void sha(const uint8_t *p, size_t n, uint8_t out[32])
{
    struct furrow_sha256 c;
    host_sha256_init(&c);
    host_sha256_update(&c, p, n);
    host_sha256_final(&c, out);
}

/* Recomputes body digests and the table digest so mutated bodies get decoded. */
static void fix_digests(uint8_t *p, size_t len)
{
    uint32_t count, i, off;
    struct furrow_sha256 c;
    if (len < 160)
        return;
    count = le32(p + 84);
    if (count == 0 || count > 64 || 160 + 60 * (size_t)count > len)
        return;
    off = 160 + 60 * count;
    for (i = 0; i < count; i++) {
        uint8_t *e = p + 160 + 60 * i;
        uint64_t bl = (uint64_t)le32(e + 16) + le32(e + 20) + le32(e + 24);
        if (off + bl > len)
            break;
        sha(p + off, (size_t)bl, e + 28);
        off += (uint32_t)bl;
    }
    host_sha256_init(&c);
    host_sha256_update(&c, p, 128);
    host_sha256_update(&c, p + 160, 60 * (size_t)count);
    host_sha256_final(&c, p + 128);
}

static int run_patch(const uint8_t *p, size_t len, const uint8_t base_sha[32])
{
    uint8_t table[32];
    uint32_t count;
    size_t off = 0;
    int r;
    if (len < 160)
        return FURROW_ERR_PATCH_HEADER;
    count = le32(p + 84);
    if (count <= 64 && 160 + 60 * (size_t)count <= len) {
        struct furrow_sha256 c;
        host_sha256_init(&c);
        host_sha256_update(&c, p, 128);
        host_sha256_update(&c, p + 160, 60 * (size_t)count);
        host_sha256_final(&c, table);
    } else {
        memset(table, 0, 32);
    }
    r = furrow_patch_init(&patch, &port, 0, 1, (uint32_t)len, table, base_sha, NULL, NULL, NULL);
    while (!r && off < len) {
        size_t n = 1 + rnd() % 700;
        if (n > len - off)
            n = len - off;
        r = furrow_patch_process(&patch, p + off, n);
        off += n;
    }
    return r ? r : furrow_patch_finalize(&patch);
}

struct mem_in {
    const uint8_t *p;
    size_t len, pos;
};

static int mem_read(void *arg, uint8_t *buf, size_t n)
{
    struct mem_in *m = arg;
    size_t k = m->len - m->pos < n ? m->len - m->pos : n;
    memcpy(buf, m->p + m->pos, k);
    m->pos += k;
    return (int)k;
}

int main(int argc, char **argv)
{
    static uint16_t probs[1846 + (0x300 << 4)];
    static uint8_t dict[65536], out[4096], buf[1 << 18];
    struct furrow_manifest man;
    struct furrow_trust trust;
    struct furrow_coap_msg msg;
    uint8_t base_sha[32], run_sha[32];
    size_t lens[6], i;
    uint8_t *seeds[6];
    unsigned long n, it, counts[7] = { 0 }, accepted[7] = { 0 };
    if (argc < 9) {
        fprintf(stderr, "usage: fuzz_main ITERATIONS SEED PATCH BASE LZMA MANIFEST COAP CHECKIN\n");
        return 2;
    }
    n = strtoul(argv[1], NULL, 0);
    rng = strtoull(argv[2], NULL, 0) | 1;
    for (i = 0; i < 6; i++)
        if (!(seeds[i] = slurp(argv[3 + i], &lens[i])))
            return 2;
    if (lens[1] > SLOT || lens[0] > sizeof buf - 64 || lens[2] > sizeof buf - 64)
        return 2;
    memset(mem, 0xFF, sizeof mem);
    memcpy(mem[0], seeds[1], lens[1]);
    sha(seeds[1], lens[1], base_sha);
    memset(run_sha, 0xAB, 32);
    port.sector_size = 4096;
    port.region_size = m_size;
    port.flash_read = m_read;
    port.flash_write = m_write;
    port.flash_erase = m_erase;
    port.sha256_init = host_sha256_init;
    port.sha256_update = host_sha256_update;
    port.sha256_final = host_sha256_final;
    port.ecdsa_p256_verify = ok_verify;
    trust.gateway_pub = run_sha; /* any 65 bytes: verify is stubbed */
    trust.release_pub = NULL;
    trust.device_id = "sensor-1";
    trust.product = "farm-sensor";
    trust.running_sha = run_sha;
    trust.secure_version = 1;

    /* the seeds themselves must be accepted, or the fuzzer would only test rejection paths */
    if (run_patch(seeds[0], lens[0], base_sha)) {
        fprintf(stderr, "fuzz_main: the seed patch does not apply\n");
        return 3;
    }
    for (it = 0; it < n; it++) {
        int t = (int)(it % 7), r = 0;
        struct furrow_checkin_resp ci;
        size_t len;
        switch (t) {
        case 0: /* patch, raw mutation */
        case 1: /* patch, mutation with digests fixed up */
            memcpy(buf, seeds[0], lens[0]);
            len = mutate(buf, lens[0], lens[0] + 64);
            if (t == 1)
                fix_digests(buf, len);
            r = run_patch(buf, len, base_sha);
            break;
        case 2: { /* LZMA stream (lc/lp/pb from the input too) */
            struct furrow_lzma d;
            struct mem_in in;
            unsigned lc = rnd() % 5, lp = rnd() % 2, pb = rnd() % 5;
            memcpy(buf, seeds[2], lens[2]);
            len = mutate(buf, lens[2], lens[2] + 64);
            in.p = buf;
            in.len = len;
            in.pos = 0;
            if (rnd() % 2)
                lc = lp = pb = 0;
            r = furrow_lzma_init(&d, lc, lp, pb, probs, sizeof probs / 2, dict, 4096u << (rnd() % 5),
                                 rnd() % 2 ? 0xFFFFFFFFu : rnd() % 200000, mem_read, &in);
            /* garbage can decode to long runs of matches: cap the work per input at 64 KiB out */
            while (r == 0 && d.total < 65536) {
                r = furrow_lzma_read(&d, out, 1 + rnd() % sizeof out);
                if (r == 0)
                    break;
                if (r > 0)
                    r = 0;
            }
            break;
        }
        case 3: /* manifest */
            memcpy(buf, seeds[3], lens[3]);
            len = mutate(buf, lens[3], lens[3] + 64);
            r = furrow_manifest_verify(&port, buf, len, &trust, &man);
            break;
        case 4: /* CoAP */
            memcpy(buf, seeds[4], lens[4]);
            len = mutate(buf, lens[4], lens[4] + 64);
            r = furrow_coap_parse(buf, len, &msg);
            if (!r && msg.payload && (msg.payload < buf || msg.payload + msg.payload_len > buf + len))
                abort();
            break;
        case 6: /* check-in response from a hostile or broken gateway */
            memcpy(buf, seeds[5], lens[5]);
            len = mutate(buf, lens[5], lens[5] + 64);
            r = furrow_checkin_parse(buf, len, &ci);
            if (!r && (ci.decision > 2 || memchr(ci.manifest_path, 0, sizeof ci.manifest_path) == NULL ||
                       memchr(ci.patch_path, 0, sizeof ci.patch_path) == NULL || ci.szx > 6))
                abort();
            break;
        default: { /* CoAP builder round trip with random paths */
            struct furrow_coap_req q;
            char path[300];
            size_t k, plen = rnd() % sizeof path;
            for (k = 0; k < plen; k++)
                path[k] = (char)(rnd() % 3 ? 'a' + rnd() % 26 : '/');
            path[plen] = 0;
            memset(&q, 0, sizeof q);
            q.code = FURROW_COAP_GET;
            q.path = path;
            q.content_format = rnd() % 2 ? -1 : (int)(rnd() % 70000);
            q.block2 = rnd() % 2 ? -1 : (int64_t)(rnd() % 0xFFFFF);
            q.size2 = (int)(rnd() % 2);
            q.has_block1 = (uint8_t)(rnd() % 2);
            q.block1 = (uint32_t)(rnd() % 0xFFFFF);
            r = furrow_coap_build(buf, 64 + rnd() % 400, &q);
            if (r > 0)
                r = furrow_coap_parse(buf, (size_t)r, &msg);
            /* what was built parses back with the same Block1 (SZX 7 is refused as reserved) */
            if (r == 0 && q.has_block1 && (q.block1 & 7) != 7 &&
                (!msg.has_block1 || msg.block1_num != q.block1 >> 4 || msg.block1_more != ((q.block1 >> 3) & 1) ||
                 msg.block1_szx != (q.block1 & 7)))
                abort();
            break;
        }
        }
        counts[t]++;
        if (r == 0)
            accepted[t]++;
    }
    printf("{\"inputs\":%lu,\"patch_raw\":[%lu,%lu],\"patch_fixed\":[%lu,%lu],\"lzma\":[%lu,%lu],\"manifest\":[%lu,%lu],"
           "\"coap_parse\":[%lu,%lu],\"coap_build\":[%lu,%lu],\"checkin\":[%lu,%lu]}\n",
           n, counts[0], accepted[0], counts[1], accepted[1], counts[2], accepted[2], counts[3], accepted[3], counts[4],
           accepted[4], counts[5], accepted[5], counts[6], accepted[6]);
    for (i = 0; i < 6; i++)
        free(seeds[i]);
    return 0;
}
