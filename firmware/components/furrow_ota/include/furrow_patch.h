/*
 * Streaming decoder for the furrow patch format v1 and v2 (src/delta/FORMAT.md), detools style:
 * furrow_patch_init() (fresh or resumed), furrow_patch_process() with patch bytes in order as they
 * arrive, furrow_patch_finalize() to check the result digest.
 *
 * Patch bytes are staged in the STAGING flash region (header + chunk table at 0, the current chunk's
 * body after them); a chunk is decoded from flash into the passive slot as soon as its body is
 * complete and its SHA-256 matches the table. After process() returns, every byte it took is in flash
 * and furrow_patch_progress() describes it: persist that, and after a power cut pass it back to
 * furrow_patch_init() to continue where it stopped (staged bytes are never needed again).
 *
 * RAM: sizeof(struct furrow_patch) = FURROW_PATCH_CODER_RAM (53 248 bytes: probabilities + windows of
 * the three LZMA coders, enough for the encoder's defaults lc=lp=0, dict 4/16/16 KiB) + the 2 048-byte
 * pointer-prediction table + state and buffers: 57 144 bytes on rv32 (ESP32-C3, `make size`); no heap;
 * peak stack 640 bytes
 * (furrow_patch_process, from the call graph) plus the port's callbacks. Total under the 64 KB budget.
 */
#ifndef FURROW_PATCH_H
#define FURROW_PATCH_H

#include "furrow_lzma.h"
#include "furrow_port.h"

#ifndef FURROW_PATCH_CODER_RAM
#define FURROW_PATCH_CODER_RAM 53248
#endif
#define FURROW_PATCH_HEADER_SIZE 160
#define FURROW_PATCH_ENTRY_SIZE 60

/** What must be persisted to resume. */
struct furrow_patch_progress {
    uint32_t offset;  /**< patch bytes taken and durable in flash */
    uint32_t applied; /**< chunks decoded into the passive slot */
};

struct furrow_patch_chunk {
    uint32_t out_off, out_len, raw[3], comp[3];
    uint8_t sha[32];
};

/** Called after each chunk is applied (before more bytes are staged over it): persist progress. */
typedef int (*furrow_patch_checkpoint_fn)(void *arg, const struct furrow_patch_progress *pr);

struct furrow_patch;
/** One coder's compressed stream, staged at [pos, end), as the LZMA decoder's input. */
struct furrow_patch_reader {
    struct furrow_patch *p;
    uint32_t pos, end;
};

/* Word fields first, buffers after: on RV32C, loads and stores of words within 124 bytes of the
 * struct pointer have 2-byte encodings. */
struct furrow_patch {
    const struct furrow_port *port;
    furrow_patch_checkpoint_fn checkpoint;
    void *checkpoint_arg;
    int base_slot, out_slot;
    uint32_t patch_size;
    struct furrow_patch_progress pr;
    uint32_t count, meta_len, body_area, body_start;
    uint32_t stage_erased_to;
    /* apply */
    uint32_t out_pos, out_erased_to, olen;
    struct furrow_patch_chunk ch;
    struct furrow_patch_reader rd[3];
    uint8_t have_base; /* want_base is meaningful */
    uint8_t parsed;    /* header parsed (1), table verified (2) */
    uint8_t want_table[32], want_base[32];
    uint8_t hdr[FURROW_PATCH_HEADER_SIZE];
    struct furrow_sha256 sha;
    struct furrow_lzma lz[3];
    uint8_t buf[2][256];
    uint8_t obuf[256]; /* output is written in whole 256-byte flash pages */
    uint32_t shift[512]; /* §5.2 pointer prediction: learnt shift per 16 KiB page, reset per chunk */
    union {
        uint16_t probs[FURROW_PATCH_CODER_RAM / 2];
        uint8_t bytes[FURROW_PATCH_CODER_RAM];
    } ram;
};

/**
 * Starts (pr == NULL or pr->offset == 0) or resumes a patch. table_digest is the manifest's field 9;
 * base_sha is the running image's SHA-256 (NULL when only full images are acceptable). If pr says a
 * chunk body was completely staged but not yet applied, it is applied here.
 */
int furrow_patch_init(struct furrow_patch *p, const struct furrow_port *port, int base_slot, int out_slot,
                      uint32_t patch_size, const uint8_t table_digest[32], const uint8_t *base_sha,
                      const struct furrow_patch_progress *pr, furrow_patch_checkpoint_fn cb, void *cb_arg);

/**
 * Takes the next patch bytes. Returns 0 or a negative FURROW_ERR_*. FURROW_ERR_CHUNK_DIGEST means the
 * staged body of the current chunk was damaged and has been dropped: progress moved back to the
 * chunk's first byte, persist it and continue from there (or give up after a few tries).
 */
int furrow_patch_process(struct furrow_patch *p, const uint8_t *data, size_t len);

/** After the last byte: all chunks applied and the result SHA-256 matches. */
int furrow_patch_finalize(struct furrow_patch *p);

/** SHA-256 of len bytes of a flash region, read through buf. */
int furrow_flash_sha256(const struct furrow_port *port, int region, uint32_t off, uint32_t len, uint8_t *buf,
                        uint32_t buf_len, uint8_t out[32]);
/** memcmp / memcpy of a 32-byte digest. One near call per site instead of a far libc (ROM) call and
 * its length argument: the core compares and copies digests in about twenty places. */
int furrow_digest_cmp(const void *a, const void *b);
void furrow_digest_cpy(void *dst, const void *src);

/** Result size and digest from the header (valid once 160 bytes were processed). */
uint32_t furrow_patch_result_size(const struct furrow_patch *p);
const uint8_t *furrow_patch_result_sha(const struct furrow_patch *p);

#endif
