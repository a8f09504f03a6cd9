/*
 * Minimal CoAP (RFC 7252) message codec and a confirmable-request client with retransmission
 * (§4.2) and Block1/Block2 options (RFC 7959), enough for the furrow device protocol
 * (src/coap/PROTOCOL.md).
 */
#ifndef FURROW_COAP_H
#define FURROW_COAP_H

#include "furrow_port.h"

#define FURROW_COAP_CON 0
#define FURROW_COAP_NON 1
#define FURROW_COAP_ACK 2
#define FURROW_COAP_RST 3
#define FURROW_COAP_GET 1
#define FURROW_COAP_POST 2
#define FURROW_COAP_CODE(c, d) ((uint8_t)((c) << 5 | (d)))
#define FURROW_COAP_BUF 1200

struct furrow_coap_msg {
    uint8_t type, code, tkl;
    uint16_t mid;
    uint8_t token[8];
    uint8_t has_block2, block2_more, block2_szx;
    uint32_t block2_num;
    uint8_t has_size2, has_max_age, etag_len;
    uint32_t size2, max_age;
    uint8_t etag[8];
    const uint8_t *payload;
    size_t payload_len;
    /* after the fields furrow_update.c reads, so their offsets (and its code size) do not move */
    uint8_t has_block1, block1_more, block1_szx;
    uint32_t block1_num;
};

struct furrow_coap_req {
    uint8_t type, code;
    uint16_t mid;
    const uint8_t *token;
    uint8_t tkl;
    const char *path;       /**< split at '/' into Uri-Path options; may be NULL */
    int content_format;     /**< -1: none */
    int64_t block2;         /**< -1: none; else NUM << 4 | M << 3 | SZX */
    int size2;              /**< ask for Size2 (option with value 0) */
    const uint8_t *payload;
    size_t payload_len;
    uint8_t has_block1;     /**< send Block1 (RFC 7959 §2.3) with value block1 */
    uint32_t block1;        /**< NUM << 4 | M << 3 | SZX */
};

/** Parses a datagram; returns 0 or FURROW_ERR_COAP. Payload points into buf. */
int furrow_coap_parse(const uint8_t *buf, size_t len, struct furrow_coap_msg *m);
/** Encodes a message; returns its length or FURROW_ERR_COAP (does not fit, bad path). */
int furrow_coap_build(uint8_t *buf, size_t cap, const struct furrow_coap_req *r);

struct furrow_coap_client {
    const struct furrow_port *port;
    uint16_t mid;
    uint32_t ack_timeout_ms; /**< ACK_TIMEOUT, 2000 per RFC 7252 §4.8 */
    uint8_t max_retransmit;  /**< MAX_RETRANSMIT, 4 */
    uint8_t tkl;             /**< token length, 1..8; 4 (32 random bits, RFC 7252 §5.3.1) by default */
    uint8_t tx[FURROW_COAP_BUF], rx[FURROW_COAP_BUF];
};

void furrow_coap_client_init(struct furrow_coap_client *cl, const struct furrow_port *port);
/**
 * Sends r as a Confirmable request (fills mid and token) and waits for the matching response,
 * piggybacked or separate. resp->payload points into cl->rx until the next call.
 * Returns 0 (any response code, check resp->code), FURROW_ERR_TIMEOUT, FURROW_ERR_COAP (reset).
 */
int furrow_coap_call(struct furrow_coap_client *cl, struct furrow_coap_req *r, struct furrow_coap_msg *resp);

#endif
