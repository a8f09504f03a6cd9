#include "furrow_cbor.h"
#include "furrow_errors.h"

#include <string.h>

void furrow_cbor_init(struct furrow_cbor *c, const uint8_t *buf, size_t len)
{
    c->p = buf;
    c->end = buf + len;
    c->err = 0;
}

int furrow_cbor_peek(const struct furrow_cbor *c)
{
    return c->err || c->p >= c->end ? -1 : *c->p >> 5;
}

/* RFC 8949 §3: initial byte = major type (3 bits) + additional information (5 bits). */
static uint64_t any_head(struct furrow_cbor *c, int *major)
{
    unsigned ai, n, i;
    uint64_t v;
    if (c->err || c->p >= c->end) {
        c->err = FURROW_ERR_CBOR;
        return 0;
    }
    *major = *c->p >> 5;
    ai = *c->p++ & 31;
    if (ai < 24)
        return ai;
    if (ai > 27) {
        /* 28-30 reserved, 31 indefinite length: not in the device profile */
        c->err = FURROW_ERR_CBOR;
        return 0;
    }
    n = 1u << (ai - 24);
    if ((size_t)(c->end - c->p) < n) {
        c->err = FURROW_ERR_CBOR;
        return 0;
    }
    for (v = 0, i = 0; i < n; i++)
        v = v << 8 | *c->p++;
    return v;
}

uint64_t furrow_cbor_head(struct furrow_cbor *c, int major)
{
    int m = -1;
    uint64_t v = any_head(c, &m);
    if (!c->err && m != major) {
        c->err = FURROW_ERR_CBOR;
        return 0;
    }
    return c->err ? 0 : v;
}

uint64_t furrow_cbor_uint(struct furrow_cbor *c)
{
    return furrow_cbor_head(c, FURROW_CBOR_UINT);
}

int64_t furrow_cbor_int(struct furrow_cbor *c)
{
    int m = -1;
    uint64_t v = any_head(c, &m);
    if (c->err || (m != FURROW_CBOR_UINT && m != FURROW_CBOR_NINT) || v > (uint64_t)INT64_MAX) {
        c->err = FURROW_ERR_CBOR;
        return 0;
    }
    return m == FURROW_CBOR_UINT ? (int64_t)v : -1 - (int64_t)v;
}

const uint8_t *furrow_cbor_str(struct furrow_cbor *c, int major, size_t *len)
{
    uint64_t n = furrow_cbor_head(c, major);
    const uint8_t *s = c->p;
    *len = 0;
    if (c->err || n > (uint64_t)(c->end - c->p)) {
        c->err = FURROW_ERR_CBOR;
        return NULL;
    }
    c->p += n;
    *len = (size_t)n;
    return s;
}

static void skip(struct furrow_cbor *c, int depth)
{
    int m = -1;
    uint64_t n, i;
    if (depth > 8) {
        c->err = FURROW_ERR_CBOR;
        return;
    }
    n = any_head(c, &m);
    if (c->err)
        return;
    switch (m) {
    case FURROW_CBOR_BSTR:
    case FURROW_CBOR_TSTR:
        if (n > (uint64_t)(c->end - c->p))
            c->err = FURROW_ERR_CBOR;
        else
            c->p += n;
        break;
    case FURROW_CBOR_MAP:
        if (n > (uint64_t)(c->end - c->p))
            c->err = FURROW_ERR_CBOR;
        n *= 2;
        /* fall through */
    case FURROW_CBOR_ARRAY:
        /* every item takes at least one byte: bounds the loop on hostile counts */
        if (n > (uint64_t)(c->end - c->p))
            c->err = FURROW_ERR_CBOR;
        for (i = 0; i < n && !c->err; i++)
            skip(c, depth + 1);
        break;
    case FURROW_CBOR_TAG:
        skip(c, depth + 1);
        break;
    default:
        break;
    }
}

void furrow_cbor_skip(struct furrow_cbor *c)
{
    skip(c, 0);
}

void furrow_cbor_w_init(struct furrow_cbor_w *w, uint8_t *buf, size_t cap)
{
    w->p = buf;
    w->len = 0;
    w->cap = cap;
    w->err = 0;
}

static void put(struct furrow_cbor_w *w, const void *b, size_t n)
{
    if (n == 0)
        return;
    if (w->err || n > w->cap - w->len) {
        w->err = FURROW_ERR_CBOR;
        return;
    }
    memcpy(w->p + w->len, b, n);
    w->len += n;
}

void furrow_cbor_put_head(struct furrow_cbor_w *w, int major, uint64_t v)
{
    uint8_t b[9];
    unsigned n, i;
    if (v < 24) {
        b[0] = (uint8_t)(major << 5 | v);
        put(w, b, 1);
        return;
    }
    n = v <= 0xFF ? 1 : v <= 0xFFFF ? 2 : v <= 0xFFFFFFFFu ? 4 : 8;
    b[0] = (uint8_t)(major << 5 | (n == 1 ? 24 : n == 2 ? 25 : n == 4 ? 26 : 27));
    for (i = 0; i < n; i++)
        b[1 + i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    put(w, b, n + 1);
}

void furrow_cbor_put_int(struct furrow_cbor_w *w, int64_t v)
{
    if (v >= 0)
        furrow_cbor_put_head(w, FURROW_CBOR_UINT, (uint64_t)v);
    else
        furrow_cbor_put_head(w, FURROW_CBOR_NINT, (uint64_t)(-1 - v));
}

void furrow_cbor_put_str(struct furrow_cbor_w *w, int major, const void *s, size_t len)
{
    furrow_cbor_put_head(w, major, len);
    put(w, s, len);
}

void furrow_cbor_put_text(struct furrow_cbor_w *w, const char *s)
{
    furrow_cbor_put_str(w, FURROW_CBOR_TSTR, s, strlen(s));
}
