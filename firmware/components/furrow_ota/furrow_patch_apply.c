/*
 * Applying one staged chunk (src/delta/FORMAT.md section 5): three LZMA1 coders reading the staged
 * body from flash, control entries as varints, base bytes from the running slot, output written
 * sequentially into the passive slot in whole pages and read back.
 */
#include "furrow_errors.h"
#include "furrow_patch_int.h"

#include <string.h>

static int stream_in(void *arg, uint8_t *buf, size_t n)
{
    struct furrow_patch_reader *rd = arg;
    const struct furrow_port *port = rd->p->port;
    uint32_t left = rd->end - rd->pos;
    if (n > left)
        n = left;
    if (n && port->flash_read(port->arg, FURROW_STAGING, rd->pos, buf, n))
        return -1;
    rd->pos += (uint32_t)n;
    return (int)n;
}

static int flush(struct furrow_patch *p)
{
    int r = p->olen ? furrow_seq_write(p, p->out_slot, &p->out_erased_to, p->out_pos - p->olen, p->obuf, p->olen) : 0;
    p->olen = 0;
    return r;
}

static int emit(struct furrow_patch *p, const uint8_t *b, uint32_t n)
{
    p->port->sha256_update(&p->sha, b, n);
    while (n) {
        uint32_t k = (uint32_t)sizeof p->obuf - p->olen;
        int r;
        if (k > n)
            k = n;
        memcpy(p->obuf + p->olen, b, k);
        p->olen += k;
        p->out_pos += k;
        b += k;
        n -= k;
        if (p->olen == sizeof p->obuf && (r = flush(p)) != 0)
            return r;
    }
    return 0;
}

static int varint(struct furrow_patch *p, uint32_t *v)
{
    uint32_t x = 0;
    int i, r;
    for (i = 0; i < 5; i++) {
        uint8_t b;
        if ((r = furrow_lzma_read(&p->lz[0], &b, 1)) != 1)
            return r < 0 ? r : FURROW_ERR_PATCH_CORRUPT; /* CONTROL_TRUNCATED */
        if (i == 4 && (b & 0xF0))
            return FURROW_ERR_PATCH_CORRUPT; /* BAD_VARINT: more than 32 bits */
        x |= (uint32_t)(b & 0x7F) << (7 * i);
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return FURROW_ERR_PATCH_CORRUPT;
}

static int fill(struct furrow_patch *p, int k, uint8_t *b, uint32_t n)
{
    int r = furrow_lzma_read(&p->lz[k], b, n);
    if (r < 0)
        return r;
    return (uint32_t)r == n ? 0 : FURROW_ERR_PATCH_CORRUPT; /* STREAM_LENGTH_MISMATCH */
}

/* §5: applies the completely staged chunk p->ch into the passive slot. */
int furrow_apply_chunk(struct furrow_patch *p)
{
    const struct furrow_port *port = p->port;
    struct furrow_patch_chunk *c = &p->ch;
    uint8_t want[32], got[32];
    uint32_t i, n, pos, end = c->out_off + c->out_len, old = 0, base_size = furrow_le32(p->hdr + 12);
    uint32_t ram = 0, wins = 0, win[4], xform = p->hdr[105];
    int k, r;

    for (k = 0; k < 4; k++) /* §5.2 pointer windows in 64 KiB units: win[0] + win[1] = start, length, ... */
        win[k] = (p->hdr[120 + 2 * k] | (uint32_t)p->hdr[121 + 2 * k] << 8) - (k & 1 ? win[k - 1] : 0);
    memset(p->shift, 0, sizeof p->shift);

    /* body digest before decoding a byte */
    if ((r = furrow_flash_sha256(port, FURROW_STAGING, p->body_area, furrow_body_len(c), p->buf[0], sizeof p->buf[0], got)) != 0)
        return r;
    if (furrow_digest_cmp(got, c->sha))
        return FURROW_ERR_CHUNK_DIGEST;

    pos = p->body_area;
    for (k = 0; k < 3; k++) {
        const uint8_t *cp = p->hdr + 96 + 8 * k;
        unsigned lc = cp[0] % 9, lp = (cp[0] / 9) % 5, pb = cp[0] / 45;
        uint32_t nprobs = (uint32_t)furrow_lzma_probs_count(lc, lp), dict = furrow_le32(cp + 4);
        p->rd[k].p = p;
        p->rd[k].pos = pos;
        pos += c->comp[k];
        p->rd[k].end = pos;
        if (!c->raw[k]) {
            memset(&p->lz[k], 0, sizeof p->lz[k]);
            p->lz[k].finished = 1;
            continue;
        }
        /* probabilities from the start (2-byte aligned), windows from the end of the coder RAM;
         * parse_header checked that all three fit */
        wins += dict;
        r = furrow_lzma_init(&p->lz[k], lc, lp, pb, p->ram.probs + ram / 2, nprobs,
                             p->ram.bytes + sizeof p->ram.bytes - wins, dict, c->raw[k], stream_in, &p->rd[k]);
        ram += nprobs * 2;
        if (r)
            return r;
    }

    p->out_pos = c->out_off;
    p->olen = 0;
    p->out_erased_to = furrow_restart_point(p, c->out_off);
    port->sha256_init(&p->sha);
    while (p->out_pos < end) {
        uint32_t dlen, elen, z;
        int32_t seek;
        if ((r = varint(p, &dlen)) || (r = varint(p, &elen)) || (r = varint(p, &z)))
            return r;
        seek = (int32_t)((z >> 1) ^ (0u - (z & 1)));
        if ((!dlen && !elen && !seek) || dlen > end - p->out_pos || elen > end - p->out_pos - dlen ||
            dlen > base_size - old)
            return FURROW_ERR_PATCH_CORRUPT; /* BAD_CONTROL */
        /* dlen bytes of diff (coder 1) added to the base at old, then elen extra bytes (coder 2) */
        while (dlen + elen) {
            uint32_t *left = dlen ? &dlen : &elen;
            /* a piece that does not end the run ends at a 4-aligned output offset, so no predicted
             * word (§5.2) straddles two pieces */
            n = (uint32_t)sizeof p->buf[0] - (p->out_pos & 3);
            if (*left < n)
                n = *left;
            if (dlen && port->flash_read(port->arg, p->base_slot, old, p->buf[0], n))
                return FURROW_ERR_IO;
            if ((r = fill(p, dlen ? 1 : 2, p->buf[1], n)) != 0)
                return r;
            if (dlen) {
                uint8_t *d = p->buf[1], *b = p->buf[0];
                for (i = 0; i < n; i++) {
                    uint32_t v, hi;
                    if (xform && !((p->out_pos + i) & 3) && n - i >= 4 &&
                        ((hi = (v = furrow_le32(b + i)) >> 16) - win[0] < win[1] || hi - win[2] < win[3])) {
                        uint32_t *s = p->shift + ((v >> 14) & 511), j;
                        for (j = 0; j < 4; j++)
                            d[i + j] = (uint8_t)(d[i + j] + ((v + *s) >> (8 * j)));
                        *s = furrow_le32(d + i) - v;
                        i += 3;
                    } else
                        d[i] = (uint8_t)(d[i] + b[i]);
                }
                old += n;
            }
            if ((r = emit(p, p->buf[1], n)) != 0)
                return r;
            *left -= n;
        }
        if ((seek < 0 && (uint32_t)(-(int64_t)seek) > old) || (seek > 0 && (uint32_t)seek > base_size - old))
            return FURROW_ERR_PATCH_CORRUPT;
        old = (uint32_t)((int64_t)old + seek);
    }
    for (k = 0; k < 3; k++)
        if (p->lz[k].total != c->raw[k]) /* an empty stream's coder is zeroed: total 0 */
            return FURROW_ERR_PATCH_CORRUPT; /* STREAM_LENGTH_MISMATCH */
    if ((r = flush(p)) != 0)
        return r;
    port->sha256_final(&p->sha, want);

    /* read back what was written: catches a flash write that did not stick */
    if ((r = furrow_flash_sha256(port, p->out_slot, c->out_off, c->out_len, p->buf[0], sizeof p->buf[0], got)) != 0)
        return r;
    return furrow_digest_cmp(got, want) ? FURROW_ERR_FLASH_VERIFY : 0;
}

