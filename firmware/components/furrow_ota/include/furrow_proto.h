/* Device protocol messages (src/coap/PROTOCOL.md): MAC envelope, check-in, report, block fetches. */
#ifndef FURROW_PROTO_H
#define FURROW_PROTO_H

#include "furrow_update.h"

struct furrow_checkin_resp {
    uint32_t decision, retry_after, patch_size, szx;
    char manifest_path[64], patch_path[64];
    uint8_t etag[8], etag_len, patch_id[32], has_patch_id;
};

/** The request MAC of PROTOCOL.md (first 16 bytes of the HMAC). */
void furrow_request_mac(const struct furrow_port *port, const uint8_t key[32], char path, const char *device_id,
                        uint64_t counter, const uint8_t *body, size_t len, uint8_t mac[16]);
/** Parses a check-in response body (2.05 payload). 0 or FURROW_ERR_CBOR. */
int furrow_checkin_parse(const uint8_t *buf, size_t buf_len, struct furrow_checkin_resp *out);
/**
 * POST /c. Returns 0 (resp filled), FURROW_ERR_SERVER (u->sleep_s may hint), or a transport error.
 * With cfg->max_payload set, a body larger than it goes up in Block1 blocks and the answer comes back
 * in Block2 blocks, collected in u->mbuf (FURROW_ERR_ANSWER_TOO_BIG past its 1024 bytes) before it is
 * parsed (PROTOCOL.md "Small frames").
 */
int furrow_checkin(struct furrow_update *u, struct furrow_checkin_resp *resp);
/** POST /r with status text and the persisted reason (block-wise as furrow_checkin; uses u->mbuf). */
int furrow_report(struct furrow_update *u, const char *status);
/**
 * GET one Block2 block of path. On success *data/len is the payload and *data_off its byte offset
 * (server may shrink the block size: *szx is updated). 5.03 -> FURROW_ERR_SERVER with u->sleep_s set.
 */
int furrow_get_block(struct furrow_update *u, const char *path, uint32_t num, uint8_t *szx, int want_size2,
                     struct furrow_coap_msg *resp);
/** Fetches a whole (small) resource into buf with Block2; returns its length or an error. */
int furrow_get_all(struct furrow_update *u, const char *path, uint8_t *buf, size_t cap);

#endif
