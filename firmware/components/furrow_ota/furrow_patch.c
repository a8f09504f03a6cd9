/*
 * furrow patch v1/v2 decoder. Section numbers refer to src/delta/FORMAT.md.
 */
#include "furrow_patch.h"
#include "furrow_errors.h"
#include "furrow_patch_int.h"

#include <string.h>

#define MAX_RESULT (16u << 20)
#define MAX_BODY (2u << 20)

uint32_t furrow_le32(const uint8_t *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint32_t round_up(uint32_t v, uint32_t s)
{
    return (v + s - 1) & ~(s - 1);
}

/* Writes sequentially into a region, erasing each sector the first time it is entered. The sector
 * holding the restart point is not erased: its head holds durable bytes, and its tail either is still
 * erased or holds the very bytes we are about to write again (same patch, deterministic decode). */
int furrow_seq_write(struct furrow_patch *p, int region, uint32_t *erased_to, uint32_t off, const void *buf,
                     size_t len)
{
    const struct furrow_port *port = p->port;
    while (off + len > *erased_to) {
        if (port->flash_erase(port->arg, region, *erased_to, port->sector_size))
            return FURROW_ERR_IO;
        *erased_to += port->sector_size;
    }
    return port->flash_write(port->arg, region, off, buf, len) ? FURROW_ERR_IO : 0;
}

int furrow_flash_sha256(const struct furrow_port *port, int region, uint32_t off, uint32_t len, uint8_t *buf,
                        uint32_t buf_len, uint8_t out[32])
{
    struct furrow_sha256 c;
    uint32_t i, n;
    port->sha256_init(&c);
    for (i = 0; i < len; i += n) {
        n = len - i < buf_len ? len - i : buf_len;
        if (port->flash_read(port->arg, region, off + i, buf, n))
            return FURROW_ERR_IO;
        port->sha256_update(&c, buf, n);
    }
    port->sha256_final(&c, out);
    return 0;
}

int furrow_digest_cmp(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

void furrow_digest_cpy(void *dst, const void *src)
{
    memcpy(dst, src, 32);
}

uint32_t furrow_restart_point(const struct furrow_patch *p, uint32_t pos)
{
    return (pos & (p->port->sector_size - 1)) ? round_up(pos, p->port->sector_size) : pos;
}

/* §3: header checks that need no flash. */
static int parse_header(struct furrow_patch *p)
{
    const uint8_t *h = p->hdr;
    uint32_t base_size = furrow_le32(h + 12), result_size = furrow_le32(h + 48), chunk_size = furrow_le32(h + 88);
    uint32_t ram = 0, staging = p->port->region_size(p->port->arg, FURROW_STAGING);
    int i;
    static const uint8_t zero[32];
    /* version 1 or 2 with header size 160 (0 or 1 here); then one chunk table, flags (bit 0: full
     * image), two zero bytes; transform 1 (pointer prediction, §5.2) only on the diff coder of v2 */
    uint32_t v2 = furrow_le32(h + 4) - 0x00A00001u, flags = furrow_le32(h + 8), xform = h[105];
    if (memcmp(h, "FRWP", 4) || v2 > 1 || (flags | 0x100) != 0x101 || (flags >> 8) != (base_size == 0) ||
        xform > v2 || (xform ? h[120] + (h[121] << 8) > h[122] + (h[123] << 8) || h[124] + (h[125] << 8) > h[126] + (h[127] << 8)
                             : memcmp(h + 120, zero, 8) != 0))
        return FURROW_ERR_PATCH_HEADER;
    p->count = furrow_le32(h + 84);
    if (result_size == 0 || result_size > MAX_RESULT || p->count == 0 || p->count > 4096 || chunk_size < 4096 ||
        chunk_size > (1u << 20) || furrow_le32(h + 92) > MAX_BODY)
        return FURROW_ERR_PATCH_HEADER;
    if (base_size == 0 ? furrow_digest_cmp(h + 16, zero) != 0
                       : (!p->have_base || furrow_digest_cmp(h + 16, p->want_base) != 0 ||
                          base_size > p->port->region_size(p->port->arg, p->base_slot)))
        return FURROW_ERR_WRONG_BASE;
    if (result_size > p->port->region_size(p->port->arg, p->out_slot))
        return FURROW_ERR_TOO_BIG;
    for (i = 0; i < 3; i++) {
        const uint8_t *c = h + 96 + 8 * i;
        uint32_t word = furrow_le32(c), dict = furrow_le32(c + 4); /* props, transform, two zero bytes */
        unsigned props = word & 0xFF, lc = props % 9, lp = (props / 9) % 5;
        if (props >= 9 * 5 * 5 || lc + lp > 4 || (word >> 8) != (i == 1 ? xform : 0) || dict < 4096 || dict > 65536)
            return FURROW_ERR_PATCH_HEADER;
        ram += (uint32_t)furrow_lzma_probs_count(lc, lp) * 2 + dict;
    }
    if (ram > FURROW_PATCH_CODER_RAM)
        return FURROW_ERR_TOO_BIG; /* CODER_TOO_BIG */
    p->meta_len = FURROW_PATCH_HEADER_SIZE + FURROW_PATCH_ENTRY_SIZE * p->count;
    p->body_area = round_up(p->meta_len, p->port->sector_size);
    if (p->meta_len > p->patch_size || p->body_area + furrow_le32(h + 92) > staging)
        return FURROW_ERR_TOO_BIG;
    p->parsed = 1;
    return 0;
}

static int read_entry(struct furrow_patch *p, uint32_t i, struct furrow_patch_chunk *c)
{
    uint8_t e[FURROW_PATCH_ENTRY_SIZE];
    int k;
    if (p->port->flash_read(p->port->arg, FURROW_STAGING, FURROW_PATCH_HEADER_SIZE + FURROW_PATCH_ENTRY_SIZE * i, e,
                            sizeof e))
        return FURROW_ERR_IO;
    c->out_off = furrow_le32(e);
    c->out_len = furrow_le32(e + 4);
    for (k = 0; k < 3; k++)
        c->comp[k] = furrow_le32(e + 16 + 4 * k);
    c->raw[0] = furrow_le32(e + 8);
    c->raw[1] = furrow_le32(e + 12);
    c->raw[2] = c->out_len - c->raw[1];
    furrow_digest_cpy(c->sha, e + 28);
    return 0;
}

uint32_t furrow_body_len(const struct furrow_patch_chunk *c)
{
    return c->comp[0] + c->comp[1] + c->comp[2];
}

/* §3 table digest and §4 entry rules, reading the staged table back from flash. */
static int verify_table(struct furrow_patch *p)
{
    const struct furrow_port *port = p->port;
    struct furrow_patch_chunk c;
    uint8_t digest[32];
    uint32_t i, body, out = 0, total = p->meta_len, chunk_size = furrow_le32(p->hdr + 88), max_body = furrow_le32(p->hdr + 92);
    int k, r;
    port->sha256_init(&p->sha);
    port->sha256_update(&p->sha, p->hdr, 128);
    for (i = 0; i < p->count; i++) {
        uint8_t e[FURROW_PATCH_ENTRY_SIZE];
        if (port->flash_read(port->arg, FURROW_STAGING, FURROW_PATCH_HEADER_SIZE + FURROW_PATCH_ENTRY_SIZE * i, e,
                             sizeof e))
            return FURROW_ERR_IO;
        port->sha256_update(&p->sha, e, sizeof e);
    }
    port->sha256_final(&p->sha, digest);
    if (furrow_digest_cmp(digest, p->want_table) || furrow_digest_cmp(digest, p->hdr + 128))
        return FURROW_ERR_TABLE_DIGEST;
    for (i = 0; i < p->count; i++) {
        if ((r = read_entry(p, i, &c)) != 0)
            return r;
        body = furrow_body_len(&c);
        if (c.out_off != out || c.out_len == 0 || c.out_len > chunk_size || c.raw[1] > c.out_len ||
            c.raw[0] == 0 || c.raw[0] > 15 * c.out_len + 15 || body > max_body)
            return FURROW_ERR_PATCH_CORRUPT;
        for (k = 0; k < 3; k++)
            if ((c.raw[k] == 0) != (c.comp[k] == 0) || (c.comp[k] && c.comp[k] < 5))
                return FURROW_ERR_PATCH_CORRUPT;
        if (c.raw[1] && furrow_le32(p->hdr + 12) == 0)
            return FURROW_ERR_PATCH_CORRUPT;
        out += c.out_len;
        total += body;
        if (out > MAX_RESULT || total > p->patch_size)
            return FURROW_ERR_PATCH_CORRUPT;
    }
    if (out != furrow_le32(p->hdr + 48) || total != p->patch_size)
        return FURROW_ERR_PATCH_CORRUPT;
    p->parsed = 2;
    return 0;
}

/* Applies the staged chunk, moves to the next one and checkpoints. */
static int complete_chunk(struct furrow_patch *p)
{
    int r = furrow_apply_chunk(p);
    if (r == FURROW_ERR_CHUNK_DIGEST) {
        /* the table is authenticated, so the staged body was damaged on its way: drop it, so the
         * caller can fetch this chunk again from its first byte */
        p->pr.offset = p->body_start;
        p->stage_erased_to = p->body_area;
    }
    if (r)
        return r;
    p->body_start += furrow_body_len(&p->ch);
    p->pr.applied++;
    p->stage_erased_to = p->body_area;
    if (p->pr.applied < p->count && (r = read_entry(p, p->pr.applied, &p->ch)) != 0)
        return r;
    return p->checkpoint ? p->checkpoint(p->checkpoint_arg, &p->pr) : 0;
}

static int table_done(struct furrow_patch *p)
{
    int r = verify_table(p);
    if (r)
        return r;
    p->body_start = p->meta_len;
    return read_entry(p, 0, &p->ch);
}

int furrow_patch_init(struct furrow_patch *p, const struct furrow_port *port, int base_slot, int out_slot,
                      uint32_t patch_size, const uint8_t table_digest[32], const uint8_t *base_sha,
                      const struct furrow_patch_progress *pr, furrow_patch_checkpoint_fn cb, void *cb_arg)
{
    uint32_t i;
    int r;
    memset(p, 0, sizeof *p - sizeof p->ram);
    p->port = port;
    p->base_slot = base_slot;
    p->out_slot = out_slot;
    p->patch_size = patch_size;
    p->checkpoint = cb;
    p->checkpoint_arg = cb_arg;
    furrow_digest_cpy(p->want_table, table_digest);
    if (base_sha) {
        furrow_digest_cpy(p->want_base, base_sha);
        p->have_base = 1;
    }
    if (pr)
        p->pr = *pr;
    p->stage_erased_to = furrow_restart_point(p, p->pr.offset);
    /* the staged part of the header */
    i = p->pr.offset < FURROW_PATCH_HEADER_SIZE ? p->pr.offset : FURROW_PATCH_HEADER_SIZE;
    if (i < FURROW_PATCH_HEADER_SIZE)
        p->pr.applied = 0;
    if (i && port->flash_read(port->arg, FURROW_STAGING, 0, p->hdr, i))
        return FURROW_ERR_IO;
    if (i < FURROW_PATCH_HEADER_SIZE)
        return 0;
    if ((r = parse_header(p)) != 0)
        return r;
    if (p->pr.offset < p->meta_len)
        return p->pr.applied ? FURROW_ERR_STATE : 0;
    if (p->pr.offset > p->patch_size || p->pr.applied > p->count)
        return FURROW_ERR_STATE;
    if ((r = verify_table(p)) != 0)
        return r;
    p->body_start = p->meta_len;
    for (i = 0; i < p->pr.applied; i++) {
        if ((r = read_entry(p, i, &p->ch)) != 0)
            return r;
        p->body_start += furrow_body_len(&p->ch);
    }
    if (p->pr.applied == p->count)
        return p->pr.offset == p->patch_size ? 0 : FURROW_ERR_STATE;
    if ((r = read_entry(p, p->pr.applied, &p->ch)) != 0)
        return r;
    i = p->body_start + furrow_body_len(&p->ch); /* end of the current chunk's body */
    if (p->pr.offset < p->body_start || p->pr.offset > i)
        return FURROW_ERR_STATE;
    p->stage_erased_to = p->body_area + furrow_restart_point(p, p->pr.offset - p->body_start);
    if (p->pr.offset == i)
        return complete_chunk(p); /* staged completely before the cut, not applied yet */
    return 0;
}

int furrow_patch_process(struct furrow_patch *p, const uint8_t *data, size_t len)
{
    int r;
    while (len) {
        uint32_t take, at, left;
        int meta = p->pr.offset < FURROW_PATCH_HEADER_SIZE || p->parsed < 2;
        if (meta) {
            /* header, then the chunk table: staged at their own offsets */
            at = p->pr.offset;
            left = (p->parsed ? p->meta_len : FURROW_PATCH_HEADER_SIZE) - at;
        } else {
            /* the current chunk's body, staged after the table */
            if (p->pr.applied >= p->count)
                return FURROW_ERR_PATCH_CORRUPT; /* bytes after the last chunk: SIZE_MISMATCH */
            at = p->pr.offset - p->body_start;
            left = furrow_body_len(&p->ch) - at;
            at += p->body_area;
        }
        take = left < len ? left : (uint32_t)len;
        if (p->pr.offset < FURROW_PATCH_HEADER_SIZE)
            memcpy(p->hdr + p->pr.offset, data, take);
        if ((r = furrow_seq_write(p, FURROW_STAGING, &p->stage_erased_to, at, data, take)) != 0)
            return r;
        p->pr.offset += take;
        if (!meta) {
            if (take == left && (r = complete_chunk(p)) != 0)
                return r;
        } else if (p->pr.offset == FURROW_PATCH_HEADER_SIZE && !p->parsed && (r = parse_header(p)) != 0) {
            return r;
        } else if (p->parsed == 1 && p->pr.offset == p->meta_len) {
            if ((r = table_done(p)) != 0)
                return r;
            p->stage_erased_to = p->body_area;
        }
        data += take;
        len -= take;
    }
    return 0;
}

int furrow_patch_finalize(struct furrow_patch *p)
{
    uint8_t got[32];
    int r;
    if (p->parsed < 2 || p->pr.applied != p->count || p->pr.offset != p->patch_size)
        return FURROW_ERR_STATE;
    r = furrow_flash_sha256(p->port, p->out_slot, 0, furrow_le32(p->hdr + 48), p->buf[0], sizeof p->buf[0], got);
    return r ? r : furrow_digest_cmp(got, p->hdr + 52) ? FURROW_ERR_RESULT_DIGEST : 0;
}

uint32_t furrow_patch_result_size(const struct furrow_patch *p)
{
    return furrow_le32(p->hdr + 48);
}

const uint8_t *furrow_patch_result_sha(const struct furrow_patch *p)
{
    return p->hdr + 52;
}
