/*
 * Minimal CBOR (RFC 8949) for the device protocol: definite lengths only, integers up to 64 bits,
 * byte/text strings, arrays, maps, tags. Reader errors are sticky (c->err) so a parse can run to the
 * end and be checked once.
 */
#ifndef FURROW_CBOR_H
#define FURROW_CBOR_H

#include <stddef.h>
#include <stdint.h>

enum { FURROW_CBOR_UINT = 0, FURROW_CBOR_NINT, FURROW_CBOR_BSTR, FURROW_CBOR_TSTR, FURROW_CBOR_ARRAY,
       FURROW_CBOR_MAP, FURROW_CBOR_TAG, FURROW_CBOR_SIMPLE };

struct furrow_cbor {
    const uint8_t *p, *end;
    int err;
};

void furrow_cbor_init(struct furrow_cbor *c, const uint8_t *buf, size_t len);
/** Major type of the next item without consuming it, or -1 at the end / on error. */
int furrow_cbor_peek(const struct furrow_cbor *c);
/** Reads a head of the given major type; returns its argument (0 and sets err on mismatch). */
uint64_t furrow_cbor_head(struct furrow_cbor *c, int major);
uint64_t furrow_cbor_uint(struct furrow_cbor *c);
int64_t furrow_cbor_int(struct furrow_cbor *c);
/** Byte or text string (major FURROW_CBOR_BSTR / TSTR): points into the buffer. */
const uint8_t *furrow_cbor_str(struct furrow_cbor *c, int major, size_t *len);
/** Skips one complete item (nesting limited to 8 levels). */
void furrow_cbor_skip(struct furrow_cbor *c);

struct furrow_cbor_w {
    uint8_t *p;
    size_t len, cap;
    int err;
};

void furrow_cbor_w_init(struct furrow_cbor_w *w, uint8_t *buf, size_t cap);
void furrow_cbor_put_head(struct furrow_cbor_w *w, int major, uint64_t v);
void furrow_cbor_put_int(struct furrow_cbor_w *w, int64_t v);
void furrow_cbor_put_str(struct furrow_cbor_w *w, int major, const void *s, size_t len);
void furrow_cbor_put_text(struct furrow_cbor_w *w, const char *s);

#endif
