#include "furrow_coap.h"
#include "furrow_errors.h"

#include <string.h>

#define OPT_ETAG 4
#define OPT_URI_PATH 11
#define OPT_CONTENT_FORMAT 12
#define OPT_MAX_AGE 14
#define OPT_BLOCK2 23
#define OPT_BLOCK1 27
#define OPT_SIZE2 28

static uint32_t uint_opt(const uint8_t *v, size_t n)
{
    uint32_t x = 0;
    while (n--)
        x = x << 8 | *v++;
    return x;
}

/* RFC 7959 §2.2: NUM, M, SZX in at most 3 bytes; SZX 7 is reserved. 0 or FURROW_ERR_COAP. */
static int block_opt(const uint8_t *v, size_t n, uint8_t *has, uint32_t *num, uint8_t *more, uint8_t *szx)
{
    uint32_t x;
    if (n > 3)
        return FURROW_ERR_COAP;
    x = uint_opt(v, n);
    *has = 1;
    *num = x >> 4;
    *more = (x >> 3) & 1;
    *szx = x & 7;
    return *szx == 7 ? FURROW_ERR_COAP : 0;
}

/* RFC 7252 §3 */
int furrow_coap_parse(const uint8_t *buf, size_t len, struct furrow_coap_msg *m)
{
    const uint8_t *p = buf + 4, *end = buf + len;
    unsigned opt = 0;
    memset(m, 0, sizeof *m);
    if (len < 4 || buf[0] >> 6 != 1 || (buf[0] & 15) > 8)
        return FURROW_ERR_COAP;
    m->type = (buf[0] >> 4) & 3;
    m->tkl = buf[0] & 15;
    m->code = buf[1];
    m->mid = (uint16_t)(buf[2] << 8 | buf[3]);
    if ((size_t)(end - p) < m->tkl)
        return FURROW_ERR_COAP;
    memcpy(m->token, p, m->tkl);
    p += m->tkl;
    while (p < end) {
        unsigned delta, olen;
        if (*p == 0xFF) {
            /* §3: a payload marker followed by a zero-length payload is a format error */
            if (end - p < 2)
                return FURROW_ERR_COAP;
            m->payload = p + 1;
            m->payload_len = (size_t)(end - p - 1);
            return 0;
        }
        delta = *p >> 4;
        olen = *p & 15;
        p++;
        if (delta == 15 || olen == 15)
            return FURROW_ERR_COAP;
        if (delta == 13) {
            if (p >= end)
                return FURROW_ERR_COAP;
            delta = 13u + *p++;
        } else if (delta == 14) {
            if (end - p < 2)
                return FURROW_ERR_COAP;
            delta = 269u + (unsigned)(p[0] << 8 | p[1]);
            p += 2;
        }
        if (olen == 13) {
            if (p >= end)
                return FURROW_ERR_COAP;
            olen = 13u + *p++;
        } else if (olen == 14) {
            if (end - p < 2)
                return FURROW_ERR_COAP;
            olen = 269u + (unsigned)(p[0] << 8 | p[1]);
            p += 2;
        }
        if ((size_t)(end - p) < olen)
            return FURROW_ERR_COAP;
        opt += delta;
        switch (opt) {
        case OPT_ETAG:
            if (olen > 8)
                return FURROW_ERR_COAP;
            memcpy(m->etag, p, olen);
            m->etag_len = (uint8_t)olen;
            break;
        case OPT_MAX_AGE:
            if (olen > 4)
                return FURROW_ERR_COAP;
            m->has_max_age = 1;
            m->max_age = uint_opt(p, olen);
            break;
        case OPT_BLOCK2:
            if (block_opt(p, olen, &m->has_block2, &m->block2_num, &m->block2_more, &m->block2_szx))
                return FURROW_ERR_COAP;
            break;
        case OPT_BLOCK1:
            if (block_opt(p, olen, &m->has_block1, &m->block1_num, &m->block1_more, &m->block1_szx))
                return FURROW_ERR_COAP;
            break;
        case OPT_SIZE2:
            if (olen > 4)
                return FURROW_ERR_COAP;
            m->has_size2 = 1;
            m->size2 = uint_opt(p, olen);
            break;
        default:
            break;
        }
        p += olen;
    }
    return 0;
}

struct enc {
    uint8_t *p;
    size_t len, cap;
    unsigned last;
    int err;
};

static void put(struct enc *e, const void *b, size_t n)
{
    if (n == 0)
        return; /* b may be NULL (no token): memcpy(NULL, 0) is undefined */
    if (e->err || n > e->cap - e->len) {
        e->err = 1;
        return;
    }
    memcpy(e->p + e->len, b, n);
    e->len += n;
}

static void nibble(uint8_t *ext, size_t *n, unsigned v, unsigned *out)
{
    if (v < 13) {
        *out = v;
    } else if (v < 269) {
        *out = 13;
        ext[(*n)++] = (uint8_t)(v - 13);
    } else {
        *out = 14;
        ext[(*n)++] = (uint8_t)((v - 269) >> 8);
        ext[(*n)++] = (uint8_t)(v - 269);
    }
}

static void option(struct enc *e, unsigned num, const void *val, size_t len)
{
    uint8_t hdr[5];
    size_t n = 1;
    unsigned d, l;
    nibble(hdr, &n, num - e->last, &d);
    nibble(hdr, &n, (unsigned)len, &l);
    hdr[0] = (uint8_t)(d << 4 | l);
    /* nibble() appended the extended delta before the extended length, as §3.1 orders them */
    put(e, hdr, n);
    put(e, val, len);
    e->last = num;
}

static void uint_option(struct enc *e, unsigned num, uint32_t v)
{
    uint8_t b[4];
    size_t n = v > 0xFFFFFF ? 4 : v > 0xFFFF ? 3 : v > 0xFF ? 2 : v ? 1 : 0, i;
    for (i = 0; i < n; i++)
        b[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    option(e, num, b, n);
}

int furrow_coap_build(uint8_t *buf, size_t cap, const struct furrow_coap_req *r)
{
    struct enc e = { buf, 0, cap, 0, 0 };
    uint8_t h[4];
    if (r->tkl > 8)
        return FURROW_ERR_COAP;
    h[0] = (uint8_t)(1 << 6 | r->type << 4 | r->tkl);
    h[1] = r->code;
    h[2] = (uint8_t)(r->mid >> 8);
    h[3] = (uint8_t)r->mid;
    put(&e, h, 4);
    put(&e, r->token, r->tkl);
    if (r->path) {
        const char *s = r->path;
        while (*s) {
            const char *slash = strchr(s, '/');
            size_t n = slash ? (size_t)(slash - s) : strlen(s);
            if (n > 255)
                return FURROW_ERR_COAP;
            if (n)
                option(&e, OPT_URI_PATH, s, n);
            s += n + (slash ? 1 : 0);
        }
    }
    if (r->content_format >= 0)
        uint_option(&e, OPT_CONTENT_FORMAT, (uint32_t)r->content_format);
    if (r->block2 >= 0)
        uint_option(&e, OPT_BLOCK2, (uint32_t)r->block2);
    if (r->has_block1)
        uint_option(&e, OPT_BLOCK1, r->block1);
    if (r->size2)
        uint_option(&e, OPT_SIZE2, 0);
    if (r->payload_len) {
        uint8_t marker = 0xFF;
        put(&e, &marker, 1);
        put(&e, r->payload, r->payload_len);
    }
    return e.err ? FURROW_ERR_COAP : (int)e.len;
}

void furrow_coap_client_init(struct furrow_coap_client *cl, const struct furrow_port *port)
{
    cl->port = port;
    port->random(port->arg, &cl->mid, sizeof cl->mid);
    cl->ack_timeout_ms = 2000;
    cl->max_retransmit = 4;
    cl->tkl = 4;
}

/* Waits until deadline for a response to (mid, token); 1 = got it, 0 = timeout, < 0 error. */
static int await(struct furrow_coap_client *cl, const struct furrow_coap_req *r, uint32_t deadline, int *acked,
                 struct furrow_coap_msg *resp)
{
    const struct furrow_port *port = cl->port;
    for (;;) {
        uint32_t now = port->now_ms(port->arg);
        int n;
        if ((int32_t)(deadline - now) <= 0)
            return 0;
        n = port->udp_recv(port->arg, cl->rx, sizeof cl->rx, deadline - now);
        if (n < 0)
            return FURROW_ERR_IO;
        if (n == 0 || furrow_coap_parse(cl->rx, (size_t)n, resp))
            continue; /* timeout slice or garbage: keep waiting */
        if (resp->type == FURROW_COAP_RST && resp->mid == r->mid)
            return FURROW_ERR_COAP;
        if (resp->type == FURROW_COAP_ACK && resp->mid == r->mid && resp->code == 0) {
            *acked = 1; /* §5.2.2: empty ACK, the response comes separately */
            continue;
        }
        if (resp->tkl != r->tkl || memcmp(resp->token, r->token, r->tkl) || resp->code < 0x40)
            continue;
        if (resp->type == FURROW_COAP_ACK && resp->mid != r->mid)
            continue;
        if (resp->type == FURROW_COAP_CON) {
            /* acknowledge a separate response */
            uint8_t ack[4];
            ack[0] = 1 << 6 | FURROW_COAP_ACK << 4;
            ack[1] = 0;
            ack[2] = (uint8_t)(resp->mid >> 8);
            ack[3] = (uint8_t)resp->mid;
            port->udp_send(port->arg, ack, sizeof ack);
        }
        return 1;
    }
}

int furrow_coap_call(struct furrow_coap_client *cl, struct furrow_coap_req *r, struct furrow_coap_msg *resp)
{
    const struct furrow_port *port = cl->port;
    uint8_t token[8];
    uint16_t jitter;
    uint32_t timeout;
    int n, attempt, acked = 0, got;
    r->tkl = cl->tkl > 8 ? 8 : cl->tkl;
    port->random(port->arg, token, r->tkl);
    port->random(port->arg, &jitter, sizeof jitter);
    r->type = FURROW_COAP_CON;
    r->mid = ++cl->mid;
    r->token = token;
    n = furrow_coap_build(cl->tx, sizeof cl->tx, r);
    if (n < 0)
        return n;
    /* RFC 7252 §4.2: initial timeout random in [ACK_TIMEOUT, ACK_TIMEOUT * ACK_RANDOM_FACTOR (1.5)],
     * doubled after every retransmission, at most MAX_RETRANSMIT retransmissions */
    timeout = cl->ack_timeout_ms + (uint32_t)((uint64_t)cl->ack_timeout_ms * (jitter % 1001) / 2000);
    for (attempt = 0; attempt <= cl->max_retransmit; attempt++) {
        if (!acked && port->udp_send(port->arg, cl->tx, (size_t)n) < 0)
            return FURROW_ERR_IO;
        got = await(cl, r, port->now_ms(port->arg) + timeout, &acked, resp);
        if (got)
            return got < 0 ? got : 0;
        timeout *= 2;
    }
    return FURROW_ERR_TIMEOUT;
}
