/*
 * C unit tests of block-wise POST (PROTOCOL.md "Small frames", RFC 7959 §2.5/§3.3) in
 * furrow_checkin/furrow_report against a scripted gateway inside the port: the port's udp_send hands
 * each datagram to the script, which answers as the furrow gateway does (reassembles Block1 blocks,
 * 2.31 Continue, the answer in Block2 blocks served to POSTs carrying only Block2) unless the case
 * says otherwise: it shrinks the block size mid-transfer, loses a 2.31, forgets the earlier blocks
 * (4.08), refuses the body (4.13, with or without Block1), or answers more than the device can hold.
 * The clock is virtual: a receive with nothing queued advances it, so retransmissions cost no time.
 * usage: blockwise_test     prints TAP lines; exit 1 if any failed.
 */
#include "furrow_cbor.h"
#include "furrow_coap.h"
#include "furrow_errors.h"
#include "furrow_proto.h"
#include "host_crypto.h"

#include <stdio.h>
#include <string.h>

static int failed, n;

static void check(int ok, const char *name)
{
    printf("%s %d - %s\n", ok ? "ok" : "not ok", ++n, name);
    if (!ok)
        failed = 1;
}

/* ---- the scripted gateway ---- */

struct script {
    /* behaviour */
    int shrink_after;    /**< answer 2.31 to this Block1 NUM with SZX one smaller (-1: never) */
    int drop_reply;      /**< drop the reply to the n-th datagram (1-based; 0: none) */
    int forget_at;       /**< answer 4.08 to the n-th datagram, as after losing the earlier blocks */
    int forget_again;    /**< ... and to this one */
    int too_large;       /**< answer 4.13 to the first block or single POST */
    int too_large_szx;   /**< ... with Block1 of this SZX (7: without Block1) */
    int forget_answer;   /**< answer 4.08 to POSTs asking for later answer blocks */
    int answer_shrink;   /**< serve asked-for answer blocks in half the size asked for (RFC 7959 §2.4) */
    uint8_t answer_code;
    size_t answer_len;
    uint8_t answer[1400];
    /* what happened */
    uint8_t body[600];
    size_t got;          /**< body bytes reassembled */
    int body_szx;        /**< SZX of the last Block1 block */
    int datagrams, retransmissions, blocks, restarts, fetches, singles, last_block2_szx, tkl;
    uint16_t last_mid;
    uint8_t last_reply[FURROW_COAP_BUF];
    int last_reply_len;
    uint8_t complete[600];
    size_t complete_len;
    /* the reply in flight */
    uint8_t out[FURROW_COAP_BUF];
    int out_len;
    uint32_t now;
};

static struct script sc;
static struct furrow_update u;

static int reply(const struct furrow_coap_msg *rq, uint8_t code, int block1, int64_t block2, int cf,
                 const uint8_t *payload, size_t len)
{
    struct furrow_coap_req r;
    memset(&r, 0, sizeof r);
    r.type = FURROW_COAP_ACK;
    r.code = code;
    r.mid = rq->mid;
    r.token = rq->token;
    r.tkl = rq->tkl;
    r.content_format = cf;
    r.block2 = block2;
    if (block1 >= 0) {
        r.has_block1 = 1;
        r.block1 = (uint32_t)block1;
    }
    r.payload = payload;
    r.payload_len = len;
    return furrow_coap_build(sc.out, sizeof sc.out, &r);
}

/* Serves block num of the held answer in blocks of 16 << szx (Block2 only when it does not fit). */
static int answer_block(const struct furrow_coap_msg *rq, uint32_t num, uint8_t szx, int block1)
{
    size_t bs = 16u << szx, off = num * bs, k = sc.answer_len - off < bs ? sc.answer_len - off : bs;
    int64_t b2 = -1;
    if (sc.answer_len > bs || num)
        b2 = (int64_t)num << 4 | (int64_t)(off + k < sc.answer_len) << 3 | szx;
    return reply(rq, sc.answer_code, block1, b2, sc.answer_len ? 60 : -1, sc.answer + off, k);
}

static int serve(const uint8_t *buf, size_t len)
{
    struct furrow_coap_msg rq;
    uint8_t b1szx;
    if (furrow_coap_parse(buf, len, &rq) || rq.type != FURROW_COAP_CON)
        return 0;
    sc.datagrams++;
    sc.tkl = rq.tkl;
    if (rq.mid == sc.last_mid && sc.last_reply_len > 0) {
        /* RFC 7252 §4.5: a retransmission gets the same reply, not processed again */
        sc.retransmissions++;
        memcpy(sc.out, sc.last_reply, (size_t)sc.last_reply_len);
        return sc.last_reply_len;
    }
    if (sc.forget_at == sc.datagrams || sc.forget_again == sc.datagrams)
        return reply(&rq, FURROW_COAP_CODE(4, 8), -1, -1, -1, NULL, 0);
    if (!rq.has_block1 && rq.has_block2 && !rq.payload_len) {
        sc.fetches++;
        sc.last_block2_szx = rq.block2_szx;
        if (sc.forget_answer)
            return reply(&rq, FURROW_COAP_CODE(4, 8), -1, -1, -1, NULL, 0);
        if (sc.answer_shrink && rq.block2_szx)
            return answer_block(&rq, rq.block2_num * 2, (uint8_t)(rq.block2_szx - 1), -1);
        return answer_block(&rq, rq.block2_num, rq.block2_szx, -1);
    }
    if (sc.too_large && (!rq.has_block1 || sc.too_large_szx == 7 || rq.block1_szx > (uint8_t)sc.too_large_szx)) {
        int b1 = sc.too_large_szx < 7 ? sc.too_large_szx : -1;
        if (b1 < 0)
            sc.too_large = 0;
        return reply(&rq, FURROW_COAP_CODE(4, 13), b1, -1, -1, NULL, 0);
    }
    if (!rq.has_block1) {
        sc.singles++;
        sc.last_block2_szx = rq.has_block2 ? rq.block2_szx : 7;
        memcpy(sc.complete, rq.payload, rq.payload_len);
        sc.complete_len = rq.payload_len;
        return answer_block(&rq, 0, rq.has_block2 ? rq.block2_szx : 6, -1);
    }
    /* Block1: in order, every block but the last full; a smaller SZX is fine if the offset matches */
    sc.blocks++;
    if (rq.block1_num == 0) {
        if (sc.got)
            sc.restarts++;
        sc.got = 0;
    }
    if ((size_t)rq.block1_num * (16u << rq.block1_szx) != sc.got ||
        (rq.block1_more && rq.payload_len != 16u << rq.block1_szx) || sc.got + rq.payload_len > sizeof sc.body)
        return reply(&rq, FURROW_COAP_CODE(4, 8), -1, -1, -1, NULL, 0);
    memcpy(sc.body + sc.got, rq.payload, rq.payload_len);
    sc.got += rq.payload_len;
    sc.body_szx = rq.block1_szx;
    if (rq.block1_more) {
        b1szx = rq.block1_szx;
        if ((int)rq.block1_num == sc.shrink_after && b1szx > 0)
            b1szx--;
        return reply(&rq, FURROW_COAP_CODE(2, 31), (int)(rq.block1_num << 4 | 8 | b1szx), -1, -1, NULL, 0);
    }
    memcpy(sc.complete, sc.body, sc.got);
    sc.complete_len = sc.got;
    return answer_block(&rq, 0, rq.block1_szx, (int)(rq.block1_num << 4 | rq.block1_szx));
}

static int p_send(void *a, const void *buf, size_t len)
{
    struct furrow_coap_msg rq;
    (void)a;
    sc.out_len = serve(buf, len);
    if (sc.out_len > 0 && !furrow_coap_parse(buf, len, &rq)) {
        sc.last_mid = rq.mid;
        memcpy(sc.last_reply, sc.out, (size_t)sc.out_len);
        sc.last_reply_len = sc.out_len;
    }
    if (sc.drop_reply && sc.drop_reply == sc.datagrams)
        sc.out_len = 0; /* lost on the way back */
    return 0;
}

static int p_recv(void *a, void *buf, size_t cap, uint32_t timeout_ms)
{
    int k = sc.out_len;
    (void)a;
    if (k <= 0 || (size_t)k > cap) {
        sc.now += timeout_ms;
        return 0;
    }
    memcpy(buf, sc.out, (size_t)k);
    sc.out_len = 0;
    return k;
}

static uint32_t p_now(void *a)
{
    (void)a;
    return sc.now;
}

static int p_store(void *a, const void *b, size_t len)
{
    (void)a;
    (void)b;
    (void)len;
    return 0;
}

/* ---- fixtures ---- */

static const uint8_t key[32] = { 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
                                 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7 };
static struct furrow_port port;
static struct furrow_config cfg;

/* The update answer of a check-in (decision 2): ~110 bytes of CBOR, four 32-byte blocks. */
static void update_answer(void)
{
    struct furrow_cbor_w w;
    uint8_t id[32];
    memset(id, 0xAB, sizeof id);
    furrow_cbor_w_init(&w, sc.answer, sizeof sc.answer);
    furrow_cbor_put_head(&w, FURROW_CBOR_MAP, 6);
    furrow_cbor_put_int(&w, 1);
    furrow_cbor_put_int(&w, 2);
    furrow_cbor_put_int(&w, 3);
    furrow_cbor_put_text(&w, "m/0123456789abcdef0123");
    furrow_cbor_put_int(&w, 4);
    furrow_cbor_put_text(&w, "p/0123456789abcdef0123");
    furrow_cbor_put_int(&w, 5);
    furrow_cbor_put_int(&w, 64758);
    furrow_cbor_put_int(&w, 7);
    furrow_cbor_put_int(&w, 1);
    furrow_cbor_put_int(&w, 8);
    furrow_cbor_put_str(&w, FURROW_CBOR_BSTR, id, sizeof id);
    sc.answer_code = FURROW_COAP_CODE(2, 5);
    sc.answer_len = w.len;
}

static void reset(uint16_t max_payload)
{
    memset(&sc, 0, sizeof sc);
    sc.shrink_after = -1;
    sc.too_large_szx = 7;
    sc.now = 1000;
    update_answer();
    cfg.max_payload = max_payload;
    memset(&u.st, 0, sizeof u.st);
    strcpy(u.st.running_version, "0.14.3");
    furrow_coap_client_init(&u.coap, &port);
    u.coap.ack_timeout_ms = 100;
}

/* The body the gateway put together is the device's envelope: [id, counter, body, MAC over it]. */
static int envelope_ok(char path)
{
    struct furrow_cbor c;
    size_t idl, bl, ml;
    const uint8_t *id, *body, *mac;
    uint64_t ctr;
    uint8_t want[16];
    furrow_cbor_init(&c, sc.complete, sc.complete_len);
    if (furrow_cbor_head(&c, FURROW_CBOR_ARRAY) != 4)
        return 0;
    id = furrow_cbor_str(&c, FURROW_CBOR_TSTR, &idl);
    ctr = furrow_cbor_uint(&c);
    body = furrow_cbor_str(&c, FURROW_CBOR_BSTR, &bl);
    mac = furrow_cbor_str(&c, FURROW_CBOR_BSTR, &ml);
    if (c.err || c.p != c.end || ml != 16 || idl != strlen(cfg.device_id) || memcmp(id, cfg.device_id, idl))
        return 0;
    furrow_request_mac(&port, key, path, cfg.device_id, ctr, body, bl, want);
    return ctr == u.st.counter && !memcmp(mac, want, 16);
}

int main(void)
{
    struct furrow_checkin_resp ci;
    int r;

    memset(&port, 0, sizeof port);
    port.sha256_init = host_sha256_init;
    port.sha256_update = host_sha256_update;
    port.sha256_final = host_sha256_final;
    port.random = host_random;
    port.udp_send = p_send;
    port.udp_recv = p_recv;
    port.now_ms = p_now;
    port.state_store = p_store;
    cfg.device_id = "probe-1";
    cfg.product = "soil-probe";
    cfg.key = key;
    cfg.max_szx = 6;
    u.port = &port;
    u.cfg = &cfg;
    memset(u.running_sha, 0x5A, sizeof u.running_sha);

    reset(0);
    r = furrow_checkin(&u, &ci);
    check(r == 0 && sc.singles == 1 && sc.blocks == 0 && sc.last_block2_szx == 7 && envelope_ok('c') && sc.tkl == 4,
          "without a payload limit the check-in is one datagram with neither Block1 nor Block2 (v1), token 4 bytes");

    reset(32);
    r = furrow_checkin(&u, &ci);
    check(r == 0 && sc.singles == 0 && sc.blocks == (int)((sc.complete_len + 31) / 32) && sc.body_szx == 1 &&
              envelope_ok('c') && sc.tkl == 2,
          "a check-in larger than 32 bytes goes up in 32-byte Block1 blocks (2-byte tokens) and reassembles to the MAC'd envelope");
    check(r == 0 && ci.decision == 2 && !strcmp(ci.patch_path, "p/0123456789abcdef0123") && ci.patch_size == 64758 &&
              ci.szx == 1 && sc.fetches == (int)((sc.answer_len + 31) / 32) - 1 && sc.last_block2_szx == 1,
          "its 2.05 answer is collected from Block2 blocks fetched by POSTs with only Block2, then parsed");

    reset(64);
    sc.shrink_after = 0;
    r = furrow_checkin(&u, &ci);
    check(r == 0 && sc.body_szx == 1 && sc.restarts == 0 && envelope_ok('c') && ci.decision == 2,
          "the server shrinks the block size in its first 2.31: the device goes on from byte 64 in 32-byte blocks");

    reset(128); /* the ~100-byte envelope fits one 128-byte datagram */
    r = furrow_checkin(&u, &ci);
    check(r == 0 && sc.singles == 1 && sc.blocks == 0 && sc.last_block2_szx == 3 && sc.fetches == 0 && ci.decision == 2,
          "a body within the limit is one datagram asking for the answer in blocks of the limit (Block2 SZX 3)");

    reset(16);
    r = furrow_checkin(&u, &ci);
    check(r == 0 && sc.body_szx == 0 && sc.blocks == (int)((sc.complete_len + 15) / 16) && sc.fetches > 4 &&
              envelope_ok('c') && ci.decision == 2,
          "16-byte blocks (SZX 0) up and down");

    reset(32);
    sc.drop_reply = 2; /* the 2.31 for block 1 is lost */
    r = furrow_checkin(&u, &ci);
    check(r == 0 && sc.retransmissions == 1 && sc.restarts == 0 && envelope_ok('c') && ci.decision == 2,
          "a lost 2.31 Continue: the block is retransmitted (same message id), answered again, no restart");

    reset(32);
    sc.forget_at = 3; /* the gateway lost blocks 0 and 1: 4.08 to block 2 */
    r = furrow_checkin(&u, &ci);
    check(r == 0 && sc.restarts == 1 && envelope_ok('c') && ci.decision == 2,
          "4.08 Request Entity Incomplete mid-body: the device starts again at block 0, once, and completes");

    reset(32);
    sc.forget_at = 2;
    sc.forget_again = 4; /* block 1 forgotten, and again after the restart */
    r = furrow_checkin(&u, &ci);
    check(r == FURROW_ERR_SERVER && sc.restarts == 1 && sc.datagrams == 4,
          "4.08 again after the restart: the device stops (FURROW_ERR_SERVER) instead of looping");

    reset(32);
    sc.too_large = 1;
    r = furrow_checkin(&u, &ci);
    check(r == FURROW_ERR_REQUEST_TOO_BIG && !strcmp(furrow_strerror(r), "server refuses a request body this large (4.13)"),
          "4.13 without Block1 (body over the server's limit): FURROW_ERR_REQUEST_TOO_BIG with its own text");

    reset(0);
    sc.too_large = 1;
    sc.too_large_szx = 2;
    r = furrow_checkin(&u, &ci);
    check(r == 0 && sc.body_szx == 2 && sc.blocks >= 2 && envelope_ok('c') && ci.decision == 2,
          "4.13 with Block1 SZX 2 to a one-datagram check-in: sent again in 64-byte Block1 blocks (RFC 7959 §2.9.3)");

    reset(32);
    sc.answer_len = 1100; /* more than u->mbuf (1024) */
    memset(sc.answer, 0x40, sc.answer_len);
    r = furrow_checkin(&u, &ci);
    check(r == FURROW_ERR_ANSWER_TOO_BIG && sc.fetches == 1024 / 32 &&
              !strcmp(furrow_strerror(r), "server's answer is larger than the device's buffer"),
          "an answer larger than the 1024-byte buffer stops at the block that would overflow it: FURROW_ERR_ANSWER_TOO_BIG");

    reset(32);
    sc.answer_shrink = 1;
    r = furrow_checkin(&u, &ci);
    check(r == 0 && ci.decision == 2 && !strcmp(ci.manifest_path, "m/0123456789abcdef0123") && sc.last_block2_szx == 0 &&
              sc.fetches == (int)((sc.answer_len - 32 + 15) / 16),
          "answer blocks served smaller than asked (RFC 7959 §2.4): the device follows the size from its offset");

    reset(32);
    sc.forget_answer = 1;
    r = furrow_checkin(&u, &ci);
    check(r == FURROW_ERR_SERVER && sc.fetches == 1, "4.08 to an answer block (the gateway no longer holds it): FURROW_ERR_SERVER");

    reset(32);
    sc.answer_code = FURROW_COAP_CODE(2, 4);
    sc.answer_len = 0;
    strcpy(u.st.reason, "patch: chunk digest mismatch");
    memset(u.st.m.patch_sha, 0x11, 32);
    r = furrow_report(&u, "failed");
    check(r == 0 && sc.blocks > 4 && sc.body_szx == 1 && envelope_ok('r'),
          "a report goes up in Block1 blocks too; its 2.04 answers the last block");

    reset(32);
    {
        /* 4.01 naming a higher counter, as the answer to the last block: the device jumps ahead and
         * sends the whole body again with the new counter */
        struct furrow_cbor_w w;
        furrow_cbor_w_init(&w, sc.answer, sizeof sc.answer);
        furrow_cbor_put_head(&w, FURROW_CBOR_MAP, 1);
        furrow_cbor_put_int(&w, 1);
        furrow_cbor_put_int(&w, 500);
        sc.answer_code = FURROW_COAP_CODE(4, 1);
        sc.answer_len = w.len;
        r = furrow_checkin(&u, &ci);
        check(r == FURROW_ERR_SERVER && u.st.counter == 501 && sc.restarts == 1 && envelope_ok('c'),
              "4.01 with the last accepted counter after the last block: counter jumps past it, body sent again");
    }

    printf("1..%d\n", n);
    return failed;
}
