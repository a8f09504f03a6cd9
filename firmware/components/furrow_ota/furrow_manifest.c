#include "furrow_manifest.h"
#include "furrow_cbor.h"
#include "furrow_errors.h"

#include <string.h>

int furrow_cose_verify(const struct furrow_port *port, const uint8_t *buf, size_t len, const uint8_t pub[65],
                       const uint8_t **payload, size_t *payload_len)
{
    /* Sig_structure = ["Signature1", h'A10126', h'', payload] (RFC 9052 §4.4), hashed as it is built */
    static const uint8_t sig_head[] = { 0x84, 0x6A, 'S', 'i', 'g', 'n', 'a', 't', 'u', 'r', 'e', '1',
                                        0x43, 0xA1, 0x01, 0x26, 0x40 };
    struct furrow_cbor c;
    struct furrow_cbor_w w;
    struct furrow_sha256 sha;
    const uint8_t *prot, *pl, *sig;
    size_t plen, pllen, slen;
    uint8_t head[9], hash[32];

    furrow_cbor_init(&c, buf, len);
    /* MANIFEST.md: tag 18 as the gateway writes it, or untagged as some COSE tools write it */
    if (furrow_cbor_peek(&c) == FURROW_CBOR_TAG && furrow_cbor_head(&c, FURROW_CBOR_TAG) != 18)
        return FURROW_ERR_CBOR;
    if (furrow_cbor_head(&c, FURROW_CBOR_ARRAY) != 4)
        return FURROW_ERR_CBOR;
    prot = furrow_cbor_str(&c, FURROW_CBOR_BSTR, &plen);
    if (c.err || furrow_cbor_peek(&c) != FURROW_CBOR_MAP)
        return FURROW_ERR_CBOR;
    furrow_cbor_skip(&c); /* unprotected: kid is a hint only, the key is fixed by the caller */
    pl = furrow_cbor_str(&c, FURROW_CBOR_BSTR, &pllen);
    sig = furrow_cbor_str(&c, FURROW_CBOR_BSTR, &slen);
    if (c.err || c.p != c.end)
        return FURROW_ERR_CBOR;
    /* MANIFEST.md: protected is exactly {1: -7} */
    if (plen != 3 || memcmp(prot, sig_head + 13, 3) || slen != 64)
        return FURROW_ERR_SIGNATURE;
    furrow_cbor_w_init(&w, head, sizeof head);
    furrow_cbor_put_head(&w, FURROW_CBOR_BSTR, pllen);
    port->sha256_init(&sha);
    port->sha256_update(&sha, sig_head, sizeof sig_head);
    port->sha256_update(&sha, head, w.len);
    port->sha256_update(&sha, pl, pllen);
    port->sha256_final(&sha, hash);
    if (port->ecdsa_p256_verify(port->arg, pub, hash, sig))
        return FURROW_ERR_SIGNATURE;
    *payload = pl;
    *payload_len = pllen;
    return 0;
}

static void copy_text(struct furrow_cbor *c, char *dst, size_t cap)
{
    size_t n;
    const uint8_t *s = furrow_cbor_str(c, FURROW_CBOR_TSTR, &n);
    if (c->err || n >= cap || memchr(s, 0, n)) {
        c->err = FURROW_ERR_CBOR;
        return;
    }
    memcpy(dst, s, n);
    dst[n] = 0;
}

static void copy_digest(struct furrow_cbor *c, uint8_t *dst)
{
    size_t n;
    const uint8_t *s = furrow_cbor_str(c, FURROW_CBOR_BSTR, &n);
    if (c->err || n != 32) {
        c->err = FURROW_ERR_CBOR;
        return;
    }
    memcpy(dst, s, 32);
}

static uint32_t u32(struct furrow_cbor *c)
{
    uint64_t v = furrow_cbor_uint(c);
    if (v > 0xFFFFFFFFu)
        c->err = FURROW_ERR_CBOR;
    return (uint32_t)v;
}

/* Release statement payload: {1: product, 2: version, 3: secure version, 4: image sha, 5: size}. */
static int check_release(const struct furrow_port *port, const uint8_t *buf, size_t len, const struct furrow_trust *t,
                         const struct furrow_manifest *m)
{
    struct furrow_cbor c;
    const uint8_t *pl;
    size_t pllen;
    uint64_t n, i;
    char product[FURROW_ID_MAX] = "", version[sizeof m->version] = "";
    uint8_t sha[32];
    uint32_t size = 0, secure = 0, seen = 0;
    int r = furrow_cose_verify(port, buf, len, t->release_pub, &pl, &pllen);
    if (r)
        return r == FURROW_ERR_SIGNATURE ? FURROW_ERR_SIGNATURE : FURROW_ERR_RELEASE;
    furrow_cbor_init(&c, pl, pllen);
    n = furrow_cbor_head(&c, FURROW_CBOR_MAP);
    for (i = 0; i < n && !c.err; i++) {
        int64_t key = furrow_cbor_int(&c);
        switch (key) {
        case 1: copy_text(&c, product, sizeof product); break;
        case 2: copy_text(&c, version, sizeof version); break;
        case 3: secure = u32(&c); break;
        case 4: copy_digest(&c, sha); break;
        case 5: size = u32(&c); break;
        default: furrow_cbor_skip(&c); continue;
        }
        seen |= 1u << key;
    }
    if (c.err || c.p != c.end || (seen & 0x3A) != 0x3A)
        return FURROW_ERR_RELEASE;
    /* the vendor signed product, version and secure version: the gateway's manifest may not say
     * otherwise (its version, key 14, is what the device reports as running; optional in v1) */
    if (strcmp(product, m->product) || memcmp(sha, m->result_sha, 32) || size != m->result_size ||
        secure != m->secure_version || (m->version[0] && strcmp(version, m->version)))
        return FURROW_ERR_RELEASE;
    return 0;
}

int furrow_manifest_verify(const struct furrow_port *port, const uint8_t *buf, size_t len,
                           const struct furrow_trust *t, struct furrow_manifest *m)
{
    struct furrow_cbor c;
    const uint8_t *pl, *rel = NULL;
    size_t pllen, rel_len = 0;
    uint64_t n, i;
    char device[FURROW_ID_MAX] = "";
    uint32_t seen = 0, format = 0, mver = 0;
    int r;

    memset(m, 0, sizeof *m);
    if ((r = furrow_cose_verify(port, buf, len, t->gateway_pub, &pl, &pllen)) != 0)
        return r;
    furrow_cbor_init(&c, pl, pllen);
    n = furrow_cbor_head(&c, FURROW_CBOR_MAP);
    for (i = 0; i < n && !c.err; i++) {
        int64_t key = furrow_cbor_int(&c);
        switch (key) {
        case 1: mver = u32(&c); break;
        case 2: m->seq = furrow_cbor_uint(&c); break;
        case 3: copy_text(&c, m->product, sizeof m->product); break;
        case 4: copy_text(&c, device, sizeof device); break;
        case 5: copy_digest(&c, m->base_sha); m->has_base = 1; break;
        case 6: copy_digest(&c, m->patch_sha); break;
        case 7: m->patch_size = u32(&c); break;
        case 8: format = u32(&c); break;
        case 9: copy_digest(&c, m->table_digest); break;
        case 10: copy_digest(&c, m->result_sha); break;
        case 11: m->result_size = u32(&c); break;
        case 12: m->secure_version = u32(&c); break;
        case 13: rel = furrow_cbor_str(&c, FURROW_CBOR_BSTR, &rel_len); break;
        case 14: copy_text(&c, m->version, sizeof m->version); break;
        default: furrow_cbor_skip(&c); continue;
        }
        seen |= 1u << key;
    }
    /* required: 1,2,3,4,6,7,8,9,10,11,12 */
    if (c.err || c.p != c.end || (seen & 0x1FDE) != 0x1FDE || mver != 1 || format - 1 > 1) /* patch formats 1 and 2 */
        return FURROW_ERR_CBOR;
    if (strcmp(device, t->device_id) || strcmp(m->product, t->product))
        return FURROW_ERR_WRONG_DEVICE;
    if (m->has_base && memcmp(m->base_sha, t->running_sha, 32))
        return FURROW_ERR_WRONG_BASE;
    if (t->release_pub) {
        if (!rel)
            return FURROW_ERR_RELEASE; /* this device boots only releases signed by the vendor */
        if ((r = check_release(port, rel, rel_len, t, m)) != 0)
            return r;
    }
    if (m->secure_version < t->secure_version)
        return FURROW_ERR_DOWNGRADE;
    return 0;
}
