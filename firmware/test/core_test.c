/*
 * C unit tests of the protocol pieces against fixed vectors: the request MAC (PROTOCOL.md test
 * vector), CBOR heads, CoAP option encoding with extended deltas and lengths, check-in response
 * parsing (unknown keys ignored, required keys enforced), COSE_Sign1 framing (tagged and untagged).
 * usage: core_test        prints TAP lines; exit 1 if any failed.
 */
#include "furrow_cbor.h"
#include "furrow_coap.h"
#include "furrow_errors.h"
#include "furrow_manifest.h"
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

static int always_ok(void *a, const uint8_t p[65], const uint8_t h[32], const uint8_t s[64])
{
    (void)a;
    (void)p;
    (void)h;
    (void)s;
    return 0;
}

int main(void)
{
    struct furrow_port port;
    uint8_t key[32], mac[16], want[16], buf[600];
    static const uint8_t body[] = { 0xA1, 0x01, 0x61, 0x70 };
    struct furrow_cbor_w w;
    struct furrow_cbor c;
    struct furrow_coap_req q;
    struct furrow_coap_msg m;
    struct furrow_checkin_resp ci;
    const uint8_t *pl;
    size_t pllen;
    int len;
    char path[2 + 250 + 1];

    memset(&port, 0, sizeof port);
    port.sha256_init = host_sha256_init;
    port.sha256_update = host_sha256_update;
    port.sha256_final = host_sha256_final;
    port.ecdsa_p256_verify = always_ok;

    memset(key, 1, sizeof key);
    furrow_request_mac(&port, key, 'c', "probe-1", 7, body, sizeof body, mac);
    host_hex("b9bb9cb94d9da043c51556ac46e5c89e", want, sizeof want);
    check(memcmp(mac, want, 16) == 0, "request MAC matches the PROTOCOL.md test vector");

    furrow_cbor_w_init(&w, buf, sizeof buf);
    furrow_cbor_put_head(&w, FURROW_CBOR_UINT, 23);
    furrow_cbor_put_head(&w, FURROW_CBOR_UINT, 24);
    furrow_cbor_put_head(&w, FURROW_CBOR_UINT, 0x10000);
    furrow_cbor_put_int(&w, -7);
    furrow_cbor_put_head(&w, FURROW_CBOR_UINT, 0x100000000ull);
    check(w.len == 1 + 2 + 5 + 1 + 9 && buf[0] == 0x17 && buf[1] == 0x18 && buf[3] == 0x1A && buf[8] == 0x26 && buf[9] == 0x1B,
          "CBOR heads use the smallest encoding (RFC 8949 §4.2.1)");
    furrow_cbor_init(&c, buf, w.len);
    check(furrow_cbor_uint(&c) == 23 && furrow_cbor_uint(&c) == 24 && furrow_cbor_uint(&c) == 0x10000 &&
              furrow_cbor_int(&c) == -7 && furrow_cbor_uint(&c) == 0x100000000ull && !c.err,
          "CBOR reader reads them back");
    buf[0] = 0x9F; /* indefinite-length array */
    furrow_cbor_init(&c, buf, 1);
    furrow_cbor_skip(&c);
    check(c.err == FURROW_ERR_CBOR, "CBOR indefinite lengths are refused");

    memset(&q, 0, sizeof q);
    q.code = FURROW_COAP_GET;
    q.mid = 0x1234;
    memset(path, 'A', sizeof path - 1);
    path[0] = 'p';
    path[1] = '/';
    path[sizeof path - 1] = 0;
    q.path = path;
    q.content_format = 60;
    q.block2 = (int64_t)1000 << 4 | 6;
    q.size2 = 1;
    len = furrow_coap_build(buf, sizeof buf, &q);
    check(len > 250 && buf[0] == 0x40 && buf[1] == 1 && buf[2] == 0x12 && buf[3] == 0x34, "CoAP header: version 1, CON, GET, message id");
    check(len > 0 && furrow_coap_parse(buf, (size_t)len, &m) == 0 && m.has_block2 && m.block2_num == 1000 &&
              m.block2_szx == 6 && !m.block2_more && m.has_size2 && m.size2 == 0,
          "CoAP options round-trip: 250-byte Uri-Path (1-byte extended length), Block2, Size2 (RFC 7252 §3.1)");
    {
        /* ACK 2.05 with unknown elective options 300 (delta 14: 2-byte extension) and 313 (delta 13) */
        static const uint8_t pkt[] = { 0x60, 0x45, 0x00, 0x01, 0xE0, 0x00, 0x1F, 0xD1, 0x00, 0x16, 0xFF, 'x' };
        check(furrow_coap_parse(pkt, sizeof pkt, &m) == 0 && m.payload_len == 1 && !m.has_block2,
              "CoAP 2-byte extended option delta parsed and the unknown elective option skipped");
    }
    buf[0] = 0x80;
    check(furrow_coap_parse(buf, (size_t)len, &m) == FURROW_ERR_COAP, "CoAP version other than 1 is refused");
    {
        static const uint8_t marker_only[] = { 0x60, 0x45, 0x00, 0x01, 0xFF };
        check(furrow_coap_parse(marker_only, sizeof marker_only, &m) == FURROW_ERR_COAP,
              "CoAP payload marker with an empty payload is a format error (RFC 7252 §3)");
    }

    {
        /* {1: 2, 3: "m/x", 4: "p/x", 5: 100, 8: h'00'*32, 99: "future"} */
        uint8_t r[80];
        size_t k = 0;
        static const uint8_t head[] = { 0xA6, 0x01, 0x02, 0x03, 0x63, 'm', '/', 'x', 0x04, 0x63, 'p', '/', 'x', 0x05, 0x18, 100, 0x08, 0x58, 32 };
        memcpy(r, head, sizeof head);
        k = sizeof head;
        memset(r + k, 0, 32);
        k += 32;
        r[k++] = 0x18;
        r[k++] = 99;
        r[k++] = 0x66;
        memcpy(r + k, "future", 6);
        k += 6;
        check(furrow_checkin_parse(r, k, &ci) == 0 && ci.decision == 2 && !strcmp(ci.patch_path, "p/x") && ci.patch_size == 100,
              "check-in answer: fields read, unknown key 99 ignored");
        r[0] = 0xA5; /* drop the patch id by cutting the map short after key 5 */
        check(furrow_checkin_parse(r, 16, &ci) == FURROW_ERR_CBOR, "check-in answer: decision 2 without a patch id is refused");
    }

    {
        /* COSE_Sign1 with an empty payload map: framing only (signature check stubbed) */
        uint8_t s[100];
        size_t k = 0;
        static const uint8_t pre[] = { 0xD2, 0x84, 0x43, 0xA1, 0x01, 0x26, 0xA0, 0x41, 0xA0, 0x58, 0x40 };
        uint8_t pub[65] = { 4 };
        memcpy(s, pre, sizeof pre);
        k = sizeof pre;
        memset(s + k, 0x11, 64);
        k += 64;
        check(furrow_cose_verify(&port, s, k, pub, &pl, &pllen) == 0 && pllen == 1 && pl[0] == 0xA0, "COSE_Sign1 tagged (18) accepted");
        check(furrow_cose_verify(&port, s + 1, k - 1, pub, &pl, &pllen) == 0, "COSE_Sign1 untagged accepted (MANIFEST.md v1)");
        s[0] = 0xD1; /* tag 17: COSE_Mac0 */
        check(furrow_cose_verify(&port, s, k, pub, &pl, &pllen) == FURROW_ERR_CBOR, "a COSE tag other than 18 is refused");
        s[0] = 0xD2;
        s[5] = 0x27; /* alg -8 (EdDSA) */
        check(furrow_cose_verify(&port, s, k, pub, &pl, &pllen) == FURROW_ERR_SIGNATURE, "a protected header other than ES256 is refused");
    }
    printf("1..%d\n", n);
    return failed;
}
