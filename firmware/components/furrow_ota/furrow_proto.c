/* Device protocol v1 (src/coap/PROTOCOL.md). */
#include "furrow_proto.h"
#include "furrow_cbor.h"
#include "furrow_errors.h"

#include <string.h>

#define CF_CBOR 60
#define CODE_CONTINUE FURROW_COAP_CODE(2, 31)
#define CODE_INCOMPLETE FURROW_COAP_CODE(4, 8)
#define CODE_TOO_LARGE FURROW_COAP_CODE(4, 13)

void furrow_hmac_sha256(const struct furrow_port *port, const uint8_t *key, size_t klen, const uint8_t *const *parts,
                        const size_t *lens, int nparts, uint8_t out[32])
{
    /* RFC 2104 */
    struct furrow_sha256 c;
    uint8_t pad[64], inner[32];
    int i;
    memset(pad, 0, sizeof pad);
    memcpy(pad, key, klen > 64 ? 64 : klen);
    for (i = 0; i < 64; i++)
        pad[i] ^= 0x36;
    port->sha256_init(&c);
    port->sha256_update(&c, pad, 64);
    for (i = 0; i < nparts; i++)
        port->sha256_update(&c, parts[i], lens[i]);
    port->sha256_final(&c, inner);
    for (i = 0; i < 64; i++)
        pad[i] ^= 0x36 ^ 0x5C;
    port->sha256_init(&c);
    port->sha256_update(&c, pad, 64);
    port->sha256_update(&c, inner, 32);
    port->sha256_final(&c, out);
}

void furrow_request_mac(const struct furrow_port *port, const uint8_t key[32], char path, const char *device_id,
                        uint64_t counter, const uint8_t *body, size_t len, uint8_t mac[16])
{
    /* PROTOCOL.md: HMAC-SHA256(K, path_byte || device_id || 0x00 || counter (8 bytes BE) || body)[0..16) */
    uint8_t ctr[8], zero = 0, pb = (uint8_t)path, full[32];
    const uint8_t *parts[5];
    size_t lens[5];
    int i;
    for (i = 0; i < 8; i++)
        ctr[i] = (uint8_t)(counter >> (56 - 8 * i));
    parts[0] = &pb;
    lens[0] = 1;
    parts[1] = (const uint8_t *)device_id;
    lens[1] = strlen(device_id);
    parts[2] = &zero;
    lens[2] = 1;
    parts[3] = ctr;
    lens[3] = 8;
    parts[4] = body;
    lens[4] = len;
    furrow_hmac_sha256(port, key, 32, parts, lens, 5, full);
    memcpy(mac, full, 16);
}

static int persist(struct furrow_update *u)
{
    return u->port->state_store(u->port->arg, &u->st, sizeof u->st) ? FURROW_ERR_IO : 0;
}

/* Token length: with a payload limit (small frames, e.g. LoRaWAN, whose frame MIC already
 * authenticates the link) 2 bytes, as the SCHC rules' block overhead assumes
 * (src/bearer/lora/schc/rules.ts); otherwise the client's default of 4. */
static void token_len(struct furrow_update *u)
{
    u->coap.tkl = u->cfg->max_payload ? 2 : 4;
}

/* A POST to p without options beyond Uri-Path and Content-Format cf (-1: none). */
static void post_req(struct furrow_coap_req *req, const char *p, int cf)
{
    memset(req, 0, sizeof *req);
    req->code = FURROW_COAP_POST;
    req->path = p;
    req->content_format = cf;
    req->block2 = -1;
}

/* SZX of the largest block (at most cfg->max_szx) inside the device's payload limit. */
static uint8_t payload_szx(const struct furrow_config *cfg)
{
    uint8_t szx = cfg->max_szx > 6 ? 6 : cfg->max_szx;
    while (szx && (16u << szx) > cfg->max_payload)
        szx--;
    return szx;
}

/*
 * Sends the envelope u->env[0, len) to path p: in one datagram, or, when it exceeds cfg->max_payload,
 * in Block1 blocks (RFC 7959 §2.5) each but the last answered 2.31 Continue. The server may ask for
 * smaller blocks in a 2.31 (the next block then starts after the bytes it took, in its size) or in a
 * 4.13 carrying Block1 (start over in that size); a 4.08 (it lost the earlier blocks) starts over at
 * block 0, once. A lost 2.31 is the CoAP layer's retransmission. resp is the answer to the body.
 */
static int send_body(struct furrow_update *u, const char *p, size_t len, struct furrow_coap_msg *resp)
{
    const struct furrow_config *cfg = u->cfg;
    uint8_t szx = 7, pszx = 7; /* 7: no Block1 / no Block2 */
    size_t off = 0, n;
    int r, restarts = 0;
    token_len(u);
    if (cfg->max_payload) {
        pszx = payload_szx(cfg);
        if (len > cfg->max_payload)
            szx = pszx;
    }
    for (;;) {
        struct furrow_coap_req req;
        post_req(&req, p, CF_CBOR);
        n = len - off;
        if (szx < 7) {
            size_t bs = 16u << szx;
            if (n > bs)
                n = bs;
            req.has_block1 = 1;
            req.block1 = (uint32_t)(off / bs) << 4 | (uint32_t)(off + n < len) << 3 | szx;
        } else if (pszx < 7) {
            req.block2 = pszx; /* §2.4 early negotiation: an answer larger than a datagram comes in blocks */
        }
        req.payload = u->env + off;
        req.payload_len = n;
        if ((r = furrow_coap_call(&u->coap, &req, resp)) != 0)
            return r;
        if (resp->code == CODE_TOO_LARGE) {
            if (!resp->has_block1 || resp->block1_szx >= szx)
                return FURROW_ERR_REQUEST_TOO_BIG; /* the whole body is over the server's limit */
            szx = resp->block1_szx;
            off = 0;
            continue;
        }
        if (szx < 7 && resp->code == CODE_INCOMPLETE && !restarts++) {
            off = 0;
            continue;
        }
        if (szx == 7 || off + n == len || resp->code != CODE_CONTINUE)
            return 0; /* the answer to the body, or an error answer the caller reads from resp */
        if (resp->has_block1 && resp->block1_szx < szx)
            szx = resp->block1_szx;
        off += n;
    }
}

/*
 * Copies the answer in resp into out (cap bytes) and, when it carries Block2 with M=1, fetches the
 * later blocks with POSTs to p that carry only Block2 (RFC 7959 §3.3, Figure 9). Returns its length,
 * FURROW_ERR_ANSWER_TOO_BIG, or another error (resp then holds the failing answer, e.g. a 4.08 when
 * the server no longer holds the answer).
 */
static int collect(struct furrow_update *u, const char *p, struct furrow_coap_msg *resp, uint8_t *out, size_t cap)
{
    size_t len = 0;
    uint8_t code = resp->code;
    int r;
    for (;;) {
        struct furrow_coap_req req;
        uint32_t bs = 16u << resp->block2_szx;
        if (resp->has_block2 && ((size_t)resp->block2_num * bs != len || (resp->block2_more && resp->payload_len != bs)))
            return FURROW_ERR_COAP;
        if (resp->payload_len > cap - len)
            return FURROW_ERR_ANSWER_TOO_BIG;
        if (resp->payload_len)
            memcpy(out + len, resp->payload, resp->payload_len);
        len += resp->payload_len;
        if (!resp->has_block2 || !resp->block2_more)
            return (int)len;
        post_req(&req, p, -1);
        req.block2 = (int64_t)(resp->block2_num + 1) << 4 | resp->block2_szx;
        if ((r = furrow_coap_call(&u->coap, &req, resp)) != 0)
            return r;
        if (resp->code != code)
            return FURROW_ERR_SERVER;
        if (!resp->has_block2)
            return FURROW_ERR_COAP;
    }
}

/* Wraps u->body (blen bytes) in the envelope [id, counter, body, mac], POSTs it to path (block-wise
 * when the device's datagrams are small) and collects the answer into out. Returns the answer's
 * length (resp->code says what it is) or an error. The counter is persisted before sending
 * (PROTOCOL.md); a 4.01 naming a higher accepted counter makes the device jump past it and retry once. */
static int post(struct furrow_update *u, char path, size_t blen, struct furrow_coap_msg *resp, uint8_t *out,
                size_t cap)
{
    int attempt, r, n = 0;
    char p[2];
    p[0] = path;
    p[1] = 0;
    for (attempt = 0; attempt < 2; attempt++) {
        struct furrow_cbor_w w;
        uint8_t mac[16];
        u->st.counter++;
        if ((r = persist(u)) != 0)
            return r;
        furrow_request_mac(u->port, u->cfg->key, path, u->cfg->device_id, u->st.counter, u->body, blen, mac);
        furrow_cbor_w_init(&w, u->env, sizeof u->env);
        furrow_cbor_put_head(&w, FURROW_CBOR_ARRAY, 4);
        furrow_cbor_put_text(&w, u->cfg->device_id);
        furrow_cbor_put_head(&w, FURROW_CBOR_UINT, u->st.counter);
        furrow_cbor_put_str(&w, FURROW_CBOR_BSTR, u->body, blen);
        furrow_cbor_put_str(&w, FURROW_CBOR_BSTR, mac, 16);
        if (w.err)
            return FURROW_ERR_CBOR;
        if ((r = send_body(u, p, w.len, resp)) != 0)
            return r;
        if ((n = collect(u, p, resp, out, cap)) < 0)
            return n;
        if (resp->code == FURROW_COAP_CODE(4, 1) && n && attempt == 0) {
            struct furrow_cbor c;
            uint64_t k, m;
            furrow_cbor_init(&c, out, (size_t)n);
            m = furrow_cbor_head(&c, FURROW_CBOR_MAP);
            for (k = 0; k < m && !c.err; k++) {
                if (furrow_cbor_int(&c) == 1) {
                    uint64_t last = furrow_cbor_uint(&c);
                    if (!c.err && last >= u->st.counter)
                        u->st.counter = last;
                } else {
                    furrow_cbor_skip(&c);
                }
            }
            continue;
        }
        return n;
    }
    return n;
}

static void text_field(struct furrow_cbor *c, char *dst, size_t cap)
{
    size_t n;
    const uint8_t *s = furrow_cbor_str(c, FURROW_CBOR_TSTR, &n);
    if (!c->err && (n >= cap || memchr(s, 0, n)))
        c->err = FURROW_ERR_CBOR;
    if (!c->err) {
        memcpy(dst, s, n);
        dst[n] = 0;
    }
}

static const char *const result_names[] = { "none", "ok", "failed", "rolled_back" };

int furrow_checkin_parse(const uint8_t *buf, size_t buf_len, struct furrow_checkin_resp *out)
{
    struct furrow_cbor c;
    uint64_t n, i;
    memset(out, 0, sizeof *out);
    furrow_cbor_init(&c, buf, buf_len);
    n = furrow_cbor_head(&c, FURROW_CBOR_MAP);
    for (i = 0; i < n && !c.err; i++) {
        size_t len;
        const uint8_t *s;
        switch (furrow_cbor_int(&c)) {
        case 1: out->decision = (uint32_t)furrow_cbor_uint(&c); break;
        case 2: out->retry_after = (uint32_t)furrow_cbor_uint(&c); break;
        case 3: text_field(&c, out->manifest_path, sizeof out->manifest_path); break;
        case 4: text_field(&c, out->patch_path, sizeof out->patch_path); break;
        case 5: out->patch_size = (uint32_t)furrow_cbor_uint(&c); break;
        case 6:
            s = furrow_cbor_str(&c, FURROW_CBOR_BSTR, &len);
            if (!c.err && len <= 8) {
                memcpy(out->etag, s, len);
                out->etag_len = (uint8_t)len;
            }
            break;
        case 7: out->szx = (uint32_t)furrow_cbor_uint(&c); break;
        case 8:
            s = furrow_cbor_str(&c, FURROW_CBOR_BSTR, &len);
            if (!c.err && len == 32) {
                memcpy(out->patch_id, s, 32);
                out->has_patch_id = 1;
            }
            break;
        default: furrow_cbor_skip(&c); break;
        }
    }
    if (c.err || out->decision > 2 ||
        (out->decision == 2 && (!out->manifest_path[0] || !out->patch_path[0] || !out->has_patch_id)))
        return FURROW_ERR_CBOR;
    if (out->szx > 6)
        out->szx = 6;
    return 0;
}

int furrow_checkin(struct furrow_update *u, struct furrow_checkin_resp *out)
{
    struct furrow_cbor_w w;
    struct furrow_coap_msg resp;
    int in_progress = u->st.phase == FURROW_PH_DOWNLOAD, r;

    furrow_cbor_w_init(&w, u->body, sizeof u->body);
    furrow_cbor_put_head(&w, FURROW_CBOR_MAP, 6u + (unsigned)in_progress);
    furrow_cbor_put_int(&w, 1);
    furrow_cbor_put_text(&w, u->cfg->product);
    furrow_cbor_put_int(&w, 2);
    furrow_cbor_put_str(&w, FURROW_CBOR_BSTR, u->running_sha, 32);
    furrow_cbor_put_int(&w, 3);
    furrow_cbor_put_int(&w, u->running);
    furrow_cbor_put_int(&w, 4);
    furrow_cbor_put_text(&w, result_names[u->st.result & 3]);
    if (in_progress) {
        furrow_cbor_put_int(&w, 8);
        furrow_cbor_put_head(&w, FURROW_CBOR_ARRAY, 2);
        furrow_cbor_put_str(&w, FURROW_CBOR_BSTR, u->st.m.patch_sha, 32);
        furrow_cbor_put_head(&w, FURROW_CBOR_UINT, u->st.pr.offset);
    }
    furrow_cbor_put_int(&w, 9);
    furrow_cbor_put_text(&w, u->st.running_version);
    furrow_cbor_put_int(&w, 10); /* highest patch format this decoder reads (FORMAT.md v2) */
    furrow_cbor_put_int(&w, 2);
    if (w.err)
        return FURROW_ERR_CBOR;
    if ((r = post(u, 'c', w.len, &resp, u->mbuf, sizeof u->mbuf)) < 0)
        return r;
    if (resp.code == FURROW_COAP_CODE(5, 3)) {
        u->sleep_s = resp.has_max_age ? resp.max_age : 60;
        return FURROW_ERR_SERVER;
    }
    if (resp.code != FURROW_COAP_CODE(2, 5))
        return FURROW_ERR_SERVER;
    return furrow_checkin_parse(u->mbuf, (size_t)r, out);
}

int furrow_report(struct furrow_update *u, const char *status)
{
    struct furrow_cbor_w w;
    struct furrow_coap_msg resp;
    int r, has_reason = u->st.reason[0] != 0;
    furrow_cbor_w_init(&w, u->body, sizeof u->body);
    furrow_cbor_put_head(&w, FURROW_CBOR_MAP, 4u + (unsigned)has_reason);
    furrow_cbor_put_int(&w, 1);
    furrow_cbor_put_text(&w, status);
    if (has_reason) {
        furrow_cbor_put_int(&w, 2);
        furrow_cbor_put_text(&w, u->st.reason);
    }
    furrow_cbor_put_int(&w, 3);
    furrow_cbor_put_str(&w, FURROW_CBOR_BSTR, u->running_sha, 32);
    furrow_cbor_put_int(&w, 4);
    furrow_cbor_put_str(&w, FURROW_CBOR_BSTR, u->st.m.patch_sha, 32);
    furrow_cbor_put_int(&w, 5);
    furrow_cbor_put_head(&w, FURROW_CBOR_UINT, u->st.pr.offset);
    if (w.err)
        return FURROW_ERR_CBOR;
    if ((r = post(u, 'r', w.len, &resp, u->mbuf, sizeof u->mbuf)) < 0)
        return r;
    return resp.code == FURROW_COAP_CODE(2, 4) ? 0 : FURROW_ERR_SERVER;
}

int furrow_get_block(struct furrow_update *u, const char *path, uint32_t num, uint8_t *szx, int want_size2,
                     struct furrow_coap_msg *resp)
{
    struct furrow_coap_req req;
    int r;
    memset(&req, 0, sizeof req);
    req.code = FURROW_COAP_GET;
    req.path = path;
    req.content_format = -1;
    req.block2 = (int64_t)num << 4 | *szx; /* RFC 7959 §2.2: M is 0 in a request */
    req.size2 = want_size2;
    token_len(u);
    if ((r = furrow_coap_call(&u->coap, &req, resp)) != 0)
        return r;
    if (resp->code == FURROW_COAP_CODE(5, 3)) {
        u->sleep_s = resp->has_max_age ? resp->max_age : 60;
        return FURROW_ERR_SERVER;
    }
    if (resp->code != FURROW_COAP_CODE(2, 5))
        return FURROW_ERR_SERVER;
    if (resp->has_block2) {
        /* RFC 7959 §2.4: the server may answer with a smaller block; keep using that size */
        if (resp->block2_szx > *szx || (resp->block2_more && resp->payload_len != (16u << resp->block2_szx)))
            return FURROW_ERR_COAP;
        *szx = resp->block2_szx;
    } else {
        resp->block2_num = 0;
        resp->block2_szx = *szx;
    }
    return 0;
}

int furrow_get_all(struct furrow_update *u, const char *path, uint8_t *buf, size_t cap)
{
    struct furrow_coap_msg resp;
    uint8_t szx = u->cfg->max_szx;
    size_t len = 0;
    int r;
    for (;;) {
        uint32_t bs = 16u << szx, num = (uint32_t)(len / bs), off;
        if ((r = furrow_get_block(u, path, num, &szx, 0, &resp)) != 0)
            return r;
        off = resp.block2_num * (16u << resp.block2_szx);
        if (off != len || resp.payload_len > cap - len)
            return off != len ? FURROW_ERR_COAP : FURROW_ERR_TOO_BIG;
        memcpy(buf + len, resp.payload, resp.payload_len);
        len += resp.payload_len;
        if (!resp.has_block2 || !resp.block2_more)
            return (int)len;
    }
}
