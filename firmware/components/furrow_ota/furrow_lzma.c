/*
 * Raw LZMA1 decoder, written from the public LZMA specification (lzma-specification.txt in the LZMA
 * SDK): range decoder, adaptive binary probabilities, literal / match / rep0..rep3 / short-rep
 * symbols, 12-state machine. Section names of the spec are quoted where each part is implemented.
 */
#include "furrow_lzma.h"
#include "furrow_errors.h"

#include <string.h>

#define BIT_MODEL_TOTAL_BITS 11
#define BIT_MODEL_TOTAL (1u << BIT_MODEL_TOTAL_BITS)
#define NUM_MOVE_BITS 5
#define TOP_VALUE (1u << 24)
#define NUM_STATES 12
#define POS_BITS_MAX 4
#define MATCH_MIN_LEN 2
#define END_POS_MODEL_INDEX 14
#define NUM_FULL_DISTANCES 128
#define NUM_ALIGN_BITS 4

/* Probability array layout (offsets in uint16_t). */
#define P_IS_MATCH 0
#define P_IS_REP (P_IS_MATCH + (NUM_STATES << POS_BITS_MAX))
#define P_IS_REP_G0 (P_IS_REP + NUM_STATES)
#define P_IS_REP_G1 (P_IS_REP_G0 + NUM_STATES)
#define P_IS_REP_G2 (P_IS_REP_G1 + NUM_STATES)
#define P_IS_REP0_LONG (P_IS_REP_G2 + NUM_STATES)
#define P_POS_SLOT (P_IS_REP0_LONG + (NUM_STATES << POS_BITS_MAX))
#define P_SPEC_POS (P_POS_SLOT + (4 << 6))
#define P_ALIGN (P_SPEC_POS + 1 + NUM_FULL_DISTANCES - END_POS_MODEL_INDEX)
#define P_LEN (P_ALIGN + (1 << NUM_ALIGN_BITS))
/* length coder: choice, choice2, low[16][8], mid[16][8], high[256] */
#define LEN_CHOICE 0
#define LEN_CHOICE2 1
#define LEN_LOW 2
#define LEN_MID (LEN_LOW + (16 << 3))
#define LEN_HIGH (LEN_MID + (16 << 3))
#define LEN_SIZE (LEN_HIGH + 256)
#define P_REP_LEN (P_LEN + LEN_SIZE)
#define P_LITERAL (P_REP_LEN + LEN_SIZE)

size_t furrow_lzma_probs_count(unsigned lc, unsigned lp)
{
    return (size_t)P_LITERAL + ((size_t)0x300 << (lc + lp));
}

static uint8_t in_byte(struct furrow_lzma *d)
{
    if (d->in_pos == d->in_len) {
        int n;
        if (d->in_eof) {
            d->err = FURROW_ERR_LZMA_CORRUPT; /* truncated stream */
            return 0;
        }
        n = d->in(d->in_arg, d->inbuf, sizeof d->inbuf);
        if (n <= 0) {
            d->err = n < 0 ? FURROW_ERR_IO : FURROW_ERR_LZMA_CORRUPT; /* n == 0: truncated stream */
            d->in_eof = 1;
            return 0;
        }
        d->in_pos = 0;
        d->in_len = (uint16_t)n;
    }
    return d->inbuf[d->in_pos++];
}

/* "The range decoder": normalisation keeps range >= 2^24. */
static void normalize(struct furrow_lzma *d)
{
    if (d->range < TOP_VALUE) {
        d->range <<= 8;
        d->code = (d->code << 8) | in_byte(d);
    }
}

static unsigned bit(struct furrow_lzma *d, uint16_t *p)
{
    uint32_t v = *p;
    uint32_t bound = (d->range >> BIT_MODEL_TOTAL_BITS) * v;
    unsigned b;
    if (d->code < bound) {
        v += (BIT_MODEL_TOTAL - v) >> NUM_MOVE_BITS;
        d->range = bound;
        b = 0;
    } else {
        v -= v >> NUM_MOVE_BITS;
        d->code -= bound;
        d->range -= bound;
        b = 1;
    }
    *p = (uint16_t)v;
    normalize(d);
    return b;
}

static uint32_t direct_bits(struct furrow_lzma *d, unsigned n)
{
    uint32_t res = 0;
    while (n--) {
        uint32_t t;
        d->range >>= 1;
        d->code -= d->range;
        t = 0u - (d->code >> 31);
        d->code += d->range & t;
        if (d->code == d->range)
            d->err = FURROW_ERR_LZMA_CORRUPT;
        normalize(d);
        res = (res << 1) + (t + 1);
    }
    return res;
}

/* "The bit tree decoder" */
static unsigned tree(struct furrow_lzma *d, uint16_t *p, unsigned nbits)
{
    unsigned m = 1, i;
    for (i = 0; i < nbits; i++)
        m = (m << 1) + bit(d, &p[m]);
    return m - (1u << nbits);
}

static unsigned tree_rev(struct furrow_lzma *d, uint16_t *p, unsigned nbits)
{
    unsigned m = 1, sym = 0, i;
    for (i = 0; i < nbits; i++) {
        unsigned b = bit(d, &p[m]);
        m = (m << 1) + b;
        sym |= b << i;
    }
    return sym;
}

/* "The length decoder" (returns len - MATCH_MIN_LEN) */
static unsigned length(struct furrow_lzma *d, uint16_t *p, unsigned pos_state)
{
    unsigned base = 0, nbits = 3;
    uint16_t *t = &p[LEN_LOW + (pos_state << 3)];
    if (bit(d, &p[LEN_CHOICE])) {
        base = 8;
        t += LEN_MID - LEN_LOW;
        if (bit(d, &p[LEN_CHOICE2])) {
            base = 16;
            nbits = 8;
            t = &p[LEN_HIGH];
        }
    }
    return base + tree(d, t, nbits);
}

/* "The distance decoder" */
static uint32_t distance(struct furrow_lzma *d, unsigned len)
{
    unsigned len_state = len > 3 ? 3 : len;
    unsigned slot = tree(d, &d->probs[P_POS_SLOT + (len_state << 6)], 6);
    unsigned ndirect;
    uint32_t dist;
    uint16_t *t;
    if (slot < 4)
        return slot;
    ndirect = (slot >> 1) - 1;
    dist = (2u | (slot & 1u)) << ndirect;
    if (slot < END_POS_MODEL_INDEX) {
        t = &d->probs[P_SPEC_POS + dist - slot];
    } else {
        /* direct bits, then the low NUM_ALIGN_BITS through the align coder */
        dist += direct_bits(d, ndirect - NUM_ALIGN_BITS) << NUM_ALIGN_BITS;
        t = &d->probs[P_ALIGN];
        ndirect = NUM_ALIGN_BITS;
    }
    return dist + tree_rev(d, t, ndirect);
}

int furrow_lzma_init(struct furrow_lzma *d, unsigned lc, unsigned lp, unsigned pb, uint16_t *probs,
                     size_t probs_count, uint8_t *dict, uint32_t dict_size, uint32_t out_size,
                     furrow_lzma_in_fn in, void *in_arg)
{
    size_t i, n;
    memset(d, 0, sizeof *d);
    if (lc > 8 || lp > 4 || pb > 4 || dict_size == 0)
        return FURROW_ERR_LZMA_PARAMS;
    n = furrow_lzma_probs_count(lc, lp);
    if (probs_count < n)
        return FURROW_ERR_LZMA_PARAMS;
    for (i = 0; i < n; i++)
        probs[i] = BIT_MODEL_TOTAL >> 1;
    d->probs = probs;
    d->lc = (uint8_t)lc;
    d->lp = (uint8_t)lp;
    d->pb = (uint8_t)pb;
    d->dict = dict;
    d->dict_size = dict_size;
    d->out_limit = out_size;
    d->in = in;
    d->in_arg = in_arg;
    d->range = 0xFFFFFFFFu;
    /* "The first byte of the compressed stream must be zero" and code != range. */
    if (in_byte(d) != 0 && !d->err)
        d->err = FURROW_ERR_LZMA_CORRUPT;
    for (i = 0; i < 4; i++)
        d->code = (d->code << 8) | in_byte(d);
    if (!d->err && d->code == d->range)
        d->err = FURROW_ERR_LZMA_CORRUPT;
    if (out_size == 0)
        d->finished = 1;
    return d->err;
}

static void put(struct furrow_lzma *d, uint8_t b)
{
    d->dict[d->dict_pos++] = b;
    if (d->dict_pos == d->dict_size)
        d->dict_pos = 0;
    d->total++;
}

static uint8_t back(const struct furrow_lzma *d, uint32_t dist)
{
    uint32_t i = d->dict_pos >= dist + 1 ? d->dict_pos - dist - 1 : d->dict_size + d->dict_pos - dist - 1;
    return d->dict[i];
}

/* Decodes one symbol; a match only sets d->pending. Returns 1 at the end marker. */
static int symbol(struct furrow_lzma *d)
{
    unsigned pos_state = d->total & ((1u << d->pb) - 1);
    unsigned st = d->state;
    uint16_t *p = d->probs;
    unsigned len, after_lit;

    if (!bit(d, &p[P_IS_MATCH + (st << POS_BITS_MAX) + pos_state])) {
        /* "Literal decoding" */
        unsigned prev = d->total ? back(d, 0) : 0;
        unsigned lit_state = ((d->total & ((1u << d->lp) - 1)) << d->lc) + (prev >> (8 - d->lc));
        uint16_t *lp = &p[P_LITERAL + 0x300 * lit_state];
        unsigned s = 1, matched = st >= 7;
        /* after a match the bits of the byte at rep0 select the probabilities until the first
         * bit that differs; from then on the plain literal coder */
        unsigned match = matched && d->total > d->rep[0] ? back(d, d->rep[0]) : 0;
        do {
            unsigned mb = (match >> 7) & 1, b;
            match <<= 1;
            b = bit(d, &lp[(matched ? (1 + mb) << 8 : 0) + s]);
            s = (s << 1) | b;
            if (mb != b)
                matched = 0;
        } while (s < 0x100);
        put(d, (uint8_t)s);
        d->state = (uint8_t)(st < 4 ? 0 : st < 10 ? st - 3 : st - 6);
        return 0;
    }
    after_lit = st < 7 ? 0 : 3; /* next states: 7/8/9 after a literal, 10/11/11 otherwise */
    if (bit(d, &p[P_IS_REP + st])) {
        if (d->total == 0) {
            d->err = FURROW_ERR_LZMA_CORRUPT;
            return 0;
        }
        if (!bit(d, &p[P_IS_REP_G0 + st])) {
            if (!bit(d, &p[P_IS_REP0_LONG + (st << POS_BITS_MAX) + pos_state])) {
                /* short rep: one byte at rep0 */
                d->state = (uint8_t)(9 + (after_lit & 2)); /* 9 or 11 */
                put(d, back(d, d->rep[0]));
                return 0;
            }
        } else {
            uint32_t dist;
            if (!bit(d, &p[P_IS_REP_G1 + st])) {
                dist = d->rep[1];
            } else {
                if (!bit(d, &p[P_IS_REP_G2 + st])) {
                    dist = d->rep[2];
                } else {
                    dist = d->rep[3];
                    d->rep[3] = d->rep[2];
                }
                d->rep[2] = d->rep[1];
            }
            d->rep[1] = d->rep[0];
            d->rep[0] = dist;
        }
        len = length(d, &p[P_REP_LEN], pos_state);
        d->state = (uint8_t)(8 + after_lit);
    } else {
        d->rep[3] = d->rep[2];
        d->rep[2] = d->rep[1];
        d->rep[1] = d->rep[0];
        len = length(d, &p[P_LEN], pos_state);
        d->state = (uint8_t)(7 + after_lit);
        d->rep[0] = distance(d, len);
        if (d->rep[0] == 0xFFFFFFFFu) {
            /* end marker: the range coder must end with code == 0 */
            if (d->code != 0)
                d->err = FURROW_ERR_LZMA_CORRUPT;
            return 1;
        }
    }
    if (d->rep[0] >= d->dict_size || d->rep[0] >= d->total) {
        d->err = FURROW_ERR_LZMA_CORRUPT;
        return 0;
    }
    d->pending = len + MATCH_MIN_LEN;
    return 0;
}

int furrow_lzma_read(struct furrow_lzma *d, uint8_t *out, size_t n)
{
    size_t got = 0;
    while (got < n && !d->err) {
        if (d->pending) {
            uint32_t left = d->out_limit - d->total;
            uint32_t k = d->pending;
            if (k > n - got)
                k = (uint32_t)(n - got);
            if (k > left) {
                /* a match running past the declared size */
                d->err = FURROW_ERR_LZMA_CORRUPT;
                break;
            }
            d->pending -= k;
            while (k--) {
                uint8_t b = back(d, d->rep[0]);
                put(d, b);
                out[got++] = b;
            }
            continue;
        }
        if (d->finished || d->total == d->out_limit) {
            d->finished = 1;
            break;
        }
        if (symbol(d)) {
            if (d->out_limit != 0xFFFFFFFFu && d->total != d->out_limit)
                d->err = FURROW_ERR_LZMA_CORRUPT; /* marker before the declared size */
            d->finished = 1;
            break;
        }
        if (!d->pending && !d->err)
            out[got++] = back(d, 0);
    }
    if (d->err)
        return d->err;
    return (int)got;
}
